"""``rollout scale N``: change the desired count, watch it settle, and undo the change on failure.

    lock → read the service → UpdateService(desiredCount=N) → poll until settled → [scale back]

Each poll reads the service, PRIMARY's running tasks and their target health, and its tasks that
stopped since the change, and asks :func:`rollout.decisions.settle.settle`. A failure (new tasks
that cannot start or keep crashing) puts the previous count back and waits for that to settle:
FAILED_ROLLED_BACK (exit 20), or FAILED_ROLLBACK_FAILED (21) when that does not settle either or
``--no-rollback`` is set. Verdicts and exit codes are the deploy's (docs/deploying.md).
"""

from __future__ import annotations

from dataclasses import dataclass

from rollout.decisions.exitcodes import Verdict, exit_code
from rollout.decisions.settle import SettleDecision, SettleObservation, settle
from rollout.engine.lock import ServiceLock
from rollout.engine.observe import Observer, deployments_data
from rollout.engine.outcome import Outcome
from rollout.engine.session import Session
from rollout.errors import RolloutError, UsageError
from rollout.events import Level

#: the ECS service quota on tasks per service (UNVERIFIED: "Tasks per service", default 5,000)
MAX_DESIRED = 5000


@dataclass(frozen=True)
class ScaleRequest:
    desired: int
    no_rollback: bool = False


def run_scale(s: Session, req: ScaleRequest) -> Outcome:
    st = s.settings
    started = s.now()
    if not 0 <= req.desired <= MAX_DESIRED:
        raise UsageError(
            f"failed to scale: {req.desired} is not a task count between 0 and {MAX_DESIRED}."
        )
    s.emit_started(
        "scale", f"scale {st.cluster}/{st.service} to {req.desired} [{st.env}]", desired=req.desired
    )
    lock = ServiceLock(s, "scale")
    try:
        lock.acquire()
        verdict, reason, details = _scale(s, req)
    finally:
        try:
            lock.release()
        except RolloutError as exc:
            s.emit("lock.release_failed", str(exc), level="error")
    code = exit_code(verdict)
    level: Level = "success" if verdict is Verdict.SUCCEEDED else "error"
    if verdict in (Verdict.SUPERSEDED, Verdict.INTERRUPTED, Verdict.TIMED_OUT):
        level = "warning"
    message = "DRY RUN OK" if s.dry_run and verdict is Verdict.SUCCEEDED else f"{verdict}: {reason}"
    s.emit(
        "verdict",
        message,
        level=level,
        verdict=str(verdict),
        exit_code=code,
        reason=reason,
        dry_run=s.dry_run,
        **details,
    )
    s.emit_finished(str(verdict), code, started)
    return Outcome(verdict=str(verdict), exit_code=code, reason=reason, details=details)


def _scale(s: Session, req: ScaleRequest) -> tuple[Verdict, str, dict[str, object]]:
    st = s.settings
    svc = s.gw.ecs.describe_service(st.cluster, st.service)
    before = svc.desired
    details: dict[str, object] = {"desired_before": before, "desired": req.desired}
    if before == req.desired and svc.running == req.desired:
        return Verdict.SUCCEEDED, f"already at {req.desired} running; nothing to change", details
    primary = svc.primary
    # stopped tasks of PRIMARY from before the change are history, not failures of this scale
    baseline = (
        set(s.gw.ecs.list_tasks(st.cluster, started_by=primary.id, desired_status="STOPPED"))
        if primary is not None
        else set()
    )
    if not _set_desired(s, req.desired, before):
        return Verdict.SUCCEEDED, f"would scale from {before} to {req.desired}", details
    decision = _settle(s, req.desired, baseline)
    details["settle_seconds"] = round(s.now() - decision[1], 3)
    match decision[0].state:
        case "settled":
            return Verdict.SUCCEEDED, f"settled: {decision[0].reason}", details
        case "superseded":
            return Verdict.SUPERSEDED, decision[0].reason, details
        case "timed-out":
            return Verdict.TIMED_OUT, f"not settled in time: {decision[0].reason}", details
        case "interrupted":
            return Verdict.INTERRUPTED, decision[0].reason, details
    # failed
    failure = decision[0].reason
    s.emit("signal", f"scale failed: {failure}", level="error", signal="scale", definitive=True)
    if req.no_rollback:
        return (
            Verdict.FAILED_ROLLBACK_FAILED,
            f"{failure}; --no-rollback: desiredCount left at {req.desired}",
            details,
        )
    s.emit("rollback.started", f"scaling back to {before}", level="warning", to=before)
    # the failures just seen are this scale's; the scale-back is judged on its own
    assert primary is not None
    baseline = set(s.gw.ecs.list_tasks(st.cluster, started_by=primary.id, desired_status="STOPPED"))
    _set_desired(s, before, req.desired)
    back = _settle(s, before, baseline)
    if back[0].state == "settled":
        details["rollback_via"] = "UpdateService(desiredCount)"
        return (
            Verdict.FAILED_ROLLED_BACK,
            f"{failure}; scaled back to {before} and settled",
            details,
        )
    return (
        Verdict.FAILED_ROLLBACK_FAILED,
        f"{failure}; scaling back to {before} did not settle either: {back[0].reason}. "
        f"Run `rollout status --env {st.env}`",
        details,
    )


def _set_desired(s: Session, desired: int, before: int) -> bool:
    """UpdateService(desiredCount); False in a dry run (printed, not sent)."""
    st = s.settings
    sent = s.write(
        "ecs",
        "UpdateService",
        {"cluster": st.cluster, "service": st.service, "desiredCount": desired},
        f"desiredCount {before} → {desired}",
        lambda: s.gw.ecs.update_service(st.cluster, st.service, desired_count=desired),
    )
    return sent is not None


def _settle(s: Session, desired: int, baseline: set[str]) -> tuple[SettleDecision, float]:
    """Poll until :func:`settle` says anything but continue; returns it and the start time."""
    st = s.settings
    started = s.now()
    observer = Observer(s, since=started)
    while True:
        if s.interrupt.is_set():
            return (
                SettleDecision(
                    "interrupted",
                    f"interrupted while settling on {desired}; ECS carries on "
                    f"(`rollout status --env {st.env}`)",
                ),
                started,
            )
        svc = observer.service()
        primary = svc.primary
        tasks = (
            observer.running(
                task_definition=primary.task_definition,
                refresh_all=not svc.load_balancers,
                svc=svc,
            )
            if primary is not None
            else []
        )
        health = observer.health(svc, tasks)
        grace = float(svc.health_check_grace_period)
        if primary is not None:
            observer.new_stopped(primary.id, grace_period=grace)
        stopped = [t for a, t in observer.stopped.items() if a not in baseline]
        s.emit(
            "observation",
            f"settling on {desired}",
            level="debug",
            deployments=deployments_data(svc),
            phase="settle",
            **health.counts,
        )
        decision = settle(
            SettleObservation(
                at=s.now(),
                started_at=started,
                desired=desired,
                service=svc,
                healthy=len(health.healthy),
                stopped=stopped,
            ),
            timeout=st.timeouts.healthy,
            k=st.consecutive_failures,
            grace_period=grace,
        )
        if decision.state != "continue":
            if decision.state == "settled":
                s.emit_phase("settled", s.now() - started, label=f"settled on {desired}")
            return decision, started
        s.poll_pause()
