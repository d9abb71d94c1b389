"""The verdict from one observation of our deployment: continue, succeeded, failed, superseded
or timed out. Pure: the engine gathers an :class:`Observation` each poll and acts on the answer.

Order of judgement:
1. PRIMARY is not ours: if ECS's breaker rolled our deployment back (ours FAILED, or an OLDER
   deployment is PRIMARY again), we FAILED (ECS is already restoring); if a NEWER deployment is
   PRIMARY, we were SUPERSEDED and must never roll back over it.
2. Ours is FAILED (breaker), or the service-deployments API shows a breaker-started rollback:
   FAILED.
3. Stopped tasks of ours (see :mod:`rollout.decisions.failures`): FAILED on a deterministic
   reason at once, or on K consecutive failures with none healthy.
4. Smoke probe FAILED, or a bake alarm in ALARM: FAILED. A smoke probe ERROR is not a failure.
5. New tasks healthy, old tasks drained, smoke passed (or errored, or not configured) and bake
   over: SUCCEEDED.
6. A phase past its own timeout ("new tasks healthy", "old tasks drained", or the whole deploy):
   TIMED_OUT (ECS keeps going; no rollback).
7. Otherwise continue.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from rollout.decisions.failures import DEFAULT_K, FailureSignal, assess_failures
from rollout.model import Service, ServiceDeploymentInfo, Task

SmokeState = Literal["not-configured", "pending", "pass", "fail", "error"]
PHASE_HEALTHY = "new tasks healthy"
PHASE_DRAINED = "old tasks drained"
PHASE_DEPLOY = "deploy"

BREAKER_ROLLBACK_STATES = frozenset(
    {"ROLLBACK_REQUESTED", "ROLLBACK_IN_PROGRESS", "ROLLBACK_SUCCESSFUL", "ROLLBACK_FAILED"}
)


@dataclass(frozen=True)
class Timeouts:
    deploy: float = 1800.0
    healthy: float = 900.0
    drain: float = 900.0


@dataclass(frozen=True)
class Policy:
    consecutive_failures: int = DEFAULT_K
    grace_period: float = 0.0  # the service's healthCheckGracePeriodSeconds
    timeouts: Timeouts = field(default_factory=Timeouts)


@dataclass(frozen=True)
class Observation:
    at: float
    service: Service
    deployment_id: str  # ours
    started_at: float  # when UpdateService returned
    deployment_created_at: float | None = None  # our deployment's createdAt (ECS's clock)
    new_tasks_healthy: int = 0  # our RUNNING tasks that pass every health check now
    stopped: Sequence[Task] = ()  # every stopped task of our deployment seen so far
    failing: Sequence[FailureSignal] = ()  # our RUNNING tasks failing a health check now
    last_healthy_at: float | None = None  # last poll that saw one of our tasks healthy
    healthy_at: float | None = None  # when "new tasks healthy" was first reached
    service_deployment: ServiceDeploymentInfo | None = None  # ours, where the API exists
    smoke: SmokeState = "not-configured"
    smoke_detail: str | None = None
    bake_remaining: float = 0.0
    alarms_firing: Sequence[str] = ()


@dataclass(frozen=True)
class Continue:
    new_healthy: bool
    drained: bool


@dataclass(frozen=True)
class Succeeded:
    pass


@dataclass(frozen=True)
class Failed:
    reason: str
    definitive: bool  # True: one deterministic signal; False: accumulated (K, breaker, smoke...)
    ecs_rolling_back: bool = False  # ECS's breaker already started the rollback
    signal: FailureSignal | None = None


@dataclass(frozen=True)
class SupersededBy:
    deployment_id: str
    task_definition: str


@dataclass(frozen=True)
class TimedOut:
    phase: str


Decision = Continue | Succeeded | Failed | SupersededBy | TimedOut


def new_tasks_healthy(obs: Observation) -> bool:
    ours = obs.service.deployment(obs.deployment_id)
    if ours is None:
        return False
    if ours.desired == 0:
        return ours.rollout_state == "COMPLETED"
    return ours.running >= ours.desired and obs.new_tasks_healthy >= ours.desired


def old_tasks_drained(obs: Observation) -> bool:
    ours = obs.service.deployment(obs.deployment_id)
    if ours is None:
        return False
    others = [d for d in obs.service.deployments if d.id != obs.deployment_id]
    return ours.rollout_state == "COMPLETED" or all(
        d.running == 0 and d.pending == 0 for d in others
    )


def judge(obs: Observation, policy: Policy) -> Decision:
    """The decision for one observation (see the module docstring for the order)."""
    service = obs.service
    ours = service.deployment(obs.deployment_id)
    primary = service.primary
    if primary is None or primary.id != obs.deployment_id:
        # ECS's breaker rolls back by making an OLDER deployment PRIMARY again (same id, reason
        # "rolling back"); anything created at or after ours is someone else's deployment.
        ours_created = (
            ours.created_at if ours is not None else (obs.deployment_created_at or obs.started_at)
        )
        if (
            primary is not None
            and primary.created_at >= ours_created
            and "rolling back" not in (primary.rollout_state_reason or "")
        ):
            return SupersededBy(primary.id, primary.task_definition)
        # ECS says why in our deployment's reason: the breaker, or a deployment alarm (§2.2)
        why = ours.rollout_state_reason if ours is not None else None
        alarm = ours is not None and ours.rollout_state == "FAILED" and "alarm" in (why or "")
        return Failed(
            (
                f"ECS failed the deployment ({why}) and is rolling back"
                if alarm and why
                else "ECS's circuit breaker failed the deployment and is rolling back"
            )
            + (f" to {primary.id}" if primary else ""),
            definitive=False,
            ecs_rolling_back=primary is not None,
        )
    assert ours is not None
    if ours.rollout_state == "FAILED":
        return Failed(
            f"ECS marked the deployment FAILED: {ours.rollout_state_reason or 'no reason given'}",
            definitive=False,
        )
    sd = obs.service_deployment
    if sd is not None and sd.status in BREAKER_ROLLBACK_STATES:
        return Failed(
            f"ECS started a rollback ({sd.status}): {sd.rollback_reason or sd.status_reason}",
            definitive=False,
            ecs_rolling_back=True,
        )
    healthy_now = obs.new_tasks_healthy > 0
    failures = assess_failures(
        obs.stopped,
        k=policy.consecutive_failures,
        any_healthy_now=healthy_now,
        last_healthy_at=obs.last_healthy_at,
        grace_period=policy.grace_period,
        failing=obs.failing,
    )
    if failures.failed is not None:
        return Failed(
            failures.reason or failures.failed.reason,
            definitive=failures.failed.definitive,
            signal=failures.failed,
        )
    if obs.smoke == "fail":
        return Failed(f"smoke probe failed: {obs.smoke_detail or 'bad response'}", definitive=True)
    if obs.alarms_firing:
        return Failed(
            f"alarm in ALARM during bake: {', '.join(obs.alarms_firing)}", definitive=True
        )
    healthy = new_tasks_healthy(obs)
    drained = healthy and old_tasks_drained(obs)
    smoke_done = obs.smoke in ("not-configured", "pass", "error")
    if healthy and drained and smoke_done and obs.bake_remaining <= 0:
        return Succeeded()
    t = policy.timeouts
    if obs.at - obs.started_at >= t.deploy:
        return TimedOut(PHASE_DEPLOY)
    if obs.healthy_at is None and not healthy and obs.at - obs.started_at >= t.healthy:
        return TimedOut(PHASE_HEALTHY)
    if obs.healthy_at is not None and not drained and obs.at - obs.healthy_at >= t.drain:
        return TimedOut(PHASE_DRAINED)
    return Continue(new_healthy=healthy, drained=drained)


@dataclass(frozen=True)
class RestoreObservation:
    service: Service
    target: str  # task-definition ARN we restore to
    healthy_on_target: int  # RUNNING tasks on the target revision passing health checks


def restored(obs: RestoreObservation) -> bool:
    """Verified restore: PRIMARY runs the target revision with all its desired tasks RUNNING and
    healthy (the bad deployment's leftovers may still be draining)."""
    primary = obs.service.primary
    if primary is None or primary.task_definition != obs.target:
        return False
    # right after a rollback starts, PRIMARY may briefly report desiredCount 0: use the service's
    need = max(primary.desired, obs.service.desired)
    return primary.running >= need and obs.healthy_on_target >= need
