"""Reading the ledger (task-definition tags) and recording outcomes on it."""

from __future__ import annotations

from rollout.decisions import ledger
from rollout.decisions.ledger import LedgerEntry
from rollout.engine.session import Session

#: Only the newest revisions are read: enough for any sane rollback, bounded API calls.
LEDGER_DEPTH = 25


def load_ledger(s: Session, family: str, *, depth: int = LEDGER_DEPTH) -> list[LedgerEntry]:
    arns = s.gw.ecs.list_task_definitions(family, status="ACTIVE")[-depth:]
    return [ledger.parse(s.gw.ecs.describe_task_definition(arn)) for arn in arns]


def tag(s: Session, arn: str, tags: dict[str, str], why: str) -> None:
    s.write(
        "ecs",
        "TagResource",
        {"resourceArn": arn, "tags": [{"key": k, "value": v} for k, v in tags.items()]},
        f"ledger: {arn.rsplit('/', 1)[-1]} {why}",
        lambda: s.gw.ecs.tag(arn, tags),
    )
