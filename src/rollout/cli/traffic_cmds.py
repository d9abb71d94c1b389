"""``rollout traffic shift`` and ``rollout traffic status`` (Route 53 weights: legacy ↔ new ALB)."""

from __future__ import annotations

from typing import Annotated

import typer

from rollout.engine.interrupt import Interrupt
from rollout.verbs import traffic

from . import app
from ._common import (
    ClusterOpt,
    ConfigOpt,
    DryRunOpt,
    EnvOpt,
    OutputOpt,
    QuietOpt,
    RegionOpt,
    ServiceOpt,
    VerboseOpt,
    env_name,
    run_verb,
    service_overrides,
)

traffic_app = typer.Typer(
    help="Move clients between the legacy path and the new ALB (Route 53 weighted records).",
    no_args_is_help=True,
)
app.add_typer(traffic_app, name="traffic")


@traffic_app.command("shift")
def shift_cmd(
    steps: Annotated[
        str,
        typer.Option(
            "--steps",
            help="Percentages of the record's queries for the new path, in order, e.g. 10,50,100.",
        ),
    ],
    env: EnvOpt = None,
    dry_run: DryRunOpt = False,
    config: ConfigOpt = None,
    region: RegionOpt = None,
    cluster: ClusterOpt = None,
    service: ServiceOpt = None,
    output: OutputOpt = "auto",
    quiet: QuietOpt = False,
    verbose: VerboseOpt = 0,
) -> None:
    """Shift the Route 53 weights to the new ALB step by step: each step waits for INSYNC and the
    record's TTL, then judges the new path's ALB metrics; a failing step puts it back to 0."""
    options = traffic.ShiftOptions(steps=steps, env=env_name(env), dry_run=dry_run)
    interrupt = Interrupt()
    run_verb(
        lambda ctx: traffic.run_shift(options, ctx, interrupt=interrupt),
        env=options.env,
        config=config,
        output=output,
        interrupt=interrupt,
        overrides=service_overrides(region, cluster, service),
        quiet=quiet,
        verbose=verbose,
    )


@traffic_app.command("status")
def status_cmd(
    env: EnvOpt = None,
    config: ConfigOpt = None,
    region: RegionOpt = None,
    cluster: ClusterOpt = None,
    service: ServiceOpt = None,
    output: OutputOpt = "auto",
    quiet: QuietOpt = False,
    verbose: VerboseOpt = 0,
) -> None:
    """Show the weights of the legacy and new paths and each one's share of the queries."""
    options = traffic.StatusOptions(env=env_name(env))
    run_verb(
        lambda ctx: traffic.run_status(options, ctx),
        env=options.env,
        config=config,
        output=output,
        overrides=service_overrides(region, cluster, service),
        quiet=quiet,
        verbose=verbose,
    )
