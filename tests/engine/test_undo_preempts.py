"""A rollback never waits behind a deploy (issue 13, finding 4): ``undo`` preempts the service
lock of a ``deploy`` or ``watch`` in flight; the preempted run notices before its next write,
ends SUPERSEDED (exit 30) and writes nothing more. Anything else live still refuses."""

from __future__ import annotations

import json

import pytest

from rollout.decisions.lock import LockDecision, decide_lock, new_lock, parse_lock
from rollout.errors import LockHeld
from rollout.events import Event

from .scenario import Run, World

LOCK = "/rollout/lock/voj-prod/voj-backend-api"


def _record(holder: str, verb: str | None) -> str:
    record = new_lock(holder=holder, run_url=None, pid=1, host="h", now=0, ttl=60, verb=verb)
    return record.to_json()


@pytest.mark.parametrize(
    ("held_by", "verb", "decision"),
    [
        ("deploy", "undo", LockDecision.PREEMPT),
        ("watch", "undo", LockDecision.PREEMPT),
        ("undo", "undo", LockDecision.REFUSE),
        ("deploy", "deploy", LockDecision.REFUSE),
        ("undo", "deploy", LockDecision.REFUSE),
        ("deploy", "watch", LockDecision.REFUSE),
        (None, "undo", LockDecision.REFUSE),  # a record that does not say who holds it
    ],
)
def test_only_an_undo_preempts_and_only_a_deploy_or_watch(
    held_by: str | None, verb: str, decision: LockDecision
) -> None:
    """Decision table: undo over deploy/watch preempts; every other live pair refuses."""
    stored = parse_lock(_record("someone", held_by))
    assert decide_lock(stored, now=10, verb=verb) is decision


def test_records_without_a_verb_field_are_read_from_the_holder_text() -> None:
    """Locks written before the verb was stored name it in the holder: "alice (deploy)"."""
    old = json.dumps({"holder": "alice (deploy)", "acquired_at": 0, "expires_at": 60})
    record = parse_lock(old)
    assert record is not None
    assert record.verb == "deploy"
    assert decide_lock(record, now=10, verb="undo") is LockDecision.PREEMPT


def _deploy_preempted_at(world: World, kind: str) -> tuple[Run, list[Run], list[str]]:
    """Deploy sha-0000002; at its first ``kind`` event run an undo. Returns the deploy, the undo
    and the writes the deploy made after the undo finished."""
    undos: list[Run] = []
    marks: list[int] = []

    def undo_now(event: Event) -> None:
        if event.kind == kind and not undos:
            undos.append(world.undo())
            marks.append(len(world.sb.calls(mutating=True)))

    deploy = world.deploy("sha-0000002", sink=undo_now)
    assert undos, f"no {kind} event"
    return deploy, undos, world.writes(marks[0])


def test_an_undo_during_the_watch_takes_over_and_the_deploy_writes_nothing_more(
    world: World,
) -> None:
    """While the deploy watches its deployment, an undo takes the lock over, restores the last
    good revision and releases the lock; the deploy sees the undo's deployment, ends SUPERSEDED
    (exit 30), and writes nothing: no rollback over the undo, no ledger tag, no lock delete."""
    before = world.current_revision()
    deploy, (undo,), deploy_writes = _deploy_preempted_at(world, "observation")
    assert undo.outcome.verdict == "SUCCEEDED"
    assert undo.kinds("lock.preempted")
    assert "tester (deploy)" in undo.kinds("lock.preempted")[0].message
    assert deploy.outcome.verdict == "SUPERSEDED"
    assert deploy.outcome.exit_code == 30
    assert deploy_writes == []
    # the service runs the undo's target, not the deploy's new revision
    target = undo.outcome.rollback_target_arn
    assert target is not None
    assert world.current_revision() == int(target.rsplit(":", 1)[1])
    assert world.current_revision() != before + 1
    ssm = world.sb.client_factory().client("ssm")
    assert ssm.get_parameters_by_path(Path="/rollout/lock/")["Parameters"] == []


def test_an_undo_before_the_update_stops_the_deploy_before_it_touches_the_service(
    world: World,
) -> None:
    """An undo that preempts right after the deploy registered its revision: the deploy checks
    the lock before UpdateService, finds it gone, and ends SUPERSEDED without calling it."""
    for tag in ("sha-0000003", "sha-0000002"):  # two good revisions: one to undo to
        assert world.deploy(tag).outcome.verdict == "SUCCEEDED"
        world.reset()  # let ECS finish, or the next deploy of the same image adopts it
    updates_before = world.ops("UpdateService")
    deploy, (undo,), deploy_writes = _deploy_preempted_at(world, "registered")
    assert undo.outcome.verdict == "SUCCEEDED"
    assert deploy.outcome.verdict == "SUPERSEDED"
    assert "took the service lock over before 'update the service'" in deploy.outcome.reason
    assert deploy_writes == []
    assert world.ops("UpdateService") == updates_before + 1  # the undo's only


def test_a_deploy_still_cannot_take_the_lock_from_an_undo(world: World) -> None:
    """The preemption is one-way: a deploy started while an undo holds the lock is refused."""
    ssm = world.sb.client_factory().client("ssm")
    now = world.sb.clock.now()
    live = new_lock(
        holder="bob (undo)", run_url=None, pid=1, host="h", now=now, ttl=600, verb="undo"
    )
    ssm.put_parameter(Name=LOCK, Value=live.to_json(), Type="String")
    world.sb.clear_calls()
    with pytest.raises(LockHeld, match="bob"):
        world.deploy("sha-0000002")
    assert world.writes() == []
