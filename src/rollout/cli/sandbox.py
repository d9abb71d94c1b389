"""``rollout sandbox up`` and ``rollout sandbox provision``: parse flags, call rollout.sandbox."""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from rollout.cli import app
from rollout.errors import RolloutError

from ._common import OutputOpt, QuietOpt, VerboseOpt, check_output, without_user_aws_config

sandbox_app = typer.Typer(
    name="sandbox",
    help="A local AWS endpoint where ECS deployments behave like real ECS.",
    no_args_is_help=True,
)
app.add_typer(sandbox_app, name="sandbox")


def _fail(exc: RolloutError) -> typer.Exit:
    typer.echo(f"error: {exc}", err=True)
    return typer.Exit(exc.exit_code)


def _up_echo(fmt: str, quiet: bool) -> Callable[[str], None]:
    """How `sandbox up` prints: the lines as they come (``-q``: only the ``export`` lines), or
    with ``-o json`` one JSON object of the variables to export (comments go to stderr)."""
    exports: dict[str, str] = {}

    def echo(line: str) -> None:
        is_export = line.startswith("export ")
        if fmt != "json":
            if is_export or not quiet:
                typer.echo(line)
            return
        if is_export:
            name, _, value = line[len("export ") :].partition("=")
            exports[name] = value
        elif line.startswith("# Ctrl-C") and exports:
            typer.echo(json.dumps({"environment": exports}))
        if not is_export and not quiet:
            typer.echo(line, err=True)

    return echo


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
    output: OutputOpt = "auto",
    quiet: QuietOpt = False,
    verbose: VerboseOpt = 0,
) -> None:
    """Serve the sandbox until Ctrl-C; print the environment to export for AWS clients.

    -o json prints {"environment": {NAME: value}} once serving; -q prints only the exports."""
    fmt = check_output(output, "start the sandbox")
    with without_user_aws_config():
        from rollout.sandbox import run_up

        try:
            run_up(
                host=host,
                port=port,
                speed=speed,
                faults_file=faults,
                region=region,
                echo=_up_echo(fmt, quiet),
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
    output: OutputOpt = "auto",
    quiet: QuietOpt = False,
    verbose: VerboseOpt = 0,
) -> None:
    """Create the voj stack on a running `rollout sandbox up` and wait until it is steady.


    Safe to run again (after Ctrl-C too): it finishes what is missing, or reports the stack
    complete. -o json prints what was built as one JSON object (progress goes to stderr); -q
    prints no progress."""
    fmt = check_output(output, "provision")

    def echo(line: str) -> None:
        if not quiet:
            typer.echo(line, err=fmt == "json")

    with without_user_aws_config():
        from rollout.sandbox import provision_remote

        try:
            result = provision_remote(
                endpoint_url or os.environ.get("AWS_ENDPOINT_URL"),
                region=region,
                echo=echo,
                timeout=timeout,
            )
        except RolloutError as exc:
            raise _fail(exc) from exc
    if fmt == "json":
        built: dict[str, Any] = dataclasses.asdict(result)
        typer.echo(json.dumps(built, indent=2, default=str))
