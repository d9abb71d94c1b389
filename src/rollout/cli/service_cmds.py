"""The everyday verbs: restart, scale, run, logs, init and doctor. Parse, dispatch, exit.

The everyday verbs beside deploy. Each parses its flags into its verb's options dataclass and
runs it through :func:`run_verb` (same output formats, error lines and exit-code handling as
``deploy``); the verbs that write take ``--dry-run``.
"""

from __future__ import annotations

from typing import Annotated

import typer

from rollout.engine.interrupt import Interrupt
from rollout.errors import UsageError
from rollout.verbs import restart, scale

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

DryRunOpt = Annotated[
    bool, typer.Option("--dry-run", help="Walk the same path; print each write, send none.")
]


def _positive(name: str, value: float | None) -> None:
    if value is not None and value <= 0:
        typer.echo(f"error: {name} must be a positive number of seconds.", err=True)
        raise typer.Exit(UsageError.exit_code)


@app.command("restart")
def restart_cmd(
    env: EnvOpt = None,
    timeout: Annotated[
        float | None, typer.Option("--timeout", help="Whole-restart timeout in seconds.")
    ] = None,
    no_rollback: NoRollbackOpt = False,
    rollback_on_timeout: RollbackOnTimeoutOpt = False,
    dry_run: DryRunOpt = False,
    config: ConfigOpt = None,
    output: OutputOpt = "auto",
) -> None:
    """Replace every task on the revision in service (forceNewDeployment), watched like a deploy."""
    _positive("--timeout", timeout)
    options = restart.RestartOptions(
        env=env_name(env),
        timeout=timeout,
        no_rollback=no_rollback,
        dry_run=dry_run,
        rollback_on_timeout=rollback_on_timeout,
    )
    interrupt = Interrupt()
    run_verb(
        lambda ctx: restart.run(options, ctx, interrupt=interrupt),
        env=options.env,
        config=config,
        output=output,
        interrupt=interrupt,
    )


@app.command("scale")
def scale_cmd(
    count: Annotated[int, typer.Argument(help="The desired number of tasks (0 stops them all).")],
    env: EnvOpt = None,
    timeout: Annotated[
        float | None,
        typer.Option("--timeout", help="Seconds to wait for the service to settle."),
    ] = None,
    no_rollback: Annotated[
        bool,
        typer.Option("--no-rollback", help="On failure, leave the new desired count in place."),
    ] = False,
    dry_run: DryRunOpt = False,
    config: ConfigOpt = None,
    output: OutputOpt = "auto",
) -> None:
    """Set the desired task count to COUNT and watch the service settle (scale back on failure)."""
    _positive("--timeout", timeout)
    if count < 0:
        typer.echo("error: COUNT must be 0 or more.", err=True)
        raise typer.Exit(UsageError.exit_code)
    options = scale.ScaleOptions(
        desired=count,
        env=env_name(env),
        timeout=timeout,
        no_rollback=no_rollback,
        dry_run=dry_run,
    )
    interrupt = Interrupt()
    run_verb(
        lambda ctx: scale.run(options, ctx, interrupt=interrupt),
        env=options.env,
        config=config,
        output=output,
        interrupt=interrupt,
    )
