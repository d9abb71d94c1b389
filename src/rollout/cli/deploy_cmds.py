"""``rollout deploy``, ``rollout undo`` and ``rollout watch``: parse, dispatch, exit.

SIGINT and SIGTERM are routed to the engine's interrupt flag while a verb runs, so the engine
stops cleanly (exit 40) instead of dying in the middle of a write.
"""

from __future__ import annotations

import shlex
from typing import Annotated

import typer

from rollout.engine.interrupt import Interrupt
from rollout.errors import UsageError
from rollout.verbs import deploy, undo

from . import app
from ._common import (
    ConfigOpt,
    EnvOpt,
    NoRollbackOpt,
    OutputOpt,
    RollbackOnTimeoutOpt,
    env_name,
    run_verb,
)


@app.command("deploy")
def deploy_cmd(
    image: Annotated[str, typer.Option("--image", help="Image to deploy (repo:tag or digest).")],
    env: EnvOpt = None,
    timeout: Annotated[
        float | None, typer.Option("--timeout", help="Whole-deploy timeout in seconds.")
    ] = None,
    no_rollback: NoRollbackOpt = False,
    rollback_on_timeout: RollbackOnTimeoutOpt = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Walk the same path; print each write, send none.")
    ] = False,
    pre_run: Annotated[
        str | None,
        typer.Option(
            "--pre-run",
            help="Run CMD as a one-off task on the new revision first (e.g. migrations); "
            "if it fails, do not deploy (exit 11).",
        ),
    ] = None,
    config: ConfigOpt = None,
    output: OutputOpt = "auto",
) -> None:
    """Deploy IMAGE: verify, register, update, watch, and roll back automatically on failure."""
    if timeout is not None and timeout <= 0:
        typer.echo("error: --timeout must be a positive number of seconds.", err=True)
        raise typer.Exit(UsageError.exit_code)
    if pre_run is not None:
        try:
            argv = shlex.split(pre_run)
        except ValueError as exc:
            typer.echo(f"error: --pre-run: {exc}.", err=True)
            raise typer.Exit(UsageError.exit_code) from exc
        if not argv:
            typer.echo("error: --pre-run needs a command.", err=True)
            raise typer.Exit(UsageError.exit_code)
    options = deploy.DeployOptions(
        image=image,
        env=env_name(env),
        timeout=timeout,
        no_rollback=no_rollback,
        dry_run=dry_run,
        rollback_on_timeout=rollback_on_timeout,
        pre_run=pre_run,
    )
    interrupt = Interrupt()
    run_verb(
        lambda ctx: deploy.run(options, ctx, interrupt=interrupt),
        env=options.env,
        config=config,
        output=output,
        interrupt=interrupt,
    )


@app.command("undo")
def undo_cmd(
    env: EnvOpt = None,
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
    config: ConfigOpt = None,
    output: OutputOpt = "auto",
) -> None:
    """Roll back now to the last known good revision (or --to-revision N), and verify it."""
    if to_revision is not None and to_last_good:
        typer.echo("error: pass either --to-revision or --to-last-good, not both.", err=True)
        raise typer.Exit(UsageError.exit_code)
    options = undo.UndoOptions(env=env_name(env), to_revision=to_revision, dry_run=dry_run)
    interrupt = Interrupt()
    run_verb(
        lambda ctx: undo.run(options, ctx, interrupt=interrupt),
        env=options.env,
        config=config,
        output=output,
        interrupt=interrupt,
    )


@app.command("watch")
def watch_cmd(
    env: EnvOpt = None,
    timeout: Annotated[
        float | None, typer.Option("--timeout", help="Whole-watch timeout in seconds.")
    ] = None,
    no_rollback: NoRollbackOpt = False,
    rollback_on_timeout: RollbackOnTimeoutOpt = False,
    config: ConfigOpt = None,
    output: OutputOpt = "auto",
) -> None:
    """Resume: watch the deployment in flight to a verdict, rolling back on failure."""
    options = deploy.WatchOptions(
        env=env_name(env),
        timeout=timeout,
        no_rollback=no_rollback,
        rollback_on_timeout=rollback_on_timeout,
    )
    interrupt = Interrupt()
    run_verb(
        lambda ctx: deploy.run_watch(options, ctx, interrupt=interrupt),
        env=options.env,
        config=config,
        output=output,
        interrupt=interrupt,
    )
