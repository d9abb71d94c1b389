"""What every command module shares: help texts, the environment name, and running one verb.

``run_verb`` builds the :class:`~rollout.context.Context` (the config's region, the system clock,
a reporter for the chosen output), runs the verb, prints a :class:`RolloutError` as one line
(never a traceback) and exits with the outcome's code.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Annotated, Any

import typer

from rollout.aws import ClientFactory
from rollout.clock import SystemClock
from rollout.config import load_config
from rollout.context import Context
from rollout.engine.interrupt import Interrupt
from rollout.engine.outcome import Outcome
from rollout.errors import RolloutError
from rollout.events import Event, EventSink
from rollout.report import open_reporter

ENV_HELP = "Environment in rollout.toml ([env.<name>]); default $ROLLOUT_ENV or prod."
OUTPUT_HELP = "auto (console on a TTY, plain lines otherwise), console, plain or json."
CONFIG_HELP = "Path to rollout.toml (default ./rollout.toml)."


# Options several commands share, declared once.
EnvOpt = Annotated[str | None, typer.Option("--env", help=ENV_HELP)]
ConfigOpt = Annotated[Path | None, typer.Option("--config", help=CONFIG_HELP)]
OutputOpt = Annotated[str, typer.Option("--output", "-o", help=OUTPUT_HELP)]
NoRollbackOpt = Annotated[
    bool, typer.Option("--no-rollback", help="On failure, leave the service as it is.")
]
RollbackOnTimeoutOpt = Annotated[
    bool,
    typer.Option(
        "--rollback-on-timeout",
        help="On TIMED_OUT, roll back too (default: leave ECS and its breaker to carry on).",
    ),
]


def env_name(env: str | None) -> str:
    return env or os.environ.get("ROLLOUT_ENV") or "prod"


def make_context(
    config: Path | None,
    env: str,
    *,
    environ: Mapping[str, str],
    emit: EventSink,
    overrides: Mapping[str, Any] | None = None,
) -> Context:
    """Load the environment's config and build the Context a verb runs with."""
    cfg = load_config(config, env, environ=environ, overrides=dict(overrides or {}))
    return Context(
        factory=ClientFactory.from_env(region=cfg.region),
        clock=SystemClock(),
        emit=emit,
        config_path=config,
        environ=dict(environ),
    )


def run_verb(
    call: Callable[[Context], Outcome],
    *,
    env: str,
    config: Path | None,
    output: str,
    interrupt: Interrupt | None = None,
) -> None:
    """Run ``call`` with a fresh Context and reporter; exit with its outcome's code.

    With ``interrupt``, SIGINT and SIGTERM set its flag while the verb runs, so the engine stops
    cleanly (exit 40) instead of dying in the middle of a write.
    """
    environ = dict(os.environ)
    try:
        reporter = open_reporter(output, stream=sys.stdout, environ=environ)
    except RolloutError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(exc.exit_code) from exc
    code = 1
    try:
        ctx = make_context(config, env, environ=environ, emit=reporter)
        if interrupt is None:
            code = call(ctx).exit_code
        else:
            with interrupt.handle_signals():
                code = call(ctx).exit_code
    except RolloutError as exc:
        typer.echo(f"error: {exc}", err=True)
        code = exc.exit_code
        # the JSON result and the CI summary say why the run ended without a verdict; the
        # message is printed once (the line above), so the renderers do not show it again
        reporter.record(
            Event(
                "error",
                time.time(),
                str(exc),
                level="error",
                data={"error": type(exc).__name__, "exit_code": exc.exit_code},
            )
        )
    finally:
        reporter.close()
    raise typer.Exit(code)
