"""Decision tables: stop-reason classification, K-failure counting and the grace period."""

from __future__ import annotations

import pytest

from rollout.decisions.failures import (
    FailureKind,
    assess_failures,
    classify_stop,
    failing_check,
    within_grace,
)
from rollout.model import Task

from .builders import stopped

PULL = "CannotPullContainerError: pull image manifest has been retried 5 time(s): not found"
SECRETS = (
    "ResourceInitializationError: unable to pull secrets or registry auth: invalid ssm "
    "parameters: /voj/prod/missing"
)
ELB = "Task failed ELB health checks in (target-group arn:aws:elasticloadbalancing:tg/voj/1)"


@pytest.mark.parametrize(
    ("task", "kind"),
    [
        (stopped(1, at=10, reason=PULL, code="TaskFailedToStart"), FailureKind.IMAGE_PULL),
        (stopped(1, at=10, reason=SECRETS, code="TaskFailedToStart"), FailureKind.RESOURCE_INIT),
        (
            stopped(1, at=10, reason="Task failed to start", code="TaskFailedToStart"),
            FailureKind.FAILED_TO_START,
        ),
        # the pull error may sit only on the container's reason
        (stopped(1, at=10, reason="x", code=None, container_reason=PULL), FailureKind.IMAGE_PULL),
        (stopped(1, at=10), FailureKind.ESSENTIAL_EXIT),
        (
            stopped(1, at=100, reason=ELB, code="ServiceSchedulerInitiated", started=10),
            FailureKind.ELB_HEALTH,
        ),
        (
            stopped(
                1,
                at=100,
                reason="Task failed container health checks",
                code="ServiceSchedulerInitiated",
                started=10,
            ),
            FailureKind.CONTAINER_HEALTH,
        ),
        (
            stopped(
                1,
                at=10,
                reason="Scaling activity initiated by (deployment ecs-svc/1)",
                code="ServiceSchedulerInitiated",
            ),
            None,
        ),
        (stopped(1, at=10, reason="drill", code="UserInitiated"), None),
    ],
)
def test_classify_stop_table(task: Task, kind: FailureKind | None) -> None:
    """Each stop reason maps to a failure kind, or to no failure at all."""
    signal = classify_stop(task)
    assert (signal.kind if signal else None) == kind
    if signal is not None:
        assert signal.definitive is (
            kind in {FailureKind.IMAGE_PULL, FailureKind.RESOURCE_INIT, FailureKind.FAILED_TO_START}
        )


@pytest.mark.parametrize(
    ("task", "grace", "counted"),
    [
        # health-check stop 20 s after start with a 60 s grace period: never counted
        (stopped(1, at=30, reason=ELB, code="ServiceSchedulerInitiated", started=10), 60, False),
        (stopped(1, at=80, reason=ELB, code="ServiceSchedulerInitiated", started=10), 60, True),
        (stopped(1, at=30, reason=ELB, code="ServiceSchedulerInitiated", started=10), 0, True),
        # a crash is a crash, grace period or not
        (stopped(1, at=15, started=10), 60, True),
    ],
)
def test_grace_period_table(task: Task, grace: float, counted: bool) -> None:
    """Health-check failures inside healthCheckGracePeriodSeconds are never counted as failed."""
    assert (classify_stop(task, grace_period=grace) is not None) is counted


@pytest.mark.parametrize(
    ("started", "stopped_at", "now", "grace", "inside"),
    [
        (100.0, None, 130.0, 60, True),
        (100.0, None, 170.0, 60, False),
        (None, None, 170.0, 60, True),  # not started yet
        (100.0, 120.0, 999.0, 60, True),
        (100.0, 120.0, 999.0, 0, False),
    ],
)
def test_within_grace_table(
    started: float | None, stopped_at: float | None, now: float, grace: float, inside: bool
) -> None:
    """A task is inside its grace period until grace seconds after it started."""
    task = Task(
        arn="t",
        task_definition="td",
        last_status="RUNNING",
        desired_status="RUNNING",
        started_at=started,
        stopped_at=stopped_at,
    )
    assert within_grace(task, grace, now) is inside


CRASH_A = stopped(1, at=20)
CRASH_B = stopped(2, at=60)
CRASH_C = stopped(3, at=100)
PULL_FAIL = stopped(4, at=30, reason=PULL, code="TaskFailedToStart")


@pytest.mark.parametrize(
    ("tasks", "k", "healthy_now", "last_healthy_at", "fails", "consecutive"),
    [
        ([], 2, False, None, False, 0),
        ([CRASH_A], 2, False, None, False, 1),  # flaky first task: below K
        ([CRASH_A, CRASH_B], 2, False, None, True, 2),  # K reached, none healthy
        ([CRASH_A, CRASH_B], 2, True, None, False, 2),  # one of ours is healthy now
        ([CRASH_A, CRASH_B], 2, False, 40.0, False, 1),  # a healthy task reset the count at t=40
        ([CRASH_A, CRASH_B, CRASH_C], 2, False, 40.0, True, 2),
        ([CRASH_A], 1, False, None, True, 1),
        ([CRASH_A, CRASH_B], 3, False, None, False, 2),
        ([PULL_FAIL], 2, False, None, True, 0),  # deterministic: first occurrence
        ([PULL_FAIL], 2, True, 50.0, True, 0),  # ...even with a healthy task around
    ],
)
def test_k_failure_counting_table(
    tasks: list[Task],
    k: int,
    healthy_now: bool,
    last_healthy_at: float | None,
    fails: bool,
    consecutive: int,
) -> None:
    """Deterministic stops fail at once; others after K consecutive failures with none healthy."""
    result = assess_failures(
        tasks, k=k, any_healthy_now=healthy_now, last_healthy_at=last_healthy_at
    )
    assert (result.failed is not None) is fails
    assert result.consecutive == consecutive
    if fails:
        assert result.reason


def test_essential_exit_reason_names_exit_code() -> None:
    """The failure reason for a crash names the container's exit code."""
    signal = classify_stop(stopped(1, at=5, exit_code=137))
    assert signal is not None
    assert "exit code 137" in signal.reason


def _running(n: int, started: float) -> Task:
    return Task(
        arn=f"arn:aws:ecs:ap-northeast-2:123456789012:task/voj-prod/t{n}",
        task_definition="td",
        last_status="RUNNING",
        desired_status="RUNNING",
        started_at=started,
    )


UNHEALTHY = "target 10.0.1.7:8000 unhealthy in targetgroup/voj/1: Target.ResponseCodeMismatch"


@pytest.mark.parametrize(
    ("failing_tasks", "stopped_tasks", "grace", "now", "fails", "consecutive"),
    [
        # two running tasks whose targets are unhealthy past the grace period: K reached at once
        ([_running(1, 0), _running(2, 0)], [], 30.0, 60.0, True, 2),
        # the same inside the grace period: nothing counted
        ([_running(1, 0), _running(2, 0)], [], 30.0, 20.0, False, 0),
        # one unhealthy now: below K
        ([_running(1, 0)], [], 30.0, 60.0, False, 1),
        # a task already stopped for the same failure is counted once, not twice
        (
            [_running(1, 0)],
            [stopped(1, at=55, reason=ELB, code="ServiceSchedulerInitiated", started=0)],
            30.0,
            60.0,
            False,
            1,
        ),
        # one stopped after failing its checks plus another failing now: K reached
        (
            [_running(2, 0)],
            [stopped(1, at=55, reason=ELB, code="ServiceSchedulerInitiated", started=0)],
            30.0,
            60.0,
            True,
            2,
        ),
    ],
)
def test_failing_health_checks_count_before_ecs_stops_the_task(
    failing_tasks: list[Task],
    stopped_tasks: list[Task],
    grace: float,
    now: float,
    fails: bool,
    consecutive: int,
) -> None:
    """A target the ALB reports unhealthy past the grace period is a failed task already."""
    failing = [
        s
        for t in failing_tasks
        if (
            s := failing_check(
                t, UNHEALTHY, kind=FailureKind.ELB_HEALTH, now=now, grace_period=grace
            )
        )
        is not None
    ]
    result = assess_failures(
        stopped_tasks,
        any_healthy_now=False,
        last_healthy_at=None,
        grace_period=grace,
        failing=failing,
    )
    assert (result.failed is not None) is fails
    assert result.consecutive == consecutive
