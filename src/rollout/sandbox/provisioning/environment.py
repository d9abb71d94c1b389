"""A second environment beside the provisioned voj stack (provisioning plane).

``infra/voj.yaml`` builds one environment (prod). To rehearse what ``rollout.toml`` promises —
one template, many environments — :func:`provision_environment` adds another environment's
own resources next to it, with plain AWS API calls (so it works in-process and over HTTP):

* its execution and task roles (trusting ecs-tasks; the execution role may read only its own
  ``/<SSM_PATH>/*`` parameters and write only its own log group; the task role may read the
  tables and the bucket: the sandbox's environments share prod's data),
* its log group, its SSM parameters (same values as prod's: same tables and bucket),
* its target group on the shared ALB (a host-header listener rule, the smoke URL's host),
* its cluster, revision 1 of its own family (the template rendered with its ``vars``), and its
  service, shaped like prod's (network, circuit breaker, grace period), on the new target group.

Names and values come from the environment's ``[env.<name>]`` and ``[env.<name>.vars]`` in
rollout.toml, as an operator would fill them in. The VPC, subnets, security group, ALB, ECR
repository and images are prod's (one account, one network).

It converges like ``provision_voj``: run again (or after Ctrl-C), it reuses what exists — found
by name, as an operator's re-run would — and creates only what is missing, never a second
revision 1, rule or service. ``EnvironmentResult.reused`` says what was already there.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from botocore.exceptions import ClientError

from rollout.aws import ClientFactory
from rollout.config import load_config
from rollout.sandbox.provisioning.stack import (
    DEFAULT_CONFIG,
    DEFAULT_TASKDEF,
    ProvisionError,
    ProvisionResult,
    render_taskdef,
)

ECS_TASKS_TRUST = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"Service": "ecs-tasks.amazonaws.com"},
            "Action": "sts:AssumeRole",
        }
    ],
}


@dataclass(frozen=True)
class EnvironmentResult:
    """What :func:`provision_environment` built."""

    env: str
    cluster: str
    service: str
    service_arn: str
    family: str
    task_definition_arn: str
    target_group_arn: str
    log_group: str
    parameters: tuple[str, ...]
    execution_role_arn: str
    task_role_arn: str
    #: What an earlier run had already created and this one reused (empty on a first run).
    reused: tuple[str, ...] = ()

    @property
    def complete_before(self) -> bool:
        """Whether an earlier run had built everything (this run created nothing)."""
        return {"task definition", "target group", "listener rule", "service"} <= set(self.reused)


def provision_environment(
    factory: ClientFactory,
    base: ProvisionResult,
    env: str,
    *,
    config: Path = DEFAULT_CONFIG,
    taskdef: Path = DEFAULT_TASKDEF,
    image_tag: str | None = None,
    desired_count: int = 2,
    rule_priority: int = 10,
    progress: Callable[[str], None] | None = None,
) -> EnvironmentResult:
    """Create ``env``'s resources beside ``base`` (see the module doc), or finish what an earlier
    run left; revision 1 runs ``image_tag`` (default: the image of ``base``'s revision 1).
    ``progress`` gets one line per step, as it completes."""
    say = progress or (lambda _line: None)
    reused: list[str] = []
    cfg = load_config(config, env, environ={})
    if cfg.cluster == base.cluster:
        raise ProvisionError(
            f"failed to provision {env}: it shares cluster {cfg.cluster} with the base stack.",
            hint=f"Give [env.{env}] its own cluster in {config}.",
        )
    values = dict(cfg.vars)
    ecs, iam, logs, ssm, elb = (
        factory.client(name) for name in ("ecs", "iam", "logs", "ssm", "elbv2")
    )
    partition_region = f"arn:aws:ssm:{base.region}:{base.account}"

    document = render_taskdef(taskdef, account=base.account, image="x", variables=values)
    image = base.images[image_tag] if image_tag else _revision_1_image(ecs, base)
    for container in document.get("containerDefinitions", []):
        container["image"] = image
    family = str(document["family"])

    # 1. log group and settings (the template's SSM secrets, valued like prod's)
    log_group = _log_group(document)
    try:
        logs.create_log_group(logGroupName=log_group)
    except ClientError as exc:
        if _code(exc) != "ResourceAlreadyExistsException":
            raise
        reused.append("log group")
    logs.put_retention_policy(logGroupName=log_group, retentionInDays=30)
    prod_values = _parameter_values(ssm, base.parameters)
    parameters = []
    for container in document.get("containerDefinitions", []):
        for secret in container.get("secrets") or []:
            name = "/" + str(secret["valueFrom"]).split(":parameter/", 1)[-1].lstrip("/")
            leaf = name.rsplit("/", 1)[-1]
            ssm.put_parameter(
                Name=name, Value=prod_values.get(leaf, leaf), Type="String", Overwrite=True
            )
            parameters.append(name)
    say(f"log group {log_group} and {len(parameters)} settings: in place")

    # 2. roles: the execution role reads only this environment's settings and log group
    execution_name = str(document["executionRoleArn"]).rsplit("/", 1)[-1]
    task_name = str(document["taskRoleArn"]).rsplit("/", 1)[-1]
    ssm_path = "/".join(parameters[0].split("/")[:-1]) if parameters else f"/{env}"
    execution_arn = _role(
        iam,
        execution_name,
        f"ECS agent for voj {env}",
        {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Action": "ecr:GetAuthorizationToken", "Resource": "*"},
                {
                    "Effect": "Allow",
                    "Action": [
                        "ecr:BatchCheckLayerAvailability",
                        "ecr:BatchGetImage",
                        "ecr:GetDownloadUrlForLayer",
                    ],
                    "Resource": (
                        f"arn:aws:ecr:{base.region}:{base.account}:repository/{base.repository}"
                    ),
                },
                {
                    "Effect": "Allow",
                    "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
                    "Resource": (
                        f"arn:aws:logs:{base.region}:{base.account}:log-group:{log_group}:*"
                    ),
                },
                {
                    "Effect": "Allow",
                    "Action": ["ssm:GetParameters", "ssm:GetParameter"],
                    "Resource": f"{partition_region}:parameter{ssm_path}/*",
                },
            ],
        },
        reused=reused,
    )
    tables = [f"arn:aws:dynamodb:{base.region}:{base.account}:table/{t}" for t in base.tables]
    task_policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": [
                    "dynamodb:GetItem",
                    "dynamodb:BatchGetItem",
                    "dynamodb:Query",
                    "dynamodb:Scan",
                    "dynamodb:DescribeTable",
                ],
                "Resource": tables + [f"{t}/index/*" for t in tables],
            },
            {
                "Effect": "Allow",
                "Action": ["s3:GetObject", "s3:ListBucket"],
                "Resource": [f"arn:aws:s3:::{base.bucket}", f"arn:aws:s3:::{base.bucket}/*"],
            },
        ],
    }
    task_arn = _role(iam, task_name, f"voj {env} application", task_policy, reused=reused)
    say(f"roles {execution_name}, {task_name}: in place")

    # 3. a target group on the shared ALB, reached by the smoke URL's host
    prod_tg = elb.describe_target_groups(TargetGroupArns=[base.target_group_arns[0]])[
        "TargetGroups"
    ][0]
    tg_name = f"{cfg.cluster}-blue"[:32]
    earlier_tg = _existing_target_group(elb, tg_name)
    if earlier_tg is not None:
        reused.append("target group")
    tg = (
        earlier_tg
        or elb.create_target_group(
            Name=tg_name,
            TargetType="ip",
            Protocol="HTTP",
            Port=int(prod_tg["Port"]),
            VpcId=str(prod_tg["VpcId"]),
            HealthCheckProtocol="HTTP",
            HealthCheckPath=str(prod_tg.get("HealthCheckPath") or "/health"),
            HealthCheckIntervalSeconds=int(prod_tg["HealthCheckIntervalSeconds"]),
            HealthCheckTimeoutSeconds=int(prod_tg["HealthCheckTimeoutSeconds"]),
            HealthyThresholdCount=int(prod_tg["HealthyThresholdCount"]),
            UnhealthyThresholdCount=int(prod_tg["UnhealthyThresholdCount"]),
            Matcher={"HttpCode": "200"},
        )
    )["TargetGroups"][0]
    tg_arn = str(tg["TargetGroupArn"])
    attributes = elb.describe_target_group_attributes(TargetGroupArn=base.target_group_arns[0])
    elb.modify_target_group_attributes(
        TargetGroupArn=tg_arn,
        Attributes=[
            a
            for a in attributes["Attributes"]
            if a["Key"] == "deregistration_delay.timeout_seconds"
        ],
    )
    host = urlparse(cfg.smoke_url).hostname if cfg.smoke_url else None
    if _forwards_to(elb, base.listener_arn, tg_arn):
        reused.append("listener rule")
    else:
        elb.create_rule(
            ListenerArn=base.listener_arn,
            Priority=rule_priority,
            Conditions=[{"Field": "host-header", "Values": [host or f"{env}.voj.invalid"]}],
            Actions=[{"Type": "forward", "TargetGroupArn": tg_arn}],
        )
    say(f"target group {tg_name} behind {host or 'the ALB'}: in place")

    # 4. cluster, revision 1 of the environment's family, and a service shaped like prod's
    ecs.create_cluster(
        clusterName=cfg.cluster, settings=[{"name": "containerInsights", "value": "enabled"}]
    )
    td_arn = _first_revision(ecs, family)
    if td_arn is not None:
        reused.append("task definition")
    else:
        registered = ecs.register_task_definition(**document)["taskDefinition"]
        td_arn = str(registered["taskDefinitionArn"])
    say(f"task definition {td_arn.rsplit('/', 1)[-1]}: in place")
    found = ecs.describe_services(cluster=cfg.cluster, services=[cfg.service])["services"]
    live = [svc for svc in found if svc.get("status") != "INACTIVE"]
    if live:
        reused.append("service")
        say(f"service {cfg.cluster}/{cfg.service}: already {live[0].get('status')}")
        return _env_result(
            env,
            cfg.cluster,
            live[0],
            family,
            td_arn,
            tg_arn,
            log_group,
            parameters,
            execution_arn,
            task_arn,
            reused,
        )
    prod = ecs.describe_services(cluster=base.cluster, services=[base.service])["services"][0]
    binding = prod["loadBalancers"][0]
    deployment_configuration = {
        k: v for k, v in prod["deploymentConfiguration"].items() if k != "alarms"
    }
    service = ecs.create_service(
        cluster=cfg.cluster,
        serviceName=cfg.service,
        taskDefinition=td_arn,
        desiredCount=desired_count,
        launchType=prod.get("launchType", "FARGATE"),
        deploymentController={"type": "ECS"},
        deploymentConfiguration=deployment_configuration,
        healthCheckGracePeriodSeconds=int(prod.get("healthCheckGracePeriodSeconds") or 0),
        loadBalancers=[
            {
                "targetGroupArn": tg_arn,
                "containerName": binding["containerName"],
                "containerPort": int(binding["containerPort"]),
            }
        ],
        networkConfiguration=prod["networkConfiguration"],
        enableECSManagedTags=True,
        propagateTags="SERVICE",
    )["service"]
    say(f"service {cfg.cluster}/{cfg.service}: created")
    return _env_result(
        env,
        cfg.cluster,
        service,
        family,
        td_arn,
        tg_arn,
        log_group,
        parameters,
        execution_arn,
        task_arn,
        reused,
    )


def _env_result(
    env: str,
    cluster: str,
    service: dict[str, Any],
    family: str,
    td_arn: str,
    tg_arn: str,
    log_group: str,
    parameters: list[str],
    execution_arn: str,
    task_arn: str,
    reused: list[str],
) -> EnvironmentResult:
    return EnvironmentResult(
        env=env,
        cluster=cluster,
        service=str(service["serviceName"]),
        service_arn=str(service["serviceArn"]),
        family=family,
        task_definition_arn=td_arn,
        target_group_arn=tg_arn,
        log_group=log_group,
        parameters=tuple(parameters),
        execution_role_arn=execution_arn,
        task_role_arn=task_arn,
        reused=tuple(dict.fromkeys(reused)),
    )


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _existing_target_group(elb: Any, name: str) -> dict[str, Any] | None:
    """{"TargetGroups": [tg]} for the target group called ``name``, or None."""
    try:
        found = elb.describe_target_groups(Names=[name])["TargetGroups"]
    except ClientError as exc:
        if _code(exc) != "TargetGroupNotFound":
            raise
        return None
    return {"TargetGroups": found} if found else None


def _forwards_to(elb: Any, listener_arn: str, tg_arn: str) -> bool:
    """Whether a rule of the listener already forwards to ``tg_arn`` (an earlier run's)."""
    for rule in elb.describe_rules(ListenerArn=listener_arn)["Rules"]:
        for action in rule.get("Actions") or []:
            if action.get("TargetGroupArn") == tg_arn:
                return True
            groups = (action.get("ForwardConfig") or {}).get("TargetGroups") or []
            if any(g.get("TargetGroupArn") == tg_arn for g in groups):
                return True
    return False


def _first_revision(ecs: Any, family: str) -> str | None:
    """The family's first ACTIVE revision (an earlier run's revision 1), or None."""
    arns = ecs.list_task_definitions(familyPrefix=family, status="ACTIVE", sort="ASC")[
        "taskDefinitionArns"
    ]
    mine = [arn for arn in arns if arn.rsplit("/", 1)[-1].rsplit(":", 1)[0] == family]
    return str(mine[0]) if mine else None


def _revision_1_image(ecs: Any, base: ProvisionResult) -> str:
    td = ecs.describe_task_definition(taskDefinition=base.task_definition_arn)["taskDefinition"]
    return str(td["containerDefinitions"][0]["image"])


def _log_group(document: dict[str, Any]) -> str:
    for container in document.get("containerDefinitions", []):
        options = (container.get("logConfiguration") or {}).get("options") or {}
        if options.get("awslogs-group"):
            return str(options["awslogs-group"])
    raise ProvisionError("failed to provision: the task definition has no awslogs group.")


def _parameter_values(ssm: Any, names: tuple[str, ...]) -> dict[str, str]:
    """Prod's settings by leaf name (``S3_BUCKET_NAME`` → the bucket)."""
    values: dict[str, str] = {}
    for name in names:
        value = ssm.get_parameter(Name=name)["Parameter"]["Value"]
        values[name.rsplit("/", 1)[-1]] = str(value)
    return values


def _role(
    iam: Any, name: str, description: str, *policies: Any, reused: list[str] | None = None
) -> str:
    """Create role ``name`` (or find an earlier run's) and put its inline policies."""
    try:
        role = iam.create_role(
            RoleName=name,
            Description=description,
            AssumeRolePolicyDocument=json.dumps(ECS_TASKS_TRUST),
        )["Role"]
    except ClientError as exc:
        if _code(exc) != "EntityAlreadyExists":
            raise
        role = iam.get_role(RoleName=name)["Role"]
        if reused is not None:
            reused.append("roles")
    for index, policy in enumerate(policies):
        document = json.dumps(policy)
        iam.put_role_policy(RoleName=name, PolicyName=f"policy-{index}", PolicyDocument=document)
    return str(role["Arn"])
