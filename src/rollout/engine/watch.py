"""The watch loop: poll at a constant jittered interval until the verdict is reached.

Each poll builds an :class:`~rollout.decisions.verdict.Observation` and asks
:func:`~rollout.decisions.verdict.judge`. The loop also runs the phases that are actions rather
than observations: the smoke probe once the new tasks are healthy, and the bake window (named
CloudWatch alarms) once the old tasks are drained. Phases "new tasks healthy" and "old tasks
drained" are timed separately and each ends with a ``phase`` event.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from rollout.decisions.failures import failing_check
from rollout.decisions.verdict import (
    PHASE_DRAINED,
    PHASE_HEALTHY,
    STUCK_EVENT,
    Continue,
    Decision,
    Observation,
    Policy,
    SmokeState,
    Succeeded,
    judge,
)
from rollout.engine.observe import Observer, deployments_data
from rollout.engine.session import Session
from rollout.errors import AwsError, CredentialsError
from rollout.events import Level
from rollout.model import Service

SMOKE_LEVELS: dict[str, Level] = {"pass": "success", "fail": "error", "error": "warning"}


@dataclass(frozen=True)
class WatchResult:
    decision: Decision | None  # None: interrupted
    service: Service | None
    service_deployment_arn: str | None
    observer: Observer


def watch(
    s: Session,
    *,
    deployment_id: str,
    started_at: float,
    deployment_created_at: float | None = None,
    since_note: str | None = None,
) -> WatchResult:
    """Watch deployment ``deployment_id`` to a decision.

    ``started_at`` is on the local clock (every duration shown and every timeout counts from
    it); ``deployment_created_at`` is ECS's ``createdAt`` (ECS's clock), used only against
    other ECS timestamps. ``since_note`` qualifies the first phase's duration when the watch did not
    start the deployment (e.g. "since watching began")."""
    st = s.settings
    suffix = f" ({since_note})" if since_note else ""
    observer = Observer(s, since=started_at, events_since=deployment_created_at)
    smoke: SmokeState = "pending" if st.smoke_url else "not-configured"
    smoke_detail: str | None = None
    healthy_at: float | None = None
    drained_at: float | None = None
    last_healthy_at: float | None = None
    bake_until: float | None = None
    svc: Service | None = None
    polls = 0
    alarms_readable = True
    warned_missing = False
    blocked: str | None = None
    while True:
        if s.interrupt.is_set():
            return WatchResult(None, svc, observer.service_deployment_arn, observer)
        polls += 1
        svc = observer.service()
        blocked = blocked or next((m for m in observer.fresh_events if STUCK_EVENT.search(m)), None)
        grace = float(svc.health_check_grace_period)
        policy = Policy(
            consecutive_failures=st.consecutive_failures, grace_period=grace, timeouts=st.timeouts
        )
        # tasks (running and new stopped ones) are re-read only when DescribeServices shows
        # a change that could affect them (see rollout.engine.observe)
        ours = observer.watch_tasks(svc, deployment_id, grace_period=grace)
        health = observer.health(svc, ours)
        now = s.now()
        # task start/stop times are ECS's clock: the failure rules compare them with ECS's now
        ecs_now = observer.ecs_now()
        if health.healthy:
            last_healthy_at = ecs_now
        sd = observer.service_deployment(deployment_id, svc)
        alarms: tuple[str, ...] = ()
        if bake_until is not None and st.bake_alarms and alarms_readable:
            try:
                states = s.gw.cw.alarm_states(st.bake_alarms)
            except CredentialsError:
                raise
            except AwsError as exc:
                alarms_readable = False
                states = {}
                s.emit(
                    "bake.unavailable",
                    f"cannot read the bake alarms ({exc.code}); baking on health alone",
                    level="warning",
                    code=exc.code,
                )
            missing = [n for n in st.bake_alarms if n not in states]
            if missing and alarms_readable and not warned_missing:
                warned_missing = True
                s.emit(
                    "bake.unavailable",
                    f"bake alarm(s) not found: {', '.join(missing)}",
                    level="warning",
                    missing=missing,
                )
            alarms = tuple(n for n, v in states.items() if v == "ALARM")
        obs = Observation(
            at=now,
            service=svc,
            deployment_id=deployment_id,
            started_at=started_at,
            deployment_created_at=deployment_created_at,
            new_tasks_healthy=len(health.healthy),
            stopped=tuple(observer.stopped.values()),
            failing=tuple(
                signal
                for task, why, kind in health.failing
                if (signal := failing_check(task, why, kind=kind, now=ecs_now, grace_period=grace))
                is not None
            ),
            last_healthy_at=last_healthy_at,
            healthy_at=healthy_at,
            service_deployment=sd,
            smoke=smoke,
            smoke_detail=smoke_detail,
            bake_remaining=(bake_until - now) if bake_until is not None else st.bake_seconds,
            alarms_firing=alarms,
            placement_blocked=blocked,
        )
        decision = judge(obs, policy)
        s.emit(
            "observation",
            f"poll {polls}",
            level="debug",
            deployments=deployments_data(svc),
            phase=PHASE_HEALTHY if healthy_at is None else PHASE_DRAINED,
            service_deployment=sd.status if sd else None,
            **health.counts,
        )
        if isinstance(decision, Continue):
            if decision.new_healthy and healthy_at is None:
                healthy_at = now
                s.emit_phase(PHASE_HEALTHY, now - started_at, suffix=suffix)
            if decision.new_healthy and smoke == "pending" and st.smoke_url:
                result = s.prober(st.smoke_url)
                smoke, smoke_detail = result.outcome, result.detail
                s.emit(
                    "smoke",
                    f"smoke probe {result.outcome}: {result.detail}",
                    level=SMOKE_LEVELS[result.outcome],
                    outcome=result.outcome,
                    status=result.status,
                    url=st.smoke_url,
                )
            if decision.drained and drained_at is None:
                drained_at = now
                since = healthy_at if healthy_at is not None else started_at
                s.emit_phase(PHASE_DRAINED, now - since)
                bake_until = now + st.bake_seconds
                if st.bake_seconds > 0:
                    s.emit(
                        "bake",
                        f"baking {st.bake_seconds:.0f}s watching alarms "
                        f"{', '.join(st.bake_alarms) or '(none)'}",
                        seconds=st.bake_seconds,
                        alarms=list(st.bake_alarms),
                    )
            # the smoke result or the bake start may already settle it this poll
            again = judge(
                replace(
                    obs,
                    healthy_at=healthy_at,
                    smoke=smoke,
                    smoke_detail=smoke_detail,
                    bake_remaining=(bake_until - now)
                    if bake_until is not None
                    else st.bake_seconds,
                ),
                policy,
            )
            if not isinstance(again, Continue):
                decision = again
        if not isinstance(decision, Continue):
            if isinstance(decision, Succeeded):
                if healthy_at is None:
                    healthy_at = now
                    s.emit_phase(PHASE_HEALTHY, now - started_at, suffix=suffix)
                if drained_at is None:
                    s.emit_phase(PHASE_DRAINED, now - healthy_at)
            return WatchResult(decision, svc, observer.service_deployment_arn, observer)
        s.poll_pause()
