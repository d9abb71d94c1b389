"""``rollout deploy``, ``rollout undo`` and ``rollout watch``: parse, dispatch, exit.

SIGINT and SIGTERM are routed to the engine's interrupt flag while a verb runs, so the engine
stops cleanly (exit 40) instead of dying in the middle of a write.
"""

from __future__ import annotations

import shlex
from typing import Annotated

import typer

from rollout.errors import UsageError
from rollout.verbs import deploy, undo

from . import app
from ._common import (
    IMAGE_HELP,
    REVISION,
    SECONDS,
    DryRunOpt,
    EnvOpt,
    ImagePolicyOverrideOpt,
    NoRollbackOpt,
    RollbackOnTimeoutOpt,
    ServiceFlags,
    bounded_option,
    check_image_flag,
    env_name,
    usage_exit,
    with_flags,
)


@app.command("deploy")
@with_flags
def deploy_cmd(
    image: Annotated[str, typer.Option("--image", help=IMAGE_HELP)],
    env: EnvOpt = None,
    timeout: Annotated[
        float | None,
        bounded_option("--timeout", SECONDS, help="Whole-deploy timeout in seconds."),
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
    *,
    flags: ServiceFlags,
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
    flags.run_interruptible(deploy.run, options)


@app.command("undo")
@with_flags
def undo_cmd(
    env: EnvOpt = None,
    to_revision: Annotated[
        int | None,
        bounded_option(
            "--to-revision", REVISION, help="Revision to restore (it must have run healthy)."
        ),
    ] = None,
    to_last_good: Annotated[
        bool,
        typer.Option("--to-last-good", help="The last known good revision (the default)."),
    ] = False,
    timeout: Annotated[
        float | None,
        bounded_option(
            "--timeout",
            SECONDS,
            help="Seconds to wait for the restore to be verified (default: timeouts.healthy).",
        ),
    ] = None,
    dry_run: DryRunOpt = False,
    *,
    flags: ServiceFlags,
) -> None:
    """Roll back now to the last known good revision (or --to-revision N), and verify it."""
    if to_revision is not None and to_last_good:
        raise usage_exit(
            UsageError("failed to undo: pass either --to-revision or --to-last-good, not both.")
        )
    options = undo.UndoOptions(
        env=env_name(env), to_revision=to_revision, dry_run=dry_run, timeout=timeout
    )
    flags.run_interruptible(undo.run, options)


@app.command("watch")
@with_flags
def watch_cmd(
    env: EnvOpt = None,
    timeout: Annotated[
        float | None,
        bounded_option("--timeout", SECONDS, help="Whole-watch timeout in seconds."),
    ] = None,
    no_rollback: NoRollbackOpt = False,
    rollback_on_timeout: RollbackOnTimeoutOpt = False,
    *,
    flags: ServiceFlags,
) -> None:
    """Resume: watch the deployment in flight to a verdict, rolling back on failure."""
    options = deploy.WatchOptions(
        env=env_name(env),
        timeout=timeout,
        no_rollback=no_rollback,
        rollback_on_timeout=rollback_on_timeout,
    )
    flags.run_interruptible(deploy.run_watch, options)
