"""infra/voj.yaml: cfn-lint, and the security and speed properties issue 6 asks of it."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from rollout.sandbox.provisioning.stack import Resolver, load_template

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE_PATH = ROOT / "infra" / "voj.yaml"
TEMPLATE = load_template(TEMPLATE_PATH)
RESOURCES: dict[str, Any] = TEMPLATE["Resources"]
CONFIG = tomllib.loads((ROOT / "rollout.toml").read_text(encoding="utf-8"))

# Actions IAM cannot scope to a resource (AWS Service Authorization Reference); only these may
# be granted on Resource "*".
UNSCOPABLE = {
    "ecr:GetAuthorizationToken",
    "ecs:RegisterTaskDefinition",
    "ecs:DescribeTaskDefinition",
    "ecs:ListTaskDefinitions",
    "ecs:ListTaskDefinitionFamilies",
    "ecs:DeregisterTaskDefinition",
    "ecs:ListTasks",
    "elasticloadbalancing:DescribeTargetHealth",
    "elasticloadbalancing:DescribeTargetGroups",
    "elasticloadbalancing:DescribeTargetGroupAttributes",
    "elasticloadbalancing:DescribeLoadBalancers",
    "elasticloadbalancing:DescribeListeners",
    "elasticloadbalancing:DescribeRules",
    "ssm:DescribeParameters",
    "route53:ListHostedZonesByName",
    # the Service Authorization Reference lists no resource type for GetMetricData
    "cloudwatch:GetMetricData",
}


def resolver(**parameters: str) -> Resolver:
    """A resolver over the template with placeholder values for resources."""
    return Resolver(
        TEMPLATE,
        parameters={"GitHubOrg": "acme", "GitHubRepo": "voj", **parameters},
        pseudo={
            "AWS::AccountId": "111122223333",
            "AWS::Region": "ap-northeast-2",
            "AWS::Partition": "aws",
            "AWS::StackName": "voj-prod",
        },
        physical_ids={logical_id: f"<{logical_id}>" for logical_id in RESOURCES},
        get_att=lambda logical_id, attr: f"<{logical_id}.{attr}>",
        azs=lambda: ["ap-northeast-2a", "ap-northeast-2b"],
    )


def statements(policy: dict[str, Any]) -> list[dict[str, Any]]:
    raw = policy["Statement"]
    return raw if isinstance(raw, list) else [raw]


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def all_policy_statements(res: Resolver) -> Iterator[tuple[str, dict[str, Any]]]:
    """(resource id, statement) for every identity policy statement in the template."""
    for logical_id, resource in RESOURCES.items():
        if resource["Type"] == "AWS::IAM::Role":
            props = res.resolve(resource["Properties"])
            for policy in props.get("Policies", []):
                for statement in statements(policy["PolicyDocument"]):
                    yield logical_id, statement
        if resource["Type"] in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
            props = res.resolve(resource["Properties"])
            for statement in statements(props["PolicyDocument"]):
                yield logical_id, statement


def test_cfn_lint_is_clean() -> None:
    """cfn-lint reports nothing on any template in infra/."""
    templates = sorted(str(p) for p in (ROOT / "infra").glob("*.yaml"))
    assert templates
    result = subprocess.run(
        [str(Path(sys.executable).parent / "cfn-lint"), *templates],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("value", ["*", "acme*", "a?c", "acme/other", ""])
def test_parameters_refuse_wildcards_and_slashes(value: str) -> None:
    """The GitHubOrg/GitHubRepo patterns reject wildcard, slash and empty values."""
    for name in ("GitHubOrg", "GitHubRepo"):
        pattern = TEMPLATE["Parameters"][name]["AllowedPattern"]
        assert re.fullmatch(pattern, value) is None, (name, value)


def test_existing_oidc_provider_can_be_reused() -> None:
    """With ExistingOidcProviderArn set, both roles trust that provider and none is created."""
    arn = "arn:aws:iam::111122223333:oidc-provider/token.actions.githubusercontent.com"
    res = resolver(ExistingOidcProviderArn=arn)
    for role in ("DeployRole", "BuildRole"):
        trust = res.resolve(RESOURCES[role]["Properties"]["AssumeRolePolicyDocument"])
        assert {json.dumps(s["Principal"]) for s in statements(trust)} == {
            json.dumps({"Federated": arn})
        }
    assert res.condition(RESOURCES["GitHubOidcProvider"]["Condition"]) is False


@pytest.mark.parametrize("prune", ["false", "true"])
def test_no_allow_statement_grants_a_wildcard_action(prune: str) -> None:
    """No Allow statement has Action "*", "iam:*" or any other wildcard action."""
    found = list(all_policy_statements(resolver(EnablePrune=prune)))
    assert len(found) > 10
    for logical_id, statement in found:
        assert statement["Effect"] == "Allow", logical_id
        assert "NotAction" not in statement
        assert "NotResource" not in statement
        for action in as_list(statement["Action"]):
            assert "*" not in action, (logical_id, action)


@pytest.mark.parametrize("prune", ["false", "true"])
def test_resource_star_only_for_actions_iam_cannot_scope(prune: str) -> None:
    """Resource "*" appears only with actions that support no resource-level permissions."""
    for logical_id, statement in all_policy_statements(resolver(EnablePrune=prune)):
        if "*" in as_list(statement["Resource"]):
            assert set(as_list(statement["Action"])) <= UNSCOPABLE, (logical_id, statement)


def test_pass_role_is_scoped_to_the_two_task_roles_and_to_ecs_tasks() -> None:
    """iam:PassRole is granted once, on the execution and task roles only, with
    iam:PassedToService = ecs-tasks.amazonaws.com."""
    passes = [
        (logical_id, statement)
        for logical_id, statement in all_policy_statements(resolver(EnablePrune="true"))
        if "iam:PassRole" in as_list(statement["Action"])
    ]
    assert len(passes) == 1
    logical_id, statement = passes[0]
    assert logical_id == "DeployRole"
    assert as_list(statement["Action"]) == ["iam:PassRole"]
    assert sorted(statement["Resource"]) == ["<ExecutionRole.Arn>", "<TaskRole.Arn>"]
    assert statement["Condition"] == {
        "StringEquals": {"iam:PassedToService": "ecs-tasks.amazonaws.com"}
    }


@pytest.mark.parametrize(("prune", "granted"), [("false", False), ("true", True)])
def test_deregister_only_when_prune_is_enabled(prune: str, granted: bool) -> None:
    """ecs:DeregisterTaskDefinition is in the deploy policy only with EnablePrune=true."""
    actions = {
        action
        for logical_id, statement in all_policy_statements(resolver(EnablePrune=prune))
        if logical_id == "DeployRole"
        for action in as_list(statement["Action"])
    }
    assert ("ecs:DeregisterTaskDefinition" in actions) is granted


def _deploy_statement(sid: str) -> dict[str, Any]:
    for logical_id, statement in all_policy_statements(resolver()):
        if logical_id == "DeployRole" and statement.get("Sid") == sid:
            return statement
    raise AssertionError(f"no statement {sid}")


def test_deploy_role_lock_permission_matches_rollout_lock_prefix() -> None:
    """The SSM lock permission covers exactly rollout.toml's lock parameter prefix."""
    prefix = CONFIG["defaults"]["lock"]["parameter_prefix"].rstrip("/")
    statement = _deploy_statement("RolloutLock")
    assert statement["Resource"] == (f"arn:aws:ssm:ap-northeast-2:111122223333:parameter{prefix}/*")
    assert "ssm:PutParameter" in statement["Action"]


def _role_statements(role: str) -> list[dict[str, Any]]:
    return [st for logical_id, st in all_policy_statements(resolver()) if logical_id == role]


def test_ecr_push_is_limited_to_the_build_role_and_the_voj_backend_repository() -> None:
    """Only the build role may push, and only to this repository (the resource's ARN); the
    deploy role cannot push at all."""
    push = {"ecr:PutImage", "ecr:InitiateLayerUpload", "ecr:UploadLayerPart"}
    for logical_id, statement in all_policy_statements(resolver(EnablePrune="true")):
        if push & set(as_list(statement["Action"])):
            assert logical_id == "BuildRole", logical_id
            assert statement["Resource"] == "<Repository.Arn>"
    build = _role_statements("BuildRole")
    assert any("ecr:PutImage" in as_list(st["Action"]) for st in build)
    assert RESOURCES["Repository"]["Properties"]["RepositoryName"] == "voj-backend"


def test_build_role_touches_nothing_but_ecr() -> None:
    """The build role cannot update ECS, pass roles, change DNS or read settings."""
    actions = {a for st in _role_statements("BuildRole") for a in as_list(st["Action"])}
    assert {a.split(":")[0] for a in actions} == {"ecr"}
    resources = {r for st in _role_statements("BuildRole") for r in as_list(st["Resource"])}
    assert resources == {"*", "<Repository.Arn>"}


def test_ecs_writes_are_limited_to_the_voj_service() -> None:
    """UpdateService and StopServiceDeployment name the voj-prod/voj-backend-api service only."""
    service = _deploy_statement("EcsService")
    assert service["Resource"].endswith(":service/voj-prod/voj-backend-api")
    stop = _deploy_statement("EcsServiceDeployments")
    assert stop["Resource"].endswith(":service-deployment/voj-prod/voj-backend-api/*")


def test_route53_changes_are_limited_to_the_weighted_record() -> None:
    """ChangeResourceRecordSets is limited to the zone and to the one weighted record name."""
    statement = _deploy_statement("Route53Records")
    assert statement["Resource"] == "arn:aws:route53:::hostedzone/<HostedZone>"
    assert statement["Condition"] == {
        "ForAllValues:StringEquals": {
            "route53:ChangeResourceRecordSetsNormalizedRecordNames": ["api.voj.example.com"]
        }
    }


def test_execution_role_reads_only_voj_prod_parameters() -> None:
    """The execution role's SSM access is /voj/prod/* and nothing else."""
    ssm = [
        statement
        for logical_id, statement in all_policy_statements(resolver())
        if logical_id == "ExecutionRole"
        and any(a.startswith("ssm:") for a in as_list(statement["Action"]))
    ]
    assert [s["Resource"] for s in ssm] == [
        "arn:aws:ssm:ap-northeast-2:111122223333:parameter/voj/prod/*"
    ]


def test_task_role_touches_only_the_bucket_and_the_two_tables() -> None:
    """Every task-role statement names the two tables or the audio bucket, read-only."""
    resources: set[str] = set()
    for logical_id, statement in all_policy_statements(resolver()):
        if logical_id == "TaskRole":
            resources |= set(as_list(statement["Resource"]))
            for action in as_list(statement["Action"]):
                assert action.split(":")[1].startswith(
                    ("Get", "BatchGet", "Query", "Scan", "Describe", "List")
                )
    assert resources == {
        "<BooksTable.Arn>",
        "<AudioChaptersTable.Arn>",
        "<AudioBucket.Arn>",
        "<AudioBucket.Arn>/*",
    }


def test_task_roles_trust_ecs_tasks_from_this_account_only() -> None:
    """Execution and task roles trust ecs-tasks.amazonaws.com with aws:SourceAccount."""
    for logical_id in ("ExecutionRole", "TaskRole"):
        trust = resolver().resolve(RESOURCES[logical_id]["Properties"]["AssumeRolePolicyDocument"])
        (statement,) = statements(trust)
        assert statement["Principal"] == {"Service": "ecs-tasks.amazonaws.com"}
        assert statement["Condition"] == {"StringEquals": {"aws:SourceAccount": "111122223333"}}


def test_service_deploys_safely() -> None:
    """Circuit breaker with rollback, min 100 / max 200, a grace period, and deployment alarms
    on ALB 5xx and target health that roll back."""
    props = resolver(ServiceTaskDefinitionArn="arn:td:1").resolve(
        RESOURCES["Service"]["Properties"]
    )
    config = props["DeploymentConfiguration"]
    assert config["DeploymentCircuitBreaker"] == {"Enable": True, "Rollback": True}
    assert (config["MinimumHealthyPercent"], config["MaximumPercent"]) == (100, 200)
    assert 0 < props["HealthCheckGracePeriodSeconds"] <= 60
    assert config["Alarms"]["Enable"] is True
    assert config["Alarms"]["Rollback"] is True
    # Ref to an alarm is its name; the resolver's placeholder for it is "<LogicalId>".
    alarms = [RESOURCES[name.strip("<>")]["Properties"] for name in config["Alarms"]["AlarmNames"]]
    assert {alarm["MetricName"] for alarm in alarms} == {
        "HTTPCode_Target_5XX_Count",
        "HTTPCode_ELB_5XX_Count",
        "UnHealthyHostCount",
    }
    assert {alarm["Namespace"] for alarm in alarms} == {"AWS/ApplicationELB"}
    assert {alarm["AlarmName"] for alarm in alarms} <= set(CONFIG["env"]["prod"]["bake"]["alarms"])


def test_service_exists_only_once_a_task_definition_is_given() -> None:
    """Bootstrap: without ServiceTaskDefinitionArn the stack creates everything but the service."""
    condition = RESOURCES["Service"]["Condition"]
    assert resolver().condition(condition) is False
    assert resolver(ServiceTaskDefinitionArn="arn:td:1").condition(condition) is True


def test_two_target_groups_tuned_for_fast_deploys() -> None:
    """Both target groups check /health quickly (in service within 15 s) and drain in <= 30 s."""
    groups = [r["Properties"] for r in RESOURCES.values() if r["Type"].endswith("::TargetGroup")]
    assert len(groups) == 2
    for props in groups:
        assert props["HealthCheckPath"] == "/health"
        assert props["TargetType"] == "ip"
        assert props["Port"] == 8000
        assert props["HealthyThresholdCount"] * props["HealthCheckIntervalSeconds"] <= 15
        assert props["HealthCheckTimeoutSeconds"] < props["HealthCheckIntervalSeconds"]
        delay = {a["Key"]: a["Value"] for a in props["TargetGroupAttributes"]}[
            "deregistration_delay.timeout_seconds"
        ]
        assert 0 < int(delay) <= 30


def test_images_are_immutable_and_scanned() -> None:
    """ECR tags are immutable and images are scanned on push (the lifecycle rules are evaluated
    in test_ecr_lifecycle.py)."""
    props = RESOURCES["Repository"]["Properties"]
    assert props["ImageTagMutability"] == "IMMUTABLE"
    assert props["ImageScanningConfiguration"] == {"ScanOnPush": True}


def test_cluster_has_container_insights() -> None:
    """The cluster turns Container Insights on."""
    settings = RESOURCES["Cluster"]["Properties"]["ClusterSettings"]
    assert {"Name": "containerInsights", "Value": "enabled"} in settings


def test_bucket_is_private_encrypted_and_tls_only() -> None:
    """Public access is blocked, objects are encrypted, and a policy denies non-TLS requests."""
    props = RESOURCES["AudioBucket"]["Properties"]
    assert all(props["PublicAccessBlockConfiguration"].values())
    assert len(props["PublicAccessBlockConfiguration"]) == 4
    assert props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    policy = resolver().resolve(RESOURCES["AudioBucketPolicy"]["Properties"]["PolicyDocument"])
    (deny,) = statements(policy)
    assert deny["Effect"] == "Deny"
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_tables_have_the_seed_keys() -> None:
    """books is keyed by book_id; audio chapters by book_id + chapter_number (a number)."""
    books = RESOURCES["BooksTable"]["Properties"]
    chapters = RESOURCES["AudioChaptersTable"]["Properties"]
    assert books["KeySchema"] == [{"AttributeName": "book_id", "KeyType": "HASH"}]
    assert chapters["KeySchema"] == [
        {"AttributeName": "book_id", "KeyType": "HASH"},
        {"AttributeName": "chapter_number", "KeyType": "RANGE"},
    ]
    assert {"AttributeName": "chapter_number", "AttributeType": "N"} in chapters[
        "AttributeDefinitions"
    ]


def test_weighted_records_match_the_traffic_config() -> None:
    """Legacy and new ALB records share name, type and TTL, with rollout.toml's identifiers."""
    records = [
        resolver().resolve(r["Properties"])
        for r in RESOURCES.values()
        if r["Type"] == "AWS::Route53::RecordSet"
    ]
    traffic = CONFIG["env"]["prod"]["traffic"]
    assert {r["SetIdentifier"] for r in records} == {
        traffic["new_set_identifier"],
        traffic["legacy_set_identifier"],
    }
    assert {(r["Name"], r["Type"], r["TTL"]) for r in records} == {
        (traffic["record_name"] + ".", traffic["record_type"], "60")
    }
    new = next(r for r in records if r["SetIdentifier"] == traffic["new_set_identifier"])
    assert new["ResourceRecords"] == ["<LoadBalancer.DNSName>"]


@pytest.mark.parametrize(
    ("certificate", "serving", "redirect"),
    [
        ("", ("HTTP", "80"), False),
        ("arn:aws:acm:ap-northeast-2:111122223333:certificate/x", ("HTTPS", "443"), True),
    ],
)
def test_listener_serves_https_when_a_certificate_is_given(
    certificate: str, serving: tuple[str, str], redirect: bool
) -> None:
    """With CertificateArn the API listener is HTTPS on 443 (TLS 1.3 policy) and port 80
    redirects to it; without one it is plain HTTP on 80."""
    res = resolver(CertificateArn=certificate)
    props = res.resolve(RESOURCES["Listener"]["Properties"])
    assert (props["Protocol"], str(props["Port"])) == serving
    assert ("Certificates" in props) is redirect
    assert res.condition(RESOURCES["HttpRedirectListener"]["Condition"]) is redirect
    if redirect:
        assert props["SslPolicy"].startswith("ELBSecurityPolicy-TLS13")
        (action,) = RESOURCES["HttpRedirectListener"]["Properties"]["DefaultActions"]
        assert action["RedirectConfig"]["Protocol"] == "HTTPS"


@pytest.mark.parametrize(
    ("parameters", "refused"),
    [
        ({}, True),
        ({"AllowPlainHttp": "false", "CertificateArn": ""}, True),
        ({"CertificateArn": "arn:aws:acm:ap-northeast-2:111122223333:certificate/x"}, False),
        ({"AllowPlainHttp": "true"}, False),
    ],
)
def test_production_refuses_to_come_up_without_tls(
    parameters: dict[str, str], refused: bool
) -> None:
    """Rule TlsRequired: without a certificate the stack refuses to create or update, unless
    the named sandbox opt-out AllowPlainHttp=true is passed (CloudFormation evaluates Rules
    before touching any resource)."""
    rules = TEMPLATE["Rules"]
    res = resolver(**parameters)
    failed = [
        name
        for name, rule in rules.items()
        if res.resolve(rule.get("RuleCondition", True))
        and not all(res.resolve(a["Assert"]) for a in rule["Assertions"])
    ]
    assert (failed == ["TlsRequired"]) is refused
    assert TEMPLATE["Parameters"]["AllowPlainHttp"]["Default"] == "false"


def test_the_https_listener_uses_a_modern_tls_policy_and_port_80_only_redirects() -> None:
    """TLS 1.3/1.2-only policy; with a certificate, the only listener on 80 is a permanent
    redirect to HTTPS on 443."""
    res = resolver(CertificateArn="arn:aws:acm:ap-northeast-2:111122223333:certificate/x")
    listener = res.resolve(RESOURCES["Listener"]["Properties"])
    assert listener["SslPolicy"] == "ELBSecurityPolicy-TLS13-1-2-2021-06"
    redirect = res.resolve(RESOURCES["HttpRedirectListener"]["Properties"])
    assert (redirect["Protocol"], redirect["Port"]) == ("HTTP", 80)
    assert redirect["DefaultActions"] == [
        {
            "Type": "redirect",
            "RedirectConfig": {"Protocol": "HTTPS", "Port": "443", "StatusCode": "HTTP_301"},
        }
    ]


def test_alb_has_deletion_protection_and_access_logs_to_a_private_log_bucket() -> None:
    """Deletion protection on; access logs on, into AccessLogsBucket under alb/; the bucket is
    private, encrypted with SSE-S3 (what ALB log delivery supports), expires logs, and lets
    only ELB log delivery write, only under alb/AWSLogs/<account>/."""
    lb = RESOURCES["LoadBalancer"]
    attributes = {
        a["Key"]: a["Value"] for a in resolver().resolve(lb["Properties"]["LoadBalancerAttributes"])
    }
    assert attributes["deletion_protection.enabled"] == "true"
    assert attributes["access_logs.s3.enabled"] == "true"
    assert attributes["access_logs.s3.bucket"] == "<AccessLogsBucket>"
    assert attributes["access_logs.s3.prefix"] == "alb"
    assert lb["DependsOn"] == "AccessLogsBucketPolicy"
    bucket = RESOURCES["AccessLogsBucket"]["Properties"]
    assert all(bucket["PublicAccessBlockConfiguration"].values())
    (rule,) = bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert rule["ServerSideEncryptionByDefault"] == {"SSEAlgorithm": "AES256"}
    assert bucket["LifecycleConfiguration"]["Rules"][0]["ExpirationInDays"] <= 365
    policy = resolver().resolve(RESOURCES["AccessLogsBucketPolicy"]["Properties"]["PolicyDocument"])
    allows = [s for s in statements(policy) if s["Effect"] == "Allow"]
    assert len(allows) == 1
    assert allows[0]["Action"] == "s3:PutObject"
    assert allows[0]["Resource"] == "<AccessLogsBucket.Arn>/alb/AWSLogs/111122223333/*"
    assert allows[0]["Principal"] == {
        "AWS": "arn:aws:iam::600734575887:root",
        "Service": "logdelivery.elasticloadbalancing.amazonaws.com",
    }
    (deny,) = [s for s in statements(policy) if s["Effect"] == "Deny"]
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


ENDPOINTS = {
    "com.amazonaws.ap-northeast-2.ecr.api": "Interface",
    "com.amazonaws.ap-northeast-2.ecr.dkr": "Interface",
    "com.amazonaws.ap-northeast-2.logs": "Interface",
    "com.amazonaws.ap-northeast-2.ssm": "Interface",
    "com.amazonaws.ap-northeast-2.s3": "Gateway",
    "com.amazonaws.ap-northeast-2.dynamodb": "Gateway",
}


@pytest.mark.parametrize("private", ["false", "true"])
def test_private_subnet_variant(private: str) -> None:
    """PrivateSubnets=true: tasks get private subnets, no public IP, a route table with no
    route out, and VPC endpoints for everything they call (ECR api/dkr, S3 for ECR's layers,
    DynamoDB, SSM, Logs); false (default): public subnets with a public IP and no endpoints."""
    res = resolver(PrivateSubnets=private, ServiceTaskDefinitionArn="arn:td:1")
    network = res.resolve(RESOURCES["Service"]["Properties"])["NetworkConfiguration"]
    awsvpc = network["AwsvpcConfiguration"]
    endpoints = {
        logical_id: res.resolve(r["Properties"])
        for logical_id, r in RESOURCES.items()
        if r["Type"] == "AWS::EC2::VPCEndpoint" and res.condition(r["Condition"])
    }
    if private == "false":
        assert awsvpc["AssignPublicIp"] == "ENABLED"
        assert awsvpc["Subnets"] == ["<SubnetA>", "<SubnetB>"]
        assert endpoints == {}
        return
    assert awsvpc["AssignPublicIp"] == "DISABLED"
    assert awsvpc["Subnets"] == ["<PrivateSubnetA>", "<PrivateSubnetB>"]
    assert {e["ServiceName"]: e["VpcEndpointType"] for e in endpoints.values()} == ENDPOINTS
    for e in endpoints.values():
        if e["VpcEndpointType"] == "Interface":
            assert e["PrivateDnsEnabled"] is True
            assert e["SubnetIds"] == ["<PrivateSubnetA>", "<PrivateSubnetB>"]
            assert e["SecurityGroupIds"] == ["<EndpointSecurityGroup>"]
        else:
            assert e["RouteTableIds"] == ["<PrivateRouteTable>"]
    routes = [r for r in RESOURCES.values() if r["Type"] == "AWS::EC2::Route"]
    assert all(r["Properties"]["RouteTableId"] != {"Ref": "PrivateRouteTable"} for r in routes)
    ingress = res.resolve(RESOURCES["EndpointSecurityGroup"]["Properties"])["SecurityGroupIngress"]
    assert ingress == [
        {
            "IpProtocol": "tcp",
            "FromPort": 443,
            "ToPort": 443,
            "SourceSecurityGroupId": "<ServiceSecurityGroup>",
            "Description": "from the tasks",
        }
    ]
