"""rollout.sandbox.provision: the sandbox is built from infra/voj.yaml, gaps covered in code."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import botocore.session
import pytest

from rollout.sandbox import Sandbox
from rollout.sandbox.provision import (
    DEFAULT_TEMPLATE,
    GAP_TYPES,
    ProvisionError,
    ProvisionResult,
    Resolver,
    gap_order,
    load_template,
    moto_template,
    provision_voj,
    references,
    split_template,
    taskdef_vars,
    to_api_params,
)
from rollout.templating import lookup_from, substitute_document

TEMPLATE = load_template(DEFAULT_TEMPLATE)
OIDC_ARN = "arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com"


def _shape(service: str, operation: str) -> Any:
    model = botocore.session.get_session().get_service_model(service)
    return model.operation_model(operation).input_shape


def _resolver(template: dict[str, Any], **physical: str) -> Resolver:
    return Resolver(
        template,
        parameters={"Name": "voj", "Flag": "true"},
        pseudo={"AWS::Region": "ap-northeast-2", "AWS::AccountId": "123456789012"},
        physical_ids=physical,
        get_att=lambda logical_id, attr: f"{logical_id}:{attr}",
        azs=lambda: ["az-a", "az-b"],
    )


# ---------------------------------------------------------------------------- pure planning


def test_short_form_intrinsics_load_as_long_form(tmp_path: Path) -> None:
    """`!Ref`, `!GetAtt A.B`, `!Sub` and `!If` in YAML become their Fn:: long forms."""
    path = tmp_path / "t.yaml"
    path.write_text(
        "Resources:\n  X:\n    Type: AWS::S3::Bucket\n    Properties:\n"
        "      A: !Ref P\n      B: !GetAtt R.Arn\n      C: !Sub 'x-${P}'\n"
        "      D: !If [Cond, 1, 2]\n      E: !Select [0, !GetAZs '']\n"
    )
    props = load_template(path)["Resources"]["X"]["Properties"]
    assert props == {
        "A": {"Ref": "P"},
        "B": {"Fn::GetAtt": ["R", "Arn"]},
        "C": {"Fn::Sub": "x-${P}"},
        "D": {"Fn::If": ["Cond", 1, 2]},
        "E": {"Fn::Select": [0, {"Fn::GetAZs": ""}]},
    }


@pytest.mark.parametrize(
    ("node", "expected"),
    [
        ({"Ref": "A"}, {"A"}),
        ({"Fn::GetAtt": ["B", "Arn"]}, {"B"}),
        ({"Fn::Sub": "arn:${AWS::Region}:${C.Arn}/${D}"}, {"AWS::Region", "C", "D"}),
        ({"Fn::Sub": ["${x}-${E}", {"x": {"Ref": "F"}}]}, {"E", "F"}),
        ({"Fn::Sub": "${!Literal}"}, set()),
        ([{"Ref": "G"}, {"k": {"Ref": "H"}}], {"G", "H"}),
    ],
)
def test_references_finds_every_dependency(node: Any, expected: set[str]) -> None:
    """Ref, GetAtt and ${} variables in Sub (minus local and escaped ones) are references."""
    assert references(node) == expected


@pytest.mark.parametrize(
    ("node", "expected"),
    [
        ({"Ref": "Name"}, "voj"),
        ({"Ref": "Bucket"}, "bucket-1"),
        ({"Fn::GetAtt": ["Role", "Arn"]}, "Role:Arn"),
        (
            {"Fn::Sub": "arn:aws:x:${AWS::Region}:${AWS::AccountId}:${Name}/${Role.Arn}"},
            "arn:aws:x:ap-northeast-2:123456789012:voj/Role:Arn",
        ),
        ({"Fn::Sub": ["${a}-${Name}", {"a": "A"}]}, "A-voj"),
        ({"Fn::Join": ["-", ["a", {"Ref": "Name"}]]}, "a-voj"),
        ({"Fn::Select": [1, {"Fn::GetAZs": ""}]}, "az-b"),
        ({"Fn::If": ["IsOn", "yes", "no"]}, "yes"),
        ([1, {"Fn::If": ["IsOff", 2, {"Ref": "AWS::NoValue"}]}, 3], [1, 3]),
        ({"k": {"Ref": "AWS::NoValue"}, "j": 1}, {"j": 1}),
        ({"Fn::Split": [",", "a,b"]}, ["a", "b"]),
    ],
)
def test_resolver_evaluates_intrinsics(node: Any, expected: Any) -> None:
    """The resolver evaluates the intrinsics the template uses, including AWS::NoValue."""
    template = {
        "Parameters": {"Name": {"Type": "String"}, "Flag": {"Type": "String"}},
        "Conditions": {
            "IsOn": {"Fn::Equals": [{"Ref": "Flag"}, "true"]},
            "IsOff": {"Fn::Not": [{"Condition": "IsOn"}]},
        },
        "Resources": {},
    }
    assert _resolver(template, Bucket="bucket-1").resolve(node) == expected


def test_resolver_refuses_unknown_refs() -> None:
    """A Ref to nothing known is an error, not a silent empty value."""
    with pytest.raises(ProvisionError, match="Ref Nope"):
        _resolver({"Resources": {}}).resolve({"Ref": "Nope"})


def test_template_splits_into_moto_resources_and_known_gaps() -> None:
    """Every resource of infra/voj.yaml is either created by moto or a documented gap."""
    moto, gaps = split_template(TEMPLATE)
    assert set(moto) | set(gaps) == set(TEMPLATE["Resources"])
    assert {TEMPLATE["Resources"][g]["Type"] for g in gaps} == set(GAP_TYPES)


def test_unknown_resource_type_is_refused() -> None:
    """A resource type neither moto nor provision covers stops provisioning with its name."""
    template = {"Resources": {"Fn": {"Type": "AWS::Lambda::Function", "Properties": {}}}}
    with pytest.raises(ProvisionError, match="Fn has type AWS::Lambda::Function"):
        split_template(template)


def test_gaps_are_created_after_what_they_refer_to() -> None:
    """The service comes after the cluster and the alarms it names."""
    _, gaps = split_template(TEMPLATE)
    order = gap_order(gaps)
    for dependency in ("Cluster", "Target5xxAlarm", "Elb5xxAlarm", "UnhealthyTargetsAlarm"):
        assert order.index(dependency) < order.index("Service")


def test_moto_template_has_no_gap_and_no_dangling_reference() -> None:
    """moto gets no gap resource, the OIDC provider ARN inlined, no output naming a gap, and a
    listener it can parse."""
    body = moto_template(TEMPLATE, {"GitHubOidcProvider": OIDC_ARN})
    _, gaps = split_template(TEMPLATE)
    assert not set(body["Resources"]) & set(gaps)
    text = json.dumps(body)
    for gap in gaps:
        assert f'"Ref": "{gap}"' not in text
        assert f'["{gap}",' not in text
    trust = body["Resources"]["DeployRole"]["Properties"]["AssumeRolePolicyDocument"]
    assert OIDC_ARN in json.dumps(trust)
    action = body["Resources"]["Listener"]["Properties"]["DefaultActions"][0]
    assert "ForwardConfig" not in action
    assert action["TargetGroupArn"] == {"Ref": "TargetGroupBlue"}
    # The original template is untouched.
    assert "ForwardConfig" in TEMPLATE["Resources"]["Listener"]["Properties"]["DefaultActions"][0]


def test_a_moto_resource_may_not_depend_on_a_later_gap() -> None:
    """A stack resource referring to a resource the sandbox creates after the stack is refused."""
    template = {
        "Resources": {
            "Cluster": {"Type": "AWS::ECS::Cluster", "Properties": {}},
            "Log": {
                "Type": "AWS::Logs::LogGroup",
                "Properties": {"LogGroupName": {"Ref": "Cluster"}},
            },
        }
    }
    with pytest.raises(ProvisionError, match="Log refers to Cluster"):
        moto_template(template, {})


def test_properties_map_onto_the_api_shape() -> None:
    """CloudFormation names match API members case-insensitively; numbers and booleans written
    as strings are coerced; nested structures and lists follow the shape."""
    props = {
        "ServiceName": "svc",
        "DesiredCount": "2",
        "DeploymentConfiguration": {
            "MinimumHealthyPercent": 100,
            "DeploymentCircuitBreaker": {"Enable": "true", "Rollback": True},
        },
        "NetworkConfiguration": {
            "AwsvpcConfiguration": {"Subnets": ["s-1"], "AssignPublicIp": "ENABLED"}
        },
        "EnableECSManagedTags": "false",
        "Tags": [{"Key": "a", "Value": "b"}],
    }
    params = to_api_params("AWS::ECS::Service", props, _shape("ecs", "CreateService"))
    assert params == {
        "serviceName": "svc",
        "desiredCount": 2,
        "deploymentConfiguration": {
            "minimumHealthyPercent": 100,
            "deploymentCircuitBreaker": {"enable": True, "rollback": True},
        },
        "networkConfiguration": {
            "awsvpcConfiguration": {"subnets": ["s-1"], "assignPublicIp": "ENABLED"}
        },
        "enableECSManagedTags": False,
        "tags": [{"key": "a", "value": "b"}],
    }


def test_cluster_settings_use_the_alias() -> None:
    """ClusterSettings (CloudFormation) becomes settings (CreateCluster)."""
    params = to_api_params(
        "AWS::ECS::Cluster",
        {
            "ClusterName": "c",
            "ClusterSettings": [{"Name": "containerInsights", "Value": "enabled"}],
        },
        _shape("ecs", "CreateCluster"),
    )
    assert params == {
        "clusterName": "c",
        "settings": [{"name": "containerInsights", "value": "enabled"}],
    }


def test_a_property_the_api_cannot_take_is_an_error() -> None:
    """A template property with no API equivalent fails instead of being dropped silently."""
    with pytest.raises(ProvisionError, match=r"AWS::ECS::Service\.Bogus"):
        to_api_params("AWS::ECS::Service", {"Bogus": 1}, _shape("ecs", "CreateService"))


# ---------------------------------------------------------------------------- the sandbox


@pytest.fixture(scope="module")
def built() -> Iterator[tuple[Sandbox, ProvisionResult]]:
    """One sandbox provisioned for the read-only checks of this module."""
    sb = Sandbox()
    try:
        result = sb.provision_voj()
        yield sb, result
    finally:
        sb.close()


def test_every_template_resource_exists_in_the_sandbox(
    built: tuple[Sandbox, ProvisionResult],
) -> None:
    """Each resource of the template (conditions applied) was created, by moto or by a gap."""
    _, result = built
    # Provisioned with default parameters plus revision 1 for the service: the OIDC provider
    # and the service exist; without a certificate there is no HTTP->HTTPS redirect listener.
    conditions = Resolver(
        TEMPLATE,
        parameters={"ServiceTaskDefinitionArn": result.task_definition_arn},
        pseudo={},
        physical_ids={},
        get_att=lambda logical_id, attr: "",
        azs=list,
    )
    expected = {
        logical_id
        for logical_id, resource in TEMPLATE["Resources"].items()
        if "Condition" not in resource or conditions.condition(resource["Condition"])
    }
    assert "Service" in expected
    assert "GitHubOidcProvider" in expected
    assert "HttpRedirectListener" not in expected
    assert set(result.resources) == expected


def test_the_sandbox_takes_the_named_plain_http_opt_out(
    built: tuple[Sandbox, ProvisionResult],
) -> None:
    """The sandbox has no ACM certificate, so it passes AllowPlainHttp=true explicitly (the
    template's rule refuses a stack without TLS otherwise) and its listener serves HTTP."""
    sb, result = built
    cfn = sb.client_factory().client("cloudformation")
    (stack,) = cfn.describe_stacks(StackName=result.stack_name)["Stacks"]
    parameters = {p["ParameterKey"]: p["ParameterValue"] for p in stack["Parameters"]}
    assert parameters["AllowPlainHttp"] == "true"
    assert parameters.get("CertificateArn", "") == ""
    elbv2 = sb.client_factory().client("elbv2")
    (listener,) = elbv2.describe_listeners(ListenerArns=[result.listener_arn])["Listeners"]
    assert (listener["Protocol"], listener["Port"]) == ("HTTP", 80)


def test_service_runs_revision_1_with_the_template_settings(
    built: tuple[Sandbox, ProvisionResult],
) -> None:
    """The ECS service (created through the simulation) carries the template's deployment
    configuration, grace period, load balancer and network settings, steady on revision 1."""
    sb, result = built
    ecs = sb.client_factory().client("ecs")
    service = ecs.describe_services(cluster=result.cluster, services=[result.service])["services"][
        0
    ]
    assert service["taskDefinition"].endswith("task-definition/voj-backend-prod:1")
    assert service["runningCount"] == service["desiredCount"] == 2
    config = service["deploymentConfiguration"]
    assert config["deploymentCircuitBreaker"] == {"enable": True, "rollback": True}
    assert (config["minimumHealthyPercent"], config["maximumPercent"]) == (100, 200)
    assert set(config["alarms"]["alarmNames"]) == set(result.alarms)
    assert service["healthCheckGracePeriodSeconds"] == 30
    assert service["loadBalancers"] == [
        {
            "targetGroupArn": result.target_group_arns[0],
            "containerName": "api",
            "containerPort": 8000,
        }
    ]
    awsvpc = service["networkConfiguration"]["awsvpcConfiguration"]
    assert set(awsvpc["subnets"]) == {result.resources["SubnetA"], result.resources["SubnetB"]}
    assert awsvpc["securityGroups"] == [result.resources["ServiceSecurityGroup"]]
    cluster = ecs.describe_clusters(clusters=[result.cluster], include=["SETTINGS"])["clusters"][0]
    assert {"name": "containerInsights", "value": "enabled"} in cluster.get("settings", [])


def test_revision_1_is_the_task_definition_template_rendered(
    built: tuple[Sandbox, ProvisionResult],
) -> None:
    """Revision 1 is .github/ecs/taskdef.json with prod's variables and the account filled in
    and image sha-0000001."""
    sb, result = built
    td = (
        sb.client_factory()
        .client("ecs")
        .describe_task_definition(taskDefinition=result.task_definition_arn)["taskDefinition"]
    )
    template = substitute_document(
        json.loads((DEFAULT_TEMPLATE.parents[1] / ".github" / "ecs" / "taskdef.json").read_text()),
        lookup_from(taskdef_vars("prod")),
    )
    assert td["executionRoleArn"] == result.execution_role_arn
    assert td["taskRoleArn"] == result.task_role_arn
    (container,) = td["containerDefinitions"]
    assert container["image"] == result.images["sha-0000001"]
    expected = template["containerDefinitions"][0]
    assert container["secrets"] == [
        {**s, "valueFrom": s["valueFrom"].replace("<account>", result.account)}
        for s in expected["secrets"]
    ]
    assert container["command"] == expected["command"]


def test_images_are_pushed_with_distinct_digests(built: tuple[Sandbox, ProvisionResult]) -> None:
    """sha-0000001..3 exist in ECR with distinct digests (what render pins and rollback uses)."""
    sb, result = built
    ecr = sb.client_factory().client("ecr")
    details = ecr.describe_images(repositoryName="voj-backend")["imageDetails"]
    found = {tag: d["imageDigest"] for d in details for tag in d.get("imageTags", [])}
    assert found == dict(result.digests)
    assert len(set(found.values())) == 3


def test_property_gaps_are_applied(built: tuple[Sandbox, ProvisionResult]) -> None:
    """What moto's CloudFormation drops is applied afterwards: deregistration delay, weighted
    listener, ECR lifecycle, S3 public-access block and TLS-only policy, alarms, OIDC provider."""
    sb, result = built
    f = sb.client_factory()
    for arn in result.target_group_arns:
        attrs = f.client("elbv2").describe_target_group_attributes(TargetGroupArn=arn)
        values = {a["Key"]: a["Value"] for a in attrs["Attributes"]}
        assert values["deregistration_delay.timeout_seconds"] == "15"
    (listener,) = f.client("elbv2").describe_listeners(ListenerArns=[result.listener_arn])[
        "Listeners"
    ]
    weights = {
        g["TargetGroupArn"]: g["Weight"]
        for g in listener["DefaultActions"][0]["ForwardConfig"]["TargetGroups"]
    }
    assert weights == {result.target_group_arns[0]: 100, result.target_group_arns[1]: 0}
    lifecycle = f.client("ecr").get_lifecycle_policy(repositoryName="voj-backend")
    assert "sha-" in lifecycle["lifecyclePolicyText"]
    block = f.client("s3").get_public_access_block(Bucket=result.bucket)
    assert all(block["PublicAccessBlockConfiguration"].values())
    policy = json.loads(f.client("s3").get_bucket_policy(Bucket=result.bucket)["Policy"])
    assert policy["Statement"][0]["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    alarms = f.client("cloudwatch").describe_alarms(AlarmNames=list(result.alarms))
    assert {a["MetricName"] for a in alarms["MetricAlarms"]} == {
        "HTTPCode_Target_5XX_Count",
        "HTTPCode_ELB_5XX_Count",
        "UnHealthyHostCount",
    }
    providers = f.client("iam").list_open_id_connect_providers()["OpenIDConnectProviderList"]
    assert [p["Arn"] for p in providers] == [result.resources["GitHubOidcProvider"]]


def test_more_property_gaps_are_applied(built: tuple[Sandbox, ProvisionResult]) -> None:
    """Bucket versioning/ownership/bucket key, table point-in-time recovery, ECR scan on push
    and the tasks' HTTPS-only egress match the template, not moto's defaults."""
    sb, result = built
    f = sb.client_factory()
    s3 = f.client("s3")
    assert s3.get_bucket_versioning(Bucket=result.bucket)["Status"] == "Enabled"
    ownership = s3.get_bucket_ownership_controls(Bucket=result.bucket)["OwnershipControls"]
    assert ownership["Rules"] == [{"ObjectOwnership": "BucketOwnerEnforced"}]
    (rule,) = s3.get_bucket_encryption(Bucket=result.bucket)["ServerSideEncryptionConfiguration"][
        "Rules"
    ]
    assert rule["BucketKeyEnabled"] is True
    for table in result.tables:
        backups = f.client("dynamodb").describe_continuous_backups(TableName=table)
        pitr = backups["ContinuousBackupsDescription"]["PointInTimeRecoveryDescription"]
        assert pitr["PointInTimeRecoveryStatus"] == "ENABLED"
    (repo,) = f.client("ecr").describe_repositories(repositoryNames=["voj-backend"])["repositories"]
    assert repo["imageScanningConfiguration"] == {"scanOnPush": True}
    assert repo["imageTagMutability"] == "IMMUTABLE"
    (group,) = f.client("ec2").describe_security_groups(
        GroupIds=[result.resources["ServiceSecurityGroup"]]
    )["SecurityGroups"]
    egress = [
        (r["IpProtocol"], r.get("FromPort"), r.get("ToPort")) for r in group["IpPermissionsEgress"]
    ]
    assert egress == [("tcp", 443, 443)]


def test_settings_parameters_point_at_the_stack(built: tuple[Sandbox, ProvisionResult]) -> None:
    """/voj/prod/* hold the bucket and table names the stack created."""
    sb, result = built
    ssm = sb.client_factory().client("ssm")
    params = {
        p["Name"]: p["Value"] for p in ssm.get_parameters_by_path(Path="/voj/prod/")["Parameters"]
    }
    assert params["/voj/prod/S3_BUCKET_NAME"] == result.bucket
    assert {
        params["/voj/prod/BOOKS_TABLE_NAME"],
        params["/voj/prod/AUDIO_CHAPTERS_TABLE_NAME"],
    } == set(result.tables)
    assert set(params) == set(result.parameters)


def test_weighted_records_exist(built: tuple[Sandbox, ProvisionResult]) -> None:
    """The zone has the legacy and ECS weighted records; the ECS one points at the ALB."""
    sb, result = built
    records = (
        sb.client_factory()
        .client("route53")
        .list_resource_record_sets(HostedZoneId=result.hosted_zone_id)["ResourceRecordSets"]
    )
    weighted = {r["SetIdentifier"]: r for r in records if "SetIdentifier" in r}
    assert set(weighted) == {"legacy", "ecs"}
    assert weighted["ecs"]["ResourceRecords"] == [{"Value": result.load_balancer_dns}]
    assert (weighted["legacy"]["Weight"], weighted["ecs"]["Weight"]) == (100, 0)


def test_provisioning_twice_fails_clearly(built: tuple[Sandbox, ProvisionResult]) -> None:
    """A second provision on the same sandbox stops with an AWS error (the stack exists)."""
    sb, _ = built
    with pytest.raises(Exception, match=r"(?i)exist"):
        provision_voj(sb.client_factory())
