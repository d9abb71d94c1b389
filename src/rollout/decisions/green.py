"""Is green failing while it takes traffic? Pure, table-tested.

During a native traffic-shifting deployment (blue-green, canary, linear) blue keeps running until
the bake is over, so a rollback is a traffic switch: the sooner it is decided, the fewer users
reach a broken green. Waiting for the analysis window (60 s), or for ``consecutive_failures``
polls, only lets green serve errors longer. So, per poll:

- :func:`green_task_failure`: a task of our deployment that stopped is classified by the rolling
  path's own rule, :func:`rollout.decisions.failures.classify_stop` (essential container exited,
  failed ELB / container health checks, image pull, ...; stops ECS asked for, such as scaling
  or ``UserInitiated``, are not failures). While green takes traffic (test or production:
  :data:`TRAFFIC_STAGES`) any such stop fails the deployment at the first poll that sees it: the
  task was serving, blue is there to take over, and waiting cannot make green whole again.
  Before that (scale-up), only the stops that fail a rolling deploy at once do
  (``definitive``: image pull, resource initialisation, failed to start); ECS replaces the
  others and its circuit breaker counts them.
- :func:`green_target_failure`: while green has production traffic (:data:`SERVING_STAGES`), a
  target of ours ``unhealthy`` or ``draining`` fails it at the first poll (the ALB sends it no
  more requests, or sends every request to unhealthy targets when none is healthy: 502/503 for
  users), as does a green target group with no target that can serve. ``initial`` is not a
  failure (a target registering), and targets that are not our tasks' (a previous release's,
  still draining from the group) are not judged.

The verdict names the task or target, why (stop code, reason, exit code; target state and
reason) and the stage (ECS's lifecycle stage, :func:`rollout.decisions.progressive.stage_label`).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass

from rollout.decisions.failures import FailureSignal, classify_stop
from rollout.decisions.progressive import SERVING_STAGES, stage_label
from rollout.model import TargetHealth, Task

#: Stages in which green takes test traffic (before production).
TEST_STAGES = frozenset({"TEST_TRAFFIC_SHIFT", "POST_TEST_TRAFFIC_SHIFT"})
#: Stages in which green takes traffic of any kind: a stopped green task fails the deployment.
TRAFFIC_STAGES = TEST_STAGES | SERVING_STAGES
#: Target states that take no more requests, or fail them, once a target served.
BAD_TARGET_STATES = frozenset({"unhealthy", "draining"})
#: States of a target that is serving or about to (registering).
LIVE_TARGET_STATES = frozenset({"healthy", "initial"})


@dataclass(frozen=True)
class GreenFailure:
    """Why green fails now. ``task``: the task ARN (or target id) it is about."""

    reason: str
    task: str | None
    signal: FailureSignal | None = None


def _why(task: Task, signal: FailureSignal) -> str:
    parts = [f"{signal.kind}: {signal.reason}"]
    if task.stop_code and task.stop_code not in signal.reason:
        parts.append(f"stop code {task.stop_code}")
    return "; ".join(parts)


def green_task_failure(
    stopped: Sequence[Task], *, stage: str | None, grace_period: float = 0.0
) -> GreenFailure | None:
    """The first of ``stopped`` (our deployment's tasks, newly seen stopped this poll, oldest
    first) that fails the deployment in ``stage``; None when none does."""
    traffic = stage in TRAFFIC_STAGES
    for task in sorted(stopped, key=lambda t: (t.stopped_at or t.stopping_at or 0.0, t.arn)):
        signal = classify_stop(task, grace_period=grace_period)
        if signal is None or not (traffic or signal.definitive):
            continue
        where = "while green took traffic" if traffic else "before green took traffic"
        return GreenFailure(
            f"green task {task.id} stopped during {stage_label(stage)} ({where}): "
            f"{_why(task, signal)}",
            task.arn,
            signal,
        )
    return None


def green_target_failure(
    targets: Sequence[TargetHealth],
    *,
    stage: str | None,
    ours: Collection[str] | None = None,
) -> GreenFailure | None:
    """Judge the green target group's health while green serves production (``stage`` in
    :data:`SERVING_STAGES`; None otherwise). ``ours``: the target ids (IPs) of our
    deployment's tasks, running or stopped; None (or no target matching them) judges every
    target."""
    if stage not in SERVING_STAGES:
        return None
    judged = [t for t in targets if ours is None or t.target_id in ours]
    if not judged:
        judged = list(targets)  # none matched our tasks' addresses: judge the group as a whole
    for t in judged:
        if t.state in BAD_TARGET_STATES:
            why = ", ".join(p for p in (t.reason, t.description) if p)
            return GreenFailure(
                f"green target {t.target_id} is {t.state} during {stage_label(stage)} while "
                f"serving production" + (f" ({why})" if why else ""),
                t.target_id,
            )
    if not any(t.state in LIVE_TARGET_STATES for t in judged):
        states = ", ".join(sorted({t.state for t in judged})) or "no registered target"
        return GreenFailure(
            f"green target group has no target that can serve during {stage_label(stage)} "
            f"while serving production ({states})",
            None,
        )
    return None
