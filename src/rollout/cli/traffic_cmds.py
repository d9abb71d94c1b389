"""``rollout traffic shift`` and ``rollout traffic status`` (Route 53 weights: legacy ↔ new ALB)."""

from __future__ import annotations

from typing import Annotated

import typer

from rollout.verbs import traffic

from . import app
from ._common import DryRunOpt, EnvOpt, ServiceFlags, env_name, with_flags

traffic_app = typer.Typer(
    help="Move clients between the legacy path and the new ALB (Route 53 weighted records).",
    no_args_is_help=True,
)
app.add_typer(traffic_app, name="traffic")


@traffic_app.command("shift")
@with_flags
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
    *,
    flags: ServiceFlags,
) -> None:
    """Shift the Route 53 weights to the new ALB step by step: each step waits for INSYNC and the
    record's TTL, then judges the new path's ALB metrics; a failing step puts it back to 0."""
    options = traffic.ShiftOptions(steps=steps, env=env_name(env), dry_run=dry_run)
    flags.run_interruptible(traffic.run_shift, options)


@traffic_app.command("status")
@with_flags
def status_cmd(
    env: EnvOpt = None,
    *,
    flags: ServiceFlags,
) -> None:
    """Show the weights of the legacy and new paths and each one's share of the queries."""
    options = traffic.StatusOptions(env=env_name(env))
    flags.run(traffic.run_status, options)
