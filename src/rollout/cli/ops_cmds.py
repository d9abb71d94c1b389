"""``rollout status``, ``rollout history`` and ``rollout prune``: parse, dispatch, exit."""

from __future__ import annotations

from typing import Annotated

import typer

from rollout.engine.interrupt import Interrupt
from rollout.verbs import history, prune, status

from . import app
from ._common import (
    AT_LEAST_ONE,
    NOT_NEGATIVE,
    SECONDS,
    ClusterOpt,
    ConfigOpt,
    DryRunOpt,
    EnvOpt,
    OutputOpt,
    QuietOpt,
    RegionOpt,
    ServiceOpt,
    VerboseOpt,
    bounded,
    env_name,
    run_verb,
    service_overrides,
)


@app.command("status")
def status_cmd(
    env: EnvOpt = None,
    events: Annotated[
        int,
        typer.Option(
            "--events",
            help="How many recent service events to show.",
            callback=bounded("--events", NOT_NEGATIVE),
        ),
    ] = 10,
    watch: Annotated[
        bool, typer.Option("--watch", "-w", help="Refresh until Ctrl-C (every --interval s).")
    ] = False,
    interval: Annotated[
        float,
        typer.Option(
            "--interval",
            help="Seconds between refreshes with --watch.",
            callback=bounded("--interval", SECONDS),
        ),
    ] = 5.0,
    count: Annotated[
        int | None,
        typer.Option(
            "--count",
            help="With --watch: stop after this many looks (default: Ctrl-C).",
            callback=bounded("--count", AT_LEAST_ONE),
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
    """Show the service: deployments, tasks, target health, last events and the lock holder.

    With --watch -o json: one JSON document per look, one per line (JSON lines)."""
    name = env_name(env)
    options = status.StatusOptions(
        env=name, events=events, watch=watch, interval=interval, count=count
    )
    interrupt = Interrupt()
    run_verb(
        lambda ctx: status.run(options, ctx, interrupt=interrupt),
        env=name,
        config=config,
        output=output,
        interrupt=interrupt if watch else None,
        overrides=service_overrides(region, cluster, service),
        quiet=quiet,
        verbose=verbose,
        json_lines=frozenset({"status"}) if watch else frozenset(),
    )


@app.command("history")
def history_cmd(
    env: EnvOpt = None,
    limit: Annotated[
        int,
        typer.Option(
            "--limit",
            help="How many of the newest revisions to show.",
            callback=bounded("--limit", AT_LEAST_ONE),
        ),
    ] = 20,
    config: ConfigOpt = None,
    region: RegionOpt = None,
    cluster: ClusterOpt = None,
    service: ServiceOpt = None,
    output: OutputOpt = "auto",
    quiet: QuietOpt = False,
    verbose: VerboseOpt = 0,
) -> None:
    """Show the deploy ledger kept in task-definition tags."""
    name = env_name(env)
    options = history.HistoryOptions(env=name, limit=limit)
    run_verb(
        lambda ctx: history.run(options, ctx),
        env=name,
        config=config,
        output=output,
        overrides=service_overrides(region, cluster, service),
        quiet=quiet,
        verbose=verbose,
    )


@app.command("prune")
def prune_cmd(
    keep: Annotated[
        int | None,
        typer.Option(
            "--keep",
            help="Newest revisions to keep (default: retention.keep).",
            callback=bounded("--keep", AT_LEAST_ONE),
        ),
    ] = None,
    dry_run: DryRunOpt = False,
    env: EnvOpt = None,
    config: ConfigOpt = None,
    region: RegionOpt = None,
    cluster: ClusterOpt = None,
    service: ServiceOpt = None,
    output: OutputOpt = "auto",
    quiet: QuietOpt = False,
    verbose: VerboseOpt = 0,
) -> None:
    """Deregister old task-definition revisions; never one that is current, in use or a target."""
    name = env_name(env)
    options = prune.PruneOptions(env=name, keep=keep, dry_run=dry_run)
    run_verb(
        lambda ctx: prune.run(options, ctx),
        env=name,
        config=config,
        output=output,
        overrides=service_overrides(region, cluster, service),
        quiet=quiet,
        verbose=verbose,
    )
