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
from hypothesis import given
from hypothesis import strategies as st

from rollout.sandbox.provision import Resolver, load_template

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


def test_deploy_role_trusts_only_the_production_environment_of_one_repository() -> None:
    """The OIDC trust checks aud and the exact sub with StringEquals, and contains no wildcard."""
    trust = resolver().resolve(RESOURCES["DeployRole"]["Properties"]["AssumeRolePolicyDocument"])
    (statement,) = statements(trust)
    assert statement["Effect"] == "Allow"
    assert statement["Action"] == "sts:AssumeRoleWithWebIdentity"
    assert statement["Principal"] == {"Federated": "<GitHubOidcProvider>"}
    assert statement["Condition"] == {
        "StringEquals": {
            "token.actions.githubusercontent.com:aud": "sts.amazonaws.com",
            "token.actions.githubusercontent.com:sub": "repo:acme/voj:environment:production",
        }
    }
    assert "*" not in json.dumps(trust)
    assert "?" not in json.dumps(trust)


ORG = st.from_regex(r"\A[A-Za-z0-9][A-Za-z0-9-]{0,38}\Z")
REPO = st.from_regex(r"\A[A-Za-z0-9._-]{1,100}\Z")


@given(org=ORG, repo=REPO)
def test_trust_sub_is_exactly_the_repository_for_any_allowed_name(org: str, repo: str) -> None:
    """For every org/repo the parameters accept, sub is exactly repo:<org>/<repo>:environment:
    production, and no accepted value can smuggle a wildcard into the trust policy."""
    trust = resolver(GitHubOrg=org, GitHubRepo=repo).resolve(
        RESOURCES["DeployRole"]["Properties"]["AssumeRolePolicyDocument"]
    )
    condition = statements(trust)[0]["Condition"]
    assert set(condition) == {"StringEquals"}
    sub = condition["StringEquals"]["token.actions.githubusercontent.com:sub"]
    assert sub == f"repo:{org}/{repo}:environment:production"
    assert not set("*?") & set(json.dumps(trust))


@pytest.mark.parametrize("value", ["*", "acme*", "a?c", "acme/other", ""])
def test_parameters_refuse_wildcards_and_slashes(value: str) -> None:
    """The GitHubOrg/GitHubRepo patterns reject wildcard, slash and empty values."""
    for name in ("GitHubOrg", "GitHubRepo"):
        pattern = TEMPLATE["Parameters"][name]["AllowedPattern"]
        assert re.fullmatch(pattern, value) is None, (name, value)


def test_existing_oidc_provider_can_be_reused() -> None:
    """With ExistingOidcProviderArn set, the stack trusts that provider and creates none."""
    arn = "arn:aws:iam::111122223333:oidc-provider/token.actions.githubusercontent.com"
    res = resolver(ExistingOidcProviderArn=arn)
    trust = res.resolve(RESOURCES["DeployRole"]["Properties"]["AssumeRolePolicyDocument"])
    assert statements(trust)[0]["Principal"] == {"Federated": arn}
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


def test_ecr_push_is_limited_to_the_voj_backend_repository() -> None:
    """Push actions name this repository only (the repository resource's ARN)."""
    statement = _deploy_statement("EcrPushThisRepository")
    assert statement["Resource"] == "<Repository.Arn>"
    assert "ecr:PutImage" in statement["Action"]
    assert RESOURCES["Repository"]["Properties"]["RepositoryName"] == "voj-backend"


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


def test_images_are_immutable_scanned_and_expired_by_policy() -> None:
    """ECR tags are immutable, scanned on push, and a lifecycle policy never expires releases."""
    props = RESOURCES["Repository"]["Properties"]
    assert props["ImageTagMutability"] == "IMMUTABLE"
    assert props["ImageScanningConfiguration"] == {"ScanOnPush": True}
    rules = json.loads(props["LifecyclePolicy"]["LifecyclePolicyText"])["rules"]
    assert rules
    for rule in rules:
        assert "v" not in rule["selection"].get("tagPrefixList", [])
        assert rule["selection"]["tagStatus"] != "any"


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
