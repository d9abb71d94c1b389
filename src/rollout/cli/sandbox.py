"""``rollout sandbox up|provision|build|alb|traffic``: parse flags, call rollout.sandbox."""

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

from ._common import (
    AT_LEAST_ONE,
    NICE,
    SECONDS,
    OutputFlags,
    bounded,
    check_output,
    usage_exit,
    with_flags,
    without_user_aws_config,
)

sandbox_app = typer.Typer(
    name="sandbox",
    help="A local AWS endpoint where ECS deployments behave like real ECS.",
    no_args_is_help=True,
)
app.add_typer(sandbox_app, name="sandbox")


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
@with_flags
def up(
    host: str = typer.Option("127.0.0.1", help="Address to listen on."),
    port: int = typer.Option(
        4566, min=0, max=65535, help="Port to listen on, 0-65535 (0 picks a free one)."
    ),
    speed: float | None = typer.Option(
        None,
        help="Simulated seconds per wall-clock second (default 10; the process runtime runs at 1).",
    ),
    runtime: str = typer.Option(
        "simulated",
        help="simulated (tasks are a model) or process (each task is a real process of an image "
        "built with `rollout sandbox build`).",
    ),
    preset: str | None = typer.Option(
        None, help="ECS timings: aws (calibrated, the default) or quick (ECS's own delays cut)."
    ),
    max_tasks: int = typer.Option(
        8,
        "--max-tasks",
        help="Process runtime: task processes alive at once, at most.",
        callback=bounded("--max-tasks", AT_LEAST_ONE),
    ),
    boot_nice: int = typer.Option(
        10,
        "--boot-nice",
        help="Process runtime: steps nicer (0-19) a task runs until its app is up, so booting "
        "tasks do not starve the serving ones, the ALB and the clients (0: off).",
        callback=bounded("--boot-nice", NICE),
    ),
    faults: Annotated[
        Path | None,
        typer.Option(
            "--faults", help="A TOML or JSON fault plan ([[fault]] tables).", dir_okay=False
        ),
    ] = None,
    region: str = typer.Option(
        "ap-northeast-2", envvar="AWS_REGION", help="The region the sandbox reports."
    ),
    metrics_period: int = typer.Option(
        60,
        "--metrics-period",
        help="Seconds per ALB metric datapoint and alarm evaluation (AWS: 60; 10 for demos).",
    ),
    *,
    flags: OutputFlags,
) -> None:
    """Serve the sandbox until Ctrl-C; print the environment to export for AWS clients and the
    local URL of each load balancer's listener.

    -o json prints {"environment": {NAME: value}} once serving; -q prints only the exports."""
    fmt = check_output(flags.output, "start the sandbox")
    with without_user_aws_config():
        from rollout.sandbox import run_up

        try:
            run_up(
                host=host,
                port=port,
                speed=speed,
                faults_file=faults,
                region=region,
                echo=_up_echo(fmt, flags.quiet),
                metrics_period=metrics_period,
                runtime=runtime,
                preset=preset,
                max_tasks=max_tasks,
                boot_nice=boot_nice,
            )
        except RolloutError as exc:
            raise usage_exit(exc) from exc


_ENDPOINT = typer.Option(
    None, "--endpoint-url", help="The sandbox endpoint (default: $AWS_ENDPOINT_URL)."
)


def _endpoint(flag: str | None) -> str | None:
    """``--endpoint-url``, else ``$AWS_ENDPOINT_URL``."""
    return flag or os.environ.get("AWS_ENDPOINT_URL")


@sandbox_app.command("build")
@with_flags
def build(
    tag: str = typer.Option(..., "--tag", help="The image tag to push (e.g. v2 or sha-abc1234)."),
    source: Annotated[
        Path | None,
        typer.Option(
            "--source",
            help="A directory laid out like backend/ (default: the working tree's backend/).",
            file_okay=False,
        ),
    ] = None,
    patch: Annotated[
        Path | None,
        typer.Option(
            "--patch",
            help="A unified diff (`git diff` from the repo root) to apply first.",
            dir_okay=False,
        ),
    ] = None,
    repository: str = typer.Option("voj-backend", help="The sandbox ECR repository."),
    endpoint_url: str | None = _ENDPOINT,
    *,
    flags: OutputFlags,
) -> None:
    """Build an image from source into the sandbox's ECR; print its digest-pinned reference
    (-o json: the whole build document; -q: only the reference)."""
    from rollout.sandbox import build_remote

    fmt = check_output(flags.output, "build the image")
    try:
        doc = build_remote(
            _endpoint(endpoint_url),
            tag=tag,
            source=source,
            patch_file=patch,
            repository=repository,
        )
    except RolloutError as exc:
        raise usage_exit(exc) from exc
    if fmt == "json":
        typer.echo(json.dumps(doc))
        return
    if not flags.quiet:
        typer.echo(f"# built {doc['tagged']} ({doc['files']} files), digest {doc['digest']}")
    typer.echo(doc["image"])


@sandbox_app.command("alb")
@with_flags
def alb(
    name: str = typer.Argument(..., help="The load balancer's name."),
    endpoint_url: str | None = _ENDPOINT,
    *,
    flags: OutputFlags,
) -> None:
    """Print the local listener URL of a load balancer on a running `rollout sandbox up`
    (-o json: {"name": ..., "url": ...})."""
    from rollout.sandbox import alb_url_remote

    fmt = check_output(flags.output, "find the load balancer's listener")
    try:
        url = alb_url_remote(_endpoint(endpoint_url), name)
    except RolloutError as exc:
        raise usage_exit(exc) from exc
    typer.echo(json.dumps({"name": name, "url": url}) if fmt == "json" else url)


@sandbox_app.command("traffic")
@with_flags
def traffic(
    alb: str | None = typer.Option(None, "--alb", help="Load balancer name (sandbox up)."),
    url: str | None = typer.Option(None, "--url", help="A loopback URL instead of --alb."),
    rate: float = typer.Option(10.0, help="Requests per second (at most 1000)."),
    duration: float = typer.Option(10.0, help="Seconds to send for (at most 3600)."),
    path: Annotated[
        list[str] | None, typer.Option("--path", help="Path to request; repeat to cycle.")
    ] = None,
    host: str | None = typer.Option(None, "--host", help="Host header to send."),
    timeout: float = typer.Option(10.0, help="Seconds to wait for each answer."),
    *,
    flags: OutputFlags,
    endpoint_url: str | None = _ENDPOINT,
) -> None:
    """Send bounded, steady traffic to a local ALB listener; report failures and latency per
    second and in total. Ctrl-C ends it early and still prints the summary."""
    from rollout.sandbox import run_traffic_command

    fmt = check_output(flags.output, "send traffic")
    try:
        run_traffic_command(
            alb=alb,
            url=url,
            endpoint_url=_endpoint(endpoint_url),
            rate=rate,
            duration=duration,
            paths=tuple(path or ("/",)),
            host=host,
            timeout=timeout,
            output_json=fmt == "json",
            echo=lambda line: typer.echo(line),
        )
    except RolloutError as exc:
        raise usage_exit(exc) from exc


@sandbox_app.command("provision")
@with_flags
def provision(
    endpoint_url: str | None = _ENDPOINT,
    region: str | None = typer.Option(None, help="Region (default: the sandbox's)."),
    timeout: float = typer.Option(
        900.0,
        help="Wall seconds to wait for a steady service.",
        callback=bounded("--timeout", SECONDS),
    ),
    env: Annotated[
        str,
        typer.Option(
            "--env",
            help="Environment of rollout.toml to build: prod (the voj stack of infra/voj.yaml), "
            "or another (e.g. staging), built beside prod (which is built first if missing).",
        ),
    ] = "prod",
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            help="The rollout.toml that defines --env (default: this repository's, beside "
            "infra/voj.yaml, whatever the current folder).",
        ),
    ] = None,
    strategy: str = typer.Option(
        "rolling",
        "--strategy",
        help="ECS deployment strategy of the service: rolling, blue-green, canary or linear "
        "(infra/voj.yaml's DeploymentStrategy).",
    ),
    *,
    flags: OutputFlags,
) -> None:
    """Create the voj stack on a running `rollout sandbox up` and wait until it is steady;
    with --env staging, then staging beside it (its own cluster, service, family, settings,
    log group and roles, from rollout.toml).

    Safe to run again (after Ctrl-C too): it finishes what is missing, or reports the stack
    complete. -o json prints what was built as one JSON object (progress goes to stderr); -q
    prints no progress."""
    fmt = check_output(flags.output, "provision")

    def echo(line: str) -> None:
        if not flags.quiet:
            typer.echo(line, err=fmt == "json")

    with without_user_aws_config():
        from rollout.sandbox import provision_remote

        try:
            result = provision_remote(
                _endpoint(endpoint_url),
                region=region,
                echo=echo,
                timeout=timeout,
                strategy=strategy,
                env=env,
                config=config,
            )
        except RolloutError as exc:
            raise usage_exit(exc) from exc
    if fmt == "json":
        built: dict[str, Any] = dataclasses.asdict(result)
        typer.echo(json.dumps(built, indent=2, default=str))
