"""Decision tables: rollback-target selection for deploy and undo."""

from __future__ import annotations

import pytest

from rollout.decisions.ledger import LedgerEntry
from rollout.decisions.target import (
    NoTarget,
    RollbackTarget,
    deploy_rollback_target,
    in_flight,
    primary_completed,
    restore_in_flight,
    undo_target,
)
from rollout.model import Service

from .builders import dep, svc, td


def entry(
    rev: int, *, good: bool = False, outcome: str | None = None, status: str = "ACTIVE"
) -> LedgerEntry:
    return LedgerEntry(
        arn=td(rev), family="voj", revision=rev, status=status, good=good, outcome=outcome
    )


STEADY_ON_3 = svc(dep("ecs-svc/3", 3))
IN_FLIGHT_ON_5 = svc(
    dep("ecs-svc/5", 5, state="IN_PROGRESS", created=50, running=1),
    dep("ecs-svc/3", 3, status="ACTIVE", created=30),
)
BREAKER_FAILED_5 = svc(dep("ecs-svc/5", 5, state="FAILED", running=0))
FIRST_EVER = svc(dep("ecs-svc/1", 1, state="IN_PROGRESS", running=0))


@pytest.mark.parametrize(
    ("service", "ledger", "expected"),
    [
        # steady service: its PRIMARY's revision, whatever the ledger says
        (STEADY_ON_3, [entry(2, good=True)], (3, "primary-completed")),
        # a one-off revision 4 registered after 3 is never picked just because it is newest
        (STEADY_ON_3, [entry(3, good=True), entry(4)], (3, "primary-completed")),
        # someone else's deployment in flight (we would supersede it): last known good from ledger
        (IN_FLIGHT_ON_5, [entry(3, good=True), entry(4), entry(5)], (3, "last-known-good")),
        # a revision registered by hand (no good tag) is skipped even if it is newer
        (IN_FLIGHT_ON_5, [entry(2, good=True), entry(4, outcome=None)], (2, "last-known-good")),
        # a good revision since deregistered cannot be used by ECS
        (
            BREAKER_FAILED_5,
            [entry(2, good=True), entry(3, good=True, status="INACTIVE")],
            (2, "last-known-good"),
        ),
        # a rolled-back revision is not good
        (
            BREAKER_FAILED_5,
            [entry(4, good=True), entry(5, outcome="rolled-back")],
            (4, "last-known-good"),
        ),
        # first-ever deploy: nothing to roll back to
        (FIRST_EVER, [entry(1)], None),
        (BREAKER_FAILED_5, [entry(1), entry(2, outcome="succeeded")], None),
    ],
)
def test_deploy_rollback_target_table(
    service: Service, ledger: list[LedgerEntry], expected: tuple[int, str] | None
) -> None:
    """The deploy's rollback target is the completed PRIMARY, else the newest good revision."""
    got = deploy_rollback_target(service, ledger)
    if expected is None:
        assert isinstance(got, NoTarget)
        assert "nothing to roll back to" in got.why
    else:
        assert isinstance(got, RollbackTarget)
        assert (got.revision, got.source) == expected
        assert got.arn == td(expected[0])


@pytest.mark.parametrize(
    ("service", "completed"),
    [
        (STEADY_ON_3, True),
        (IN_FLIGHT_ON_5, False),
        (BREAKER_FAILED_5, False),
        (
            svc(dep("ecs-svc/3", 3, state=None)),
            True,
        ),  # no rolloutState: sole deployment, all running
        (svc(dep("ecs-svc/3", 3, state=None, running=1)), False),
        (svc(dep("a", 3, state=None), dep("b", 2, state=None, status="ACTIVE")), False),
        # COMPLETED at desiredCount 0: nothing ran, so nothing was proven (issue 11, item 1)
        (svc(dep("ecs-svc/3", 3, desired=0, running=0), desired=0), False),
    ],
)
def test_primary_completed_table(service: Service, completed: bool) -> None:
    """PRIMARY counts as completed on COMPLETED, or without rolloutState when alone and full."""
    assert primary_completed(service) is completed


@pytest.mark.parametrize(
    ("service", "ledger", "to_revision", "expected"),
    [
        # default: newest good revision older than the current one
        (
            svc(dep("d", 6)),
            [entry(3, good=True), entry(4, good=True), entry(5), entry(6, good=True)],
            None,
            4,
        ),
        # "revision - 1" (5) was a one-off; skipped
        (svc(dep("d", 6)), [entry(4, good=True), entry(5)], None, 4),
        # a newer good revision than current is not an "undo"
        (svc(dep("d", 3)), [entry(2, good=True), entry(4, good=True)], None, 2),
        # explicit revision that ran healthy
        (svc(dep("d", 6)), [entry(2, good=True), entry(4, good=True)], 2, 2),
        # explicit revision never healthy: refused
        (svc(dep("d", 6)), [entry(5)], 5, "never ran healthy"),
        (svc(dep("d", 6)), [entry(2, good=True, status="INACTIVE")], 2, "INACTIVE"),
        (svc(dep("d", 6)), [entry(6, good=True)], 6, "already the current"),
        (svc(dep("d", 6)), [], 9, "does not exist"),
        (svc(dep("d", 2)), [entry(1), entry(2, good=True)], None, "no revision older"),
    ],
)
def test_undo_target_table(
    service: Service, ledger: list[LedgerEntry], to_revision: int | None, expected: int | str
) -> None:
    """Undo goes to the newest good revision before the current one, or a requested good one."""
    got = undo_target(service, ledger, to_revision=to_revision)
    if isinstance(expected, int):
        assert isinstance(got, RollbackTarget)
        assert got.revision == expected
    else:
        assert isinstance(got, NoTarget)
        assert expected in got.why


@pytest.mark.parametrize(
    ("service", "expected"),
    [
        (STEADY_ON_3, False),
        (IN_FLIGHT_ON_5, True),
        (svc(dep("a", 3, state=None)), False),
        (svc(dep("a", 3, state=None), dep("b", 2, state=None, status="ACTIVE")), True),
        (
            svc(
                dep("ecs-svc/1", 1, state="IN_PROGRESS", reason="circuit breaker: rolling back"),
                dep("ecs-svc/2", 2, status="ACTIVE", state="FAILED"),
            ),
            True,
        ),
    ],
)
def test_in_flight_table(service: Service, expected: bool) -> None:
    """`rollout watch` has something to watch only while a deployment is in flight."""
    assert in_flight(service) is expected


RESTORING_3 = svc(
    dep("ecs-svc/9", 3, state="IN_PROGRESS", created=90, running=1),
    dep("ecs-svc/5", 5, status="ACTIVE", created=50),
)


@pytest.mark.parametrize(
    ("service", "ledger", "to_revision", "expected"),
    [
        # an undo to 3 interrupted while verifying: adopt it (undoing 5)
        (RESTORING_3, [entry(3, good=True), entry(5, good=True)], None, (3, 5)),
        (RESTORING_3, [entry(3, good=True), entry(5, good=True)], 3, (3, 5)),
        # asked for another revision: not this one
        (RESTORING_3, [entry(3, good=True), entry(5, good=True)], 2, None),
        # a deploy of a revision never proven healthy is no restore
        (RESTORING_3, [entry(3), entry(5, good=True)], None, None),
        # a deploy in flight to a NEWER revision is not a restore
        (IN_FLIGHT_ON_5, [entry(3, good=True), entry(5, good=True)], None, None),
        (STEADY_ON_3, [entry(3, good=True)], None, None),
    ],
)
def test_restore_in_flight_table(
    service: Service,
    ledger: list[LedgerEntry],
    to_revision: int | None,
    expected: tuple[int, int] | None,
) -> None:
    """A re-run undo adopts a restore in flight; anything else is not one."""
    got = restore_in_flight(service, ledger, to_revision=to_revision)
    if expected is None:
        assert got is None
    else:
        assert got is not None
        assert (got[0].revision, got[1]) == (expected[0], td(expected[1]))
