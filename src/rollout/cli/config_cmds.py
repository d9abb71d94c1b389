"""``rollout render``, ``rollout verify`` and ``rollout diff``: parse, dispatch, print, exit."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from rollout.config import load_config
from rollout.context import Context
from rollout.engine.outcome import Outcome
from rollout.errors import RolloutError, UsageError
from rollout.events import EventLog
from rollout.verbs import diff, render, verify

from . import app
from ._common import ConfigOpt, EnvOpt, env_name, make_context

OptionsT = TypeVar("OptionsT")

IMAGE_HELP = (
    "Image to deploy: a full reference, or a bare tag (sha-1a2b3c4) or digest (sha256:...) in "
    "the configured ECR repository. Default: the template's image."
)

ImageOpt = Annotated[str | None, typer.Option("--image", help=IMAGE_HELP)]
RegionOpt = Annotated[str | None, typer.Option("--region", help="Override `region`.")]
ClusterOpt = Annotated[str | None, typer.Option("--cluster", help="Override `cluster`.")]
ServiceOpt = Annotated[str | None, typer.Option("--service", help="Override `service`.")]


def _run(
    verb: Callable[[OptionsT, Context], Outcome],
    options: OptionsT,
    *,
    env: str,
    config: Path | None,
    overrides: dict[str, Any],
) -> Outcome:
    """Build a Context (the config's region, system clock, an event log) and run ``verb``;
    a RolloutError is printed (never a traceback) and becomes its exit code."""
    environ = dict(os.environ)
    try:
        ctx = make_context(config, env, environ=environ, emit=EventLog(), overrides=overrides)
        return verb(options, ctx)
    except RolloutError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(exc.exit_code) from exc


def _overrides(region: str | None, cluster: str | None, service: str | None) -> dict[str, Any]:
    return {"region": region, "cluster": cluster, "service": service}


@app.command("render")
def render_cmd(
    env: EnvOpt = None,
    image: ImageOpt = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write the JSON here (default: stdout).")
    ] = None,
    config: ConfigOpt = None,
    region: RegionOpt = None,
    cluster: ClusterOpt = None,
    service: ServiceOpt = None,
) -> None:
    """Render the task definition: the template with the image swapped and pinned by digest."""
    name = env_name(env)
    overrides = _overrides(region, cluster, service)
    outcome = _run(
        render.run,
        render.RenderOptions(env=name, image=image, output=output, overrides=overrides),
        env=name,
        config=config,
        overrides=overrides,
    )
    for warning in outcome.details.get("warnings", []):
        typer.echo(f"warning: {warning}", err=True)
    if output is None:
        typer.echo(outcome.details["json"], nl=False)
    else:
        typer.echo(f"wrote {output} ({outcome.details['image']})", err=True)
    raise typer.Exit(outcome.exit_code)


@app.command("verify")
def verify_cmd(
    env: EnvOpt = None,
    image: ImageOpt = None,
    output: Annotated[str, typer.Option("--output", "-o", help="text (default) or json.")] = "text",
    config: ConfigOpt = None,
    region: RegionOpt = None,
    cluster: ClusterOpt = None,
    service: ServiceOpt = None,
) -> None:
    """Preflight, read-only: every check with ✓ ✗ ! and a fix. Exit 0 all pass, 10 any fails."""
    if output not in ("text", "json"):
        exc = UsageError(
            f"failed to verify: unknown --output {output!r}.", hint="Use text or json."
        )
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(exc.exit_code)
    name = env_name(env)
    overrides = _overrides(region, cluster, service)
    outcome = _run(
        verify.run,
        verify.VerifyOptions(env=name, image=image, overrides=overrides),
        env=name,
        config=config,
        overrides=overrides,
    )
    report: verify.VerifyReport = outcome.details["report"]
    text = verify.report_json(report) if output == "json" else verify.format_report(report)
    typer.echo(text, nl=False)
    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary:
        try:
            with open(summary, "a", encoding="utf-8") as fh:
                fh.write(verify.format_markdown(report))
        except OSError as exc:
            typer.echo(f"warning: could not write the step summary {summary}: {exc}", err=True)
    raise typer.Exit(outcome.exit_code)


@app.command("diff")
def diff_cmd(
    env: EnvOpt = None,
    image: ImageOpt = None,
    show_values: Annotated[
        bool,
        typer.Option("--show-values", help="Show plain environment values (masked by default)."),
    ] = False,
    config: ConfigOpt = None,
    region: RegionOpt = None,
    cluster: ClusterOpt = None,
    service: ServiceOpt = None,
) -> None:
    """Unified diff of the rendered task definition against the live one. Exit 0 same, 1 differs."""
    name = env_name(env)
    overrides = _overrides(region, cluster, service)
    outcome = _run(
        diff.run,
        diff.DiffOptions(env=name, image=image, show_values=show_values, overrides=overrides),
        env=name,
        config=config,
        overrides=overrides,
    )
    result: diff.DiffResult = outcome.details["diff"]
    typer.echo(result.text(), nl=False)
    raise typer.Exit(outcome.exit_code)


@app.command("config")
def config_cmd(
    env: EnvOpt = None,
    config: ConfigOpt = None,
    region: RegionOpt = None,
    cluster: ClusterOpt = None,
    service: ServiceOpt = None,
    show_values: Annotated[
        bool, typer.Option("--show-values", help="Show `vars` values (masked by default).")
    ] = False,
) -> None:
    """Print the effective settings of one environment (file + ROLLOUT_* variables + flags)."""
    try:
        cfg = load_config(
            config,
            env_name(env),
            environ=dict(os.environ),
            overrides=_overrides(region, cluster, service),
        )
    except RolloutError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(exc.exit_code) from exc
    settings = cfg.model_dump(mode="json")
    if not show_values:
        settings["vars"] = dict.fromkeys(settings["vars"], "***")
    typer.echo(json.dumps(settings, indent=2))
