"""The everyday verbs: restart, scale, run, logs, init and doctor. Parse, dispatch, exit.

The everyday verbs beside deploy. Each parses its flags into its verb's options dataclass and
runs it through :func:`run_verb` (same output formats, error lines and exit-code handling as
``deploy``); the verbs that write take ``--dry-run``.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer

from rollout.aws import ClientFactory
from rollout.clock import SystemClock
from rollout.context import Context
from rollout.engine.interrupt import Interrupt
from rollout.engine.outcome import Outcome
from rollout.errors import RolloutError, UsageError
from rollout.events import Event
from rollout.report import open_reporter
from rollout.verbs import doctor, init, logs, restart, scale
from rollout.verbs import run as run_verb_module

from . import app
from ._common import (
    REVISION,
    SECONDS,
    TASK_COUNT,
    ClusterOpt,
    ConfigOpt,
    DryRunOpt,
    EnvOpt,
    NoRollbackOpt,
    OutputOpt,
    QuietOpt,
    RegionOpt,
    RollbackOnTimeoutOpt,
    ServiceOpt,
    VerboseOpt,
    bounded,
    env_name,
    run_verb,
    service_overrides,
    usage_exit,
    verbosity,
)


@app.command("restart")
def restart_cmd(
    env: EnvOpt = None,
    timeout: Annotated[
        float | None,
        typer.Option(
            "--timeout",
            help="Whole-restart timeout in seconds.",
            callback=bounded("--timeout", SECONDS),
        ),
    ] = None,
    no_rollback: NoRollbackOpt = False,
    rollback_on_timeout: RollbackOnTimeoutOpt = False,
    dry_run: DryRunOpt = False,
    config: ConfigOpt = None,
    region: RegionOpt = None,
    cluster: ClusterOpt = None,
    service: ServiceOpt = None,
    output: OutputOpt = "auto",
    quiet: QuietOpt = False,
    verbose: VerboseOpt = 0,
) -> None:
    """Replace every task on the revision in service (forceNewDeployment), watched like a deploy."""
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
        overrides=service_overrides(region, cluster, service),
        quiet=quiet,
        verbose=verbose,
    )


@app.command("scale")
def scale_cmd(
    count: Annotated[
        int,
        typer.Argument(
            help="The desired number of tasks (0 stops them all).",
            callback=bounded("COUNT", TASK_COUNT),
        ),
    ],
    env: EnvOpt = None,
    timeout: Annotated[
        float | None,
        typer.Option(
            "--timeout",
            help="Seconds to wait for the service to settle.",
            callback=bounded("--timeout", SECONDS),
        ),
    ] = None,
    no_rollback: Annotated[
        bool,
        typer.Option("--no-rollback", help="On failure, leave the new desired count in place."),
    ] = False,
    dry_run: DryRunOpt = False,
    config: ConfigOpt = None,
    region: RegionOpt = None,
    cluster: ClusterOpt = None,
    service: ServiceOpt = None,
    output: OutputOpt = "auto",
    quiet: QuietOpt = False,
    verbose: VerboseOpt = 0,
) -> None:
    """Set the desired task count to COUNT and watch the service settle (scale back on failure)."""
    if count < 0:
        raise usage_exit(UsageError("failed to scale: COUNT must be 0 or more."))
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
        overrides=service_overrides(region, cluster, service),
        quiet=quiet,
        verbose=verbose,
    )


@app.command(
    "run",
    context_settings={"allow_interspersed_args": False},
)
def run_cmd(
    command: Annotated[
        list[str] | None,
        typer.Argument(help="The command for the container, after `--` (default: the image's)."),
    ] = None,
    env: EnvOpt = None,
    revision: Annotated[
        int | None,
        typer.Option(
            "--revision",
            help="Revision of the family to run (default: the service's).",
            callback=bounded("--revision", REVISION),
        ),
    ] = None,
    container: Annotated[
        str | None,
        typer.Option(
            "--container",
            help="Container to run the command in (default: the first essential one).",
        ),
    ] = None,
    timeout: Annotated[
        float,
        typer.Option(
            "--timeout",
            help="Seconds to wait for the task to stop.",
            callback=bounded("--timeout", SECONDS),
        ),
    ] = 3600.0,
    dry_run: DryRunOpt = False,
    config: ConfigOpt = None,
    region: RegionOpt = None,
    cluster: ClusterOpt = None,
    service: ServiceOpt = None,
    output: OutputOpt = "auto",
    quiet: QuietOpt = False,
    verbose: VerboseOpt = 0,
) -> None:
    """Run a one-off task like the service's (network, roles, secrets); stream its logs; exit
    with its exit code (125 when it could not start).

    Example: rollout run --env prod -- python -m app.migrate --to head
    """
    if revision is not None and revision < 1:
        raise usage_exit(UsageError("failed to run: --revision must be 1 or more."))
    options = run_verb_module.RunOptions(
        command=tuple(command or ()),
        env=env_name(env),
        revision=revision,
        container=container,
        timeout=timeout,
        dry_run=dry_run,
    )
    interrupt = Interrupt()
    run_verb(
        lambda ctx: run_verb_module.run(options, ctx, interrupt=interrupt),
        env=options.env,
        config=config,
        output=output,
        interrupt=interrupt,
        overrides=service_overrides(region, cluster, service),
        quiet=quiet,
        verbose=verbose,
    )


@app.command("logs")
def logs_cmd(
    env: EnvOpt = None,
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="Keep reading new lines until Ctrl-C.")
    ] = False,
    revision: Annotated[
        int | None,
        typer.Option(
            "--revision",
            help="Only tasks of this revision (those ECS still lists).",
            callback=bounded("--revision", REVISION),
        ),
    ] = None,
    task: Annotated[
        str | None, typer.Option("--task", help="Only this task (id or ARN), stopped or not.")
    ] = None,
    since: Annotated[
        str, typer.Option("--since", help="How far back: 30s, 10m, 2h, 1d or an ISO 8601 time.")
    ] = "1h",
    container: Annotated[
        str | None,
        typer.Option("--container", help="Container (default: the first essential one)."),
    ] = None,
    config: ConfigOpt = None,
    region: RegionOpt = None,
    cluster: ClusterOpt = None,
    service: ServiceOpt = None,
    output: OutputOpt = "auto",
    quiet: QuietOpt = False,
    verbose: VerboseOpt = 0,
) -> None:
    """Show the service's container logs from CloudWatch Logs, by revision or task."""
    if task is not None and revision is not None:
        raise usage_exit(
            UsageError("failed to read logs: pass either --task or --revision, not both.")
        )
    options = logs.LogsOptions(
        env=env_name(env),
        follow=follow,
        revision=revision,
        task=task,
        since=since,
        container=container,
    )
    interrupt = Interrupt()
    run_verb(
        lambda ctx: logs.run(options, ctx, interrupt=interrupt),
        env=options.env,
        config=config,
        output=output,
        interrupt=interrupt,
        overrides=service_overrides(region, cluster, service),
        quiet=quiet,
        verbose=verbose,
    )


def _run_unconfigured(
    call: Callable[[Context], Outcome], *, region: str | None, output: str, level: int = 0
) -> None:
    """``run_verb`` for a verb that runs before there is a rollout.toml (``init``): the region
    comes from the flag or the environment, not from a config."""
    environ = dict(os.environ)
    try:
        reporter = open_reporter(output, stream=sys.stdout, environ=environ, verbosity=level)
    except RolloutError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(exc.exit_code) from exc
    region = region or environ.get("AWS_REGION") or environ.get("AWS_DEFAULT_REGION")
    if not region:
        reporter.close()
        typer.echo("error: failed to init: pass --region (or set AWS_REGION).", err=True)
        raise typer.Exit(UsageError.exit_code)
    code = 1
    try:
        ctx = Context(
            factory=ClientFactory.from_env(region=region),
            clock=SystemClock(),
            emit=reporter,
            environ=environ,
        )
        code = call(ctx).exit_code
    except RolloutError as exc:
        typer.echo(f"error: {exc}", err=True)
        code = exc.exit_code
        reporter.record(
            Event(
                "error",
                time.time(),
                str(exc),
                level="error",
                data={"error": type(exc).__name__, "exit_code": exc.exit_code},
            )
        )
    finally:
        reporter.close()
    raise typer.Exit(code)


@app.command("init")
def init_cmd(
    cluster: Annotated[str, typer.Option("--cluster", help="The live service's cluster.")],
    service: Annotated[str, typer.Option("--service", help="The live service.")],
    region: Annotated[
        str | None,
        typer.Option("--region", help="Its region (default $AWS_REGION or $AWS_DEFAULT_REGION)."),
    ] = None,
    env: Annotated[
        str, typer.Option("--env", help="Name of the environment to write ([env.<name>]).")
    ] = "prod",
    config: Annotated[
        Path | None,
        typer.Option("--config", help="Where to write rollout.toml (default ./rollout.toml)."),
    ] = None,
    template: Annotated[
        str,
        typer.Option("--template", help="Template path, relative to rollout.toml's folder."),
    ] = "ecs/taskdef.json",
    force: Annotated[
        bool, typer.Option("--force", help="Overwrite rollout.toml and the template.")
    ] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print both files instead of writing them.")
    ] = False,
    output: OutputOpt = "auto",
    quiet: QuietOpt = False,
    verbose: VerboseOpt = 0,
) -> None:
    """Write rollout.toml and a task-definition template from a live service."""
    chosen = region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or ""
    options = init.InitOptions(
        cluster=cluster,
        service=service,
        region=chosen,
        env=env,
        config=config or Path("rollout.toml"),
        template=template,
        force=force,
        dry_run=dry_run,
    )
    _run_unconfigured(
        lambda ctx: init.run(options, ctx),
        region=chosen or None,
        output=output,
        level=verbosity(quiet, verbose),
    )


@app.command("doctor")
def doctor_cmd(
    env: EnvOpt = None,
    config: ConfigOpt = None,
    region: RegionOpt = None,
    cluster: ClusterOpt = None,
    service: ServiceOpt = None,
    output: OutputOpt = "auto",
    quiet: QuietOpt = False,
    verbose: VerboseOpt = 0,
) -> None:
    """Estimate how long a deploy and a rollback take, and which settings slow them (read-only)."""
    options = doctor.DoctorOptions(env=env_name(env))
    run_verb(
        lambda ctx: doctor.run(options, ctx),
        env=options.env,
        config=config,
        output=output,
        overrides=service_overrides(region, cluster, service),
        quiet=quiet,
        verbose=verbose,
    )
