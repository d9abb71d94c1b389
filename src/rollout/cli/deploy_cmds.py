"""``rollout deploy``, ``rollout undo`` and ``rollout watch``: parse, dispatch, exit.

SIGINT and SIGTERM are routed to the engine's interrupt flag while a verb runs, so the engine
stops cleanly (exit 40) instead of dying in the middle of a write.
"""

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
from rollout.engine.interrupt import Interrupt
from rollout.engine.outcome import Outcome
from rollout.errors import RolloutError, UsageError
from rollout.report import open_reporter
from rollout.verbs import deploy, undo

from . import app

OptionsT = TypeVar("OptionsT")

ENV_HELP = "Environment in rollout.toml ([env.<name>]); default $ROLLOUT_ENV or prod."
OUTPUT_HELP = "auto (console on a TTY, plain lines otherwise), console, plain or json."
CONFIG_HELP = "Path to rollout.toml (default ./rollout.toml)."


def _env(env: str | None) -> str:
    return env or os.environ.get("ROLLOUT_ENV") or "prod"


def _dispatch(
    verb: Callable[[OptionsT, Context, Interrupt], Outcome],
    options: OptionsT,
    *,
    env: str,
    config: Path | None,
    output: str,
) -> None:
    environ = dict(os.environ)
    try:
        reporter = open_reporter(output, stream=sys.stdout, environ=environ)
    except RolloutError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(exc.exit_code) from exc
    code = 1
    interrupt = Interrupt()
    try:
        cfg = load_config(config, env, environ=environ)
        ctx = Context(
            factory=ClientFactory.from_env(region=cfg.region),
            clock=SystemClock(),
            emit=reporter,
            config_path=config,
            environ=environ,
        )
        with interrupt.handle_signals():
            code = verb(options, ctx, interrupt).exit_code
    except RolloutError as exc:
        typer.echo(f"error: {exc}", err=True)
        code = exc.exit_code
    finally:
        reporter.close()
    raise typer.Exit(code)


@app.command("deploy")
def deploy_cmd(
    image: Annotated[str, typer.Option("--image", help="Image to deploy (repo:tag or digest).")],
    env: Annotated[str | None, typer.Option("--env", help=ENV_HELP)] = None,
    timeout: Annotated[
        float | None, typer.Option("--timeout", help="Whole-deploy timeout in seconds.")
    ] = None,
    no_rollback: Annotated[
        bool, typer.Option("--no-rollback", help="On failure, leave the service as it is.")
    ] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Walk the same path; print each write, send none.")
    ] = False,
    config: Annotated[Path | None, typer.Option("--config", help=CONFIG_HELP)] = None,
    output: Annotated[str, typer.Option("--output", "-o", help=OUTPUT_HELP)] = "auto",
) -> None:
    """Deploy IMAGE: verify, register, update, watch, and roll back automatically on failure."""
    if timeout is not None and timeout <= 0:
        typer.echo("error: --timeout must be a positive number of seconds.", err=True)
        raise typer.Exit(UsageError.exit_code)
    options = deploy.DeployOptions(
        image=image, env=_env(env), timeout=timeout, no_rollback=no_rollback, dry_run=dry_run
    )
    _dispatch(
        lambda o, c, i: deploy.run(o, c, interrupt=i),
        options,
        env=options.env,
        config=config,
        output=output,
    )


@app.command("undo")
def undo_cmd(
    env: Annotated[str | None, typer.Option("--env", help=ENV_HELP)] = None,
    to_revision: Annotated[
        int | None,
        typer.Option("--to-revision", help="Revision to restore (it must have run healthy)."),
    ] = None,
    to_last_good: Annotated[
        bool,
        typer.Option("--to-last-good", help="The last known good revision (the default)."),
    ] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print the writes instead of sending them.")
    ] = False,
    config: Annotated[Path | None, typer.Option("--config", help=CONFIG_HELP)] = None,
    output: Annotated[str, typer.Option("--output", "-o", help=OUTPUT_HELP)] = "auto",
) -> None:
    """Roll back now to the last known good revision (or --to-revision N), and verify it."""
    if to_revision is not None and to_last_good:
        typer.echo("error: pass either --to-revision or --to-last-good, not both.", err=True)
        raise typer.Exit(UsageError.exit_code)
    options = undo.UndoOptions(env=_env(env), to_revision=to_revision, dry_run=dry_run)
    _dispatch(
        lambda o, c, i: undo.run(o, c, interrupt=i),
        options,
        env=options.env,
        config=config,
        output=output,
    )


@app.command("watch")
def watch_cmd(
    env: Annotated[str | None, typer.Option("--env", help=ENV_HELP)] = None,
    timeout: Annotated[
        float | None, typer.Option("--timeout", help="Whole-watch timeout in seconds.")
    ] = None,
    no_rollback: Annotated[
        bool, typer.Option("--no-rollback", help="On failure, leave the service as it is.")
    ] = False,
    config: Annotated[Path | None, typer.Option("--config", help=CONFIG_HELP)] = None,
    output: Annotated[str, typer.Option("--output", "-o", help=OUTPUT_HELP)] = "auto",
) -> None:
    """Resume: watch the deployment in flight to a verdict, rolling back on failure."""
    options = deploy.WatchOptions(env=_env(env), timeout=timeout, no_rollback=no_rollback)
    _dispatch(
        lambda o, c, i: deploy.run_watch(o, c, interrupt=i),
        options,
        env=options.env,
        config=config,
        output=output,
    )
