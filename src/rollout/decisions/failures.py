"""Which stopped tasks of our deployment are failures, and when they fail the deploy.

Detection rules (faster than ECS's circuit breaker, without false alarms):

- Deterministic stop reasons fail the deploy at their FIRST occurrence: an image pull failure
  (``CannotPullContainerError``), ``ResourceInitializationError`` (secrets, registry auth, ENI)
  and ``stopCode=TaskFailedToStart``. Retrying them cannot help.
- Essential-container exits and failed ELB or container health checks fail the deploy after
  K consecutive failed new tasks while none of our new tasks is healthy (default K = 2). A
  healthy task resets the count (like the breaker's ``resetOnHealthyTask``).
- A task counts as a failed health check as soon as the load balancer reports its target
  ``unhealthy`` (or its container health is UNHEALTHY) past the grace period: that is the
  failed check itself; ECS stopping the task follows from it, one task at a time.
- A task failing health checks while still inside the service's
  ``healthCheckGracePeriodSeconds`` is never counted.
- Tasks stopped by scaling/deployments (``Scaling activity initiated by``) or by a user
  (``UserInitiated``) are not failures.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from rollout.model import Task

DEFAULT_K = 2


class FailureKind(StrEnum):
    IMAGE_PULL = "image-pull"
    RESOURCE_INIT = "resource-initialization"
    FAILED_TO_START = "failed-to-start"
    ESSENTIAL_EXIT = "essential-container-exited"
    ELB_HEALTH = "elb-health-check"
    CONTAINER_HEALTH = "container-health-check"


DETERMINISTIC = frozenset(
    {FailureKind.IMAGE_PULL, FailureKind.RESOURCE_INIT, FailureKind.FAILED_TO_START}
)
HEALTH = frozenset({FailureKind.ELB_HEALTH, FailureKind.CONTAINER_HEALTH})


@dataclass(frozen=True)
class FailureSignal:
    task_arn: str
    kind: FailureKind
    reason: str
    at: float
    definitive: bool  # this signal alone fails the deploy

    @property
    def task_id(self) -> str:
        return self.task_arn.rsplit("/", 1)[-1]


@dataclass(frozen=True)
class FailureAssessment:
    signals: tuple[FailureSignal, ...]  # every counted or deterministic failure, oldest first
    consecutive: int  # counted failures since the last time one of our tasks was healthy
    failed: FailureSignal | None  # the signal that fails the deploy, if any
    reason: str | None


def _reasons(task: Task) -> str:
    parts = [task.stopped_reason or ""] + [c.reason or "" for c in task.containers]
    return " | ".join(p for p in parts if p)


def classify_stop(task: Task, *, grace_period: float = 0.0) -> FailureSignal | None:
    """The failure a stopped task represents, or None when its stop is not a failure."""
    text = _reasons(task)
    at = task.stopped_at or task.stopping_at or task.created_at or 0.0
    kind: FailureKind | None = None
    if "CannotPullContainerError" in text or "CannotPullImage" in text:
        kind = FailureKind.IMAGE_PULL
    elif "ResourceInitializationError" in text:
        kind = FailureKind.RESOURCE_INIT
    elif task.stop_code == "TaskFailedToStart":
        kind = FailureKind.FAILED_TO_START
    elif "failed ELB health checks" in text:
        kind = FailureKind.ELB_HEALTH
    elif "failed container health checks" in text:
        kind = FailureKind.CONTAINER_HEALTH
    elif (
        task.stop_code == "EssentialContainerExited" or "Essential container in task exited" in text
    ):
        kind = FailureKind.ESSENTIAL_EXIT
    if kind is None:
        return None
    if kind in HEALTH and within_grace(task, grace_period):
        return None
    exit_codes = [c.exit_code for c in task.containers if c.exit_code not in (None, 0)]
    reason = text or (task.stop_code or "stopped")
    if kind is FailureKind.ESSENTIAL_EXIT and exit_codes and "exit code" not in reason:
        reason = f"{reason} (exit code {exit_codes[0]})"
    return FailureSignal(
        task_arn=task.arn, kind=kind, reason=reason, at=at, definitive=kind in DETERMINISTIC
    )


def _first(*values: float | None) -> float | None:
    return next((v for v in values if v is not None), None)


def within_grace(task: Task, grace_period: float, now: float | None = None) -> bool:
    """True while ``task`` is (or was, when it stopped) inside the health-check grace period."""
    if grace_period <= 0:
        return False
    started = _first(task.started_at, task.created_at)
    if started is None:
        return True
    end = _first(task.stopped_at, task.stopping_at, now)
    if end is None:
        return True
    return end - started < grace_period


def failing_check(
    task: Task, why: str, *, kind: FailureKind, now: float, grace_period: float = 0.0
) -> FailureSignal | None:
    """A RUNNING task of ours failing a health check at ``now`` (None inside the grace period)."""
    if within_grace(task, grace_period, now):
        return None
    return FailureSignal(task_arn=task.arn, kind=kind, reason=why, at=now, definitive=False)


def assess_failures(
    stopped: Sequence[Task],
    *,
    k: int = DEFAULT_K,
    any_healthy_now: bool,
    last_healthy_at: float | None,
    grace_period: float = 0.0,
    failing: Sequence[FailureSignal] = (),
) -> FailureAssessment:
    """Count failures among our deployment's stopped tasks (and the running ones ``failing``
    a health check now) and decide whether they fail it."""
    from_stops = [
        s for t in stopped if (s := classify_stop(t, grace_period=grace_period)) is not None
    ]
    seen = {s.task_arn for s in from_stops}
    signals = sorted(
        [*from_stops, *(f for f in failing if f.task_arn not in seen)],
        key=lambda s: (s.at, s.task_arn),
    )
    deterministic = next((s for s in signals if s.definitive), None)
    counted = [
        s
        for s in signals
        if not s.definitive and (last_healthy_at is None or s.at > last_healthy_at)
    ]
    if deterministic is not None:
        return FailureAssessment(
            tuple(signals),
            len(counted),
            deterministic,
            f"{deterministic.kind}: {deterministic.reason} (task {deterministic.task_id})",
        )
    if not any_healthy_now and len(counted) >= max(1, k):
        last = counted[-1]
        return FailureAssessment(
            tuple(signals),
            len(counted),
            last,
            f"{len(counted)} consecutive new tasks failed with none healthy; last: "
            f"{last.kind}: {last.reason} (task {last.task_id})",
        )
    return FailureAssessment(tuple(signals), len(counted), None, None)
