"""The everyday verbs: restart, scale, run, logs, init and doctor. Parse, dispatch, exit.

The everyday verbs beside deploy. Each parses its flags into its verb's options dataclass and
runs it through :func:`run_verb` (same output formats, error lines and exit-code handling as
``deploy``); the verbs that write take ``--dry-run``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, NoReturn

import typer

from rollout.aws import ClientFactory
from rollout.clock import SystemClock
from rollout.context import Context
from rollout.engine.outcome import Outcome
from rollout.errors import UsageError
from rollout.verbs import doctor, init, logs, restart, scale
from rollout.verbs import run as run_verb_module

from . import app
from ._common import (
    REVISION,
    SECONDS,
    TASK_COUNT,
    DryRunOpt,
    EnvOpt,
    NoRollbackOpt,
    OutputFlags,
    RollbackOnTimeoutOpt,
    ServiceFlags,
    bounded,
    bounded_option,
    env_name,
    open_or_exit,
    report_and_exit,
    usage_exit,
    with_flags,
)


@app.command("restart")
@with_flags
def restart_cmd(
    env: EnvOpt = None,
    timeout: Annotated[
        float | None,
        bounded_option("--timeout", SECONDS, help="Whole-restart timeout in seconds."),
    ] = None,
    no_rollback: NoRollbackOpt = False,
    rollback_on_timeout: RollbackOnTimeoutOpt = False,
    dry_run: DryRunOpt = False,
    *,
    flags: ServiceFlags,
) -> None:
    """Replace every task on the revision in service (forceNewDeployment), watched like a deploy."""
    options = restart.RestartOptions(
        env=env_name(env),
        timeout=timeout,
        no_rollback=no_rollback,
        dry_run=dry_run,
        rollback_on_timeout=rollback_on_timeout,
    )
    flags.run_interruptible(restart.run, options)


@app.command("scale")
@with_flags
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
        bounded_option("--timeout", SECONDS, help="Seconds to wait for the service to settle."),
    ] = None,
    no_rollback: Annotated[
        bool,
        typer.Option("--no-rollback", help="On failure, leave the new desired count in place."),
    ] = False,
    dry_run: DryRunOpt = False,
    *,
    flags: ServiceFlags,
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
    flags.run_interruptible(scale.run, options)


@app.command(
    "run",
    context_settings={"allow_interspersed_args": False},
)
@with_flags
def run_cmd(
    command: Annotated[
        list[str] | None,
        typer.Argument(help="The command for the container, after `--` (default: the image's)."),
    ] = None,
    env: EnvOpt = None,
    revision: Annotated[
        int | None,
        bounded_option(
            "--revision", REVISION, help="Revision of the family to run (default: the service's)."
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
        bounded_option("--timeout", SECONDS, help="Seconds to wait for the task to stop."),
    ] = 3600.0,
    dry_run: DryRunOpt = False,
    *,
    flags: ServiceFlags,
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
    flags.run_interruptible(run_verb_module.run, options)


@app.command("logs")
@with_flags
def logs_cmd(
    env: EnvOpt = None,
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="Keep reading new lines until Ctrl-C.")
    ] = False,
    revision: Annotated[
        int | None,
        bounded_option(
            "--revision", REVISION, help="Only tasks of this revision (those ECS still lists)."
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
    *,
    flags: ServiceFlags,
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
    flags.run_interruptible(logs.run, options)


def _run_unconfigured(
    call: Callable[[Context], Outcome], *, region: str, flags: OutputFlags
) -> NoReturn:
    """``run_verb`` for a verb that runs before there is a rollout.toml (``init``): the region
    comes from the flag or the environment (``region``; empty: neither), not from a config."""
    environ = dict(os.environ)
    reporter = open_or_exit(flags.output, environ=environ, level=flags.level)

    def run() -> Outcome:
        if not region:
            raise UsageError("failed to init: pass --region (or set AWS_REGION).")
        ctx = Context(
            factory=ClientFactory.from_env(region=region),
            clock=SystemClock(),
            emit=reporter,
            environ=environ,
        )
        return call(ctx)

    report_and_exit(reporter, run)


@app.command("init")
@with_flags
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
    *,
    flags: OutputFlags,
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
    _run_unconfigured(lambda ctx: init.run(options, ctx), region=chosen, flags=flags)


@app.command("doctor")
@with_flags
def doctor_cmd(
    env: EnvOpt = None,
    *,
    flags: ServiceFlags,
) -> None:
    """Estimate how long a deploy and a rollback take, and which settings slow them (read-only)."""
    options = doctor.DoctorOptions(env=env_name(env))
    flags.run(doctor.run, options)
