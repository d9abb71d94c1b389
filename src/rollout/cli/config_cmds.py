"""``rollout render``, ``verify``, ``diff`` and ``config``: parse, dispatch, print, exit.

These verbs print a document rather than a live run, so ``-o`` picks the document's form:
``json`` is the machine-readable result; ``auto``, ``console`` and ``plain`` print it for people
(the same text on a terminal and in a pipe). ``-q`` keeps only problems; ``-v`` adds nothing
today (every line is already shown) and is accepted for uniformity.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Annotated, Any

import typer

from rollout.config import load_config
from rollout.engine.outcome import Outcome
from rollout.errors import RolloutError
from rollout.events import EventLog
from rollout.verbs import diff, render, verify

from . import app
from ._common import (
    EnvOpt,
    ImageOpt,
    ImagePolicyOverrideOpt,
    OptionsT,
    OutFileOpt,
    ServiceFlags,
    Verb,
    check_image_flag,
    check_output,
    env_name,
    make_context,
    usage_exit,
    with_flags,
)

#: ``rollout config`` prints JSON unless told otherwise.
JSON_BY_DEFAULT = ServiceFlags(output="json")


def _run(verb: Verb[OptionsT], options: OptionsT, flags: ServiceFlags) -> Outcome:
    """Build a Context (the config's region, system clock, an event log) and run ``verb``;
    a RolloutError is printed (never a traceback) and becomes its exit code."""
    environ = dict(os.environ)
    try:
        ctx = make_context(
            flags.config, options.env, environ=environ, emit=EventLog(), overrides=flags.overrides
        )
        return verb(options, ctx)
    except RolloutError as exc:
        raise usage_exit(exc) from exc


@app.command("render")
@with_flags
def render_cmd(
    env: EnvOpt = None,
    image: ImageOpt = None,
    out_file: OutFileOpt = None,
    *,
    flags: ServiceFlags,
) -> None:
    """Render the task definition: the template with the image swapped and pinned by digest.

    The registration document goes to stdout (or --out-file); with -o json, stdout gets a result
    document instead: {env, image, digest, warnings, out_file, task_definition, deployment}.
    The strategy and its analysis are printed to stderr (stdout stays the document).
    """
    fmt = check_output(flags.output, "render")
    check_image_flag(image)
    name = env_name(env)
    outcome = _run(
        render.run,
        render.RenderOptions(env=name, image=image, output=out_file, overrides=flags.overrides),
        flags,
    )
    warnings = list(outcome.details.get("warnings", []))
    if fmt == "json":
        typer.echo(
            json.dumps(
                {
                    "env": name,
                    "image": outcome.details["image"],
                    "digest": outcome.details.get("digest"),
                    "warnings": warnings,
                    "out_file": str(out_file) if out_file is not None else None,
                    "task_definition": json.loads(outcome.details["json"]),
                    "deployment": outcome.details.get("deployment"),
                },
                indent=2,
            )
        )
        raise typer.Exit(outcome.exit_code)
    for warning in warnings:
        typer.echo(f"warning: {warning}", err=True)
    deployment = outcome.details.get("deployment") or {}
    if deployment and not flags.quiet:
        # stdout stays the registration document; how it will be shipped goes to stderr
        typer.echo(f"strategy: {deployment['summary']}", err=True)
        if deployment.get("analysis"):
            typer.echo(deployment["analysis"], err=True)
        if deployment.get("smoke"):
            typer.echo(deployment["smoke"], err=True)
    if out_file is None:
        typer.echo(outcome.details["json"], nl=False)
    elif not flags.quiet:
        typer.echo(f"wrote {out_file} ({outcome.details['image']})", err=True)
    raise typer.Exit(outcome.exit_code)


@app.command("verify")
@with_flags
def verify_cmd(
    env: EnvOpt = None,
    image: ImageOpt = None,
    image_policy_override: ImagePolicyOverrideOpt = None,
    *,
    flags: ServiceFlags,
) -> None:
    """Preflight, read-only: every check with ✓ ✗ ! and a fix. Exit 0 all pass, 10 any fails."""
    fmt = check_output(flags.output, "verify")
    check_image_flag(image)
    outcome = _run(
        verify.run,
        verify.VerifyOptions(
            env=env_name(env),
            image=image,
            overrides=flags.overrides,
            image_policy_override=image_policy_override,
        ),
        flags,
    )
    report: verify.VerifyReport = outcome.details["report"]
    if fmt == "json":
        text = verify.report_json(report)
    else:
        text = verify.format_report(report, problems_only=flags.quiet)
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
@with_flags
def diff_cmd(
    env: EnvOpt = None,
    image: ImageOpt = None,
    show_values: Annotated[
        bool,
        typer.Option("--show-values", help="Show plain environment values (masked by default)."),
    ] = False,
    *,
    flags: ServiceFlags,
) -> None:
    """Unified diff of the rendered task definition against the live one. Exit 0 same, 1 differs.

    With -o json: {env, live_task_definition, changed, task_definition_diff, service_diff}.
    """
    fmt = check_output(flags.output, "diff")
    check_image_flag(image)
    name = env_name(env)
    outcome = _run(
        diff.run,
        diff.DiffOptions(env=name, image=image, show_values=show_values, overrides=flags.overrides),
        flags,
    )
    result: diff.DiffResult = outcome.details["diff"]
    if fmt == "json":
        doc = {
            "env": name,
            "live_task_definition": result.live_task_definition,
            "changed": result.changed,
            "task_definition_diff": result.task_definition_diff,
            "service_diff": result.service_diff,
        }
        typer.echo(json.dumps(doc, indent=2))
    elif not (flags.quiet and not result.changed):
        typer.echo(result.text(), nl=False)
    raise typer.Exit(outcome.exit_code)


def _flatten(settings: Mapping[str, Any], prefix: str = "") -> list[str]:
    lines: list[str] = []
    for key, value in settings.items():
        if isinstance(value, Mapping):
            lines.extend(_flatten(value, f"{prefix}{key}."))
        else:
            lines.append(f"{prefix}{key} = {json.dumps(value)}")
    return lines


@app.command("config")
@with_flags
def config_cmd(
    env: EnvOpt = None,
    show_values: Annotated[
        bool, typer.Option("--show-values", help="Show `vars` values (masked by default).")
    ] = False,
    *,
    flags: ServiceFlags = JSON_BY_DEFAULT,
) -> None:
    """Print the effective settings of one environment (file + ROLLOUT_* variables + flags).

    -o json (the default) prints one JSON object; plain prints one `key = value` line each.
    """
    fmt = check_output(flags.output, "show the config")
    try:
        cfg = load_config(
            flags.config, env_name(env), environ=dict(os.environ), overrides=flags.overrides
        )
    except RolloutError as exc:
        raise usage_exit(exc) from exc
    settings = cfg.model_dump(mode="json")
    if not show_values:
        settings["vars"] = dict.fromkeys(settings["vars"], "***")
    if fmt == "json":
        typer.echo(json.dumps(settings, indent=2))
    else:
        typer.echo("\n".join(_flatten(settings)))
