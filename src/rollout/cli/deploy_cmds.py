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
    IMAGE_HELP,
    REVISION,
    SECONDS,
    ClusterOpt,
    ConfigOpt,
    DryRunOpt,
    EnvOpt,
    ImagePolicyOverrideOpt,
    NoRollbackOpt,
    OutputOpt,
    QuietOpt,
    RegionOpt,
    RollbackOnTimeoutOpt,
    ServiceOpt,
    VerboseOpt,
    bounded,
    check_image_flag,
    env_name,
    run_verb,
    service_overrides,
    usage_exit,
)


@app.command("deploy")
def deploy_cmd(
    image: Annotated[str, typer.Option("--image", help=IMAGE_HELP)],
    env: EnvOpt = None,
    timeout: Annotated[
        float | None,
        typer.Option(
            "--timeout",
            help="Whole-deploy timeout in seconds.",
            callback=bounded("--timeout", SECONDS),
        ),
    ] = None,
    no_rollback: NoRollbackOpt = False,
    rollback_on_timeout: RollbackOnTimeoutOpt = False,
    dry_run: DryRunOpt = False,
    image_policy_override: ImagePolicyOverrideOpt = None,
    pre_run: Annotated[
        str | None,
        typer.Option(
            "--pre-run",
            help="Run CMD as a one-off task on the new revision first (e.g. migrations); "
            "if it fails, do not deploy (exit 11).",
        ),
    ] = None,
    config: ConfigOpt = None,
    region: RegionOpt = None,
    cluster: ClusterOpt = None,
    service: ServiceOpt = None,
    output: OutputOpt = "auto",
    quiet: QuietOpt = False,
    verbose: VerboseOpt = 0,
) -> None:
    """Deploy IMAGE: verify, register, update, watch, and roll back automatically on failure."""
    check_image_flag(image)
    if pre_run is not None:
        try:
            argv = shlex.split(pre_run)
        except ValueError as exc:
            raise usage_exit(UsageError(f"failed to parse --pre-run: {exc}.")) from None
        if not argv:
            raise usage_exit(UsageError("failed to parse --pre-run: it needs a command."))
    options = deploy.DeployOptions(
        image=image,
        env=env_name(env),
        timeout=timeout,
        no_rollback=no_rollback,
        dry_run=dry_run,
        rollback_on_timeout=rollback_on_timeout,
        image_policy_override=image_policy_override,
        pre_run=pre_run,
    )
    interrupt = Interrupt()
    run_verb(
        lambda ctx: deploy.run(options, ctx, interrupt=interrupt),
        env=options.env,
        config=config,
        output=output,
        interrupt=interrupt,
        overrides=service_overrides(region, cluster, service),
        quiet=quiet,
        verbose=verbose,
    )


@app.command("undo")
def undo_cmd(
    env: EnvOpt = None,
    to_revision: Annotated[
        int | None,
        typer.Option(
            "--to-revision",
            help="Revision to restore (it must have run healthy).",
            callback=bounded("--to-revision", REVISION),
        ),
    ] = None,
    to_last_good: Annotated[
        bool,
        typer.Option("--to-last-good", help="The last known good revision (the default)."),
    ] = False,
    timeout: Annotated[
        float | None,
        typer.Option(
            "--timeout",
            help="Seconds to wait for the restore to be verified (default: timeouts.healthy).",
            callback=bounded("--timeout", SECONDS),
        ),
    ] = None,
    dry_run: DryRunOpt = False,
    config: ConfigOpt = None,
    region: RegionOpt = None,
    cluster: ClusterOpt = None,
    service: ServiceOpt = None,
    output: OutputOpt = "auto",
    quiet: QuietOpt = False,
    verbose: VerboseOpt = 0,
) -> None:
    """Roll back now to the last known good revision (or --to-revision N), and verify it."""
    if to_revision is not None and to_last_good:
        raise usage_exit(
            UsageError("failed to undo: pass either --to-revision or --to-last-good, not both.")
        )
    options = undo.UndoOptions(
        env=env_name(env), to_revision=to_revision, dry_run=dry_run, timeout=timeout
    )
    interrupt = Interrupt()
    run_verb(
        lambda ctx: undo.run(options, ctx, interrupt=interrupt),
        env=options.env,
        config=config,
        output=output,
        interrupt=interrupt,
        overrides=service_overrides(region, cluster, service),
        quiet=quiet,
        verbose=verbose,
    )


@app.command("watch")
def watch_cmd(
    env: EnvOpt = None,
    timeout: Annotated[
        float | None,
        typer.Option(
            "--timeout",
            help="Whole-watch timeout in seconds.",
            callback=bounded("--timeout", SECONDS),
        ),
    ] = None,
    no_rollback: NoRollbackOpt = False,
    rollback_on_timeout: RollbackOnTimeoutOpt = False,
    config: ConfigOpt = None,
    region: RegionOpt = None,
    cluster: ClusterOpt = None,
    service: ServiceOpt = None,
    output: OutputOpt = "auto",
    quiet: QuietOpt = False,
    verbose: VerboseOpt = 0,
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
        overrides=service_overrides(region, cluster, service),
        quiet=quiet,
        verbose=verbose,
    )
