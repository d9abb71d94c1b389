"""``rollout scale``: has the service settled on the desired count? Pure.

Order of judgement:
1. The service's ``desiredCount`` is no longer what we asked for: someone else (Application
   Auto Scaling, another client) changed it: SUPERSEDED; we never fight it.
2. A definitive failure among the tasks started since the change (image pull, secrets, failed
   to start), or K consecutive failed tasks with none healthy: FAILED
   (:func:`rollout.decisions.failures.assess_failures`).
3. PRIMARY runs the desired count with nothing pending, and, behind a load balancer, that many
   of its tasks are healthy in every target group: SETTLED.
4. Past the timeout: TIMED_OUT.
5. Otherwise continue.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from rollout.decisions.failures import DEFAULT_K, assess_failures
from rollout.model import Service, Task

SettleState = Literal["continue", "settled", "failed", "superseded", "timed-out", "interrupted"]


@dataclass(frozen=True)
class SettleObservation:
    at: float
    started_at: float  # when UpdateService returned
    desired: int  # what we asked for
    service: Service
    healthy: int  # PRIMARY's RUNNING tasks passing every health check
    #: tasks of PRIMARY stopped since the change: each counts (the healthy ones from before
    #: the change do not excuse them)
    stopped: Sequence[Task] = ()


@dataclass(frozen=True)
class SettleDecision:
    state: SettleState
    reason: str


def settle(
    obs: SettleObservation,
    *,
    timeout: float,
    k: int = DEFAULT_K,
    grace_period: float = 0.0,
) -> SettleDecision:
    svc = obs.service
    if svc.desired != obs.desired:
        return SettleDecision(
            "superseded",
            f"desiredCount is now {svc.desired}, not {obs.desired}: something else scaled the "
            "service (Application Auto Scaling or another client); not fighting it",
        )
    primary = svc.primary
    running = primary.running if primary is not None else svc.running
    pending = primary.pending if primary is not None else svc.pending
    assessment = assess_failures(
        obs.stopped,
        k=k,
        any_healthy_now=obs.healthy >= max(1, obs.desired),
        last_healthy_at=None,
        grace_period=grace_period,
    )
    if assessment.reason is not None and obs.desired > running:
        return SettleDecision("failed", assessment.reason)
    need_healthy = obs.desired if svc.load_balancers else 0
    if running == obs.desired and pending == 0 and obs.healthy >= need_healthy:
        return SettleDecision(
            "settled",
            f"{running}/{obs.desired} running" + (", all healthy" if need_healthy else ""),
        )
    if obs.at - obs.started_at >= timeout:
        return SettleDecision(
            "timed-out",
            f"{running}/{obs.desired} running, {pending} pending, {obs.healthy} healthy after "
            f"{obs.at - obs.started_at:.0f}s",
        )
    return SettleDecision("continue", f"{running}/{obs.desired} running, {obs.healthy} healthy")
