"""Table tests of the pure strategy decisions and the verify checks for traffic shifting."""

from __future__ import annotations

from typing import Any

import pytest

from rollout.decisions.analysis import Thresholds
from rollout.decisions.checks import (
    check_alternate_target_group,
    check_infrastructure_role,
    check_listener_rule,
    check_strategy_controller,
    check_test_headers,
)
from rollout.decisions.progressive import (
    Shape,
    analysis_summary,
    configuration_differences,
    deployment_configuration,
    green_and_blue,
    green_and_blue_in_flight,
    header_value_matches,
    headers_hint,
    load_balancer_dimension,
    production_weights,
    stage_label,
    strategy_summary,
    target_group_dimension,
    unmet_header_conditions,
)
from rollout.model import RuleCondition

ARN = "arn:aws:elasticloadbalancing:ap-northeast-2:123456789012"
BLUE = f"{ARN}:targetgroup/voj-blue/6d0ecf831eec9f09"
GREEN = f"{ARN}:targetgroup/voj-green/0a1b2c3d4e5f6071"
RULE = f"{ARN}:listener-rule/app/voj/50dc6c495c0c9188/f2f7dc8efc522ab2/9683b2d02a6cabee"
SHAPE = Shape(bake_minutes=5, canary_percent=10.0, canary_bake_minutes=3, step_percent=25.0)
CURRENT = {
    "maximumPercent": 200,
    "minimumHealthyPercent": 100,
    "deploymentCircuitBreaker": {"enable": True, "rollback": True},
    "alarms": {"alarmNames": ["a"], "enable": True, "rollback": True},
}


@pytest.mark.parametrize(
    ("strategy", "expected"),
    [
        ("rolling", {"strategy": "ROLLING"}),
        ("blue-green", {"strategy": "BLUE_GREEN", "bakeTimeInMinutes": 5}),
        (
            "canary",
            {
                "strategy": "CANARY",
                "bakeTimeInMinutes": 5,
                "canaryConfiguration": {"canaryPercent": 10.0, "canaryBakeTimeInMinutes": 3},
            },
        ),
        (
            "linear",
            {
                "strategy": "LINEAR",
                "bakeTimeInMinutes": 5,
                "linearConfiguration": {"stepPercent": 25.0, "stepBakeTimeInMinutes": 6},
            },
        ),
    ],
)
def test_deployment_configuration_keeps_the_services_other_fields(
    strategy: str, expected: dict[str, Any]
) -> None:
    current = CURRENT | {"strategy": "CANARY", "canaryConfiguration": {"canaryPercent": 1.0}}
    got = deployment_configuration(current, strategy, SHAPE)
    assert got == CURRENT | expected


def test_an_unknown_strategy_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown strategy 'bluegreen'"):
        deployment_configuration({}, "bluegreen", SHAPE)


@pytest.mark.parametrize(
    ("current", "strategy", "diffs"),
    [
        ({"strategy": "BLUE_GREEN", "bakeTimeInMinutes": 5}, "blue-green", 0),
        ({}, "blue-green", 2),  # ROLLING by default, no bake
        ({"strategy": "CANARY", "bakeTimeInMinutes": 5}, "canary", 1),  # no canary block
        ({"strategy": "BLUE_GREEN", "bakeTimeInMinutes": 9}, "blue-green", 1),
    ],
)
def test_configuration_differences(current: dict[str, Any], strategy: str, diffs: int) -> None:
    assert len(configuration_differences(current, strategy, SHAPE)) == diffs


@pytest.mark.parametrize(
    ("strategy", "shape", "weights"),
    [
        ("blue-green", SHAPE, (100.0,)),
        ("canary", SHAPE, (10.0, 100.0)),
        ("canary", Shape(canary_percent=100.0), (100.0,)),
        ("linear", SHAPE, (25.0, 50.0, 75.0, 100.0)),
        ("linear", Shape(step_percent=30.0), (30.0, 60.0, 90.0, 100.0)),
        ("linear", Shape(step_percent=100.0), (100.0,)),
        ("rolling", SHAPE, ()),
    ],
)
def test_production_weights(strategy: str, shape: Shape, weights: tuple[float, ...]) -> None:
    assert production_weights(strategy, shape) == weights


@pytest.mark.parametrize(
    ("strategy", "words"),
    [
        ("rolling", "no traffic shifting"),
        ("blue-green", "100 % of production at once; bake 5 min"),
        ("canary", "10 % of production for 3 min, then 100 %"),
        ("linear", "4 steps of 25 % every 6 min"),
    ],
)
def test_strategy_summary(strategy: str, words: str) -> None:
    assert words in strategy_summary(strategy, SHAPE)


def test_analysis_summary_names_every_threshold() -> None:
    text = analysis_summary(Thresholds(min_requests=20, inconclusive_limit=2), 60)
    for part in ("60 s windows", "≥ 20 requests", "1.0%", "blue + 0.5%", "1000 ms", "× 2", "2 "):
        assert part in text


@pytest.mark.parametrize(
    ("stage", "label"),
    [
        (None, "pending"),
        ("BAKE_TIME", "bake time [9/10]"),
        ("PRE_SCALE_UP", "pre scale up [2/10]"),
        ("PRE_PRODUCTION_TRAFFIC_SHIFT", "pre production traffic shift"),
    ],
)
def test_stage_label(stage: str | None, label: str) -> None:
    assert stage_label(stage) == label


@pytest.mark.parametrize(
    ("arn", "dimension"),
    [
        (f"{ARN}:loadbalancer/app/voj/50dc6c495c0c9188", "app/voj/50dc6c495c0c9188"),
        (f"{ARN}:listener/app/voj/50dc6c495c0c9188/f2f7dc8efc522ab2", "app/voj/50dc6c495c0c9188"),
        (RULE, "app/voj/50dc6c495c0c9188"),
    ],
)
def test_load_balancer_dimension(arn: str, dimension: str) -> None:
    assert load_balancer_dimension(arn) == dimension


@pytest.mark.parametrize(
    "arn",
    [
        "app/voj/1",
        f"{ARN}:loadbalancer/net/voj/50dc6c495c0c9188",  # an NLB has no ApplicationELB metrics
        f"{ARN}:targetgroup/voj-blue/6d0ecf831eec9f09",
    ],
)
def test_load_balancer_dimension_refuses_other_arns(arn: str) -> None:
    with pytest.raises(ValueError):  # noqa: PT011
        load_balancer_dimension(arn)


def test_target_group_dimension() -> None:
    assert target_group_dimension(BLUE) == "targetgroup/voj-blue/6d0ecf831eec9f09"
    with pytest.raises(ValueError, match="not a target group"):
        target_group_dimension(RULE)


@pytest.mark.parametrize(
    ("weights", "green", "blue"),
    [
        ({BLUE: 1, GREEN: 0}, GREEN, BLUE),
        ({BLUE: 0, GREEN: 1}, BLUE, GREEN),  # after a successful deployment the roles swap
        ({BLUE: 100, GREEN: 0}, GREEN, BLUE),
        ({BLUE: 0, GREEN: 0}, GREEN, BLUE),  # tie: the service's own group is blue
    ],
)
def test_green_and_blue_from_the_production_rule(
    weights: dict[str, int], green: str, blue: str
) -> None:
    assert green_and_blue(weights, (BLUE, GREEN)) == (green, blue)


@pytest.mark.parametrize(
    ("production", "test", "pw", "tw", "green"),
    [
        # before any shift: the production rule alone (blue has the traffic)
        ({BLUE: 1, GREEN: 0}, {BLUE: 1, GREEN: 0}, 0.0, 0.0, GREEN),
        ({BLUE: 0, GREEN: 1}, None, None, None, BLUE),
        # test traffic on green: the test rule says which group green is
        ({BLUE: 1, GREEN: 0}, {BLUE: 0, GREEN: 1}, 0.0, 100.0, GREEN),
        ({BLUE: 500, GREEN: 500}, {BLUE: 0, GREEN: 1}, 50.0, 100.0, GREEN),  # linear at 50 %
        ({BLUE: 500, GREEN: 500}, {BLUE: 1, GREEN: 0}, 50.0, 100.0, BLUE),  # roles swapped
        # no test rule: green's share of production
        ({BLUE: 800, GREEN: 200}, None, 20.0, None, GREEN),  # canary 20 %
        ({BLUE: 250, GREEN: 750}, None, 75.0, None, GREEN),  # linear 75 %: green is heavier
        ({BLUE: 0, GREEN: 1}, None, 100.0, None, GREEN),  # bake: green has everything
        ({BLUE: 1, GREEN: 0}, None, 100.0, None, BLUE),  # roles swapped, in bake
    ],
)
def test_green_of_a_deployment_in_flight(
    production: dict[str, int],
    test: dict[str, int] | None,
    pw: float | None,
    tw: float | None,
    green: str,
) -> None:
    """`rollout watch` finds green mid-shift, where the production rule alone cannot tell."""
    got = green_and_blue_in_flight(
        production, test, (BLUE, GREEN), production_weight=pw, test_weight=tw
    )
    assert got == (green, BLUE if green == GREEN else GREEN)


# -- verify checks ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("controller", "status"),
    [("ECS", "pass"), (None, "pass"), ("CODE_DEPLOY", "fail"), ("EXTERNAL", "fail")],
)
def test_check_strategy_controller(controller: str | None, status: str) -> None:
    assert check_strategy_controller(controller, "canary").status == status


@pytest.mark.parametrize(
    ("alternate", "existing", "status", "words"),
    [
        (GREEN, [BLUE, GREEN], "pass", "exists"),
        (None, [BLUE], "fail", "no advancedConfiguration"),
        (GREEN, [BLUE], "fail", "does not exist"),
    ],
)
def test_check_alternate_target_group(
    alternate: str | None, existing: list[str], status: str, words: str
) -> None:
    check = check_alternate_target_group(alternate, existing)
    assert (check.status, words in check.message) == (status, True)


@pytest.mark.parametrize(
    ("rule", "forwards", "required", "status", "words"),
    [
        (RULE, {BLUE: 1, GREEN: 0}, True, "pass", "forwards to both"),
        (RULE, {BLUE: 1}, True, "fail", "does not forward to targetgroup/voj-green"),
        (RULE, None, True, "fail", "does not exist"),
        (None, None, True, "fail", "no advancedConfiguration.productionListenerRule"),
        (None, None, False, "warn", "smoke probe cannot reach green"),
    ],
)
def test_check_listener_rule(
    rule: str | None,
    forwards: dict[str, int] | None,
    required: bool,
    status: str,
    words: str,
) -> None:
    role = "production" if required else "test"
    check = check_listener_rule(role, rule, forwards, (BLUE, GREEN), required=required)
    assert check.status == status
    assert words in check.message


ECS_TRUST = {
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"Service": "ecs.amazonaws.com"},
            "Action": "sts:AssumeRole",
        }
    ]
}
TASKS_TRUST = {
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"Service": "ecs-tasks.amazonaws.com"},
            "Action": "sts:AssumeRole",
        }
    ]
}
MODIFY = {
    "Statement": [{"Effect": "Allow", "Action": ["elasticloadbalancing:Modify*"], "Resource": "*"}]
}
ROLE = "arn:aws:iam::123456789012:role/voj-ecs-infrastructure"


@pytest.mark.parametrize(
    ("role", "trust", "policies", "attached", "status", "words"),
    [
        (ROLE, ECS_TRUST, [], ["AmazonECSInfrastructureRolePolicyForLoadBalancers"], "pass", "has"),
        (ROLE, ECS_TRUST, [MODIFY], [], "pass", "may modify"),
        (ROLE, ECS_TRUST, [], [], "fail", "may not modify"),
        (ROLE, TASKS_TRUST, [MODIFY], [], "fail", "does not trust ecs.amazonaws.com"),
        (ROLE, None, [], [], "fail", "does not exist"),
        (None, None, [], [], "fail", "no advancedConfiguration.roleArn"),
    ],
)
def test_check_infrastructure_role(
    role: str | None,
    trust: Any,
    policies: list[Any],
    attached: list[str],
    status: str,
    words: str,
) -> None:
    check = check_infrastructure_role(role, trust, policies, attached, [RULE])
    assert check.status == status
    assert words in check.message


def test_render_shows_the_strategy_and_its_analysis(tmp_path: Any) -> None:
    from pathlib import Path

    from rollout.config import load_config
    from rollout.verbs.render import deployment_summary

    root = Path(__file__).resolve().parents[2]
    cfg = load_config(
        root / "rollout.toml",
        "prod",
        environ={"ROLLOUT_STRATEGY": "canary", "ROLLOUT_CANARY_PERCENT": "20"},
    )
    shown = deployment_summary(cfg)
    assert shown["strategy"] == "canary"
    assert "20 % of production" in shown["summary"]
    assert shown["deployment_configuration"]["canaryConfiguration"]["canaryPercent"] == 20.0
    assert "60 s windows" in shown["analysis"]
    rolling = deployment_summary(load_config(root / "rollout.toml", "prod", environ={}))
    assert rolling["analysis"] is None
    assert rolling["deployment_configuration"] is None


@pytest.mark.parametrize(
    ("environ", "line"),
    [
        ({"ROLLOUT_STRATEGY": "bluegreen"}, "key 'strategy': Input should be 'rolling'"),
        ({"ROLLOUT_STEP_PERCENT": "3.05"}, "key 'shift.step_percent': Value error, must be a"),
        ({"ROLLOUT_STEP_PERCENT": "2"}, "key 'shift.step_percent': Input should be greater"),
        ({"ROLLOUT_CANARY_BAKE_MINUTES": "1441"}, "key 'shift.canary_bake_minutes'"),
        ({"ROLLOUT_WINDOW": "45"}, "key 'analysis.window': Value error, must be 10, 20, 30"),
        ({"ROLLOUT_MIN_REQUESTS": "0"}, "key 'analysis.min_requests'"),
        ({"ROLLOUT_P99_RATIO": "0.5"}, "key 'analysis.p99_ratio'"),
        ({"ROLLOUT_TEST_URL": "test.invalid"}, "key 'test_url': Value error, must start with"),
    ],
)
def test_strategy_and_analysis_keys_are_validated_with_one_line_each(
    environ: dict[str, str], line: str
) -> None:
    from pathlib import Path

    from rollout.config import load_config
    from rollout.errors import ConfigError

    root = Path(__file__).resolve().parents[2]
    with pytest.raises(ConfigError) as info:
        load_config(root / "rollout.toml", "prod", environ=environ)
    lines = [x.strip() for x in str(info.value).splitlines()]
    found = [x for x in lines if x.startswith(line)]
    assert len(found) == 1, lines
    var = next(iter(environ))
    assert found[0].endswith(f"[from environment variable {var}]")


def test_env_vars_set_strategy_and_analysis_keys() -> None:
    from pathlib import Path

    from rollout.config import load_config
    from rollout.engine.settings import settings_from_config

    root = Path(__file__).resolve().parents[2]
    cfg = load_config(
        root / "rollout.toml",
        "prod",
        environ={
            "ROLLOUT_STRATEGY": "linear",
            "ROLLOUT_STEP_PERCENT": "25",
            "ROLLOUT_ANALYSIS__MIN_REQUESTS": "20",
            "ROLLOUT_INCONCLUSIVE_LIMIT": "5",
            "ROLLOUT_SET_ON_DEPLOY": "false",
        },
    )
    st = settings_from_config(cfg)
    assert (st.strategy, st.shift.step_percent, st.shift.set_on_deploy) == ("linear", 25.0, False)
    assert (st.thresholds.min_requests, st.thresholds.inconclusive_limit) == (20, 5)


# -- the smoke probe's headers against the test listener rule -----------------------------------

VOJ_TEST = RuleCondition("http-header", ("1",), header="X-Rollout-Test")
PATH_ALL = RuleCondition("path-pattern", ("/*",))


@pytest.mark.parametrize(
    ("pattern", "value", "matches"),
    [
        ("1", "1", True),
        ("1", "10", False),
        ("canary", "CANARY", True),  # values ignore case
        ("v*", "v2-beta", True),
        ("v?", "v2", True),
        ("v?", "v22", False),
        ("a.b", "axb", False),  # only * and ? are wildcards
        ("", "", True),
    ],
)
def test_header_value_matches(pattern: str, value: str, matches: bool) -> None:
    assert header_value_matches(pattern, value) is matches


@pytest.mark.parametrize(
    ("conditions", "headers", "unmet"),
    [
        ([VOJ_TEST], {"X-Rollout-Test": "1"}, []),
        ([VOJ_TEST], {"x-rollout-test": "1"}, []),  # names ignore case
        ([VOJ_TEST], {}, [VOJ_TEST]),
        ([VOJ_TEST], {"X-Rollout-Test": "0"}, [VOJ_TEST]),
        ([VOJ_TEST, PATH_ALL], {"X-Rollout-Test": "1"}, []),  # other fields not judged
        ([PATH_ALL], {}, []),
        ([], {}, []),
        # any value of one condition; every condition
        ([RuleCondition("http-header", ("a", "b"), "X-A")], {"X-A": "b"}, []),
        (
            [VOJ_TEST, RuleCondition("http-header", ("yes",), "X-B")],
            {"X-Rollout-Test": "1"},
            [RuleCondition("http-header", ("yes",), "X-B")],
        ),
    ],
)
def test_unmet_header_conditions(
    conditions: list[RuleCondition], headers: dict[str, str], unmet: list[RuleCondition]
) -> None:
    assert unmet_header_conditions(conditions, headers) == unmet


def test_headers_hint_says_what_to_add() -> None:
    hint = headers_hint([VOJ_TEST, RuleCondition("http-header", ("v*",), "X-B")])
    assert 'test_headers = { "X-Rollout-Test" = "1", "X-B" = "v" }' in hint
    assert 'ROLLOUT_TEST_HEADERS="X-Rollout-Test: 1, X-B: v"' in hint


TEST_URL = "https://api.voj.example.com/health"


@pytest.mark.parametrize(
    ("test_url", "rule", "conditions", "headers", "status", "words"),
    [
        (TEST_URL, RULE, [VOJ_TEST], {"X-Rollout-Test": "1"}, "pass", "X-Rollout-Test"),
        (TEST_URL, RULE, [VOJ_TEST], {}, "fail", "would reach blue, not green"),
        (TEST_URL, RULE, [VOJ_TEST], {"X-Rollout-Test": "yes"}, "fail", "matching '1'"),
        (TEST_URL, RULE, [PATH_ALL], {}, "pass", "no http-header condition"),
        (None, RULE, [VOJ_TEST], {}, None, ""),  # no probe: the test-rule check warns
        (TEST_URL, None, None, {}, None, ""),
        (TEST_URL, RULE, None, {}, None, ""),  # rule not found: check_listener_rule fails
    ],
)
def test_check_test_headers(
    test_url: str | None,
    rule: str | None,
    conditions: list[RuleCondition] | None,
    headers: dict[str, str],
    status: str | None,
    words: str,
) -> None:
    check = check_test_headers(test_url, rule, conditions, headers)
    if status is None:
        assert check is None
        return
    assert check is not None
    assert check.status == status
    assert words in check.message
    if status == "fail":
        assert 'test_headers = { "X-Rollout-Test" = "1" }' in check.fix
