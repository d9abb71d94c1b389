"""Validation of traffic-shifting services (traffic-shifting.md §1.1, §1.7) and lifecycle hooks."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from rollout.sandbox.dataplane.routing import Forward, select_action
from rollout.sandbox.ecs.shifting import alb_weights, production_steps

BG = {"strategy": "BLUE_GREEN", "bakeTimeInMinutes": 5}


def lambda_hook(stack: Any, stages: list[str], **extra: Any) -> dict[str, Any]:
    return {
        "targetType": "AWS_LAMBDA",
        "hookTargetArn": "arn:aws:lambda:ap-northeast-2:123456789012:function:gate",
        "roleArn": stack.role_arn,
        "lifecycleStages": stages,
        **extra,
    }


BAD_CONFIGS: list[tuple[str, dict[str, Any], str]] = [
    ("no bake for blue/green", {"strategy": "BLUE_GREEN"}, "bakeTimeInMinutes is required"),
    ("unknown strategy", {"strategy": "RED_BLACK"}, "strategy must be one of"),
    (
        "step below 3",
        {"strategy": "LINEAR", "linearConfiguration": {"stepPercent": 2.0}},
        "multiple of 0.1 from 3.0 to 100.0, got 2",
    ),
    (
        "step not a tenth",
        {"strategy": "LINEAR", "linearConfiguration": {"stepPercent": 10.05}},
        "multiple of 0.1 from 3.0 to 100.0",
    ),
    (
        "canary below 0.1",
        {"strategy": "CANARY", "canaryConfiguration": {"canaryPercent": 0.05}},
        "multiple of 0.1 from 0.1 to 100.0",
    ),
    (
        "canary bake over a day",
        {"strategy": "CANARY", "canaryConfiguration": {"canaryBakeTimeInMinutes": 1441}},
        "from 0 to 1440",
    ),
    (
        "step bake negative",
        {"strategy": "LINEAR", "linearConfiguration": {"stepBakeTimeInMinutes": -1}},
        "from 0 to 1440",
    ),
    (
        "canary settings on linear",
        {"strategy": "LINEAR", "canaryConfiguration": {"canaryPercent": 5.0}},
        "only valid when the deployment strategy is CANARY",
    ),
]


@pytest.mark.parametrize(
    ("case", "config", "message"), BAD_CONFIGS, ids=[c[0] for c in BAD_CONFIGS]
)
def test_bad_deployment_configuration_is_refused(
    stack: Any, case: str, config: dict[str, Any], message: str
) -> None:
    with pytest.raises(ClientError) as caught:
        stack.create_service(config)
    error = caught.value.response["Error"]
    assert error["Code"] == "InvalidParameterException"
    assert message in error["Message"]
    assert stack.ecs.list_services(cluster="shift")["serviceArns"] == []  # nothing changed


def test_hook_rules(stack: Any) -> None:
    cases = [
        (
            [{"targetType": "PAUSE", "lifecycleStages": ["TEST_TRAFFIC_SHIFT"]}],
            "PAUSE hooks cannot be configured at the TEST_TRAFFIC_SHIFT",
        ),
        (
            [{"targetType": "PAUSE", "lifecycleStages": ["PRODUCTION_TRAFFIC_SHIFT"]}],
            "PAUSE hooks cannot be configured",
        ),
        ([lambda_hook(stack, ["BAKE_TIME"])], "'BAKE_TIME' is not a lifecycle hook stage"),
        ([{"targetType": "AWS_LAMBDA", "lifecycleStages": ["PRE_SCALE_UP"]}], "hookTargetArn"),
        (
            [lambda_hook(stack, ["PRE_SCALE_UP"], timeoutConfiguration={"timeoutInMinutes": 1441})],
            "timeoutInMinutes must be from 1 to 1440",
        ),
        ([lambda_hook(stack, [])], "at least one stage"),
    ]
    for hooks, message in cases:
        with pytest.raises(ClientError) as caught:
            stack.create_service({**BG, "lifecycleHooks": hooks})
        assert message in caught.value.response["Error"]["Message"], hooks


def test_load_balancer_requirements(stack: Any) -> None:
    def refused(lbs: list[dict[str, Any]]) -> str:
        with pytest.raises(ClientError) as caught:
            stack.create_service(BG, loadBalancers=lbs)
        return str(caught.value.response["Error"]["Message"])

    assert "needs advancedConfiguration" in refused(stack.load_balancers(advanced=False))
    lbs = stack.load_balancers()
    lbs[0]["advancedConfiguration"]["alternateTargetGroupArn"] = stack.blue_tg
    assert "must differ" in refused(lbs)
    lbs = stack.load_balancers()
    lbs[0]["advancedConfiguration"]["roleArn"] = "arn:aws:iam::123456789012:role/nope"
    assert "does not exist" in refused(lbs)
    # a production rule that forwards to the blue group only
    stack.elbv2.modify_rule(
        RuleArn=stack.prod_rule,
        Actions=[{"Type": "forward", "TargetGroupArn": stack.blue_tg}],
    )
    assert "must forward to both" in refused(stack.load_balancers())


def test_stop_abort_and_unknown_hooks_are_refused(make_service: Any) -> None:
    stack = make_service(BG)
    arn = stack.deploy("v2")
    with pytest.raises(ClientError) as caught:
        stack.ecs.stop_service_deployment(serviceDeploymentArn=arn, stopType="ABORT")
    assert caught.value.response["Error"]["Code"] == "InvalidParameterException"
    with pytest.raises(ClientError) as caught:
        stack.ecs.continue_service_deployment(serviceDeploymentArn=arn, hookId="nope")
    assert "not awaiting action" in caught.value.response["Error"]["Message"]


def test_a_failed_hook_rolls_back_and_is_recorded(stack: Any) -> None:
    stack.create_service({**BG, "lifecycleHooks": [lambda_hook(stack, ["POST_SCALE_UP"])]})
    stack.sb.wait_steady("shift", "shift-api", revision=1)
    stack.sb.set_hook_answer("FAILED")
    arn = stack.deploy("v2")
    doc = stack.run_until(arn, lambda d: d["status"] == "ROLLBACK_SUCCESSFUL")
    assert [h["status"] for h in doc["lifecycleHookDetails"]] == ["FAILED"]
    assert doc["lifecycleStage"] == "POST_SCALE_UP"
    assert stack.live_tasks("v2") == 0


def test_a_timed_out_hook_takes_its_timeout_action(stack: Any) -> None:
    hook = lambda_hook(
        stack,
        ["PRE_SCALE_UP"],
        timeoutConfiguration={"timeoutInMinutes": 2, "action": "CONTINUE"},
    )
    stack.create_service({**BG, "lifecycleHooks": [hook]})
    stack.sb.wait_steady("shift", "shift-api", revision=1)
    stack.sb.set_hook_answer("TIMED_OUT")
    arn = stack.deploy("v2")
    doc = stack.run_until(arn, lambda d: d["status"] == "SUCCESSFUL")
    assert [h["status"] for h in doc["lifecycleHookDetails"]] == ["TIMED_OUT"]


def test_pause_hook_waits_for_continue(stack: Any) -> None:
    hook = {"targetType": "PAUSE", "lifecycleStages": ["POST_TEST_TRAFFIC_SHIFT"]}
    stack.create_service({**BG, "lifecycleHooks": [hook]})
    stack.sb.wait_steady("shift", "shift-api", revision=1)
    arn = stack.deploy("v2")
    doc = stack.run_until(
        arn,
        lambda d: any(h["status"] == "AWAITING_ACTION" for h in d.get("lifecycleHookDetails", [])),
    )
    assert doc["lifecycleStage"] == "POST_TEST_TRAFFIC_SHIFT"
    stack.sb.advance(600)  # it waits: production still on blue
    assert stack.weights() == {stack.blue_tg: 1, stack.green_tg: 0}
    assert stack.weights(stack.test_rule) == {stack.blue_tg: 0, stack.green_tg: 1}
    hook_id = doc["lifecycleHookDetails"][0]["hookId"]
    stack.ecs.continue_service_deployment(serviceDeploymentArn=arn, hookId=hook_id)
    doc = stack.run_until(arn, lambda d: d["status"] == "SUCCESSFUL")
    assert doc["lifecycleHookDetails"][0]["status"] == "SUCCEEDED"


def test_the_alb_listener_routes_by_the_weights_ecs_wrote(make_service: Any) -> None:
    """The real listener (dataplane) reads moto's rules per request: it sees the canary."""
    from moto.backends import get_backend

    stack = make_service(
        {
            "strategy": "CANARY",
            "bakeTimeInMinutes": 1,
            "canaryConfiguration": {"canaryPercent": 20.0},
        }
    )
    arn = stack.deploy("v2")
    stack.run_until(
        arn, lambda d: d["targetServiceRevision"].get("requestedProductionTrafficWeight") == 20.0
    )
    backend = get_backend("elbv2")[stack.sb.account][stack.sb.region]
    listener = next(iter(backend.load_balancers[stack.lb_arn].listeners.values()))
    action = select_action(listener, "api.example.com", "/v1/books")
    assert isinstance(action, Forward)
    assert dict(action.groups) == {stack.blue_tg: 800, stack.green_tg: 200}


def test_step_plans_and_weight_encoding() -> None:
    assert production_steps(
        {"strategy": "LINEAR", "linearConfiguration": {"stepPercent": 11.0}}
    ) == [11.0, 22.0, 33.0, 44.0, 55.0, 66.0, 77.0, 88.0, 99.0, 100.0]
    assert production_steps({"strategy": "LINEAR"})[:2] == [10.0, 20.0]  # default 10
    assert production_steps({"strategy": "CANARY"}) == [5.0, 100.0]  # default 5
    assert production_steps({"strategy": "BLUE_GREEN"}) == [100.0]
    assert alb_weights(0.0) == (0, 1)
    assert alb_weights(100.0) == (1, 0)
    assert alb_weights(0.1) == (1, 999)
    assert alb_weights(25.5) == (255, 745)


@pytest.mark.parametrize(
    ("reading", "expected"),
    [
        ("previous", "POST_TEST_TRAFFIC_SHIFT"),
        ("PRODUCTION_TRAFFIC_SHIFT", "PRODUCTION_TRAFFIC_SHIFT"),
    ],
)
def test_what_lifecycle_stage_says_during_pre_production_hooks(reading: str, expected: str) -> None:
    """UNVERIFIED (§1.1): the switch Behaviour.pre_production_stage_reported."""
    from rollout.sandbox import Behaviour, Sandbox

    from .conftest import build

    with Sandbox(behaviour=Behaviour(pre_production_stage_reported=reading)) as sb:  # type: ignore[arg-type]
        stack = build(sb)
        hook = lambda_hook(stack, ["PRE_PRODUCTION_TRAFFIC_SHIFT"])
        stack.create_service({**BG, "lifecycleHooks": [hook]})
        sb.wait_steady("shift", "shift-api", revision=1)
        sb.set_hook_answer("SUCCEEDED", delay=60)
        arn = stack.deploy("v2")
        doc = stack.run_until(arn, lambda d: bool(d.get("lifecycleHookDetails")), step=1)
        assert doc["lifecycleStage"] == expected
        assert doc["lifecycleHookDetails"][0]["status"] == "IN_PROGRESS"
        doc = stack.run_until(arn, lambda d: d["status"] == "SUCCESSFUL")
        assert doc["lifecycleHookDetails"][0]["status"] == "SUCCEEDED"


CANARY_10 = {
    "strategy": "CANARY",
    "bakeTimeInMinutes": 5,
    "canaryConfiguration": {"canaryPercent": 10.0, "canaryBakeTimeInMinutes": 3},
}


def test_switching_strategy_drops_the_stored_configuration_of_the_old_one(
    make_service: Any,
) -> None:
    """UNVERIFIED (§1.1, Behaviour.other_strategy_configuration "drop"): a configuration block
    is only valid with its strategy, so an UpdateService that switches CANARY → LINEAR without
    repeating canaryConfiguration is accepted and the stored canary block is gone; one that
    names a block of another strategy itself is still refused."""
    stack = make_service(CANARY_10)
    linear = {"strategy": "LINEAR", "linearConfiguration": {"stepPercent": 50.0}}
    stack.ecs.update_service(cluster="shift", service="shift-api", deploymentConfiguration=linear)
    config = stack.service()["deploymentConfiguration"]
    assert config["strategy"] == "LINEAR"
    assert config["linearConfiguration"]["stepPercent"] == 50.0
    assert "canaryConfiguration" not in config
    assert config["bakeTimeInMinutes"] == 5  # other fields still merge as before
    arn = stack.deploy("v2")
    doc = stack.run_until(arn, lambda d: d["status"] == "SUCCESSFUL")
    assert doc["status"] == "SUCCESSFUL"
    weights = [
        e.detail["green_percent"]
        for e in stack.sb.timeline("rule.weights")
        if e.detail["rule"] == stack.prod_rule
    ]
    assert weights == [50.0, 100.0]
    with pytest.raises(ClientError) as caught:
        stack.ecs.update_service(
            cluster="shift",
            service="shift-api",
            deploymentConfiguration={**linear, "canaryConfiguration": {"canaryPercent": 5.0}},
        )
    assert "only valid when the deployment strategy is CANARY" in str(caught.value)


def test_the_other_reading_refuses_a_stored_block_of_the_old_strategy() -> None:
    """UNVERIFIED switch Behaviour.other_strategy_configuration="refuse": the stored
    canaryConfiguration is merged in and the switch to LINEAR is refused until it is cleared."""
    from rollout.sandbox import Behaviour, Sandbox

    from .conftest import build

    with Sandbox(behaviour=Behaviour(other_strategy_configuration="refuse")) as sb:
        stack = build(sb)
        stack.create_service(CANARY_10)
        with pytest.raises(ClientError) as caught:
            stack.ecs.update_service(
                cluster="shift",
                service="shift-api",
                deploymentConfiguration={"strategy": "LINEAR"},
            )
        assert "canaryConfiguration is only valid" in str(caught.value)
