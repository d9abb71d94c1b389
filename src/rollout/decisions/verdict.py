"""The verdict from one observation of our deployment: continue, succeeded, failed, superseded
or timed out. Pure: the engine gathers an :class:`Observation` each poll and acts on the answer.

Order of judgement:
1. PRIMARY is not ours: if ECS rolled our deployment back (ours FAILED, or an OLDER
   deployment is PRIMARY again), we FAILED (ECS is already restoring), naming what ECS said
   failed it: its deployment alarm(s) or its circuit breaker (:func:`ecs_failure_cause`); if a
   NEWER deployment is PRIMARY, we were SUPERSEDED and must never roll back over it.
2. Ours is FAILED (breaker or alarms), or the service-deployments API shows a rollback ECS
   started: FAILED, with the same naming.
3. ECS said it "was unable to stop or start tasks during a deployment because of the service
   deployment configuration" (minimumHealthyPercent/maximumPercent leave no room): FAILED at
   once, with that reason. The deployment cannot progress until someone changes the
   configuration; waiting for the timeout would only hide it.
   Then stopped tasks of ours (see :mod:`rollout.decisions.failures`): FAILED on a
   deterministic reason at once, or on K consecutive failures with none healthy.
4. Smoke probe FAILED, or a bake alarm in ALARM: FAILED. A smoke probe ERROR is not a failure.
5. The service's desiredCount is 0 and our deployment COMPLETED: NO_TASKS. Nothing ran, so
   nothing is healthy and nothing was verified (never SUCCEEDED, never "new tasks healthy").
6. New tasks healthy, old tasks drained, smoke passed (or errored, or not configured) and bake
   over: SUCCEEDED.
7. A phase past its own timeout ("new tasks healthy", "old tasks drained", or the whole deploy):
   TIMED_OUT (ECS keeps going; no rollback), saying what the deployment was waiting on.
8. Otherwise continue.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from rollout.decisions.failures import DEFAULT_K, FailureSignal, assess_failures
from rollout.model import Deployment, Service, ServiceDeploymentInfo, Task

SmokeState = Literal["not-configured", "pending", "pass", "fail", "error"]
PHASE_HEALTHY = "new tasks healthy"
PHASE_DRAINED = "old tasks drained"
PHASE_DEPLOY = "deploy"

#: ECS's service event when minimumHealthyPercent/maximumPercent let it neither start nor stop a
#: task ([DG:deployment-type-ecs], [DG:service-event-messages-list]; ecs-behaviour.md §1.1)
STUCK_EVENT = re.compile(
    r"unable to stop or start tasks during a deployment because of the service deployment "
    r"configuration"
)

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
    #: last poll that saw one of our tasks healthy, on ECS's clock like the failure signals
    #: times (task stop times), which it is compared with
    last_healthy_at: float | None = None
    healthy_at: float | None = None  # when "new tasks healthy" was first reached
    service_deployment: ServiceDeploymentInfo | None = None  # ours, where the API exists
    smoke: SmokeState = "not-configured"
    smoke_detail: str | None = None
    bake_remaining: float = 0.0
    alarms_firing: Sequence[str] = ()
    #: ECS's "unable to stop or start tasks ... deployment configuration" event, seen since
    #: our deployment started (its message), if any
    placement_blocked: str | None = None


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
class NoTasks:
    """The service runs no tasks (desiredCount 0): our revision is in place but never ran."""


@dataclass(frozen=True)
class SupersededBy:
    deployment_id: str
    task_definition: str


@dataclass(frozen=True)
class TimedOut:
    phase: str
    waiting_on: str = ""  # what the deployment was still waiting on (see :func:`waiting_on`)


Decision = Continue | Succeeded | Failed | SupersededBy | TimedOut | NoTasks


def new_tasks_healthy(obs: Observation) -> bool:
    """All of our deployment's desired tasks run and pass every check. Never true with no task
    desired: zero tasks prove nothing (see :func:`runs_no_tasks`)."""
    ours = obs.service.deployment(obs.deployment_id)
    if ours is None or ours.desired == 0:
        return False
    return ours.running >= ours.desired and obs.new_tasks_healthy >= ours.desired


def old_tasks_drained(obs: Observation) -> bool:
    ours = obs.service.deployment(obs.deployment_id)
    if ours is None:
        return False
    others = [d for d in obs.service.deployments if d.id != obs.deployment_id]
    return ours.rollout_state == "COMPLETED" or all(
        d.running == 0 and d.pending == 0 for d in others
    )


def runs_no_tasks(obs: Observation) -> bool:
    """The service asks for no task and ECS finished our deployment that way (desiredCount 0).

    Right after UpdateService, PRIMARY briefly reports desiredCount 0 while the service wants
    more: the service's own desiredCount decides, and ECS must have COMPLETED the deployment."""
    ours = obs.service.deployment(obs.deployment_id)
    return (
        ours is not None
        and obs.service.desired == 0
        and ours.desired == 0
        and ours.rollout_state == "COMPLETED"
    )


def judge(obs: Observation, policy: Policy) -> Decision:
    """The decision for one observation (see the module docstring for the order)."""
    service = obs.service
    ours = service.deployment(obs.deployment_id)
    primary = service.primary
    if primary is None or primary.id != obs.deployment_id:
        # ECS's breaker rolls back by making an OLDER deployment PRIMARY again (same id, reason
        # "rolling back"); anything created at or after ours is someone else's deployment.
        # both ECS timestamps (never the local started_at: the clocks may disagree by minutes);
        # not knowing when ours was created, a PRIMARY not rolling back counts as someone else's
        ours_created = ours.created_at if ours is not None else obs.deployment_created_at
        if (
            primary is not None
            and (ours_created is None or primary.created_at >= ours_created)
            and "rolling back" not in (primary.rollout_state_reason or "")
        ):
            return SupersededBy(primary.id, primary.task_definition)
        return Failed(
            rolled_back_reason(ours, obs.service_deployment, primary.id if primary else None),
            definitive=False,
            ecs_rolling_back=primary is not None,
        )
    assert ours is not None
    sd = obs.service_deployment
    if ours.rollout_state == "FAILED":
        alarms = _alarm_names(sd)
        return Failed(
            f"ECS marked the deployment FAILED: {ours.rollout_state_reason or 'no reason given'}"
            + (f" (deployment alarm(s) {alarms} in ALARM)" if alarms else ""),
            definitive=False,
        )
    if sd is not None and sd.status in BREAKER_ROLLBACK_STATES:
        cause = ecs_failure_cause(ours, sd)
        return Failed(
            f"ECS started a rollback ({sd.status})"
            + (f" on {cause}" if cause else "")
            + f": {sd.rollback_reason or sd.status_reason}",
            definitive=False,
            ecs_rolling_back=True,
        )
    if obs.placement_blocked is not None and ours.rollout_state == "IN_PROGRESS":
        return Failed(blocked_reason(obs.service), definitive=True)
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
    if runs_no_tasks(obs):
        return NoTasks()
    healthy = new_tasks_healthy(obs)
    drained = healthy and old_tasks_drained(obs)
    smoke_done = obs.smoke in ("not-configured", "pass", "error")
    if healthy and drained and smoke_done and obs.bake_remaining <= 0:
        return Succeeded()
    t = policy.timeouts
    if obs.at - obs.started_at >= t.deploy:
        return TimedOut(PHASE_DEPLOY, waiting_on(obs))
    if obs.healthy_at is None and not healthy and obs.at - obs.started_at >= t.healthy:
        return TimedOut(PHASE_HEALTHY, waiting_on(obs))
    if obs.healthy_at is not None and not drained and obs.at - obs.healthy_at >= t.drain:
        return TimedOut(PHASE_DRAINED, waiting_on(obs))
    return Continue(new_healthy=healthy, drained=drained)


def _alarm_names(sd: ServiceDeploymentInfo | None) -> str:
    return ", ".join(sd.alarms_triggered) if sd is not None else ""


def ecs_failure_cause(ours: Deployment | None, sd: ServiceDeploymentInfo | None) -> str | None:
    """What ECS says failed our deployment, as a phrase, or None when it says nothing.

    The deployment alarms when the service deployment lists ``alarms.triggeredAlarmNames`` (or
    its ``alarms.status`` is TRIGGERED), or when our deployment's ``rolloutStateReason`` speaks
    of an alarm (its exact text for alarms is UNVERIFIED, ecs-behaviour.md §1.3, so it is
    quoted, not parsed); the circuit breaker only when ECS says so (the reason's
    "circuit breaker", or ``deploymentCircuitBreaker.status`` TRIGGERED). The reason on the
    deployment ECS rolls back *to* ("circuit breaker: rolling back to ...") is not evidence:
    it reads the same whatever failed ours.
    """
    reason = (ours.rollout_state_reason if ours is not None else None) or ""
    names = _alarm_names(sd)
    if names:
        return f"deployment alarm(s) {names} in ALARM"
    if "alarm" in reason.lower() or (sd is not None and sd.alarm_status == "TRIGGERED"):
        return f"a deployment alarm ({reason})" if reason else "a deployment alarm"
    if "circuit breaker" in reason.lower() or (
        sd is not None and sd.circuit_breaker_status == "TRIGGERED"
    ):
        return "the circuit breaker"
    return None


def rolled_back_reason(
    ours: Deployment | None, sd: ServiceDeploymentInfo | None, to: str | None
) -> str:
    """The reason of a deployment ECS failed and is rolling back (an older one PRIMARY again),
    naming what ECS said failed it (:func:`ecs_failure_cause`)."""
    cause = ecs_failure_cause(ours, sd)
    where = f" to {to}" if to else ""
    if cause == "the circuit breaker":
        return f"ECS's circuit breaker failed the deployment and is rolling back{where}"
    if cause is not None:
        return f"ECS failed the deployment on {cause} and is rolling back{where}"
    said = ours.rollout_state_reason if ours is not None else None
    return f"ECS failed the deployment and is rolling back{where}" + (f": {said}" if said else "")


def shift_rolled_back_reason(sd: ServiceDeploymentInfo) -> str:
    """The reason of a traffic-shifting deployment ECS rolled back (or someone stopped): what ECS
    says failed it (:func:`ecs_failure_cause`: its alarms or its circuit breaker), else ECS's own
    words quoted. The rollback's "circuit breaker: rolling back to ..." text is not evidence."""
    if ecs_failure_cause(None, sd) is not None:
        return rolled_back_reason(None, sd, None)
    said = sd.status_reason or sd.rollback_reason
    return "ECS rolled the deployment back" + (f": {said}" if said else f" ({sd.status})")


def blocked_reason(service: Service) -> str:
    """The reason of a deploy ECS cannot progress because of min/max healthy percent."""
    dc = service.deployment_config
    n = service.desired
    upper = n * dc.maximum_percent // 100
    lower = -(-n * dc.minimum_healthy_percent // 100)
    return (
        "ECS cannot start or stop tasks: the deployment configuration leaves no room "
        f"(desiredCount {n}, minimumHealthyPercent {dc.minimum_healthy_percent} % → keep "
        f"{lower} running, maximumPercent {dc.maximum_percent} % → at most {upper} running or "
        "pending). ECS reported it 'was unable to stop or start tasks during a deployment "
        "because of the service deployment configuration'; raise maximumPercent or lower "
        "minimumHealthyPercent"
    )


def waiting_on(obs: Observation) -> str:
    """What our deployment is still waiting on, from one observation (for a timeout message)."""
    ours = obs.service.deployment(obs.deployment_id)
    if ours is None:
        return "our deployment is no longer listed by ECS"
    want = max(ours.desired, obs.service.desired)
    others = [d for d in obs.service.deployments if d.id != obs.deployment_id]
    old_running = sum(d.running + d.pending for d in others)
    parts: list[str] = []
    if obs.healthy_at is None and not new_tasks_healthy(obs):
        parts.append(
            f"{obs.new_tasks_healthy} of {want} new tasks healthy "
            f"({ours.running} running, {ours.pending} pending"
            + (f", {ours.failed_tasks} failed" if ours.failed_tasks else "")
            + ")"
        )
    if old_running:
        parts.append(f"{old_running} old task(s) still running or pending")
    if obs.smoke == "pending":
        parts.append("the smoke probe has not run")
    if obs.bake_remaining > 0 and not parts:
        parts.append(f"the bake window ({obs.bake_remaining:.0f}s left)")
    if not parts and ours.rollout_state == "IN_PROGRESS":
        parts.append("ECS to mark the deployment COMPLETED")
    return "waiting on " + "; ".join(parts) if parts else f"rolloutState {ours.rollout_state}"


@dataclass(frozen=True)
class RestoreObservation:
    service: Service
    target: str  # task-definition ARN we restore to
    healthy_on_target: int  # RUNNING tasks on the target revision passing every health check
    #: RUNNING tasks of any other revision still serving: registered in a target group and not
    #: draining (healthy, unhealthy or initial), or, without a load balancer, RUNNING at all
    others_serving: int = 0


def restored(obs: RestoreObservation) -> bool:
    """Verified restore: PRIMARY runs the target revision, the service's desired number of its
    tasks are RUNNING and healthy in every target group, and no task of another revision (the
    bad one) still serves. Until then the service is "rolling back", whatever ECS's
    rolloutState says. Nothing is restored with no task desired (see :func:`restored_empty`)."""
    primary = obs.service.primary
    if primary is None or primary.task_definition != obs.target:
        return False
    # right after a rollback starts, PRIMARY may briefly report desiredCount 0: use the service's
    need = max(primary.desired, obs.service.desired)
    return (
        need > 0
        and primary.running >= need
        and obs.healthy_on_target >= need
        and obs.others_serving == 0
    )


def restored_empty(obs: RestoreObservation) -> bool:
    """PRIMARY is back on the target, but the service asks for no task (desiredCount 0) and
    ECS completed it so: the revision is in place, nothing runs, nothing was verified."""
    primary = obs.service.primary
    return (
        primary is not None
        and primary.task_definition == obs.target
        and obs.service.desired == 0
        and primary.rollout_state in ("COMPLETED", None)
        and obs.others_serving == 0
    )


def restore_waiting_on(obs: RestoreObservation) -> str:
    """What a restore is still waiting on (for the timeout message and progress)."""
    primary = obs.service.primary
    if primary is None or primary.task_definition != obs.target:
        now = primary.task_definition.rsplit("/", 1)[-1] if primary else "none"
        return f"PRIMARY is {now}, not {obs.target.rsplit('/', 1)[-1]}"
    need = max(primary.desired, obs.service.desired)
    parts = [f"{obs.healthy_on_target} of {need} tasks of {obs.target.rsplit('/', 1)[-1]} healthy"]
    if obs.others_serving:
        parts.append(f"{obs.others_serving} task(s) of another revision still serving")
    return ", ".join(parts)
