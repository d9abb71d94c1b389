"""Retention decisions: what ``prune`` may deregister, as a table of cases."""

from __future__ import annotations

import pytest

from rollout.decisions.retention import Revision, plan_prune


def arn(n: int) -> str:
    return f"arn:aws:ecs:ap-northeast-2:123456789012:task-definition/voj:{n}"


def revs(*specs: str) -> list[Revision]:
    """'5' plain, '5g' ledger-good, '5p' outcome pending."""
    out = []
    for spec in specs:
        n = int(spec.rstrip("gp"))
        out.append(
            Revision(arn(n), n, good="g" in spec, outcome="pending" if "p" in spec else None)
        )
    return out


CASES = [
    # id, revisions, keep, current, in_use, rollback_targets, expected deregistered (oldest first)
    ("keeps the newest N", revs("1", "2", "3", "4", "5"), 2, 5, (), (), [1, 2, 3]),
    ("nothing to prune", revs("1", "2"), 5, 2, (), (), []),
    ("order of input does not matter", revs("4", "1", "3", "2"), 1, 4, (), (), [1, 2, 3]),
    ("current is kept even when old", revs("1", "2", "3", "4"), 1, 2, (), (), [1, 3]),
    ("in use by tasks or deployments", revs("1", "2", "3", "4"), 1, 4, (1, 3), (), [2]),
    ("named rollback target", revs("1", "2", "3", "4"), 1, 4, (), (2,), [1, 3]),
    (
        "last good before current is the undo target",
        revs("1g", "2g", "3", "4", "5"),
        1,
        5,
        (),
        (),
        [1, 3, 4],
    ),
    (
        "after a breaker rollback the running old revision stays",
        revs("1g", "2g", "3", "4"),
        1,
        2,
        (),
        (),
        [3],
    ),
    (
        "current good: the previous good stays too",
        revs("1", "2g", "3", "4g"),
        1,
        4,
        (),
        (),
        [1, 3],
    ),
    ("a pending newer revision is a deploy in progress", revs("1", "2", "3p"), 1, 2, (), (), [1]),
    ("an old pending revision is leftover", revs("1p", "2", "3"), 1, 3, (), (), [1, 2]),
    ("first deploy: no current yet", revs("1", "2"), 1, None, (), (), [1]),
    ("only one revision", revs("1"), 1, 1, (), (), []),
]


@pytest.mark.parametrize(
    ("revisions", "keep", "current", "in_use", "targets", "expected"),
    [c[1:] for c in CASES],
    ids=[c[0] for c in CASES],
)
def test_plan_prune(
    revisions: list[Revision],
    keep: int,
    current: int | None,
    in_use: tuple[int, ...],
    targets: tuple[int, ...],
    expected: list[int],
) -> None:
    """Only revisions that are old and not current, in use, a target or last good are pruned."""
    plan = plan_prune(
        revisions,
        keep=keep,
        current=arn(current) if current is not None else None,
        in_use={arn(n) for n in in_use},
        rollback_targets={arn(n) for n in targets},
    )
    assert list(plan.deregister) == [arn(n) for n in expected]
    assert set(plan.kept) | set(plan.deregister) == {r.arn for r in revisions}


def test_every_kept_revision_says_why() -> None:
    """Each kept revision names every rule that protects it; deregistered ones name none."""
    plan = plan_prune(revs("1", "2g", "3", "4"), keep=1, current=arn(4), in_use={arn(3)})
    reasons = {item.revision: item.reasons for item in plan.items}
    assert reasons == {
        4: ("newest 1", "current"),
        3: ("in use",),
        2: ("rollback target", "last known good"),
        1: (),
    }
    assert [i.revision for i in plan.items] == [4, 3, 2, 1]


def test_keep_below_one_is_refused() -> None:
    """keep=0 would leave no revision; the decision refuses it."""
    with pytest.raises(ValueError, match="at least 1"):
        plan_prune(revs("1"), keep=0, current=arn(1))
