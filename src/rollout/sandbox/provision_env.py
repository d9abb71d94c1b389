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
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from rollout.aws import ClientFactory
from rollout.config import load_config
from rollout.sandbox.provision import (
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
) -> EnvironmentResult:
    """Create ``env``'s resources beside ``base`` (see the module doc); revision 1 runs
    ``image_tag`` (default: the image of ``base``'s revision 1)."""
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
    logs.create_log_group(logGroupName=log_group)
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
    task_arn = _role(iam, task_name, f"voj {env} application", task_policy)

    # 3. a target group on the shared ALB, reached by the smoke URL's host
    prod_tg = elb.describe_target_groups(TargetGroupArns=[base.target_group_arns[0]])[
        "TargetGroups"
    ][0]
    tg = elb.create_target_group(
        Name=f"{cfg.cluster}-blue"[:32],
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
    elb.create_rule(
        ListenerArn=base.listener_arn,
        Priority=rule_priority,
        Conditions=[{"Field": "host-header", "Values": [host or f"{env}.voj.invalid"]}],
        Actions=[{"Type": "forward", "TargetGroupArn": tg_arn}],
    )

    # 4. cluster, revision 1 of the environment's family, and a service shaped like prod's
    ecs.create_cluster(
        clusterName=cfg.cluster, settings=[{"name": "containerInsights", "value": "enabled"}]
    )
    td_arn = str(ecs.register_task_definition(**document)["taskDefinition"]["taskDefinitionArn"])
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
    return EnvironmentResult(
        env=env,
        cluster=cfg.cluster,
        service=cfg.service,
        service_arn=str(service["serviceArn"]),
        family=family,
        task_definition_arn=td_arn,
        target_group_arn=tg_arn,
        log_group=log_group,
        parameters=tuple(parameters),
        execution_role_arn=execution_arn,
        task_role_arn=task_arn,
    )


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


def _role(iam: Any, name: str, description: str, *policies: Any) -> str:
    role = iam.create_role(
        RoleName=name,
        Description=description,
        AssumeRolePolicyDocument=json.dumps(ECS_TASKS_TRUST),
    )["Role"]
    for index, policy in enumerate(policies):
        document = json.dumps(policy)
        iam.put_role_policy(RoleName=name, PolicyName=f"policy-{index}", PolicyDocument=document)
    return str(role["Arn"])
