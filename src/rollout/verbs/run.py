"""``rollout run [--revision N] -- CMD…``: a one-off task (a migration, a backfill) that runs like
the service's tasks, with its logs streamed, exiting with the task's exit code.

The task uses the revision the service runs (or ``--revision N`` of its family), so it gets the
service's roles, secrets and environment from the task definition and the service's network
configuration (subnets, security groups, public IP), launch type or capacity providers and
platform version; ``CMD…`` replaces the container's command. Nothing about the service changes,
so no lock is taken. The engine is :mod:`rollout.engine.oneoff`; the request, the log stream and
the exit code are decisions in :mod:`rollout.decisions.oneoff` (exit codes: docs/verbs/run.md).
"""

from __future__ import annotations

from dataclasses import dataclass

from rollout.context import Context
from rollout.decisions.oneoff import run_verdict
from rollout.engine.interrupt import Interrupt
from rollout.engine.oneoff import OneOffRequest, run_one_off
from rollout.engine.outcome import Outcome
from rollout.engine.session import Session
from rollout.events import Level
from rollout.verbs._ops import revision_of_family
from rollout.verbs.deploy import engine_settings


@dataclass(frozen=True)
class RunOptions:
    command: tuple[str, ...]
    env: str = "prod"
    revision: int | None = None  # default: the revision the service runs
    container: str | None = None  # default: the first essential container
    timeout: float = 3600.0
    dry_run: bool = False


def run(options: RunOptions, ctx: Context, *, interrupt: Interrupt | None = None) -> Outcome:
    cfg = ctx.load_env(options.env)
    s = Session.from_context(
        ctx, engine_settings(cfg), interrupt=interrupt, dry_run=options.dry_run
    )
    started = s.now()
    s.emit_started(
        "run",
        f"run {' '.join(options.command) or '(image command)'} on {cfg.cluster}/{cfg.service} "
        f"[{cfg.name}]",
        command=list(options.command),
    )
    svc = s.gw.ecs.describe_service(cfg.cluster, cfg.service)
    current = svc.primary.task_definition if svc.primary is not None else svc.task_definition
    task_definition = current
    if options.revision is not None:
        task_definition = revision_of_family(s.gw.ecs, current, options.revision, "run").arn
    result = run_one_off(
        s,
        OneOffRequest(
            task_definition=task_definition,
            command=options.command,
            container=options.container,
            timeout=options.timeout,
        ),
    )
    verdict, code = run_verdict(result.state, result.exit_code)
    level: Level = "success" if result.ok else "error"
    if verdict in ("INTERRUPTED", "TIMED_OUT"):
        level = "warning"
    s.emit(
        "verdict",
        "DRY RUN OK" if result.state == "dry-run" else f"{verdict}: {result.reason}",
        level=level,
        verdict=verdict,
        exit_code=code,
        reason=result.reason,
        task=result.task_arn,
        task_exit_code=result.exit_code,
        dry_run=options.dry_run,
    )
    s.emit_finished(verdict, code, started)
    return Outcome(
        verdict=verdict,
        exit_code=code,
        reason=result.reason,
        task_definition_arn=task_definition,
        details={"task": result.task_arn, "task_exit_code": result.exit_code},
    )
