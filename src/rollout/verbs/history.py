"""``rollout history``: the deploy ledger, read back from task-definition tags.

Lists the family's revisions (ACTIVE and deregistered), newest first, and describes the newest
``limit`` of them with their tags: revision, image, git sha, outcome, start and end, actor.
Revisions registered outside rollout show without an outcome. No extra infrastructure.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rollout.config import EnvConfig
from rollout.context import Context
from rollout.decisions import ledger
from rollout.engine.outcome import Outcome
from rollout.errors import UsageError
from rollout.events import Event
from rollout.gateways.ecs import EcsGateway
from rollout.model import TaskDefinition
from rollout.verbs._ops import finish, start


@dataclass(frozen=True)
class HistoryOptions:
    env: str = "prod"
    limit: int = 20


def revisions(cfg: EnvConfig, ctx: Context, *, limit: int) -> tuple[str, str, list[TaskDefinition]]:
    """(family, current task-definition ARN, the newest ``limit`` revisions with their tags)."""
    ecs = EcsGateway(ctx.factory)
    svc = ecs.describe_service(cfg.cluster, cfg.service)
    family = ledger.family_of(svc.task_definition)
    arns = ecs.list_task_definitions(family, status="ACTIVE") + ecs.list_task_definitions(
        family, status="INACTIVE"
    )
    newest = sorted(set(arns), key=lambda a: ledger.revision_of(a) or 0, reverse=True)[:limit]
    return (
        family,
        svc.task_definition,
        [ecs.describe_task_definition(a) for a in newest],
    )


def _image(td: TaskDefinition) -> str | None:
    """The first container's image: what a revision registered by hand runs."""
    containers = td.document.get("containerDefinitions") or []
    return str(containers[0].get("image")) if containers else None


def _row(entry: ledger.LedgerEntry, image: str | None, current: str) -> dict[str, Any]:
    return {
        "revision": entry.revision,
        "arn": entry.arn,
        "status": entry.status,
        "image": entry.image or image,
        "digest": entry.digest,
        "git_sha": entry.git_sha,
        "outcome": entry.outcome,
        "started_at": entry.started_at,
        "finished_at": entry.finished_at,
        "actor": entry.actor,
        "run_url": entry.run_url,
        "deployment_id": entry.deployment_id,
        "good": entry.good,
        "current": entry.arn == current,
    }


def run(options: HistoryOptions, ctx: Context) -> Outcome:
    if options.limit < 1:
        raise UsageError(
            f"failed to read history: --limit must be at least 1 (got {options.limit}).",
            hint="Pass --limit 20, for example.",
        )
    cfg = ctx.load_env(options.env)
    started = start(ctx, "history", cfg)
    family, current, found = revisions(cfg, ctx, limit=options.limit)
    rows = [_row(ledger.parse(td), _image(td), current) for td in found]
    ctx.emit(
        Event(
            "history",
            ctx.clock.now(),
            f"{len(rows)} revisions of {family}",
            data={"family": family, "current": current, "entries": rows},
        )
    )
    return finish(ctx, started)
