"""``undo``: a manual rollback at any time, with the same lock, checks and verification.

    TakeLock → ChooseTarget → Restore → Finish

The target is the newest last-known-good revision older than the current one, or a requested
revision that ran healthy (never "revision − 1" blindly). Before the write, PRIMARY is re-read.
The restore is verified like an automatic rollback: PRIMARY on the target with every desired
task healthy. The undone revision is recorded ``rolled-back`` (and no longer ``good``).
"""

from __future__ import annotations

from dataclasses import dataclass

from rollout.decisions import ledger
from rollout.decisions.exitcodes import Verdict, exit_code
from rollout.decisions.target import NoTarget, RollbackTarget, restore_in_flight, undo_target
from rollout.engine.ledger import load_ledger, tag
from rollout.engine.lock import ServiceLock
from rollout.engine.outcome import Outcome
from rollout.engine.rollback import emit_restored, start_traffic_shift, watch_restore
from rollout.engine.session import Session
from rollout.errors import RolloutError, UsageError
from rollout.events import Level


@dataclass(frozen=True)
class UndoRequest:
    to_revision: int | None = None


def run_undo(s: Session, request: UndoRequest) -> Outcome:
    st = s.settings
    started = s.now()
    s.emit_started("undo", f"undo on {st.cluster}/{st.service} [{st.env}]")
    lock = ServiceLock(s, "undo")
    target: RollbackTarget | None = None
    current: str | None = None
    try:
        _step(s, 1, "take the service lock")
        lock.acquire()
        _step(s, 2, "choose the target")
        svc = s.gw.ecs.describe_service(st.cluster, st.service)
        current = svc.primary.task_definition if svc.primary else svc.task_definition
        entries = load_ledger(s, ledger.family_of(current))
        adopted = restore_in_flight(svc, entries, to_revision=request.to_revision)
        choice: RollbackTarget | NoTarget
        if adopted is not None:
            # a re-run after an interrupted undo: verify the restore in flight, never undo
            # one revision further
            choice, current = adopted
            s.emit(
                "deployment.adopted",
                f"a restore to {choice.arn.rsplit('/', 1)[-1]} is already in flight: verifying "
                "it instead of starting another undo",
                level="warning",
                deployment_id=svc.primary.id if svc.primary else None,
                task_definition_arn=choice.arn,
            )
        else:
            choice = undo_target(svc, entries, to_revision=request.to_revision)
        if isinstance(choice, NoTarget):
            raise UsageError(
                f"failed to undo {st.cluster}/{st.service}: {choice.why}.",
                hint="`rollout history` lists revisions and which ran healthy; pass "
                "--to-revision N with one of those.",
            )
        target = choice
        s.emit(
            "target.recorded",
            f"undo target {target.arn.rsplit('/', 1)[-1]} ({target.why}); current "
            f"{current.rsplit('/', 1)[-1]}",
            task_definition=target.arn,
            rollback_target_arn=target.arn,
            source=target.source,
        )
        if s.interrupt.is_set():
            return _finish(
                s,
                started,
                Verdict.INTERRUPTED,
                "interrupted before any write: the service is untouched",
                target,
                current,
            )
        _step(s, 3, "restore")
        if adopted is not None:
            if s.dry_run:
                return _finish(s, started, Verdict.SUCCEEDED, "DRY RUN OK", target, current)
            return _verify(s, started, target, current, begin=s.now(), change=None)
        # re-read PRIMARY right before the write
        svc = s.gw.ecs.describe_service(st.cluster, st.service)
        now_current = svc.primary.task_definition if svc.primary else svc.task_definition
        if now_current != current:
            return _finish(
                s,
                started,
                Verdict.SUPERSEDED,
                f"the service moved to {now_current.rsplit('/', 1)[-1]} while undo was "
                "choosing its target; nothing was written",
                target,
                current,
            )
        s.emit(
            "rollback.started",
            f"undo: pointing {st.service} at {target.arn.rsplit('/', 1)[-1]}",
            level="warning",
            to=target.arn,
            via="UpdateService",
        )
        begin = s.now()
        s.write(
            "ecs",
            "UpdateService",
            {"cluster": st.cluster, "service": st.service, "taskDefinition": target.arn},
            f"point {st.service} at {target.arn.rsplit('/', 1)[-1]}",
            lambda: s.gw.ecs.update_service(st.cluster, st.service, task_definition=target.arn),
        )
        change = start_traffic_shift(s) if st.traffic is not None else None
        if s.dry_run:
            return _finish(s, started, Verdict.SUCCEEDED, "DRY RUN OK", target, current)
        return _verify(s, started, target, current, begin=begin, change=change)
    finally:
        lock.release()


def _verify(
    s: Session,
    started: float,
    target: RollbackTarget,
    current: str,
    *,
    begin: float,
    change: str | None,
) -> Outcome:
    """Watch the restore to ``target`` (INSYNC of ``change`` in the same polls) to a verdict."""
    st = s.settings
    # INSYNC is awaited in the restore's own polls (verdict when both are back)
    result = watch_restore(s, target.arn, since=begin, bad_arn=current, traffic_change=change)
    rev = target.arn.rsplit("/", 1)[-1]
    match result.status:
        case "interrupted":
            return _finish(
                s,
                started,
                Verdict.INTERRUPTED,
                "interrupted while verifying the restore; ECS keeps rolling to the target",
                target,
                current,
            )
        case "failed" | "timed-out":
            what = (
                f"the restore to {rev} failed: {result.reason}"
                if result.status == "failed"
                else f"{rev} was not verified within {st.timeouts.healthy:.0f}s ({result.reason})"
            )
            return _finish(
                s,
                started,
                Verdict.FAILED_ROLLBACK_FAILED,
                f"{what}. Service left: {result.state}",
                target,
                current,
            )
        case "no-tasks":
            return _finish(s, started, Verdict.NO_TASKS, result.reason, target, current)
        case "superseded":
            return _finish(
                s,
                started,
                Verdict.SUPERSEDED,
                f"undo to {rev} started, but {result.reason}",
                target,
                current,
            )
    seconds = s.now() - begin
    emit_restored(s, rev, target.arn, seconds)
    return _finish(
        s,
        started,
        Verdict.SUCCEEDED,
        f"restored on {target.arn.rsplit('/', 1)[-1]} and verified healthy",
        target,
        current,
    )


def _step(s: Session, index: int, name: str) -> None:
    s.emit(
        "step.started", f"step {index}/4: {name}", level="debug", step=name, index=index, total=4
    )


def _finish(
    s: Session,
    started: float,
    verdict: Verdict,
    reason: str,
    target: RollbackTarget | None,
    current: str | None,
) -> Outcome:
    _step(s, 4, "finish")
    undone = verdict in (Verdict.SUCCEEDED, Verdict.NO_TASKS)
    if undone and not s.dry_run and target and current:
        try:
            if verdict is Verdict.SUCCEEDED:  # never "good" on the word of zero tasks
                tag(s, target.arn, dict(ledger.GOOD_TAGS), "restored by undo and healthy")
            tag(
                s,
                current,
                {
                    ledger.OUTCOME: "rolled-back",
                    ledger.GOOD: "false",
                    ledger.FINISHED_AT: ledger.iso(s.now()),
                },
                "undone",
            )
        except RolloutError as exc:
            s.emit("ledger.failed", f"could not record the undo: {exc}", level="warning")
    code = exit_code(verdict)
    level: Level = "success" if verdict is Verdict.SUCCEEDED else "error"
    if verdict in (Verdict.SUPERSEDED, Verdict.INTERRUPTED, Verdict.NO_TASKS):
        level = "warning"
    s.emit(
        "verdict",
        reason if reason == "DRY RUN OK" else f"{verdict}: {reason}",
        level=level,
        verdict=str(verdict),
        exit_code=code,
        reason=reason,
        deployment_id=None,
        task_definition_arn=target.arn if target else None,
        rollback_target_arn=target.arn if target else None,
        dry_run=s.dry_run,
    )
    s.emit_finished(str(verdict), code, started)
    return Outcome(
        verdict=str(verdict),
        exit_code=code,
        reason=reason,
        task_definition_arn=target.arn if target else None,
        rollback_target_arn=target.arn if target else None,
    )
