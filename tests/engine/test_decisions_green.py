"""Is green failing while it takes traffic (rollout.decisions.green): tables."""

from __future__ import annotations

import pytest

from rollout.decisions.green import green_target_failure, green_task_failure
from rollout.model import Container, TargetHealth, Task

ARN = "arn:aws:ecs:ap-northeast-2:123456789012:task/voj-prod"


def stopped(
    n: int,
    *,
    code: str | None = "EssentialContainerExited",
    reason: str = "Essential container in task exited",
    exit_code: int | None = 1,
    at: float = 100.0,
    started: float = 10.0,
) -> Task:
    return Task(
        arn=f"{ARN}/t{n}",
        task_definition="td:3",
        last_status="STOPPED",
        desired_status="STOPPED",
        stop_code=code,
        stopped_reason=reason,
        started_at=started,
        stopping_at=at,
        stopped_at=at + 30,
        containers=(Container("api", "STOPPED", exit_code=exit_code),),
    )


CRASH = stopped(1)
OOM = stopped(2, reason="OutOfMemoryError: Container killed due to memory usage", exit_code=137)
ELB = stopped(
    3,
    code="ServiceSchedulerInitiated",
    reason="Task failed ELB health checks in (target-group arn:...:targetgroup/voj-green/1)",
    exit_code=None,
)
SCALED = stopped(
    4,
    code="ServiceSchedulerInitiated",
    reason="Scaling activity initiated by (deployment ecs-svc/123)",
    exit_code=0,
)
USER = stopped(5, code="UserInitiated", reason="Task stopped by user", exit_code=None)
PULL = stopped(
    6,
    code="TaskFailedToStart",
    reason="CannotPullContainerError: pull image manifest has been retried 5 time(s)",
    exit_code=None,
)


@pytest.mark.parametrize(
    ("tasks", "stage", "task", "words"),
    [
        # while green takes traffic, any failure stop fails at once, whichever stage
        ([CRASH], "BAKE_TIME", "t1", ["bake time", "essential-container-exited", "exit code 1"]),
        ([CRASH], "TEST_TRAFFIC_SHIFT", "t1", ["test traffic shift", "exit code 1"]),
        ([CRASH], "POST_TEST_TRAFFIC_SHIFT", "t1", ["post test traffic shift"]),
        ([CRASH], "PRODUCTION_TRAFFIC_SHIFT", "t1", ["production traffic shift"]),
        ([CRASH], "POST_PRODUCTION_TRAFFIC_SHIFT", "t1", ["post production"]),
        ([ELB], "BAKE_TIME", "t3", ["elb-health-check", "stop code ServiceSchedulerInitiated"]),
        ([OOM], "PRODUCTION_TRAFFIC_SHIFT", "t2", ["OutOfMemoryError", "exit code 137"]),
        # stops ECS or a user asked for are not failures
        ([SCALED], "BAKE_TIME", None, []),
        ([USER], "BAKE_TIME", None, []),
        ([SCALED, CRASH], "BAKE_TIME", "t1", ["t1"]),
        # before any traffic, only the stops that fail a rolling deploy at once
        ([CRASH], "SCALE_UP", None, []),
        ([CRASH], None, None, []),
        ([PULL], "SCALE_UP", "t6", ["before green took traffic", "image-pull"]),
        ([], "BAKE_TIME", None, []),
    ],
)
def test_green_task_failure(
    tasks: list[Task], stage: str | None, task: str | None, words: list[str]
) -> None:
    failure = green_task_failure(tasks, stage=stage)
    if task is None:
        assert failure is None
        return
    assert failure is not None
    assert failure.task == f"{ARN}/{task}"
    assert f"green task {task} stopped during" in failure.reason
    for word in words:
        assert word in failure.reason


def test_the_oldest_stop_is_named() -> None:
    late, early = stopped(1, at=200.0), stopped(2, at=150.0)
    failure = green_task_failure([late, early], stage="BAKE_TIME")
    assert failure is not None
    assert failure.task == f"{ARN}/t2"


def test_health_check_stops_inside_the_grace_period_are_not_failures() -> None:
    """The rolling rule's grace period holds here too (classify_stop is reused)."""
    early = stopped(3, code=None, reason=ELB.stopped_reason or "", at=20.0, started=10.0)
    assert green_task_failure([early], stage="BAKE_TIME", grace_period=60.0) is None
    assert green_task_failure([early], stage="BAKE_TIME", grace_period=0.0) is not None


def t(ip: str, state: str, reason: str | None = None) -> TargetHealth:
    return TargetHealth(target_id=ip, port=8000, state=state, reason=reason)


OURS = {"10.0.1.5", "10.0.1.6"}


@pytest.mark.parametrize(
    ("targets", "stage", "ours", "fails", "words"),
    [
        ([t("10.0.1.5", "healthy"), t("10.0.1.6", "healthy")], "BAKE_TIME", OURS, False, ""),
        # one of ours unhealthy or draining: at the first poll
        (
            [t("10.0.1.5", "healthy"), t("10.0.1.6", "unhealthy", "Target.Timeout")],
            "BAKE_TIME",
            OURS,
            True,
            "green target 10.0.1.6 is unhealthy during bake time",
        ),
        (
            [
                t("10.0.1.5", "healthy"),
                t("10.0.1.6", "draining", "Target.DeregistrationInProgress"),
            ],
            "PRODUCTION_TRAFFIC_SHIFT",
            OURS,
            True,
            "Target.DeregistrationInProgress",
        ),
        # initial registration is no failure
        ([t("10.0.1.5", "healthy"), t("10.0.1.6", "initial")], "BAKE_TIME", OURS, False, ""),
        ([t("10.0.1.5", "initial")], "BAKE_TIME", OURS, False, ""),
        # not serving production: not judged here
        ([t("10.0.1.6", "unhealthy")], "TEST_TRAFFIC_SHIFT", OURS, False, ""),
        ([t("10.0.1.6", "unhealthy")], "SCALE_UP", OURS, False, ""),
        ([t("10.0.1.6", "unhealthy")], None, OURS, False, ""),
        # a previous release's target still draining from the group is not ours
        ([t("10.0.1.5", "healthy"), t("10.0.9.9", "draining")], "BAKE_TIME", OURS, False, ""),
        # nothing that can serve
        ([], "BAKE_TIME", OURS, True, "no registered target"),
        ([t("10.0.9.9", "unused")], "BAKE_TIME", OURS, True, "unused"),
        # no address of ours known: the whole group is judged
        ([t("10.0.9.9", "draining")], "BAKE_TIME", None, True, "10.0.9.9 is draining"),
    ],
)
def test_green_target_failure(
    targets: list[TargetHealth], stage: str | None, ours: set[str] | None, fails: bool, words: str
) -> None:
    failure = green_target_failure(targets, stage=stage, ours=ours)
    assert (failure is not None) == fails
    if failure is not None:
        assert words in failure.reason
        assert "serving production" in failure.reason
