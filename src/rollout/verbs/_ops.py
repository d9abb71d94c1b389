"""Shared plumbing of the read-only and housekeeping verbs (status, history, prune)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from rollout.config import EnvConfig
from rollout.context import Context
from rollout.decisions import ledger
from rollout.engine.outcome import Outcome
from rollout.errors import AwsError, UsageError
from rollout.events import Event
from rollout.gateways.ecs import EcsGateway
from rollout.gateways.ssm import SsmGateway
from rollout.model import TaskDefinition

OK = "OK"


def start(ctx: Context, verb: str, cfg: EnvConfig, *, dry_run: bool = False) -> float:
    at = ctx.clock.now()
    ctx.emit(
        Event(
            "run.started",
            at,
            f"{verb} {cfg.cluster}/{cfg.service} [{cfg.name}]",
            data={
                "verb": verb,
                "env": cfg.name,
                "cluster": cfg.cluster,
                "service": cfg.service,
                "dry_run": dry_run,
            },
            level="debug",
        )
    )
    return at


def finish(ctx: Context, started: float, *, message: str = "done") -> Outcome:
    now = ctx.clock.now()
    ctx.emit(
        Event(
            "run.finished",
            now,
            message,
            level="debug",
            data={
                "verdict": OK,
                "exit_code": 0,
                "seconds": round(now - started, 3),
                "api_calls": ctx.factory.api_call_total,
            },
        )
    )
    return Outcome(verdict=OK, exit_code=0)


def lock_holder(cfg: EnvConfig, ctx: Context) -> tuple[dict[str, Any] | None, bool]:
    """The service lock's holder (None when free) and whether it could be read at all.

    A lock that cannot be read (no permission, a foreign value) shows as unknown, not as free.
    """
    try:
        record = SsmGateway(ctx.factory).read_lock(
            cfg.cluster, cfg.service, prefix=cfg.lock.parameter_prefix
        )
    except AwsError as exc:
        ctx.emit(Event("lock.unreadable", ctx.clock.now(), str(exc), level="warning"))
        return None, False
    if record is None:
        return None, True
    data: dict[str, Any] = asdict(record)
    data["stale"] = ctx.clock.now() > record.expires_at
    return data, True


def revision_of_family(ecs: EcsGateway, current: str, revision: int, verb: str) -> TaskDefinition:
    """Revision ``revision`` of the family of ``current`` (the service's task definition), for
    a verb's ``--revision N``; a usage error (exit 2) naming the family when it has no such
    revision (ECS answers ``ClientException: Unable to describe task definition``)."""
    family = ledger.family_of(current)
    try:
        return ecs.describe_task_definition(f"{family}:{revision}")
    except AwsError as exc:
        if exc.code != "ClientException":
            raise
        raise UsageError(
            f"failed to {verb}: revision {revision} of {family} does not exist.",
            hint="`rollout history` lists the family's revisions.",
        ) from exc
