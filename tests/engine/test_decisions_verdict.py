"""Decision tables: the verdict from one observation, and the restore check."""

from __future__ import annotations

from dataclasses import replace

import pytest

from rollout.decisions.verdict import (
    PHASE_DEPLOY,
    PHASE_DRAINED,
    PHASE_HEALTHY,
    Continue,
    Decision,
    Failed,
    NoTasks,
    Observation,
    Policy,
    RestoreObservation,
    Succeeded,
    SupersededBy,
    TimedOut,
    Timeouts,
    judge,
    restore_waiting_on,
    restored,
    shift_rolled_back_reason,
)
from rollout.model import ServiceDeploymentInfo

from .builders import dep, stopped, svc, td

OURS = "ecs-svc/2"
OLD = dep("ecs-svc/1", 1, status="ACTIVE", created=0)
STARTING = svc(dep(OURS, 2, state="IN_PROGRESS", running=0, created=100), OLD)
RUNNING_BOTH = svc(dep(OURS, 2, state="IN_PROGRESS", running=2, created=100), OLD)
DRAINED = svc(
    dep(OURS, 2, state="IN_PROGRESS", running=2, created=100),
    dep("ecs-svc/1", 1, status="ACTIVE", running=0, desired=0, created=0),
)
COMPLETED = svc(dep(OURS, 2, state="COMPLETED", running=2, created=100))
BREAKER_FAILED = svc(dep(OURS, 2, state="FAILED", running=0, created=100), OLD)
BREAKER_ROLLING_BACK = svc(
    dep(
        "ecs-svc/1",
        1,
        state="IN_PROGRESS",
        created=0,
        reason="ECS deployment circuit breaker: rolling back to deploymentId ecs-svc/1.",
    ),
    dep(OURS, 2, status="ACTIVE", state="FAILED", running=0, created=100),
)
ROLLED_BACK_GONE = svc(dep("ecs-svc/1", 1, state="COMPLETED", created=0))
SUPERSEDED = svc(
    dep("ecs-svc/3", 3, state="IN_PROGRESS", created=200, running=0),
    dep(OURS, 2, status="ACTIVE", state="IN_PROGRESS", created=100),
    OLD,
)

BASE = Observation(
    at=160.0, service=STARTING, deployment_id=OURS, started_at=100.0, deployment_created_at=100.0
)
POLICY = Policy(timeouts=Timeouts(deploy=1800, healthy=600, drain=300))
PULL = stopped(1, at=130, reason="CannotPullContainerError: not found", code="TaskFailedToStart")


def sd(status: str) -> ServiceDeploymentInfo:
    return ServiceDeploymentInfo(arn="arn:sd/1", status=status, rollback_reason="circuit breaker")


@pytest.mark.parametrize(
    ("obs", "expected"),
    [
        (BASE, Continue(new_healthy=False, drained=False)),
        (replace(BASE, service=RUNNING_BOTH, new_tasks_healthy=1), Continue(False, False)),
        (replace(BASE, service=RUNNING_BOTH, new_tasks_healthy=2), Continue(True, False)),
        (replace(BASE, service=DRAINED, new_tasks_healthy=2), Succeeded()),
        (replace(BASE, service=COMPLETED, new_tasks_healthy=2), Succeeded()),
        # smoke probe still to run / errored / failed
        (
            replace(BASE, service=COMPLETED, new_tasks_healthy=2, smoke="pending"),
            Continue(True, True),
        ),
        (replace(BASE, service=COMPLETED, new_tasks_healthy=2, smoke="error"), Succeeded()),
        (replace(BASE, service=COMPLETED, new_tasks_healthy=2, smoke="fail"), Failed),
        # bake window still open, then an alarm fires
        (
            replace(BASE, service=COMPLETED, new_tasks_healthy=2, bake_remaining=30),
            Continue(True, True),
        ),
        (replace(BASE, service=COMPLETED, new_tasks_healthy=2, alarms_firing=("voj-5xx",)), Failed),
        # failures
        (replace(BASE, stopped=(PULL,)), Failed),
        (replace(BASE, stopped=(stopped(1, at=120),)), Continue(False, False)),
        (replace(BASE, stopped=(stopped(1, at=120), stopped(2, at=150))), Failed),
        (replace(BASE, service=BREAKER_FAILED), Failed),
        (replace(BASE, service=BREAKER_ROLLING_BACK), Failed),
        (replace(BASE, service=ROLLED_BACK_GONE), Failed),
        (replace(BASE, service_deployment=sd("ROLLBACK_IN_PROGRESS")), Failed),
        (replace(BASE, service_deployment=sd("IN_PROGRESS")), Continue(False, False)),
        # someone else deployed over us
        (replace(BASE, service=SUPERSEDED), SupersededBy("ecs-svc/3", td(3))),
        (replace(BASE, service=SUPERSEDED, stopped=(PULL,)), SupersededBy("ecs-svc/3", td(3))),
        # created in the same instant as ours is still someone else's (never a breaker rollback)
        (
            replace(
                BASE,
                service=svc(
                    dep("ecs-svc/3", 1, state="IN_PROGRESS", created=100, running=0),
                    dep(OURS, 2, status="ACTIVE", state="FAILED", created=100),
                ),
            ),
            SupersededBy("ecs-svc/3", td(1)),
        ),
        # desiredCount 0: ECS completes the deployment with no task; never "healthy"
        (replace(BASE, service=svc(dep(OURS, 2, desired=0, running=0), desired=0)), NoTasks()),
        (
            replace(
                BASE,
                service=svc(dep(OURS, 2, state="IN_PROGRESS", desired=0, running=0), desired=0),
            ),
            Continue(False, False),
        ),
        # right after UpdateService PRIMARY shows desired 0 while the service wants 2
        (
            replace(BASE, service=svc(dep(OURS, 2, state="IN_PROGRESS", desired=0, running=0))),
            Continue(False, False),
        ),
        # timeouts, per phase
        (replace(BASE, at=700.0), TimedOut(PHASE_HEALTHY)),
        (replace(BASE, at=699.0), Continue(False, False)),
        (
            replace(BASE, at=1000.0, service=RUNNING_BOTH, new_tasks_healthy=2, healthy_at=650.0),
            TimedOut(PHASE_DRAINED),
        ),
        (
            replace(BASE, at=900.0, service=RUNNING_BOTH, new_tasks_healthy=2, healthy_at=650.0),
            Continue(True, False),
        ),
        (
            replace(BASE, at=1900.0, service=RUNNING_BOTH, new_tasks_healthy=2, healthy_at=1800.0),
            TimedOut(PHASE_DEPLOY),
        ),
    ],
)
def test_verdict_table(obs: Observation, expected: Decision | type[Failed]) -> None:
    """Each observation leads to exactly the expected decision."""
    got = judge(obs, POLICY)
    if expected is Failed:
        assert isinstance(got, Failed), got
        assert got.reason
    elif isinstance(expected, TimedOut):
        assert isinstance(got, TimedOut), got
        assert got.phase == expected.phase
        assert got.waiting_on.startswith("waiting on"), got.waiting_on
    else:
        assert got == expected


@pytest.mark.parametrize(
    ("obs", "definitive", "ecs_rolling_back"),
    [
        (replace(BASE, stopped=(PULL,)), True, False),
        (replace(BASE, stopped=(stopped(1, at=120), stopped(2, at=150))), False, False),
        (replace(BASE, service=BREAKER_FAILED), False, False),
        (replace(BASE, service=BREAKER_ROLLING_BACK), False, True),
        (replace(BASE, service_deployment=sd("ROLLBACK_REQUESTED")), False, True),
    ],
)
def test_failed_verdict_flags(obs: Observation, definitive: bool, ecs_rolling_back: bool) -> None:
    """A failure says whether one signal decided it and whether ECS is already rolling back."""
    got = judge(obs, POLICY)
    assert isinstance(got, Failed)
    assert (got.definitive, got.ecs_rolling_back) == (definitive, ecs_rolling_back)


def test_slow_start_inside_grace_is_not_failed() -> None:
    """Health-check stops inside the grace period do not fail the deploy however many there are."""
    elb = "Task failed ELB health checks in (target-group tg)"
    tasks = tuple(
        stopped(
            n, at=110 + 10 * n, reason=elb, code="ServiceSchedulerInitiated", started=100 + 10 * n
        )
        for n in range(4)
    )
    obs = replace(BASE, stopped=tasks)
    assert isinstance(judge(obs, replace(POLICY, grace_period=60)), Continue)
    assert isinstance(judge(obs, POLICY), Failed)


@pytest.mark.parametrize(
    ("service", "healthy", "ok"),
    [
        (svc(dep("ecs-svc/1", 1, state="IN_PROGRESS")), 2, True),
        (svc(dep("ecs-svc/1", 1, state="IN_PROGRESS")), 1, False),
        (svc(dep("ecs-svc/1", 1, state="IN_PROGRESS", running=1)), 2, False),
        (svc(dep("ecs-svc/2", 2)), 2, False),  # PRIMARY is not the target revision
        # rollback just started: PRIMARY reports desired 0, the service still wants 2
        (svc(dep("ecs-svc/1", 1, state="IN_PROGRESS", desired=0, running=1)), 1, False),
        (svc(dep("ecs-svc/1", 1, state="IN_PROGRESS", desired=0, running=2)), 2, True),
        # desiredCount 0: nothing runs, so nothing is restored and verified (issue 11, item 1)
        (svc(dep("ecs-svc/1", 1, desired=0, running=0), desired=0), 0, False),
    ],
)
def test_restore_verified_table(service: object, healthy: int, ok: bool) -> None:
    """A restore is verified only when PRIMARY runs the target with all tasks healthy."""
    from rollout.model import Service

    assert isinstance(service, Service)
    assert restored(RestoreObservation(service, td(1), healthy)) is ok


def test_restore_is_not_verified_while_a_bad_task_still_serves() -> None:
    """Issue 11, item 6: "restored" also needs no task of the bad revision serving."""
    service = svc(
        dep("ecs-svc/1", 1, state="IN_PROGRESS"),
        dep("ecs-svc/2", 2, status="ACTIVE", state="FAILED", desired=0, running=1),
    )
    assert not restored(RestoreObservation(service, td(1), 2, others_serving=1))
    assert restored(RestoreObservation(service, td(1), 2, others_serving=0))
    assert "1 task(s) of another revision still serving" in restore_waiting_on(
        RestoreObservation(service, td(1), 2, others_serving=1)
    )


def test_ecs_unable_to_place_tasks_fails_at_once_naming_the_configuration() -> None:
    """ECS's "unable to stop or start tasks" event: a definitive failure with its own reason."""
    obs = replace(
        BASE,
        placement_blocked="(service voj-api) was unable to stop or start tasks during a "
        "deployment because of the service deployment configuration. Update the "
        "minimumHealthyPercent or maximumPercent value and try again.",
    )
    got = judge(obs, POLICY)
    assert isinstance(got, Failed)
    assert got.definitive
    assert "minimumHealthyPercent 100 %" in got.reason


@pytest.mark.parametrize(
    ("obs", "needle"),
    [
        (replace(BASE, at=700.0), "0 of 2 new tasks healthy (0 running, 0 pending)"),
        (
            replace(BASE, at=1000.0, service=RUNNING_BOTH, new_tasks_healthy=2, healthy_at=650.0),
            "2 old task(s) still running or pending",
        ),
    ],
)
def test_timeout_says_what_it_was_waiting_on(obs: Observation, needle: str) -> None:
    got = judge(obs, POLICY)
    assert isinstance(got, TimedOut)
    assert needle in got.waiting_on


ALARM_REASON = "ECS deployment alarm(s) in ALARM state: voj-prod-elb-5xx."
ROLLBACK_TO_1 = "ECS deployment circuit breaker: rolling back to deploymentId ecs-svc/1."


def rolled_back(ours_reason: str | None) -> object:
    """ECS put ecs-svc/1 back (PRIMARY, rolling back); ours FAILED with ``ours_reason``."""
    return svc(
        dep("ecs-svc/1", 1, state="IN_PROGRESS", created=0, reason=ROLLBACK_TO_1),
        dep(OURS, 2, status="ACTIVE", state="FAILED", running=0, created=100, reason=ours_reason),
    )


def sd_alarms(status: str, *names: str, reason: str | None = None) -> ServiceDeploymentInfo:
    return ServiceDeploymentInfo(
        arn="arn:sd/1",
        status=status,
        rollback_reason=ROLLBACK_TO_1,
        status_reason=reason,
        alarm_status="TRIGGERED" if names else "MONITORING",
        alarms_triggered=names,
    )


BREAKER_SD = ServiceDeploymentInfo(
    arn="arn:sd/1",
    status="ROLLBACK_IN_PROGRESS",
    rollback_reason=ROLLBACK_TO_1,
    circuit_breaker_status="TRIGGERED",
)


@pytest.mark.parametrize(
    ("obs", "says", "never"),
    [
        # PRIMARY is an older deployment again: the cause is in our failed deployment
        (
            replace(BASE, service=rolled_back(ALARM_REASON)),
            ["alarm", ALARM_REASON, "rolling back to ecs-svc/1"],
            "circuit breaker failed",
        ),
        (
            replace(
                BASE,
                service=rolled_back(None),
                service_deployment=sd_alarms("ROLLBACK_IN_PROGRESS", "voj-prod-elb-5xx"),
            ),
            ["deployment alarm(s) voj-prod-elb-5xx", "rolling back to ecs-svc/1"],
            "circuit breaker",
        ),
        (
            replace(
                BASE,
                service=rolled_back(ALARM_REASON),
                service_deployment=sd_alarms("ROLLBACK_IN_PROGRESS", "a-5xx", "b-latency"),
            ),
            ["deployment alarm(s) a-5xx, b-latency"],
            "circuit breaker failed",
        ),
        (
            replace(
                BASE, service=rolled_back("ECS deployment circuit breaker: tasks failed to start.")
            ),
            ["ECS's circuit breaker failed the deployment", "rolling back to ecs-svc/1"],
            "alarm",
        ),
        (
            replace(BASE, service=rolled_back(None), service_deployment=BREAKER_SD),
            ["ECS's circuit breaker failed the deployment"],
            "alarm",
        ),
        # nothing says why: do not claim the breaker
        (
            replace(BASE, service=rolled_back(None)),
            ["ECS failed the deployment", "rolling back to ecs-svc/1"],
            "circuit breaker failed",
        ),
        # ours still PRIMARY, the service-deployments API says ECS is rolling back
        (
            replace(
                BASE,
                service_deployment=sd_alarms("ROLLBACK_REQUESTED", "voj-prod-target-5xx"),
            ),
            ["ROLLBACK_REQUESTED", "deployment alarm(s) voj-prod-target-5xx"],
            "circuit breaker failed",
        ),
        (
            replace(BASE, service_deployment=replace(BREAKER_SD, status="ROLLBACK_REQUESTED")),
            ["ROLLBACK_REQUESTED", "circuit breaker"],
            "alarm",
        ),
        # ours FAILED and PRIMARY (no rollback): the alarm names are added
        (
            replace(
                BASE,
                service=svc(
                    dep(OURS, 2, state="FAILED", running=2, created=100, reason=ALARM_REASON)
                ),
                service_deployment=sd_alarms("STOP_REQUESTED", "voj-prod-elb-5xx"),
            ),
            ["FAILED", ALARM_REASON],
            "circuit breaker",
        ),
    ],
)
def test_an_ecs_rollback_names_what_ecs_said_failed_it(
    obs: Observation, says: list[str], never: str
) -> None:
    """When ECS fails or rolls back our deployment, the verdict names the deployment alarm(s)
    ECS reported (triggeredAlarmNames, or its rolloutStateReason) and says "circuit breaker"
    only when the breaker did it."""
    got = judge(obs, POLICY)
    assert isinstance(got, Failed), got
    for text in says:
        assert text in got.reason, got.reason
    assert never not in got.reason, got.reason


ROLLBACK_TO = "ECS deployment circuit breaker: rolling back to deploymentId ecs-svc/1."


@pytest.mark.parametrize(
    ("sd", "says", "never"),
    [
        # the stack's alarm failed a canary: ECS's rollback text on the deployment it went back
        # to reads "circuit breaker" whatever failed ours (ecs-behaviour.md §1.3): not evidence
        (
            ServiceDeploymentInfo(
                arn="arn:sd/2",
                status="ROLLBACK_SUCCESSFUL",
                rollback_reason=ROLLBACK_TO,
                circuit_breaker_status="MONITORING",
                alarm_status="TRIGGERED",
                alarms_triggered=("voj-prod-target-5xx",),
            ),
            "deployment alarm(s) voj-prod-target-5xx in ALARM",
            "circuit breaker",
        ),
        (
            ServiceDeploymentInfo(
                arn="arn:sd/2",
                status="ROLLBACK_IN_PROGRESS",
                rollback_reason=ROLLBACK_TO,
                circuit_breaker_status="TRIGGERED",
                alarm_status="MONITORING",
            ),
            "ECS's circuit breaker failed the deployment",
            "alarm",
        ),
        # nobody of ECS's own: someone stopped it; ECS's words are quoted
        (
            ServiceDeploymentInfo(
                arn="arn:sd/2", status="STOPPED", status_reason="stopped by a user"
            ),
            "ECS rolled the deployment back: stopped by a user",
            "breaker",
        ),
        (
            ServiceDeploymentInfo(arn="arn:sd/2", status="ROLLBACK_SUCCESSFUL"),
            "ECS rolled the deployment back (ROLLBACK_SUCCESSFUL)",
            "breaker",
        ),
    ],
)
def test_shift_rolled_back_reason_names_what_failed_it(
    sd: ServiceDeploymentInfo, says: str, never: str
) -> None:
    reason = shift_rolled_back_reason(sd)
    assert says in reason
    assert never not in reason
