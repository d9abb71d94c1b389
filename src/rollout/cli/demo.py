"""``rollout demo``: a good release and bad ones on the embedded sandbox (``make demo``)."""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import Annotated, NoReturn

import typer

from rollout.aws import ClientFactory
from rollout.context import Context
from rollout.errors import RolloutError
from rollout.report import open_reporter
from rollout.verbs.demo_story import ACTS, SUMMARY

from . import app
from ._common import (
    PACE,
    OutputFlags,
    bounded_option,
    report_and_exit,
    usage_exit,
    with_flags,
    without_user_aws_config,
)

HELP = (
    f"The demo: {SUMMARY}.\n\n\b\n{ACTS}\n\nActs 1-7 run in-process on a virtual clock; act 8 runs "
    "real task processes at wall speed (about a minute)."
)


@app.command("demo", help=HELP, short_help=SUMMARY[0].upper() + SUMMARY[1:] + ".")
@with_flags
def demo_cmd(
    pace: Annotated[
        float,
        bounded_option("--pace", PACE, help="Wall seconds to pause between acts (0: none)."),
    ] = 0.5,
    compare: Annotated[
        bool,
        typer.Option(
            "--compare/--no-compare",
            help="Replay the bad releases the breaker-only way for the restore comparison.",
        ),
    ] = True,
    progressive: Annotated[
        bool,
        typer.Option(
            "--progressive/--no-progressive",
            help="Act 8: one bad release rolling vs canary, failed requests side by side.",
        ),
    ] = True,
    workload: Annotated[
        bool,
        typer.Option(
            "--workload/--no-workload",
            help="Act 9: real task processes serving a bad release to real requests, counted.",
        ),
    ] = True,
    config: Annotated[
        Path, typer.Option("--config", help="The rollout.toml whose prod environment to use.")
    ] = Path("rollout.toml"),
    *,
    flags: OutputFlags,
) -> None:
    with without_user_aws_config():
        try:
            # from the first moment: loading the sandbox takes seconds, and Ctrl-C or SIGTERM
            # then must stop the demo with its exit code too, not kill it silently
            with _signals_interrupt():
                _demo(pace, compare, progressive, workload, config, flags)
        except KeyboardInterrupt:
            typer.echo(
                "error: demo interrupted before it started: nothing was created. Run "
                "`rollout demo` again to see it.",
                err=True,
            )
            raise typer.Exit(40) from None


def _demo(
    pace: float, compare: bool, progressive: bool, workload: bool, config: Path, flags: OutputFlags
) -> NoReturn:
    # Imported here: the demo needs the sandbox (moto), which production installs lack and
    # which every other command should not pay for.
    from rollout.verbs import demo

    environ = dict(os.environ)
    try:
        reporter = open_reporter(
            flags.output, stream=sys.stdout, environ=environ, verbosity=flags.level
        )
    except RolloutError as exc:
        raise usage_exit(exc) from exc
    # The demo builds its own sandbox-backed factory and virtual clock; these are unused.
    ctx = Context(
        factory=ClientFactory(region="ap-northeast-2"),
        emit=reporter,
        config_path=config,
        environ=environ,
    )
    options = demo.DemoOptions(
        pace=pace, compare=compare, progressive=progressive, workload=workload
    )
    report_and_exit(reporter, lambda: demo.run(options, ctx))


@contextmanager
def _signals_interrupt() -> Iterator[None]:
    """SIGINT and SIGTERM raise KeyboardInterrupt while the demo runs (main thread only), so
    either stops it at once; the verb turns that into its INTERRUPTED verdict (exit 40). Unlike
    a deploy, the demo has no write in flight worth finishing: its whole AWS is in this process."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(_signum: int, _frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    old = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)
