"""Fidelity of the simulation's DEFAULT timings against AWS's observed failure traces.

Each test replays one trace of ``shared/reference/ecs-behaviour.md`` §2.1 ("Timing") with the
reference's setup on the virtual clock and compares the simulated moments with the observed
ones, within ±25 % (:data:`TOLERANCE`). The setups leave some settings unstated; the tests say
what they assume:

- every trace: minimumHealthyPercent 100, maximumPercent 200 (the defaults), breaker with
  rollback, one ALB target group;
- (b) and (c): a deregistration delay of 30 s (the value of the reference's drill and of the
  aws-actions#30 fix, §6.3; the §1.7 traces fit it). With AWS's default 300 s, (b) would trip
  after ≈7.7 min instead of the observed ≈3 min;
- (b): desired 1 (the four starts came one at a time) and an app that exits 3 s after start.

What is not reproduced is pinned as a strict ``xfail`` with the numbers, so it shows if the
simulation starts to match (see docs/sandbox.md "Calibration").
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from moto import mock_aws

from rollout.sandbox.ecs import Behaviour
from rollout.sandbox.faults import FaultPlan, FaultRule
from rollout.sandbox.harness import SimHarness

TOLERANCE = 0.25

# §2.1 timing table, seconds after the bad deployment started (UpdateService).
#: (a) image tag missing, desired 1.
A_FAILED_TASKS = (154.0, 286.0, 660.0)  # failedTasks 1, 2, 3 at 2m34s, 4m46s, 11m00s
A_ROLLBACK_STARTS = 704.0  # 11m44s
A_ROLLBACK_DONE = 810.0  # ≈13m30s
#: (b) crash on start.
B_STARTS = 4
B_START_GAP = 50.0  # "~50 s apart"
B_TRIP = 180.0  # "≈3 min after the fault was injected"
B_COMPLETED_AFTER_TRIP = 79.0
#: (c) ALB health returns 500 (interval 15, unhealthy threshold 3, grace 60, 3 tasks).
C_TRIP = 590.0  # ≈9m50s
C_COMPLETED_AFTER_TRIP = 24.0


@pytest.fixture(autouse=True)
def _no_default_amis(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")


@pytest.fixture
def aws() -> Iterator[None]:
    with mock_aws():
        yield


@dataclass(frozen=True)
class Replay:
    """What the simulation did after UpdateService, in seconds from it."""

    failures: list[float]  # breaker.failure of the bad deployment, in order
    starts: list[float]  # tasks of the bad deployment entering PROVISIONING
    trip: float | None  # breaker.trip (= the rollback starting, §2.1)
    completed: float | None  # the old deployment COMPLETED again
    old_stops: int  # tasks of the old deployment told to stop


def replay(h: SimHarness, bad_image: str, *, desired: int, grace: int, run_for: float) -> Replay:
    """Steady on a good revision, then UpdateService to ``bad_image``; run ``run_for`` s."""
    h.create_service(h.register(h.image("good")), desired=desired, grace=grace)
    h.settle()
    old_id = h.service()["deployments"][0]["id"]
    began = h.clock.now()
    bad_id = h.update(taskDefinition=h.register(bad_image))["deployments"][0]["id"]
    h.advance(run_for)
    timeline = [e for e in h.sim.timeline() if e.time >= began]
    trips = [e.time - began for e in timeline if e.kind == "breaker.trip"]
    return Replay(
        failures=[
            e.time - began
            for e in timeline
            if e.kind == "breaker.failure" and e.detail.get("deployment") == bad_id
        ],
        starts=[
            e.time - began
            for e in timeline
            if e.kind == "task.state"
            and e.detail.get("deployment") == bad_id
            and e.detail.get("state") == "PROVISIONING"
        ],
        trip=trips[0] if trips else None,
        completed=next(
            (
                e.time - began
                for e in timeline
                if e.kind == "deployment.state"
                and e.detail.get("deployment") == old_id
                and e.detail.get("rollout_state") == "COMPLETED"
            ),
            None,
        ),
        old_stops=sum(
            1
            for e in timeline
            if e.kind == "task.state"
            and e.detail.get("deployment") == old_id
            and e.detail.get("state") in ("DEACTIVATING", "STOPPING", "DEPROVISIONING")
        ),
    )


def mismatches(pairs: list[tuple[str, float | None, float]]) -> list[str]:
    """The (name, simulated, observed) pairs outside the tolerance, readably."""
    return [
        f"{name}: simulated {sim}, observed {obs:.0f} (±{TOLERANCE:.0%})"
        for name, sim, obs in pairs
        if sim is None or abs(sim - obs) > TOLERANCE * obs
    ]


def test_image_tag_missing_desired_1_matches_the_observed_trace(aws: None) -> None:
    """(a) With the default timings a missing image fails tasks, throttles the third launch and
    trips the breaker at failedTasks 3 when AWS did (§2.1: 2m34s, 4m46s, 11m00s; rollback
    11m44s, done ≈13m30s), and the third launch waits for the throttle."""
    h = SimHarness()
    run = replay(h, h.image("sha-missing", push=False), desired=1, grace=30, run_for=1200)
    assert len(run.failures) == 3
    assert run.completed is not None
    assert run.trip is not None
    assert (
        mismatches(
            [
                ("failedTasks 1", run.failures[0], A_FAILED_TASKS[0]),
                ("failedTasks 2", run.failures[1], A_FAILED_TASKS[1]),
                ("failedTasks 3", run.failures[2], A_FAILED_TASKS[2]),
                ("rollback starts", run.trip, A_ROLLBACK_STARTS),
                ("rollback done", run.completed, A_ROLLBACK_DONE),
            ]
        )
        == []
    )
    throttled = h.sim.timeline("service.throttled")
    assert throttled[0].detail["delay"] == 240.0  # before the third launch


def test_crash_on_start_matches_the_observed_trace(aws: None) -> None:
    """(b) An app that exits at start is relaunched ~50 s apart, four starts come before the
    breaker trips at ≈3 min, and the rollback completes ≈79 s after the trip (§2.1)."""
    plan = FaultPlan()
    h = SimHarness(faults=plan, deregistration_delay=30)
    bad = h.image("crash")
    plan.add(FaultRule(effect="crash", image=bad, after=3.0, exit_code=1))
    run = replay(h, bad, desired=1, grace=30, run_for=900)
    assert run.trip is not None
    assert run.completed is not None
    before_trip = [t for t in run.starts if t <= run.trip]
    assert len(before_trip) == B_STARTS
    gaps = [b - a for a, b in itertools.pairwise(before_trip)]
    assert (
        mismatches(
            [
                ("mean gap between starts", sum(gaps) / len(gaps), B_START_GAP),
                ("trip", run.trip, B_TRIP),
                ("completed after the trip", run.completed - run.trip, B_COMPLETED_AFTER_TRIP),
            ]
        )
        == []
    )


def _health_500(behaviour: Behaviour | None = None) -> Replay:
    plan = FaultPlan()
    h = SimHarness(
        faults=plan,
        behaviour=behaviour,
        deregistration_delay=30,
        health_check_interval=15,
        unhealthy_threshold=3,
    )
    bad = h.image("health-500")
    plan.add(FaultRule(effect="never_healthy", image=bad, status_code=500))
    return replay(h, bad, desired=3, grace=60, run_for=1800)


def test_failing_alb_health_check_waits_for_the_grace_period_and_keeps_the_old_tasks(
    aws: None,
) -> None:
    """(c) Tasks failing ALB checks (15 s × 3) are replaced only once the 60 s grace period has
    passed since RUNNING, never before, and the breaker rolls back without stopping an old task
    (§2.1, §6.4)."""
    run = _health_500()
    assert run.trip is not None
    assert run.completed is not None
    # first starts at 14 s, RUNNING 30 s later; unhealthy after 45 s; grace ends 60 s after RUNNING
    first_replacement = min(s for s in run.starts if s > run.starts[0])
    assert first_replacement >= run.starts[0] + 30 + 60
    assert run.completed > run.trip
    assert run.old_stops == 0


@pytest.mark.xfail(
    strict=True,
    reason="not reproduced: with the current docs' threshold 3 the simulated breaker trips at "
    "≈250 s (three unhealthy tasks stopped one by one), observed ≈590 s; only the 2023 minimum "
    "threshold of 10 explains the observed trip (see the next test). The sandbox keeps the "
    "documented 3, which makes the breaker-only path faster in the sandbox than observed.",
)
def test_failing_alb_health_check_trip_matches_the_observed_trace(aws: None) -> None:
    """(c) With the default threshold the breaker would trip ≈9m50s in, as observed (§2.1)."""
    run = _health_500()
    assert mismatches([("trip", run.trip, C_TRIP)]) == []


def test_failing_alb_health_check_trip_matches_with_the_2023_threshold(aws: None) -> None:
    """(c) With the 2023 guide's minimum threshold of 10 (§2.1 CONFLICT, Behaviour switch) the
    replacement cadence (grace period, ALB checks, one-by-one stops with drain, §4.3
    replacement delay) trips the breaker within tolerance of the observed ≈9m50s."""
    run = _health_500(Behaviour(breaker_min_threshold=10))
    assert mismatches([("trip", run.trip, C_TRIP)]) == []


@pytest.mark.xfail(
    strict=True,
    reason="not reproduced: the simulated rollback completes ≈58 s after the trip (the bad "
    "deployment's running replacement drains first); observed 24 s.",
)
def test_failing_alb_health_check_completes_like_the_observed_trace(aws: None) -> None:
    """(c) The old deployment is COMPLETED ≈24 s after the trip (§2.1)."""
    run = _health_500(Behaviour(breaker_min_threshold=10))
    assert run.trip is not None
    assert run.completed is not None
    assert (
        mismatches([("completed after trip", run.completed - run.trip, C_COMPLETED_AFTER_TRIP)])
        == []
    )


@pytest.mark.parametrize(
    ("mode", "spread"),
    [("one_by_one", True), ("all_at_once", False)],
)
def test_failing_alb_health_check_stops_unhealthy_tasks_one_by_one(
    aws: None, mode: str, spread: bool
) -> None:
    """(c) By default unhealthy tasks are stopped one at a time, the next once the previous has
    drained (30 s) and stopped, so their failures reach the breaker spread out; the
    ``all_at_once`` switch stops them together ([BC-ECS] minimumHealthyPercent)."""
    run = _health_500(Behaviour(unhealthy_replacement=mode))  # type: ignore[arg-type]
    assert len(run.failures) == 3
    gaps = [b - a for a, b in itertools.pairwise(run.failures)]
    if spread:
        assert all(gap >= 30 for gap in gaps)
    else:
        assert gaps == [0.0, 0.0]
