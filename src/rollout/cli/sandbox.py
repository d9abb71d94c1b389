"""``rollout sandbox up`` and ``rollout sandbox provision``: parse flags, call rollout.sandbox."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from rollout.cli import app
from rollout.cli._common import without_user_aws_config
from rollout.errors import RolloutError

sandbox_app = typer.Typer(
    name="sandbox",
    help="A local AWS endpoint where ECS deployments behave like real ECS.",
    no_args_is_help=True,
)
app.add_typer(sandbox_app, name="sandbox")


def _fail(exc: RolloutError) -> typer.Exit:
    typer.echo(f"error: {exc}", err=True)
    return typer.Exit(exc.exit_code)


@sandbox_app.command("up")
def up(
    host: str = typer.Option("127.0.0.1", help="Address to listen on."),
    port: int = typer.Option(
        4566, min=0, max=65535, help="Port to listen on, 0-65535 (0 picks a free one)."
    ),
    speed: float = typer.Option(10.0, help="Simulated seconds per wall-clock second."),
    faults: Annotated[
        Path | None,
        typer.Option(
            "--faults", help="A TOML or JSON fault plan ([[fault]] tables).", dir_okay=False
        ),
    ] = None,
    region: str = typer.Option(
        "ap-northeast-2", envvar="AWS_REGION", help="The region the sandbox reports."
    ),
) -> None:
    """Serve the sandbox until Ctrl-C; print the environment to export for AWS clients."""
    with without_user_aws_config():
        from rollout.sandbox import run_up

        try:
            run_up(
                host=host,
                port=port,
                speed=speed,
                faults_file=faults,
                region=region,
                echo=lambda line: typer.echo(line),
            )
        except RolloutError as exc:
            raise _fail(exc) from exc


@sandbox_app.command("provision")
def provision(
    endpoint_url: str | None = typer.Option(
        None,
        "--endpoint-url",
        help="The sandbox endpoint (default: $AWS_ENDPOINT_URL).",
    ),
    region: str | None = typer.Option(None, help="Region (default: the sandbox's)."),
    timeout: float = typer.Option(900.0, help="Wall seconds to wait for a steady service."),
) -> None:
    """Create the voj stack on a running `rollout sandbox up` and wait until it is steady.

    Safe to run again (after Ctrl-C too): it finishes what is missing, or reports the stack
    complete.
    """
    with without_user_aws_config():
        from rollout.sandbox import provision_remote

        try:
            provision_remote(
                endpoint_url or os.environ.get("AWS_ENDPOINT_URL"),
                region=region,
                echo=lambda line: typer.echo(line),
                timeout=timeout,
            )
        except RolloutError as exc:
            raise _fail(exc) from exc
