"""``rollout prune --keep N [--dry-run]``: deregister old task-definition revisions, safely.

The verb reads the service, its tasks and the ledger, asks
:func:`rollout.decisions.retention.plan_prune` what may go, and deregisters exactly that (or, in
a dry run, prints each ``DeregisterTaskDefinition`` it would send). It refuses while the service
lock is held: a deploy in flight may still need any revision.
"""

from __future__ import annotations

from dataclasses import dataclass

from rollout.config import EnvConfig
from rollout.context import Context
from rollout.decisions import ledger
from rollout.decisions.retention import PrunePlan, Revision, plan_prune
from rollout.engine.outcome import Outcome
from rollout.errors import LockHeld, UsageError
from rollout.events import Event
from rollout.gateways.ecs import EcsGateway
from rollout.verbs._ops import finish, lock_holder, start


@dataclass(frozen=True)
class PruneOptions:
    env: str = "prod"
    #: Newest revisions to keep; None uses ``retention.keep`` from the config.
    keep: int | None = None
    dry_run: bool = False


def plan(cfg: EnvConfig, ctx: Context, *, keep: int) -> PrunePlan:
    """Read what is in use and the ledger, and decide (no writes)."""
    ecs = EcsGateway(ctx.factory)
    svc = ecs.describe_service(cfg.cluster, cfg.service)
    family = ledger.family_of(svc.task_definition)
    revisions = []
    for arn in ecs.list_task_definitions(family, status="ACTIVE"):
        entry = ledger.parse(ecs.describe_task_definition(arn))
        revisions.append(Revision(arn, entry.revision, good=entry.good, outcome=entry.outcome))
    in_use = {d.task_definition for d in svc.deployments}
    task_arns = ecs.list_tasks(cfg.cluster, family=family)
    in_use |= {t.task_definition for t in ecs.describe_tasks(cfg.cluster, task_arns)}
    primary = svc.primary
    current = primary.task_definition if primary is not None else svc.task_definition
    return plan_prune(revisions, keep=keep, current=current, in_use=in_use)


def apply(cfg: EnvConfig, ctx: Context, *, keep: int, dry_run: bool) -> PrunePlan:
    """Plan, emit the plan, then deregister (or print, in a dry run) each revision it names."""
    decided = plan(cfg, ctx, keep=keep)
    ctx.emit(
        Event(
            "prune.plan",
            ctx.clock.now(),
            f"keep {len(decided.kept)} revisions, deregister {len(decided.deregister)}",
            data={
                "keep": keep,
                "dry_run": dry_run,
                "items": [
                    {
                        "arn": i.arn,
                        "revision": i.revision,
                        "action": i.action,
                        "reasons": list(i.reasons),
                    }
                    for i in decided.items
                ],
            },
        )
    )
    ecs = EcsGateway(ctx.factory)
    for arn in decided.deregister:
        name = arn.rsplit("/", 1)[-1]
        if dry_run:
            ctx.emit(
                Event(
                    "write.dry_run",
                    ctx.clock.now(),
                    f"would deregister {name}",
                    data={
                        "service": "ecs",
                        "operation": "DeregisterTaskDefinition",
                        "request": {"taskDefinition": arn},
                    },
                )
            )
            continue
        ecs.deregister_task_definition(arn)
        ctx.emit(
            Event(
                "write",
                ctx.clock.now(),
                f"deregistered {name}",
                data={
                    "service": "ecs",
                    "operation": "DeregisterTaskDefinition",
                    "summary": arn,
                },
            )
        )
    return decided


def run(options: PruneOptions, ctx: Context) -> Outcome:
    cfg = ctx.load_env(options.env)
    keep = options.keep if options.keep is not None else cfg.retention.keep
    if keep < 1:
        raise UsageError(
            f"failed to prune: --keep must be at least 1 (got {keep}).",
            hint="The current revision always stays; pass --keep 10, for example.",
        )
    started = start(ctx, "prune", cfg, dry_run=options.dry_run)
    holder, _ = lock_holder(cfg, ctx)
    if holder is not None and not holder.get("stale"):
        raise LockHeld(
            f"failed to prune {cfg.cluster}/{cfg.service}: a deploy holds the service lock "
            f"({holder.get('holder')}).",
            hint="Prune after it finishes; a deploy in flight may still need any revision.",
        )
    decided = apply(cfg, ctx, keep=keep, dry_run=options.dry_run)
    message = (
        "DRY RUN OK: nothing was deregistered"
        if options.dry_run
        else f"deregistered {len(decided.deregister)} revisions"
    )
    ctx.emit(Event("prune.done", ctx.clock.now(), message, level="success"))
    return finish(ctx, started)
