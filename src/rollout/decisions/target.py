"""Which revision to roll back to. Never "revision − 1" blindly.

For a deploy (recorded *before* anything is written):
1. the task definition of the current PRIMARY deployment, if that deployment COMPLETED
   (it is what serves now and it reached steady state);
2. otherwise the newest last-known-good revision from the ledger (``rollout:good=true``, still
   ACTIVE so ECS can use it);
3. otherwise nothing: a first-ever deploy, or a service whose every revision is unproven.

For ``undo``: the newest last-known-good revision older than the one serving now, or an explicit
revision that ran healthy. A revision registered by a one-off run or by hand is never a target
unless it ran healthy.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rollout.decisions.ledger import LedgerEntry, revision_of
from rollout.model import Service


@dataclass(frozen=True)
class RollbackTarget:
    arn: str
    revision: int | None
    source: str  # "primary-completed" | "last-known-good" | "requested"
    why: str


@dataclass(frozen=True)
class NoTarget:
    why: str


def primary_completed(service: Service) -> bool:
    """True when the PRIMARY deployment reached steady state (COMPLETED) with tasks running.

    A deployment COMPLETED at desiredCount 0 ran nothing, so it proves nothing about its
    revision: it is not "completed" here (never a recorded target, never tagged good).
    Services without ``rolloutState`` count as completed only when PRIMARY is the sole
    deployment and all its desired tasks run.
    """
    primary = service.primary
    if primary is None or service.desired == 0:
        return False
    if primary.rollout_state is not None:
        return primary.rollout_state == "COMPLETED"
    return (
        len(service.deployments) == 1 and primary.desired > 0 and primary.running >= primary.desired
    )


def in_flight(service: Service) -> bool:
    """A deployment is in flight: PRIMARY still IN_PROGRESS (ours, someone else's, or ECS's
    breaker restoring an older one), or, without ``rolloutState``, more than one deployment."""
    primary = service.primary
    if primary is None:
        return False
    if primary.rollout_state is not None:
        return primary.rollout_state == "IN_PROGRESS"
    return len(service.deployments) > 1


def last_known_good(
    ledger: Sequence[LedgerEntry], *, below_revision: int | None = None, exclude: str | None = None
) -> LedgerEntry | None:
    """The newest ACTIVE revision that ran healthy (optionally older than ``below_revision``)."""
    candidates = [
        e
        for e in ledger
        if e.good
        and e.active
        and e.arn != exclude
        and (below_revision is None or e.revision < below_revision)
    ]
    return max(candidates, key=lambda e: e.revision, default=None)


def deploy_rollback_target(
    service: Service, ledger: Sequence[LedgerEntry]
) -> RollbackTarget | NoTarget:
    """The rollback target to record before a deploy writes anything."""
    primary = service.primary
    if primary is not None and primary_completed(service):
        return RollbackTarget(
            arn=primary.task_definition,
            revision=revision_of(primary.task_definition),
            source="primary-completed",
            why=f"the PRIMARY deployment {primary.id} completed on this revision",
        )
    good = last_known_good(ledger)
    if good is not None:
        state = primary.rollout_state if primary else "absent"
        return RollbackTarget(
            arn=good.arn,
            revision=good.revision,
            source="last-known-good",
            why=f"PRIMARY is not COMPLETED ({state}); newest revision that ran healthy",
        )
    return NoTarget(
        why="nothing to roll back to: the PRIMARY deployment has not completed and no revision "
        "in the ledger ever ran healthy (first deploy?)"
    )


def undo_target(
    service: Service,
    ledger: Sequence[LedgerEntry],
    *,
    to_revision: int | None = None,
) -> RollbackTarget | NoTarget:
    """The target of a manual undo."""
    current_arn = service.primary.task_definition if service.primary else service.task_definition
    current = revision_of(current_arn)
    if to_revision is not None:
        entry = next((e for e in ledger if e.revision == to_revision), None)
        if entry is None:
            return NoTarget(why=f"revision {to_revision} does not exist in the family")
        if not entry.active:
            return NoTarget(why=f"revision {to_revision} is {entry.status}; ECS cannot use it")
        if not entry.good:
            return NoTarget(
                why=f"revision {to_revision} never ran healthy as the service's completed "
                "deployment (registered by hand or by a one-off run?), so it is not a rollback "
                "target"
            )
        if entry.arn == current_arn:
            return NoTarget(why=f"revision {to_revision} is already the current revision")
        return RollbackTarget(
            arn=entry.arn, revision=entry.revision, source="requested", why="requested revision"
        )
    good = last_known_good(ledger, below_revision=current, exclude=current_arn)
    if good is None:
        return NoTarget(why=f"no revision older than the current one ({current}) ever ran healthy")
    return RollbackTarget(
        arn=good.arn,
        revision=good.revision,
        source="last-known-good",
        why=f"newest revision before {current} that ran healthy",
    )


def restore_in_flight(
    service: Service, ledger: Sequence[LedgerEntry], *, to_revision: int | None = None
) -> tuple[RollbackTarget, str] | None:
    """An undo or rollback already in flight: (its target, the revision it undoes), or None.

    PRIMARY is IN_PROGRESS on a revision that ran healthy while a deployment of a NEWER revision
    still drains: that is a restore under way (e.g. an undo interrupted while verifying). A
    re-run undo must adopt and verify it, not undo one revision further."""
    primary = service.primary
    if primary is None or not in_flight(service):
        return None
    rev = revision_of(primary.task_definition)
    if rev is None or (to_revision is not None and to_revision != rev):
        return None
    entry = next((e for e in ledger if e.arn == primary.task_definition), None)
    if entry is None or not entry.good:
        return None
    newer = [
        d
        for d in service.deployments
        if d.id != primary.id and (revision_of(d.task_definition) or 0) > rev
    ]
    if not newer:
        return None
    return (
        RollbackTarget(
            arn=primary.task_definition,
            revision=rev,
            source="in-flight",
            why=f"a restore to it is already in flight (deployment {primary.id})",
        ),
        newer[0].task_definition,
    )
