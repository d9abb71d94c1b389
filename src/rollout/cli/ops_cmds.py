"""``rollout status``, ``rollout history`` and ``rollout prune``: parse, dispatch, exit."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from rollout.verbs import history, prune, status

from . import app
from ._common import ENV_HELP, OUTPUT_HELP, env_name, run_verb


@app.command("status")
def status_cmd(
    env: Annotated[str | None, typer.Option("--env", help=ENV_HELP)] = None,
    events: Annotated[
        int, typer.Option("--events", help="How many recent service events to show.")
    ] = 10,
    config: Annotated[Path | None, typer.Option("--config", help="Path to rollout.toml.")] = None,
    output: Annotated[str, typer.Option("--output", "-o", help=OUTPUT_HELP)] = "auto",
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
    env: Annotated[str | None, typer.Option("--env", help=ENV_HELP)] = None,
    limit: Annotated[
        int, typer.Option("--limit", help="How many of the newest revisions to show.")
    ] = 20,
    config: Annotated[Path | None, typer.Option("--config", help="Path to rollout.toml.")] = None,
    output: Annotated[str, typer.Option("--output", "-o", help=OUTPUT_HELP)] = "auto",
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
    env: Annotated[str | None, typer.Option("--env", help=ENV_HELP)] = None,
    config: Annotated[Path | None, typer.Option("--config", help="Path to rollout.toml.")] = None,
    output: Annotated[str, typer.Option("--output", "-o", help=OUTPUT_HELP)] = "auto",
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
