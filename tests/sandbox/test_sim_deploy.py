"""Fidelity of the simulated rolling deployment (reference §1, §4, §5, §6), in process."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from moto import mock_aws

from rollout.sandbox.ecs.rules import rolling_limits
from rollout.sandbox.harness import CLUSTER, SERVICE, SimHarness


@pytest.fixture(autouse=True)
def _no_default_amis(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")


@pytest.fixture
def h() -> Iterator[SimHarness]:
    with mock_aws():
        yield SimHarness()


def _steady(h: SimHarness, desired: int = 1) -> tuple[str, str]:
    """Create the service on v1 and settle it; returns (task definition ARN, deployment id)."""
    td = h.register(h.image("v1"))
    h.create_service(td, desired=desired)
    h.settle()
    return td, h.service()["deployments"][0]["id"]


def _without_ids(message: str) -> str:
    message = re.sub(r"\(task [0-9a-f]{32}\)", "(task X)", message)
    message = re.sub(r"ecs-svc/\d{19}", "ecs-svc/N", message)
    return re.sub(r"targetgroup/[^)]+", "targetgroup/TG", message)


def test_good_deploy_emits_aws_event_sequence_in_about_two_and_a_half_minutes(
    h: SimHarness,
) -> None:
    """A good rolling deploy (N=1, 100/200) emits §5.3's events in order and takes ≈2.5 min."""
    _, old_id = _steady(h)
    td2 = h.register(h.image("v2"))
    began = h.clock.now()
    h.update(taskDefinition=td2)
    took = h.settle(step=1)
    service = h.service()
    new_id = service["deployments"][0]["id"]
    events = h.events(since=began)
    assert [_without_ids(m) for _, m in events] == [
        "(service api) has started 1 tasks: (task X).",
        "(service api) registered 1 targets in (target-group arn:aws:elasticloadbalancing:"
        "ap-northeast-2:123456789012:targetgroup/TG)",
        "(service api) has stopped 1 running tasks: (task X).",
        "(service api) deregistered 1 targets in (target-group arn:aws:elasticloadbalancing:"
        "ap-northeast-2:123456789012:targetgroup/TG)",
        f"(service api, taskSet {_without_ids(old_id)}) has begun draining connections on 1 tasks.",
        "(service api) (deployment ecs-svc/N) deployment completed.",
        "(service api) has reached a steady state.",
    ]
    assert f"(deployment {new_id}) deployment completed." in events[-2][1]
    times = [t for t, _ in events]
    assert times[0] == pytest.approx(14, abs=1)  # created -> has started (§1.7: 14 s)
    assert 20 <= times[1] - times[0] <= 40  # has started -> registered
    assert 35 <= times[2] - times[1] <= 55  # registered -> has stopped (41-50 s)
    assert times[3] == times[4]  # deregistered + draining in the same instant
    assert times[6] - times[5] == pytest.approx(0.001)  # completed, then steady 1 ms later
    assert 120 <= took <= 180  # ≈2.5 min (§1.7)
    assert service["deployments"][0]["rolloutStateReason"] == f"ECS deployment {new_id} completed."
    assert service["taskDefinition"] == td2


def test_update_service_creates_new_primary_and_keeps_old_as_active(h: SimHarness) -> None:
    """Right after UpdateService the new PRIMARY shows 0/0/0 IN_PROGRESS and the old one is
    ACTIVE COMPLETED with its running tasks (§1.2)."""
    td1, old_id = _steady(h, desired=2)
    td2 = h.register(h.image("v2"))
    service = h.update(taskDefinition=td2)
    primary, active = service["deployments"]
    assert primary["status"] == "PRIMARY"
    assert active["status"] == "ACTIVE"
    assert re.fullmatch(r"ecs-svc/\d{19}", primary["id"])
    assert primary["id"] != old_id
    assert (primary["desiredCount"], primary["pendingCount"], primary["runningCount"]) == (0, 0, 0)
    assert primary["rolloutState"] == "IN_PROGRESS"
    assert primary["rolloutStateReason"] == f"ECS deployment {primary['id']} in progress."
    assert primary["createdAt"] == primary["updatedAt"]
    assert active["id"] == old_id
    assert active["taskDefinition"] == td1
    assert (active["desiredCount"], active["runningCount"], active["rolloutState"]) == (
        2,
        2,
        "COMPLETED",
    )
    assert service["deploymentConfiguration"]["strategy"] == "ROLLING"
    assert service["deploymentConfiguration"]["bakeTimeInMinutes"] == 0
    revisions = service["currentServiceRevisions"]
    assert revisions[0]["arn"].endswith(f"service-revision/{CLUSTER}/{SERVICE}/{primary['id'][8:]}")


def _max_counts(h: SimHarness, seconds: int) -> tuple[int, int]:
    """Advance second by second; the max live (RUNNING+PENDING) and min RUNNING-healthy seen."""
    peak, floor = 0, 10**9
    for _ in range(seconds):
        h.advance(1)
        tasks = [
            t
            for t in h.sim.service_tasks(
                h.sim.regions()[0], h.sim.regions()[0].services[(CLUSTER, SERVICE)]
            )
            if t.live
        ]
        peak = max(peak, len(tasks))
        service = h.sim.regions()[0].services[(CLUSTER, SERVICE)]
        floor = min(floor, sum(1 for t in tasks if h.sim.is_healthy(service, t)))
    return peak, floor


def test_rolling_100_200_starts_all_new_before_stopping_old(h: SimHarness) -> None:
    """100/200 with N=2: 2 new tasks start together, never more than 4 live, never < 2 healthy."""
    _steady(h, desired=2)
    h.update(taskDefinition=h.register(h.image("v2")))
    peak, floor = _max_counts(h, 400)
    assert (peak, floor) == (4, 2)
    started = [m for _, m in h.events() if "has started 2 tasks" in m]
    stopped = [m for _, m in h.events() if "has stopped 2 running tasks" in m]
    assert len(started) == 2
    assert len(stopped) == 1


def test_rolling_50_100_stops_half_first(h: SimHarness) -> None:
    """50/100 with N=4: 2 old tasks stop before any new one starts, never more than 4 live."""
    td1 = h.register(h.image("v1"))
    h.create_service(td1, desired=4, minimum=50, maximum=100)
    h.settle()
    began = h.clock.now()
    h.update(taskDefinition=h.register(h.image("v2")))
    peak, floor = _max_counts(h, 900)
    assert peak <= 4
    assert floor >= 2
    messages = [m for _, m in h.events(since=began)]
    assert "has stopped 2 running tasks" in messages[0]
    assert h.service()["deployments"][0]["rolloutState"] == "COMPLETED"


def test_desired_count_change_starts_no_deployment(h: SimHarness) -> None:
    """desiredCount changes scale the PRIMARY without a new deployment (§1.1 CONFLICT → API)."""
    _, dep = _steady(h)
    h.update(desiredCount=3)
    h.advance(120)
    service = h.service()
    assert [d["id"] for d in service["deployments"]] == [dep]
    assert service["runningCount"] == 3
    assert service["deployments"][0]["desiredCount"] == 3
    assert service["events"][0]["message"] == "(service api) has reached a steady state."


def test_force_new_deployment_creates_a_deployment_on_the_same_task_definition(
    h: SimHarness,
) -> None:
    """forceNewDeployment starts a new PRIMARY on the same task definition."""
    td, dep = _steady(h)
    service = h.update(forceNewDeployment=True)
    assert len(service["deployments"]) == 2
    assert service["deployments"][0]["taskDefinition"] == td
    assert service["deployments"][0]["id"] != dep


def test_overlapping_deployments_drain_the_older_ones(h: SimHarness) -> None:
    """Two quick updates give two deployments; the newest wins and the others leave the list."""
    _steady(h)
    h.update(taskDefinition=h.register(h.image("v2")))
    h.advance(20)
    td3 = h.register(h.image("v3"))
    service = h.update(taskDefinition=td3)
    assert [d["status"] for d in service["deployments"]] == ["PRIMARY", "ACTIVE", "ACTIVE"]
    h.settle()
    service = h.service()
    assert len(service["deployments"]) == 1
    assert service["taskDefinition"] == td3
    statuses = {
        d["status"]
        for d in h.call("ListServiceDeployments", cluster=CLUSTER, service=SERVICE)[
            "serviceDeployments"
        ]
    }
    assert statuses == {"SUCCESSFUL", "STOPPED"}


def test_target_health_goes_initial_healthy_draining_unused(h: SimHarness) -> None:
    """DescribeTargetHealth (moto + overlay) shows initial → healthy → draining → gone (§6)."""
    td = h.register(h.image("v1"))
    h.create_service(td)
    h.advance(45)  # RUNNING at 44 s: target registered
    [desc] = h.target_health()
    assert desc["TargetHealth"]["State"] == "initial"
    assert desc["TargetHealth"]["Reason"] == "Elb.RegistrationInProgress"
    h.advance(10)
    assert h.target_health()[0]["TargetHealth"]["Reason"] == "Elb.InitialHealthChecking"
    h.advance(25)
    assert h.target_health()[0]["TargetHealth"] == {"State": "healthy"}
    ip = desc["Target"]["Id"]
    assert re.fullmatch(r"10\.0\.\d+\.\d+", ip)
    assert desc["Target"]["Port"] == 8000
    [task] = h.tasks()
    h.call("StopTask", cluster=CLUSTER, task=task["taskArn"], reason="drill")
    h.advance(3)
    states = {d["Target"]["Id"]: d["TargetHealth"] for d in h.target_health()}
    assert states[ip]["State"] == "draining"
    assert states[ip]["Reason"] == "Target.DeregistrationInProgress"
    h.advance(30)
    assert ip not in {d["Target"]["Id"] for d in h.target_health()}


def test_task_lifecycle_states_and_timestamps(h: SimHarness) -> None:
    """A service task walks PROVISIONING → … → RUNNING with AWS timestamps and an ENI (§4.1)."""
    td = h.register(h.image("v1"))
    service = h.create_service(td)
    dep = service["deployments"][0]["id"]
    seen: list[str] = []
    for _ in range(50):
        h.advance(1)
        tasks = h.tasks()
        if tasks and (not seen or seen[-1] != tasks[0]["lastStatus"]):
            seen.append(tasks[0]["lastStatus"])
    assert seen == ["PROVISIONING", "PENDING", "ACTIVATING", "RUNNING"]
    [task] = h.tasks()
    assert task["startedBy"] == dep
    assert task["group"] == f"service:{SERVICE}"
    assert task["createdAt"] < task["pullStartedAt"] < task["pullStoppedAt"] < task["startedAt"]
    details = {d["name"]: d["value"] for d in task["attachments"][0]["details"]}
    assert details["privateIPv4Address"].startswith("10.0.")
    assert details["networkInterfaceId"].startswith("eni-")
    assert task["containers"][0]["imageDigest"].startswith("sha256:")
    assert task["cpu"] == "256"
    assert task["memory"] == "512"


def test_stopped_task_walks_the_stop_states(h: SimHarness) -> None:
    """StopTask on a task behind an ALB returns DEACTIVATING, then STOPPING → DEPROVISIONING →
    STOPPED after the deregistration delay, with stopCode UserInitiated (§4.1, §4.2)."""
    _steady(h)
    [task] = h.tasks()
    answer = h.call("StopTask", cluster=CLUSTER, task=task["taskArn"], reason="drill")["task"]
    assert answer["lastStatus"] == "DEACTIVATING"
    assert answer["desiredStatus"] == "STOPPED"
    states: list[str] = []
    for _ in range(60):
        h.advance(1)
        [now] = h.call("DescribeTasks", cluster=CLUSTER, tasks=[task["taskArn"]])["tasks"]
        if not states or states[-1] != now["lastStatus"]:
            states.append(now["lastStatus"])
    assert states == ["DEACTIVATING", "STOPPING", "DEPROVISIONING", "STOPPED"]
    assert (now["stopCode"], now["stoppedReason"]) == ("UserInitiated", "drill")
    assert now["stoppingAt"] <= now["executionStoppedAt"] <= now["stoppedAt"]
    h.advance(120)
    assert len(h.tasks()) == 1  # the scheduler replaced it


def _timeline_signature(seed: int) -> list[tuple[float, str, str]]:
    with mock_aws():
        h = SimHarness(seed=seed)
        _steady(h, desired=2)
        h.update(taskDefinition=h.register(h.image("v2")))
        h.settle()
        h.update(taskDefinition=h.register(h.image("missing", push=False)))
        h.settle(limit=7200)
        return [
            (e.time - h.start, e.kind, repr(sorted(e.detail.items())).replace(h.tg_arn, "TG"))
            for e in h.sim.timeline()
        ]


def test_same_inputs_give_the_same_timeline() -> None:
    """Determinism: two runs with the same calls and clock produce identical timelines."""
    first = _timeline_signature(0)
    assert first == _timeline_signature(0)
    assert len(first) > 50


def test_ten_minute_deploy_takes_well_under_a_second(h: SimHarness) -> None:
    """Two deploys with a 300 s deregistration delay and a breaker rollback between them (over
    10 simulated minutes, polled every 15 s) cost far less than a second of wall time."""
    h.elbv2.modify_target_group_attributes(
        TargetGroupArn=h.tg_arn,
        Attributes=[{"Key": "deregistration_delay.timeout_seconds", "Value": "300"}],
    )
    _steady(h, desired=3)
    began = time.perf_counter()
    simulated = h.clock.now()
    h.update(taskDefinition=h.register(h.image("v2")))
    h.settle()
    assert h.clock.now() - simulated >= 400
    h.update(taskDefinition=h.register(h.image("nope", push=False)))
    h.settle(limit=3600)
    h.update(taskDefinition=h.register(h.image("v3")))
    h.settle()
    wall = time.perf_counter() - began
    assert h.clock.now() - simulated >= 600
    assert wall < 1.0


def test_deployment_that_can_neither_start_nor_stop_reports_it(h: SimHarness) -> None:
    """min 100 / max 100 with N=3 can neither start nor stop a task: ECS says so once (§1.1)."""
    td = h.register(h.image("v1"))
    h.create_service(td, desired=3, minimum=100, maximum=100)
    h.settle()
    began = h.clock.now()
    h.update(taskDefinition=h.register(h.image("v2")))
    h.advance(600)
    messages = [m for _, m in h.events(since=began)]
    assert messages == [
        "(service api) was unable to stop or start tasks during a deployment because of the "
        "service deployment configuration. Update the minimumHealthyPercent or maximumPercent "
        "value and try again."
    ]
    assert h.service()["deployments"][0]["rolloutState"] == "IN_PROGRESS"


@settings(max_examples=6, deadline=None)
@given(
    desired=st.integers(1, 6),
    minimum=st.sampled_from([0, 25, 50, 75, 100]),
    maximum=st.sampled_from([100, 125, 150, 200]),
)
def test_rolling_deploy_respects_min_and_max_whatever_the_settings(
    desired: int, minimum: int, maximum: int
) -> None:
    """Simulated second by second, a rolling deploy never has more live tasks than
    floor(N × max%) and never fewer healthy tasks than ceil(N × min%) once steady (§1.1)."""
    upper, lower = rolling_limits(desired, minimum, maximum)
    with mock_aws():
        h = SimHarness()
        h.create_service(
            h.register(h.image("v1")),
            desired=desired,
            minimum=minimum,
            maximum=maximum,
            load_balancer=False,
        )
        h.settle()
        h.update(taskDefinition=h.register(h.image("v2")))
        rs = h.sim.regions()[0]
        service = rs.services[(CLUSTER, SERVICE)]
        for _ in range(700):
            h.advance(1)
            live = [t for t in h.sim.service_tasks(rs, service) if t.live]
            assert len(live) <= max(upper, desired)
            assert sum(1 for t in live if h.sim.is_healthy(service, t)) >= min(lower, desired)
        stuck = upper <= desired and lower >= desired
        done = h.service()["deployments"][0]["rolloutState"] == "COMPLETED"
        assert done != stuck


def test_first_healthy_threshold_mode_slows_the_rollout() -> None:
    """Behaviour(first_healthy="threshold") needs HealthyThreshold (5) × 30 s before a new
    target is healthy, the ECS best-practice reading of §6.1's CONFLICT."""
    from rollout.sandbox.ecs.timings import Behaviour

    took = {}
    for mode in ("one_check", "threshold"):
        with mock_aws():
            h = SimHarness(behaviour=Behaviour(first_healthy=mode))
            h.create_service(h.register(h.image("v1")))
            took[mode] = h.settle(step=1)
    assert took["threshold"] - took["one_check"] == pytest.approx(4 * 30, abs=2)


def test_target_group_port_rule_can_follow_aws_registered_port() -> None:
    """With require_target_group_port=False a target group port that differs from the container
    port is fine (AWS checks the registered port with `traffic-port`)."""
    from rollout.sandbox.ecs.timings import Behaviour

    with mock_aws():
        h = SimHarness(target_group_port=80, behaviour=Behaviour(require_target_group_port=False))
        h.create_service(h.register(h.image("v1")))
        h.settle()
        assert h.target_health()[0]["TargetHealth"]["State"] == "healthy"
    with mock_aws():
        h = SimHarness(target_group_port=80)
        h.create_service(h.register(h.image("v1")))
        h.advance(105)  # registered at 44 s, unhealthy after 2 × 30 s
        assert h.target_health()[0]["TargetHealth"]["Reason"] == "Target.Timeout"
