"""``rollout status``, ``rollout history`` and ``rollout prune``: parse, dispatch, exit."""

from __future__ import annotations

from typing import Annotated

import typer

from rollout.verbs import history, prune, status

from . import app
from ._common import ConfigOpt, EnvOpt, OutputOpt, env_name, run_verb


@app.command("status")
def status_cmd(
    env: EnvOpt = None,
    events: Annotated[
        int, typer.Option("--events", help="How many recent service events to show.")
    ] = 10,
    config: ConfigOpt = None,
    output: OutputOpt = "auto",
) -> None:
    """Show the service: deployments, tasks, target health, last events and the lock holder."""
    name = env_name(env)
    options = status.StatusOptions(env=name, events=events)
    run_verb(
        lambda ctx: status.run(options, ctx),
        env=name,
        config=config,
        output=output,
    )


@app.command("history")
def history_cmd(
    env: EnvOpt = None,
    limit: Annotated[
        int, typer.Option("--limit", help="How many of the newest revisions to show.")
    ] = 20,
    config: ConfigOpt = None,
    output: OutputOpt = "auto",
) -> None:
    """Show the deploy ledger kept in task-definition tags."""
    name = env_name(env)
    options = history.HistoryOptions(env=name, limit=limit)
    run_verb(
        lambda ctx: history.run(options, ctx),
        env=name,
        config=config,
        output=output,
    )


@app.command("prune")
def prune_cmd(
    keep: Annotated[
        int | None,
        typer.Option("--keep", help="Newest revisions to keep (default: retention.keep)."),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print each deregistration instead of sending it.")
    ] = False,
    env: EnvOpt = None,
    config: ConfigOpt = None,
    output: OutputOpt = "auto",
) -> None:
    """Deregister old task-definition revisions; never one that is current, in use or a target."""
    name = env_name(env)
    options = prune.PruneOptions(env=name, keep=keep, dry_run=dry_run)
    run_verb(
        lambda ctx: prune.run(options, ctx),
        env=name,
        config=config,
        output=output,
    )
