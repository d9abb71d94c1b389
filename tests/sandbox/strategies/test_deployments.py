"""Traffic-shifting deployments in the ECS model (traffic-shifting.md §1.2–1.4), virtual clock."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from botocore.exceptions import ClientError

from rollout.sandbox import FaultRule

ShiftStack = Any  # tests/sandbox/strategies/conftest.py
SERVICE = "shift-api"
BLUE_GREEN = {"strategy": "BLUE_GREEN", "bakeTimeInMinutes": 5}
CANARY = {
    "strategy": "CANARY",
    "bakeTimeInMinutes": 5,
    "canaryConfiguration": {"canaryPercent": 10.0, "canaryBakeTimeInMinutes": 3},
}
LINEAR = {
    "strategy": "LINEAR",
    "bakeTimeInMinutes": 5,
    "linearConfiguration": {"stepPercent": 25.0, "stepBakeTimeInMinutes": 2},
}
CONFIGS = {"BLUE_GREEN": BLUE_GREEN, "CANARY": CANARY, "LINEAR": LINEAR}

EXPECTED_STAGES = {
    "BLUE_GREEN": [
        "PRE_SCALE_UP",
        "SCALE_UP",
        "POST_SCALE_UP",
        "TEST_TRAFFIC_SHIFT",
        "POST_TEST_TRAFFIC_SHIFT",
        "PRE_PRODUCTION_TRAFFIC_SHIFT",
        "PRODUCTION_TRAFFIC_SHIFT",
        "POST_PRODUCTION_TRAFFIC_SHIFT",
        "BAKE_TIME",
        "CLEAN_UP",
    ],
}
_PREFIX = EXPECTED_STAGES["BLUE_GREEN"][:5]
_SUFFIX = EXPECTED_STAGES["BLUE_GREEN"][-3:]
_STEP = ["PRE_PRODUCTION_TRAFFIC_SHIFT", "PRODUCTION_TRAFFIC_SHIFT"]
EXPECTED_STAGES["CANARY"] = _PREFIX + _STEP * 2 + _SUFFIX
EXPECTED_STAGES["LINEAR"] = _PREFIX + _STEP * 4 + _SUFFIX
EXPECTED_WEIGHTS = {
    "BLUE_GREEN": [100.0],
    "CANARY": [10.0, 100.0],
    "LINEAR": [25.0, 50.0, 75.0, 100.0],
}


def stages(stack: ShiftStack) -> list[tuple[float, str]]:
    return [(e.time, e.detail["stage"]) for e in stack.sb.timeline("deployment.stage")]


def production_weights(stack: ShiftStack) -> list[float]:
    return [
        e.detail["green_percent"]
        for e in stack.sb.timeline("rule.weights")
        if e.detail["rule"] == stack.prod_rule
    ]


@pytest.mark.parametrize("strategy", ["BLUE_GREEN", "CANARY", "LINEAR"])
def test_a_good_release_walks_every_stage_and_ends_successful(
    make_service: Any, strategy: str
) -> None:
    stack = make_service(CONFIGS[strategy])
    traffic = stack.sb.start_synthetic_traffic(rate=5)
    arn = stack.deploy("v2")
    reported: set[str] = set()
    blue_during_bake: list[int] = []

    def watch(doc: dict[str, Any]) -> None:
        reported.add(doc.get("lifecycleStage", ""))
        if doc.get("lifecycleStage") == "BAKE_TIME":
            blue_during_bake.append(stack.live_tasks("v1"))

    doc = stack.run_until(arn, lambda d: d["status"] == "SUCCESSFUL", each=watch)

    walked = [stage for _, stage in stages(stack)]
    assert walked == EXPECTED_STAGES[strategy]
    assert "PRE_PRODUCTION_TRAFFIC_SHIFT" not in reported  # not in the enum (§1.1)
    assert production_weights(stack) == EXPECTED_WEIGHTS[strategy]
    assert doc["targetServiceRevision"]["requestedProductionTrafficWeight"] == 100.0
    assert doc["targetServiceRevision"]["requestedTestTrafficWeight"] == 100.0
    # blue kept through the bake, stopped only at CLEAN_UP, bake time after the last shift
    times = {stage: t for t, stage in stages(stack)}
    assert times["CLEAN_UP"] - times["BAKE_TIME"] == 5 * 60
    assert blue_during_bake
    assert min(blue_during_bake) == 2
    assert stack.live_tasks("v1") == 0
    assert stack.live_tasks("v2") == 2
    assert stack.weights() == {stack.blue_tg: 0, stack.green_tg: 1}
    # green serves from the alternate target group; no moment without a healthy target
    assert stack.healthy(stack.green_tg) == 2
    assert stack.healthy(stack.blue_tg) == 0
    assert traffic.blind_moments == []
    service = stack.service()
    assert [d["status"] for d in service["deployments"]] == ["PRIMARY"]
    assert any("shifted 100% of production traffic" in e["message"] for e in service["events"])


def test_linear_steps_wait_their_bake_except_after_100(make_service: Any) -> None:
    stack = make_service(CONFIGS["LINEAR"])
    arn = stack.deploy("v2")
    stack.run_until(arn, lambda d: d["status"] == "SUCCESSFUL")
    shifts = [t for t, stage in stages(stack) if stage == "PRODUCTION_TRAFFIC_SHIFT"]
    assert [b - a for a, b in itertools.pairwise(shifts)] == [120.0, 120.0, 120.0]
    bake = next(t for t, stage in stages(stack) if stage == "BAKE_TIME")
    assert bake == shifts[-1]  # no step bake after 100 %


def test_the_next_deployment_uses_the_other_target_group(make_service: Any) -> None:
    stack = make_service(CONFIGS["BLUE_GREEN"])
    stack.run_until(stack.deploy("v2"), lambda d: d["status"] == "SUCCESSFUL")
    arn = stack.deploy("v3")
    stack.run_until(arn, lambda d: d["status"] == "SUCCESSFUL")
    assert stack.weights() == {stack.blue_tg: 1, stack.green_tg: 0}
    assert stack.healthy(stack.blue_tg) == 2
    assert stack.healthy(stack.green_tg) == 0
    rev = stack.deployment(arn)["targetServiceRevision"]["arn"]
    doc = stack.ecs.describe_service_revisions(serviceRevisionArns=[rev])["serviceRevisions"][0]
    resolved = doc["resolvedConfiguration"]["loadBalancers"][0]
    assert resolved == {"targetGroupArn": stack.blue_tg, "productionListenerRule": stack.prod_rule}


ROLLBACK_STAGES = [
    ("BLUE_GREEN", "PRE_SCALE_UP"),
    ("BLUE_GREEN", "SCALE_UP"),
    ("BLUE_GREEN", "POST_SCALE_UP"),
    ("BLUE_GREEN", "TEST_TRAFFIC_SHIFT"),
    ("BLUE_GREEN", "POST_TEST_TRAFFIC_SHIFT"),
    ("BLUE_GREEN", "PRE_PRODUCTION_TRAFFIC_SHIFT"),
    ("BLUE_GREEN", "PRODUCTION_TRAFFIC_SHIFT"),
    ("BLUE_GREEN", "POST_PRODUCTION_TRAFFIC_SHIFT"),
    ("BLUE_GREEN", "BAKE_TIME"),
    ("CANARY", "PRODUCTION_TRAFFIC_SHIFT"),
    ("LINEAR", "PRODUCTION_TRAFFIC_SHIFT"),
]
ALL_HOOK_STAGES = [
    "PRE_SCALE_UP",
    "POST_SCALE_UP",
    "TEST_TRAFFIC_SHIFT",
    "POST_TEST_TRAFFIC_SHIFT",
    "PRE_PRODUCTION_TRAFFIC_SHIFT",
    "PRODUCTION_TRAFFIC_SHIFT",
    "POST_PRODUCTION_TRAFFIC_SHIFT",
]


def with_hooks(config: dict[str, Any], stack: ShiftStack) -> dict[str, Any]:
    """Lambda hooks at every hook stage, so each stage lasts the hook's answer delay."""
    hook = {
        "targetType": "AWS_LAMBDA",
        "hookTargetArn": "arn:aws:lambda:ap-northeast-2:123456789012:function:gate",
        "roleArn": stack.role_arn,
        "lifecycleStages": ALL_HOOK_STAGES,
    }
    return {**config, "lifecycleHooks": [hook]}


@pytest.mark.parametrize(("strategy", "stage"), ROLLBACK_STAGES)
def test_stop_with_rollback_puts_production_back_on_blue_at_once(
    stack: ShiftStack, strategy: str, stage: str
) -> None:
    stack.create_service(with_hooks(CONFIGS[strategy], stack))
    stack.sb.wait_steady("shift", SERVICE, revision=1)
    stack.sb.set_hook_answer("SUCCEEDED", delay=20)
    traffic = stack.sb.start_synthetic_traffic(rate=5, test_rate=1)
    arn = stack.deploy("v2")
    # in the stage, past the first production step for canary/linear
    steps_needed = 2 if strategy != "BLUE_GREEN" and stage == "PRODUCTION_TRAFFIC_SHIFT" else 1

    def there(_: dict[str, Any]) -> bool:
        walked = [s for _, s in stages(stack)]
        return walked.count(stage) >= steps_needed and walked[-1] == stage

    stack.run_until(arn, there, step=1)
    stack.ecs.stop_service_deployment(serviceDeploymentArn=arn, stopType="ROLLBACK")
    # same call: every rule on blue, before any time passes
    assert stack.weights() == {stack.blue_tg: 1, stack.green_tg: 0}
    assert stack.weights(stack.test_rule) == {stack.blue_tg: 1, stack.green_tg: 0}
    doc = stack.deployment(arn)
    assert doc["status"] in ("ROLLBACK_REQUESTED", "ROLLBACK_IN_PROGRESS")
    assert doc["targetServiceRevision"]["requestedProductionTrafficWeight"] == 0.0
    green = "ecs-svc/" + doc["targetServiceRevision"]["arn"].rsplit("/", 1)[1]
    statuses = [
        e.detail["status"]
        for e in stack.sb.timeline("service_deployment.status")
        if e.detail["deployment"] == green
    ]
    assert statuses == ["IN_PROGRESS", "ROLLBACK_REQUESTED", "ROLLBACK_IN_PROGRESS"]
    doc = stack.run_until(arn, lambda d: d["status"] == "ROLLBACK_SUCCESSFUL")
    assert doc["rollback"]["serviceRevisionArn"].endswith(
        stack.service()["deployments"][0]["id"].split("/", 1)[1]
    )
    assert stack.live_tasks("v2") == 0
    assert stack.live_tasks("v1") == 2
    assert stack.healthy(stack.blue_tg) == 2
    assert traffic.blind_moments == []
    assert stack.weights() == {stack.blue_tg: 1, stack.green_tg: 0}


def test_stop_during_clean_up_is_refused(make_service: Any) -> None:
    stack = make_service(CONFIGS["BLUE_GREEN"])
    arn = stack.deploy("v2")
    stack.run_until(arn, lambda d: d.get("lifecycleStage") == "CLEAN_UP", step=1)
    with pytest.raises(ClientError) as caught:
        stack.ecs.stop_service_deployment(serviceDeploymentArn=arn, stopType="ROLLBACK")
    assert caught.value.response["Error"]["Code"] == "ConflictException"


def test_alarm_on_synthetic_5xx_rolls_a_blue_green_release_back(make_service: Any) -> None:
    stack = make_service(CONFIGS["BLUE_GREEN"])
    lb_dim = stack.lb_arn.split(":loadbalancer/", 1)[1]
    stack.cloudwatch.put_metric_alarm(
        AlarmName="shift-target-5xx",
        Namespace="AWS/ApplicationELB",
        MetricName="HTTPCode_Target_5XX_Count",
        Dimensions=[{"Name": "LoadBalancer", "Value": lb_dim}],
        Statistic="Sum",
        Period=60,
        EvaluationPeriods=1,
        Threshold=10,
        ComparisonOperator="GreaterThanOrEqualToThreshold",
        TreatMissingData="notBreaching",
    )
    stack.ecs.update_service(
        cluster="shift",
        service=SERVICE,
        deploymentConfiguration={
            "alarms": {"alarmNames": ["shift-target-5xx"], "enable": True, "rollback": True}
        },
    )
    stack.sb.faults.add(FaultRule(effect="serve_5xx", image="v2", share=0.2))
    traffic = stack.sb.start_synthetic_traffic(rate=10)
    arn = stack.deploy("v2")
    doc = stack.run_until(arn, lambda d: d["status"] == "ROLLBACK_SUCCESSFUL")
    assert doc["alarms"]["triggeredAlarmNames"] == ["shift-target-5xx"]
    assert doc["alarms"]["status"] == "TRIGGERED"
    assert stack.weights() == {stack.blue_tg: 1, stack.green_tg: 0}
    assert stack.live_tasks("v2") == 0
    failed = traffic.totals[(stack.green_tg, 500)]
    served = failed + traffic.totals[(stack.green_tg, 200)]
    assert served > 0
    assert failed / served == pytest.approx(0.2, abs=0.01)
    assert traffic.blind_moments == []
    # the alarm came after production shifted (the documented window), inside the bake
    trip = stack.sb.timeline("alarm.trip")[0].time
    shift = next(t for t, s in stages(stack) if s == "PRODUCTION_TRAFFIC_SHIFT")
    assert shift < trip < shift + 5 * 60


def test_a_release_that_crashes_30s_after_turning_healthy_never_leaves_no_healthy_target(
    stack: ShiftStack,
) -> None:
    """Blue/green with a gate after test traffic (a hook that answers after 2 minutes): the
    green tasks die 30 s after turning healthy while only test traffic reaches them; the deploy
    tool (this test) sees it and rolls back; production never lost its healthy targets."""
    hook = {
        "targetType": "AWS_LAMBDA",
        "hookTargetArn": "arn:aws:lambda:ap-northeast-2:123456789012:function:gate",
        "roleArn": stack.role_arn,
        "lifecycleStages": ["POST_TEST_TRAFFIC_SHIFT"],
    }
    stack.create_service({**CONFIGS["BLUE_GREEN"], "lifecycleHooks": [hook]})
    stack.sb.wait_steady("shift", SERVICE, revision=1)
    stack.sb.set_hook_answer("SUCCEEDED", delay=120)
    # healthy ~10 s after RUNNING (2 checks, 5 s apart), then dies 30 s later
    stack.sb.faults.add(FaultRule(effect="crash", image="v2", after=40.0, exit_code=1))
    traffic = stack.sb.start_synthetic_traffic(rate=10, test_rate=2)
    arn = stack.deploy("v2")
    seen_healthy = False

    def crashed(_: dict[str, Any]) -> bool:
        nonlocal seen_healthy
        healthy = stack.healthy(stack.green_tg)
        seen_healthy = seen_healthy or healthy == 2
        return seen_healthy and healthy < 2

    stack.run_until(arn, crashed, step=1)
    stack.ecs.stop_service_deployment(serviceDeploymentArn=arn, stopType="ROLLBACK")
    assert stack.weights() == {stack.blue_tg: 1, stack.green_tg: 0}
    stack.run_until(arn, lambda d: d["status"] == "ROLLBACK_SUCCESSFUL")
    assert traffic.blind_moments == []
    assert production_weights(stack) == [0.0]  # production never moved to green
    assert not [k for k, n in traffic.totals.items() if k[0] == stack.blue_tg and k[1] >= 500]
    assert stack.live_tasks("v2") == 0
    assert stack.healthy(stack.blue_tg) == 2


def test_circuit_breaker_rolls_back_by_traffic_switch(make_service: Any) -> None:
    stack = make_service(
        {**CONFIGS["CANARY"], "deploymentCircuitBreaker": {"enable": True, "rollback": True}}
    )
    stack.sb.faults.add(FaultRule(effect="crash", image="v2", after=0.0, exit_code=1))
    arn = stack.deploy("v2")
    doc = stack.run_until(arn, lambda d: d["status"] == "ROLLBACK_SUCCESSFUL")
    assert doc["deploymentCircuitBreaker"]["status"] == "TRIGGERED"
    assert stack.weights() == {stack.blue_tg: 1, stack.green_tg: 0}
    assert [s for _, s in stages(stack)][-1] == "SCALE_UP"


def test_synthetic_traffic_follows_the_canary_weights_into_cloudwatch(make_service: Any) -> None:
    stack = make_service(CONFIGS["CANARY"])
    stack.sb.start_synthetic_traffic(rate=20)
    arn = stack.deploy("v2")
    stack.run_until(
        arn,
        lambda d: d["targetServiceRevision"].get("requestedProductionTrafficWeight") == 10.0,
        step=1,
    )
    now = stack.sb.clock.now()
    start = now - now % 60 + 60  # the first whole minute of the canary (3 min long)
    stack.sb.advance(start + 121 - now)
    lb_dim = stack.lb_arn.split(":loadbalancer/", 1)[1]

    def count(tg: str) -> float:
        import datetime as dt

        doc = stack.cloudwatch.get_metric_statistics(
            Namespace="AWS/ApplicationELB",
            MetricName="RequestCount",
            Dimensions=[
                {"Name": "TargetGroup", "Value": tg.split(":", 5)[5]},
                {"Name": "LoadBalancer", "Value": lb_dim},
            ],
            StartTime=dt.datetime.fromtimestamp(start, dt.UTC),
            EndTime=dt.datetime.fromtimestamp(start + 60, dt.UTC),
            Period=60,
            Statistics=["Sum"],
        )
        return float(sum(p["Sum"] for p in doc["Datapoints"]))

    green, blue = count(stack.green_tg), count(stack.blue_tg)
    assert green + blue > 0
    assert green / (green + blue) == pytest.approx(0.10, abs=0.01)


def test_slow_fault_raises_green_p99_only(make_service: Any) -> None:
    stack = make_service(CONFIGS["CANARY"])
    stack.sb.faults.add(FaultRule(effect="slow", image="v2", latency=2.5))
    traffic = stack.sb.start_synthetic_traffic(rate=20, latency=0.05)
    seen: list[Any] = []
    traffic.record = seen.append  # type: ignore[method-assign]
    arn = stack.deploy("v2")
    stack.run_until(arn, lambda d: d.get("lifecycleStage") == "BAKE_TIME", step=5)
    green = sorted(o.latency for o in seen if o.target_group_arn == stack.green_tg)
    blue = sorted(o.latency for o in seen if o.target_group_arn == stack.blue_tg)
    assert green[int(len(green) * 0.99)] == 2.5
    assert green[int(len(green) * 0.5)] == 0.05
    assert max(blue) == 0.05


def test_a_deployment_superseded_mid_canary_is_scaled_in(make_service: Any) -> None:
    stack = make_service(CONFIGS["CANARY"])
    first = stack.deploy("v2")
    stack.run_until(
        first, lambda d: d["targetServiceRevision"].get("requestedProductionTrafficWeight") == 10.0
    )
    second = stack.deploy("v3")
    doc = stack.run_until(second, lambda d: d["status"] == "SUCCESSFUL")
    assert doc["lifecycleStage"] == "CLEAN_UP"
    assert stack.deployment(first)["status"] == "STOPPED"
    assert stack.live_tasks("v2") == 0
    assert stack.live_tasks("v1") == 0
    assert stack.live_tasks("v3") == 2


def test_a_stage_that_lasts_24_hours_rolls_back(make_service: Any) -> None:
    """Green can never pull its image (breaker off): SCALE_UP times out after 24 h (§1.2)."""
    stack = make_service(CONFIGS["BLUE_GREEN"])
    arn = stack.deploy("no-such-tag")
    stack.sb.advance(23 * 3600)
    assert stack.deployment(arn)["status"] == "IN_PROGRESS"
    stack.sb.advance(3600)
    doc = stack.run_until(arn, lambda d: d["status"] == "ROLLBACK_SUCCESSFUL", step=30)
    assert doc["lifecycleStage"] == "SCALE_UP"
    assert [e.detail["stage"] for e in stack.sb.timeline("deployment.stage_timeout")] == [
        "SCALE_UP"
    ]
    assert stack.weights() == {stack.blue_tg: 1, stack.green_tg: 0}


def test_a_good_rolling_deploy_under_synthetic_traffic_fails_no_request(
    stack: ShiftStack, make_service: Any
) -> None:
    """ECS deregisters (drains) an old task before it stops it and the ALB sends no new request
    to a draining target, so a good rolling deploy answers every request: no 502 from a task of
    the old revision that is deactivating, stopping or gone."""
    make_service(
        {
            "strategy": "ROLLING",
            "minimumHealthyPercent": 100,
            "maximumPercent": 200,
            "deploymentCircuitBreaker": {"enable": True, "rollback": True},
        },
        loadBalancers=stack.load_balancers(advanced=False),
    )
    traffic = stack.sb.start_synthetic_traffic(rate=20)
    arn = stack.deploy("v2")
    stack.run_until(arn, lambda d: d["status"] == "SUCCESSFUL")
    stack.sb.advance(60)
    failed = {k: n for k, n in traffic.totals.items() if k[1] >= 500}
    served = sum(n for (tg, status), n in traffic.totals.items() if status == 200)
    assert stack.live_tasks("v1") == 0
    assert stack.live_tasks("v2") == 2
    assert served > 1000
    assert failed == {}


def test_the_listener_answers_502_for_a_simulated_task_that_crashed_while_registered(
    stack: ShiftStack, make_service: Any
) -> None:
    """The real listener in front of simulated tasks: a stopped task is DEACTIVATING for a
    moment before its target drains and still answers (200); a task whose container exited
    while its target is still registered and healthy is a refused connection (502 from the
    ALB), as its neighbour that did not crash answers 200."""
    import httpx

    stack.sb.faults.add(FaultRule(effect="flaky", family="shift", revision=1, after=120, count=1))
    make_service({"strategy": "ROLLING"}, loadBalancers=stack.load_balancers(advanced=False))
    url = stack.sb.alb_url("shift-alb")
    assert url is not None
    arns = stack.ecs.list_tasks(cluster="shift", serviceName=SERVICE)["taskArns"]
    tasks = stack.ecs.describe_tasks(cluster="shift", tasks=arns)["tasks"]
    crash_at = min(t["startedAt"].timestamp() for t in tasks) + 120
    stack.sb.advance(crash_at + 0.5 - stack.sb.clock.now())
    answers = [httpx.get(url + "/", timeout=10) for _ in range(4)]
    assert sorted(r.status_code for r in answers) == [200, 200, 502, 502]
    assert all(r.headers["Server"] == "awselb/2.0" for r in answers if r.status_code == 502)
    live = stack.ecs.describe_tasks(cluster="shift", tasks=arns)["tasks"]
    survivor = next(t for t in live if t["lastStatus"] == "RUNNING")
    stack.ecs.stop_task(cluster="shift", task=survivor["taskArn"], reason="test")
    assert (
        stack.ecs.describe_tasks(cluster="shift", tasks=[survivor["taskArn"]])["tasks"][0][
            "lastStatus"
        ]
        == "DEACTIVATING"
    )
    assert 200 in {httpx.get(url + "/", timeout=10).status_code for _ in range(4)}
