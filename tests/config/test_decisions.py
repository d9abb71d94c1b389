"""Pure decisions behind render, verify and diff, pinned with tables."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rollout.decisions.checks import (
    check_circuit_breaker,
    check_network,
    check_rolling,
    check_secret_env,
    check_speed,
    check_wiring,
    estimate_speed,
    parse_secret_ref,
    policy_allows,
    role_name,
    trusts_ecs_tasks,
)
from rollout.decisions.fargate import fargate_size_problem, parse_cpu, parse_memory
from rollout.decisions.jsondiff import mask_environment, normalise_task_definition, unified
from rollout.decisions.taskdef import expand_image, parse_image, tag_value
from rollout.errors import ConfigError
from rollout.templating import contains, fill_placeholders, lookup_from, substitute

ECR = "123456789012.dkr.ecr.ap-northeast-2.amazonaws.com"
DIGEST = "sha256:" + "ab" * 32


@pytest.mark.parametrize(
    ("reference", "registry", "repository", "tag", "digest", "ecr"),
    [
        (f"{ECR}/voj-backend:sha-1", ECR, "voj-backend", "sha-1", None, True),
        (f"{ECR}/voj-backend@{DIGEST}", ECR, "voj-backend", None, DIGEST, True),
        (f"{ECR}/team/api:1@{DIGEST}", ECR, "team/api", "1", DIGEST, True),
        ("nginx", None, "nginx", None, None, False),
        ("library/nginx:1.27", None, "library/nginx", "1.27", None, False),
        ("localhost:5000/app:dev", "localhost:5000", "app", "dev", None, False),
        ("ghcr.io/org/app:1.2.3", "ghcr.io", "org/app", "1.2.3", None, False),
        ("public.ecr.aws/x/y:2", "public.ecr.aws", "x/y", "2", None, False),
    ],
)
def test_parse_image(
    reference: str,
    registry: str | None,
    repository: str,
    tag: str | None,
    digest: str | None,
    ecr: bool,
) -> None:
    """Image references split into registry, repository, tag and digest; ECR is recognised."""
    ref = parse_image(reference)
    assert (ref.registry, ref.repository, ref.tag, ref.digest, ref.is_ecr) == (
        registry,
        repository,
        tag,
        digest,
        ecr,
    )
    assert str(ref) == reference


@pytest.mark.parametrize("reference", ["", "a b", "repo@sha256:short", "repo@md5:abc"])
def test_parse_image_rejects_garbage(reference: str) -> None:
    """Empty, spaced or badly digested references are refused."""
    with pytest.raises(ValueError, match=r"reference|digest"):
        parse_image(reference)


@pytest.mark.parametrize(
    ("image", "expected"),
    [
        ("sha-1a2b3c4", f"{ECR}/voj-backend:sha-1a2b3c4"),
        (DIGEST, f"{ECR}/voj-backend@{DIGEST}"),
        ("voj-backend:v2", f"{ECR}/voj-backend:v2"),
        ("ghcr.io/org/app:1", "ghcr.io/org/app:1"),
        ("nginx:1.27", "nginx:1.27"),
    ],
)
def test_expand_image_shorthand(image: str, expected: str) -> None:
    """A bare tag or digest means the configured ECR repository of this account and region."""
    assert (
        expand_image(
            image, account="123456789012", region="ap-northeast-2", repository="voj-backend"
        )
        == expected
    )


def test_tag_values_are_sanitised() -> None:
    """Characters AWS refuses in tag values are replaced, and values are cut at 256."""
    assert tag_value("a?b#c") == "a_b_c"
    assert len(tag_value("x" * 300)) == 256


@pytest.mark.parametrize(
    ("text", "env", "expected"),
    [
        ("${A}", {"A": "1"}, "1"),
        ("pre-${A}-post", {"A": "x"}, "pre-x-post"),
        ("${A:-dflt}", {}, "dflt"),
        ("${A:-dflt}", {"A": ""}, "dflt"),
        ("${A:-}", {}, ""),
        ("${A}", {"A": ""}, ""),
        ("$${A}", {}, "${A}"),
        ("$HOME and $1", {}, "$HOME and $1"),
        ("${A}${B:-b}", {"A": "a"}, "ab"),
    ],
)
def test_substitute(text: str, env: dict[str, str], expected: str) -> None:
    """${NAME}, ${NAME:-default} and the $${ escape expand as documented."""
    assert substitute(text, lookup_from(env)) == expected


@pytest.mark.parametrize("text", ["${1A}", "${A-B}", "${}", "${A"])
def test_substitute_rejects_malformed_references(text: str) -> None:
    """A ${ that is not a valid reference is an error, not silently left in."""
    with pytest.raises(ConfigError, match="not a valid variable reference"):
        substitute(text, lookup_from({}))


def test_substitute_names_missing_variable() -> None:
    """A missing required variable is a ConfigError naming it."""
    with pytest.raises(ConfigError, match="required variable DB_HOST is not set"):
        substitute("${DB_HOST}", lookup_from({}))


@pytest.mark.parametrize(
    ("cpu", "memory", "problem"),
    [
        ("256", "512", None),
        ("512", "1024", None),
        ("1024", "8192", None),
        ("2048", "16384", None),
        ("4096", "30720", None),
        ("8192", "20480", None),
        ("16384", "122880", None),
        ("1 vCPU", "2GB", None),
        ("0.25 vCPU", "0.5GB", None),
        (512, 4096, None),
        ("256", "4096", "memory 4096 MiB is not valid with cpu 256"),
        ("512", "512", "memory 512 MiB is not valid with cpu 512"),
        ("2048", "4000", "not valid with cpu 2048 (valid: 4096-16384 in steps of 1024"),
        ("8192", "18432", "not valid with cpu 8192"),
        ("333", "777", "cpu 333 is not a Fargate size"),
        ("lots", "1024", "cpu 'lots' is not a number"),
        ("512", "1TB", "memory '1TB' is not a number"),
        (None, "1024", "lacks cpu"),
        (None, None, "lacks both"),
    ],
)
def test_fargate_sizes(cpu: Any, memory: Any, problem: str | None) -> None:
    """Only the cpu/memory pairs in ecs-behaviour §8 are valid Fargate sizes."""
    result = fargate_size_problem(cpu, memory)
    if problem is None:
        assert result is None
    else:
        assert result is not None
        assert problem in result


def test_fargate_unit_parsing() -> None:
    """'N vCPU' and 'N GB' convert to units and MiB as AWS does."""
    assert (parse_cpu("2 vCPU"), parse_memory("3GB"), parse_cpu("x")) == (2048, 3072, None)


@pytest.mark.parametrize(
    ("desired", "minimum", "maximum", "status", "phrase"),
    [
        (2, 100, 200, "pass", "rolling replacement possible"),
        (1, 100, 200, "pass", "rolling replacement possible"),
        (4, 50, 100, "warn", "capacity drops"),
        (2, 100, 100, "fail", "neither start nor stop"),
        (3, 100, 125, "fail", "neither start nor stop"),  # floor(3.75) = 3
        (2, 75, 100, "fail", "neither start nor stop"),  # ceil(1.5) = 2
        (1, 0, 100, "warn", "downtime"),
        (0, 100, 200, "warn", "runs no tasks"),
    ],
)
def test_rolling_replacement(
    desired: int, minimum: int, maximum: int, status: str, phrase: str
) -> None:
    """min/max percent are judged at the desired count with ECS's rounding (ceil/floor)."""
    check = check_rolling(desired, minimum, maximum)
    assert check.status == status
    assert phrase in check.message
    assert (check.fix == "") == (status == "pass")


@pytest.mark.parametrize(
    ("enabled", "rollback", "mode", "status"),
    [
        (True, True, "require", "pass"),
        (False, False, "require", "fail"),
        (True, False, "require", "fail"),
        (False, False, "warn", "warn"),
        (False, False, "off", "pass"),
    ],
)
def test_circuit_breaker(enabled: bool, rollback: bool, mode: str, status: str) -> None:
    """The breaker with rollback is required, warned about, or not checked, per config."""
    assert check_circuit_breaker(enabled, rollback, mode).status == status


@pytest.mark.parametrize(
    ("names", "flagged"),
    [
        (["ENVIRONMENT", "AWS_REGION", "S3_BUCKET_NAME"], []),
        (["API_KEY"], ["API_KEY"]),
        (
            ["db_password", "GITHUB_TOKEN", "CLIENT_SECRET"],
            ["db_password", "GITHUB_TOKEN", "CLIENT_SECRET"],
        ),
        (["MONKEY_MODE"], ["MONKEY_MODE"]),  # *KEY* is a substring match, as documented
    ],
)
def test_secret_looking_environment(names: list[str], flagged: list[str]) -> None:
    """Plain environment names containing KEY/SECRET/TOKEN/PASSWORD fail the check."""
    doc = {
        "containerDefinitions": [
            {"name": "api", "environment": [{"name": n, "value": "v"} for n in names]}
        ]
    }
    check = check_secret_env(doc)
    assert check.status == ("fail" if flagged else "pass")
    for name in flagged:
        assert f"api.{name}" in check.message


@pytest.mark.parametrize(
    ("delay", "interval", "healthy", "grace", "status", "deploy_seconds"),
    [
        (15, 5, 2, 30, "pass", 10 + 45),
        (300, 30, 5, 0, "warn", 150 + 330),
        (30, 30, 3, 0, "warn", 90 + 60),
        (10, 5, 2, 600, "warn", 10 + 40),
    ],
)
def test_speed_estimate(
    delay: float, interval: float, healthy: int, grace: float, status: str, deploy_seconds: float
) -> None:
    """Deregistration delay, interval × threshold and grace become seconds, warned when slow."""
    estimate = estimate_speed(
        deregistration_delay=delay,
        interval=interval,
        healthy_threshold=healthy,
        unhealthy_threshold=2,
        grace_period=grace,
        stop_timeout=30,
    )
    assert estimate.deploy == deploy_seconds
    check = check_speed(estimate, deregistration_delay=delay)
    assert check.status == status
    assert f"≈{deploy_seconds:.0f}s" in check.message


TG = "arn:aws:elasticloadbalancing:r:1:targetgroup/voj-prod-blue/abc"
TD = {
    "networkMode": "awsvpc",
    "containerDefinitions": [{"name": "api", "portMappings": [{"containerPort": 8000}]}],
}


@pytest.mark.parametrize(
    ("lbs", "types", "status", "phrase"),
    [
        ([(TG, "api", 8000)], {TG: "ip"}, "pass", "api:8000 matches"),
        (
            [(TG, "api", 8080)],
            {TG: "ip"},
            "fail",
            "expects api:8080, the container maps port(s) 8000",
        ),
        ([(TG, "web", 8000)], {TG: "ip"}, "fail", "expects container 'web'"),
        ([(TG, "api", 8000)], {TG: "instance"}, "fail", "awsvpc tasks need 'ip'"),
        ([], {}, "warn", "no load balancer"),
    ],
)
def test_wiring(
    lbs: list[tuple[str, str, int]], types: dict[str, str], status: str, phrase: str
) -> None:
    """The service's container name and port must exist in the task definition."""
    check = check_wiring(TD, lbs, types)
    assert check.status == status
    assert phrase in check.message


ECS_TRUST = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"Service": "ecs-tasks.amazonaws.com"},
            "Action": "sts:AssumeRole",
        }
    ],
}


@pytest.mark.parametrize(
    ("policy", "trusted"),
    [
        (ECS_TRUST, True),
        (
            '{"Statement": {"Effect": "Allow", "Principal": {"Service": ["ec2.amazonaws.com", '
            '"ecs-tasks.amazonaws.com"]}, "Action": ["sts:AssumeRole"]}}',
            True,
        ),
        (
            {
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"Service": "ec2.amazonaws.com"},
                        "Action": "sts:AssumeRole",
                    }
                ]
            },
            False,
        ),
        (
            {
                "Statement": [
                    {
                        "Effect": "Deny",
                        "Principal": {"Service": "ecs-tasks.amazonaws.com"},
                        "Action": "sts:AssumeRole",
                    }
                ]
            },
            False,
        ),
        ("not json", False),
    ],
)
def test_trust_policy(policy: Any, trusted: bool) -> None:
    """Only an Allow sts:AssumeRole for ecs-tasks.amazonaws.com counts as trusting ECS tasks."""
    assert trusts_ecs_tasks(policy) is trusted


PARAM = "arn:aws:ssm:ap-northeast-2:123456789012:parameter/voj/prod/CORS_ORIGINS"


@pytest.mark.parametrize(
    ("statements", "allowed"),
    [
        (
            [
                {
                    "Effect": "Allow",
                    "Action": ["ssm:GetParameters"],
                    "Resource": "arn:aws:ssm:ap-northeast-2:123456789012:parameter/voj/prod/*",
                }
            ],
            True,
        ),
        ([{"Effect": "Allow", "Action": "ssm:Get*", "Resource": "*"}], True),
        (
            [
                {
                    "Effect": "Allow",
                    "Action": "ssm:GetParameters",
                    "Resource": "arn:aws:ssm:*:*:parameter/voj/staging/*",
                }
            ],
            False,
        ),
        ([{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}], False),
        (
            [
                {"Effect": "Allow", "Action": "ssm:*", "Resource": "*"},
                {"Effect": "Deny", "Action": "ssm:GetParameters", "Resource": PARAM},
            ],
            False,
        ),
    ],
)
def test_policy_allows(statements: list[dict[str, Any]], allowed: bool) -> None:
    """IAM-style wildcard matching on actions and resources, with Deny winning."""
    policies = [{"Version": "2012-10-17", "Statement": statements}]
    assert policy_allows(policies, ("ssm:GetParameters",), PARAM) is allowed


@pytest.mark.parametrize(
    ("value_from", "kind", "target", "region"),
    [
        (PARAM, "ssm", "/voj/prod/CORS_ORIGINS", "ap-northeast-2"),
        ("arn:aws:ssm:us-east-1:123456789012:parameter/plain", "ssm", "plain", "us-east-1"),
        ("/voj/prod/X", "ssm", "/voj/prod/X", None),
        (
            "arn:aws:secretsmanager:ap-northeast-2:123456789012:secret:db-AbCdEf:password::",
            "secretsmanager",
            "arn:aws:secretsmanager:ap-northeast-2:123456789012:secret:db-AbCdEf",
            "ap-northeast-2",
        ),
        ("arn:aws:s3:::bucket/key", "unknown", "arn:aws:s3:::bucket/key", None),
    ],
)
def test_secret_references(value_from: str, kind: str, target: str, region: str | None) -> None:
    """valueFrom is classified as an SSM parameter or a Secrets Manager secret (JSON key cut)."""
    ref = parse_secret_ref("api", "X", value_from)
    assert (ref.kind, ref.target, ref.region) == (kind, target, region)


def test_role_name() -> None:
    """Role ARNs (with or without a path) give the role name."""
    assert role_name("arn:aws:iam::1:role/service/voj-task") == "voj-task"
    assert role_name("voj-task") == "voj-task"


LIVE: dict[str, Any] = {
    "taskDefinitionArn": "arn:aws:ecs:r:1:task-definition/f:3",
    "revision": 3,
    "status": "ACTIVE",
    "family": "f",
    "networkMode": "awsvpc",
    "cpu": "512",
    "memory": "1024",
    "compatibilities": ["EC2", "FARGATE"],
    "containerDefinitions": [
        {
            "name": "api",
            "image": "img:1",
            "cpu": 0,
            "essential": True,
            "portMappings": [{"containerPort": 8000, "hostPort": 8000, "protocol": "tcp"}],
            "environment": [{"name": "B", "value": "2"}, {"name": "A", "value": "1"}],
            "mountPoints": [],
            "volumesFrom": [],
            "secrets": [{"name": "S", "valueFrom": "arn:aws:ssm:r:1:parameter/s"}],
        }
    ],
    "volumes": [],
}
RENDERED: dict[str, Any] = {
    "family": "f",
    "networkMode": "awsvpc",
    "cpu": 512,
    "memory": "1024",
    "containerDefinitions": [
        {
            "name": "api",
            "image": "img:1",
            "portMappings": [{"containerPort": 8000}],
            "environment": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
            "secrets": [{"name": "S", "valueFrom": "arn:aws:ssm:r:1:parameter/s"}],
        }
    ],
}


def test_normalised_live_and_rendered_are_equal() -> None:
    """Read-only fields, ECS defaults, empty lists and env order do not count as differences."""
    assert normalise_task_definition(LIVE) == normalise_task_definition(RENDERED)
    assert (
        unified(
            normalise_task_definition(LIVE),
            normalise_task_definition(RENDERED),
            before_name="a",
            after_name="b",
        )
        == ""
    )


def test_environment_masked_but_change_marked() -> None:
    """Masked values never appear; a changed value is marked on the new side only."""
    before = normalise_task_definition(LIVE, show_values=True)
    changed = {**RENDERED, "containerDefinitions": [dict(RENDERED["containerDefinitions"][0])]}
    changed["containerDefinitions"][0]["environment"] = [
        {"name": "A", "value": "hunter2"},
        {"name": "B", "value": "2"},
    ]
    after = normalise_task_definition(changed, show_values=True)
    mask_environment(before, after)
    text = unified(before, after, before_name="live", after_name="rendered")
    assert "hunter2" not in text
    assert '+          "value": "*** (changed)"' in text
    assert "arn:aws:ssm:r:1:parameter/s" in unified(
        normalise_task_definition(LIVE), {}, before_name="a", after_name="b"
    )


VPC = {"awsvpcConfiguration": {"subnets": ["subnet-1", "subnet-2"], "securityGroups": ["sg-1"]}}
FARGATE_TD = {"networkMode": "awsvpc", "requiresCompatibilities": ["FARGATE"]}


@pytest.mark.parametrize(
    ("document", "network", "launch_type", "status", "phrase"),
    [
        (FARGATE_TD, VPC, "FARGATE", "pass", "awsvpc in 2 subnet(s)"),
        (FARGATE_TD, None, "FARGATE", "fail", "no awsvpcConfiguration subnets"),
        ({"networkMode": "awsvpc"}, VPC, "FARGATE", "fail", "does not require FARGATE"),
        (
            {"networkMode": "bridge", "requiresCompatibilities": ["FARGATE"]},
            None,
            "FARGATE",
            "fail",
            "needs networkMode awsvpc",
        ),
        ({"networkMode": "bridge"}, None, "EC2", "pass", "networkMode 'bridge'"),
    ],
)
def test_network(
    document: dict[str, Any], network: Any, launch_type: str, status: str, phrase: str
) -> None:
    """Fargate services need awsvpc, a FARGATE definition and subnets in the service."""
    check = check_network(document, network, launch_type)
    assert check.status == status
    assert phrase in check.message


@given(text=st.text().filter(lambda t: "$" not in t))
def test_text_without_dollar_is_unchanged(text: str) -> None:
    """Strings without `$` pass through substitution untouched."""
    assert substitute(text, lookup_from({})) == text


@given(value=st.text())
def test_values_are_inserted_verbatim(value: str) -> None:
    """A variable's value is inserted as is, never expanded again (even if it holds ${...})."""
    assert substitute("<${V}>", lookup_from({"V": value})) == f"<{value}>"


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda children: st.lists(children) | st.dictionaries(st.text(), children),
    max_leaves=20,
)


@given(document=json_values)
def test_fill_placeholders_keeps_structure(document: Any) -> None:
    """Filling <account> changes strings only; keys, numbers and nesting stay as they were."""
    filled = fill_placeholders(document, {"<account>": "123456789012"})
    assert not contains(filled, "<account>")
    assert json.dumps(fill_placeholders(document, {}), sort_keys=True) == json.dumps(
        document, sort_keys=True
    )
