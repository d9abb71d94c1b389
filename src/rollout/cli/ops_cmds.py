"""``rollout status``, ``rollout history`` and ``rollout prune``: parse, dispatch, exit."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, TypeVar

import typer

from rollout.aws import ClientFactory
from rollout.clock import SystemClock
from rollout.config import load_config
from rollout.context import Context
from rollout.engine.outcome import Outcome
from rollout.errors import RolloutError
from rollout.report import open_reporter
from rollout.verbs import history, prune, status

from . import app

OptionsT = TypeVar("OptionsT")

ENV_HELP = "Environment in rollout.toml ([env.<name>]); default $ROLLOUT_ENV or prod."
OUTPUT_HELP = "auto (console on a TTY, plain lines otherwise), console, plain or json."


def _env(env: str | None) -> str:
    return env or os.environ.get("ROLLOUT_ENV") or "prod"


def dispatch(
    verb: Callable[[OptionsT, Context], Outcome],
    options: OptionsT,
    *,
    env: str,
    config: Path | None,
    output: str,
) -> None:
    """Build the Context (config's region, system clock, a reporter), run ``verb``, exit."""
    environ = dict(os.environ)
    try:
        reporter = open_reporter(output, stream=sys.stdout, environ=environ)
    except RolloutError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(exc.exit_code) from exc
    code = 1
    try:
        cfg = load_config(config, env, environ=environ)
        ctx = Context(
            factory=ClientFactory.from_env(region=cfg.region),
            clock=SystemClock(),
            emit=reporter,
            config_path=config,
            environ=environ,
        )
        code = verb(options, ctx).exit_code
    except RolloutError as exc:
        typer.echo(f"error: {exc}", err=True)
        code = exc.exit_code
    finally:
        reporter.close()
    raise typer.Exit(code)


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
    name = _env(env)
    dispatch(
        status.run,
        status.StatusOptions(env=name, events=events),
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
    name = _env(env)
    dispatch(
        history.run,
        history.HistoryOptions(env=name, limit=limit),
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
    name = _env(env)
    dispatch(
        prune.run,
        prune.PruneOptions(env=name, keep=keep, dry_run=dry_run),
        env=name,
        config=config,
        output=output,
    )
