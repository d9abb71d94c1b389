"""``rollout status``, ``rollout history`` and ``rollout prune``: parse, dispatch, exit."""

from __future__ import annotations

from typing import Annotated

import typer

from rollout.verbs import history, prune, status

from . import app
from ._common import (
    AT_LEAST_ONE,
    NOT_NEGATIVE,
    SECONDS,
    DryRunOpt,
    EnvOpt,
    ServiceFlags,
    bounded_option,
    env_name,
    with_flags,
)


@app.command("status")
@with_flags
def status_cmd(
    env: EnvOpt = None,
    events: Annotated[
        int,
        bounded_option("--events", NOT_NEGATIVE, help="How many recent service events to show."),
    ] = 10,
    watch: Annotated[
        bool, typer.Option("--watch", "-w", help="Refresh until Ctrl-C (every --interval s).")
    ] = False,
    interval: Annotated[
        float,
        bounded_option("--interval", SECONDS, help="Seconds between refreshes with --watch."),
    ] = 5.0,
    count: Annotated[
        int | None,
        bounded_option(
            "--count",
            AT_LEAST_ONE,
            help="With --watch: stop after this many looks (default: Ctrl-C).",
        ),
    ] = None,
    *,
    flags: ServiceFlags,
) -> None:
    """Show the service: deployments, tasks, target health, last events and the lock holder.

    With --watch -o json: one JSON document per look, one per line (JSON lines)."""
    options = status.StatusOptions(
        env=env_name(env), events=events, watch=watch, interval=interval, count=count
    )
    if watch:
        flags.run_interruptible(status.run, options, json_lines=frozenset({"status"}))
    flags.run(status.run, options)


@app.command("history")
@with_flags
def history_cmd(
    env: EnvOpt = None,
    limit: Annotated[
        int,
        bounded_option("--limit", AT_LEAST_ONE, help="How many of the newest revisions to show."),
    ] = 20,
    *,
    flags: ServiceFlags,
) -> None:
    """Show the deploy ledger kept in task-definition tags."""
    options = history.HistoryOptions(env=env_name(env), limit=limit)
    flags.run(history.run, options)


@app.command("prune")
@with_flags
def prune_cmd(
    keep: Annotated[
        int | None,
        bounded_option(
            "--keep", AT_LEAST_ONE, help="Newest revisions to keep (default: retention.keep)."
        ),
    ] = None,
    dry_run: DryRunOpt = False,
    env: EnvOpt = None,
    *,
    flags: ServiceFlags,
) -> None:
    """Deregister old task-definition revisions; never one that is current, in use or a target."""
    options = prune.PruneOptions(env=env_name(env), keep=keep, dry_run=dry_run)
    flags.run(prune.run, options)
