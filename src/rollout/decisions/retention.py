"""Retention: which old task-definition revisions ``prune`` may deregister. Pure.

Keep the ``keep`` newest revisions, and never deregister, whatever their age:

- the service's current revision (its PRIMARY deployment's task definition);
- anything in use: referenced by any of the service's deployments or by a task that is not
  STOPPED (the caller gathers these ARNs);
- a rollback target: the last-known-good revision before the current one (what ``undo`` picks)
  and any target the caller names (e.g. one recorded by a deploy in progress);
- the last-known-good revision (the newest one the ledger marks ``good``);
- a revision newer than the current one whose ledger outcome is still ``pending``: a deploy may
  have registered it and not yet pointed the service at it.

Deregistering a revision ECS still needs breaks rollbacks (aws/aws-cdk#24372) and fabfuel's
deregister-after-breaker bug (fabfuel/ecs-deploy#185) is exactly this mistake.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Literal

NEWEST = "newest {keep}"
CURRENT = "current"
IN_USE = "in use"
ROLLBACK_TARGET = "rollback target"
LAST_GOOD = "last known good"
PENDING = "deploy in progress"


@dataclass(frozen=True)
class Revision:
    """An ACTIVE revision of the family, as the ledger sees it."""

    arn: str
    revision: int
    good: bool = False
    outcome: str | None = None


@dataclass(frozen=True)
class PruneItem:
    arn: str
    revision: int
    action: Literal["keep", "deregister"]
    reasons: tuple[str, ...] = ()


@dataclass(frozen=True)
class PrunePlan:
    keep: int
    items: tuple[PruneItem, ...]  # newest first

    @property
    def deregister(self) -> tuple[str, ...]:
        """ARNs to deregister, oldest first."""
        return tuple(i.arn for i in reversed(self.items) if i.action == "deregister")

    @property
    def kept(self) -> tuple[str, ...]:
        return tuple(i.arn for i in self.items if i.action == "keep")


def plan_prune(
    revisions: Sequence[Revision],
    *,
    keep: int,
    current: str | None,
    in_use: Collection[str] = (),
    rollback_targets: Collection[str] = (),
) -> PrunePlan:
    """Decide, for every revision, whether to keep or deregister it, and why."""
    if keep < 1:
        raise ValueError(f"keep must be at least 1 (got {keep}): the current revision stays")
    ordered = sorted(revisions, key=lambda r: r.revision, reverse=True)
    current_rev = next((r.revision for r in ordered if r.arn == current), None)
    good = [r for r in ordered if r.good]
    last_good = good[0].arn if good else None
    good_before_current = next(
        (r.arn for r in good if current_rev is None or r.revision < current_rev), None
    )
    targets = set(rollback_targets)
    if good_before_current is not None:
        targets.add(good_before_current)
    items: list[PruneItem] = []
    for index, rev in enumerate(ordered):
        reasons: list[str] = []
        if index < keep:
            reasons.append(NEWEST.format(keep=keep))
        if rev.arn == current:
            reasons.append(CURRENT)
        if rev.arn in in_use:
            reasons.append(IN_USE)
        if rev.arn in targets:
            reasons.append(ROLLBACK_TARGET)
        if rev.arn == last_good:
            reasons.append(LAST_GOOD)
        if rev.outcome == "pending" and (current_rev is None or rev.revision > current_rev):
            reasons.append(PENDING)
        action: Literal["keep", "deregister"] = "keep" if reasons else "deregister"
        items.append(PruneItem(rev.arn, rev.revision, action, tuple(reasons)))
    return PrunePlan(keep=keep, items=tuple(items))
