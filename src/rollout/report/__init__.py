"""Rendering the event stream: live console, plain lines, a JSON result, GitHub summary/outputs.

    reporter = open_reporter("auto", stream=sys.stdout, environ=os.environ)
    ctx = Context(factory, clock, emit=reporter)
    outcome = deploy.run(options, ctx)
    reporter.close()          # JSON document, step summary and outputs are written here

``output`` picks the renderer: ``console`` (rich live panel), ``plain`` (timestamped lines),
``json`` (nothing while running, one result document at close; with ``json_lines``, one compact
document per event of those kinds as it happens, e.g. each look of ``status --watch``) or
``auto`` (console on a TTY, plain otherwise). Independently, when ``GITHUB_STEP_SUMMARY`` /
``GITHUB_OUTPUT`` are set the reporter appends the step summary and the step outputs at close,
for runs that reached a verdict (deploy, undo, watch; not status or history). Renderers only
render: every fact they show comes from an event.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Literal, TextIO

from rollout.errors import UsageError
from rollout.events import Event
from rollout.report.console import ConsoleRenderer
from rollout.report.github import write_outputs, write_step_summary
from rollout.report.plain import PlainRenderer
from rollout.report.result import build_result

Output = Literal["auto", "console", "plain", "json"]
OUTPUTS: tuple[str, ...] = ("auto", "console", "plain", "json")

__all__ = ["OUTPUTS", "Output", "Reporter", "build_result", "open_reporter"]


class Reporter:
    """An event sink that keeps every event, forwards it to one renderer, and finishes at close."""

    def __init__(
        self,
        render: Callable[[Event], None] | None,
        *,
        finish: Callable[[], None] | None = None,
        json_stream: TextIO | None = None,
        step_summary: Path | None = None,
        github_output: Path | None = None,
        fallback_stream: TextIO | None = None,
        json_lines: frozenset[str] = frozenset(),
    ) -> None:
        self.events: list[Event] = []
        self._json_lines = json_lines
        self._lines_written = 0
        self._fallback_stream = fallback_stream
        self._render = render
        self._finish = finish
        self._json_stream = json_stream
        self._step_summary = step_summary
        self._github_output = github_output
        self._closed = False

    def __call__(self, event: Event) -> None:
        self.events.append(event)
        if self._json_stream is not None and event.kind in self._json_lines:
            self._write_line(event)
        if self._render is None:
            return
        try:
            self._render(event)
        except Exception as exc:  # a display bug must never abort a rollout
            self._fallback(event, exc)

    def record(self, event: Event) -> None:
        """Keep ``event`` for the result document and the summary without rendering it (the
        caller already printed it, e.g. the CLI's one ``error:`` line on stderr)."""
        self.events.append(event)

    def _fallback(self, event: Event, exc: Exception) -> None:
        """Show an event a renderer choked on as a bare line, and carry on."""
        stream = self._fallback_stream or sys.stderr
        stream.write(
            f"{event.level.upper()} {event.message} "
            f"(could not render {event.kind}: {type(exc).__name__}: {exc})\n"
        )
        stream.flush()

    def _write_line(self, event: Event) -> None:
        """One JSON line for ``event``: the document a run of just this event would print (the
        run's start, then the event), so each line reads like a single look's ``-o json``."""
        assert self._json_stream is not None
        started = [e for e in self.events if e.kind == "run.started"][:1]
        doc = build_result([*started, event])
        self._json_stream.write(json.dumps(doc, default=str) + "\n")
        self._json_stream.flush()
        self._lines_written += 1

    def result(self) -> dict[str, Any]:
        """The result document of the events so far."""
        return build_result(self.events)

    def close(self) -> None:
        """Stop live output; print the JSON document; write GitHub summary and outputs."""
        if self._closed:
            return
        self._closed = True
        if self._finish is not None:
            self._finish()
        result = self.result()
        if self._json_stream is not None and self._json_lines:
            # JSON lines: the looks are printed; a last line only says why the run failed (or
            # that there was nothing to print), so every line is a whole document.
            if result["error"] is not None or not self._lines_written:
                self._json_stream.write(json.dumps(result, default=str) + "\n")
                self._json_stream.flush()
        elif self._json_stream is not None:
            self._json_stream.write(json.dumps(result, indent=2, default=str) + "\n")
            self._json_stream.flush()
        # Summary and outputs describe a rollout (deploy, undo, watch): runs with a verdict.
        if not any(e.kind == "verdict" for e in self.events):
            return
        for path, write in (
            (self._step_summary, write_step_summary),
            (self._github_output, write_outputs),
        ):
            if path is None:
                continue
            try:
                write(path, result)
            except OSError as exc:  # the run's outcome stands; say what was not written
                sys.stderr.write(f"warning: could not write {path}: {exc.strerror or exc}\n")

    def __enter__(self) -> Reporter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _is_tty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def open_reporter(
    output: str = "auto",
    *,
    stream: TextIO | None = None,
    environ: Mapping[str, str] | None = None,
    verbosity: int = 0,
    json_lines: frozenset[str] = frozenset(),
) -> Reporter:
    """A :class:`Reporter` for ``output`` (``auto|console|plain|json``) writing to ``stream``.

    ``json_lines`` (kinds of events): with ``json``, print one compact document per such event
    as it comes (JSON lines) instead of one document at the end.

    ``verbosity`` (``-q`` → -1, ``-v`` → 1) filters what console and plain show: quiet keeps
    warnings, errors, the verdict and report tables; verbose adds debug events (every poll).
    The JSON document always holds every event.
    """
    stream = stream if stream is not None else sys.stdout
    environ = environ if environ is not None else os.environ
    if output not in OUTPUTS:
        raise UsageError(
            f"failed to choose an output: unknown --output {output!r}.",
            hint=f"Use one of: {', '.join(OUTPUTS)}.",
        )
    if output == "auto":
        output = "console" if _is_tty(stream) and environ.get("TERM") != "dumb" else "plain"
    summary = environ.get("GITHUB_STEP_SUMMARY") or None
    gh_output = environ.get("GITHUB_OUTPUT") or None
    common: dict[str, Any] = {
        "step_summary": Path(summary) if summary else None,
        "github_output": Path(gh_output) if gh_output else None,
    }
    if output == "json":
        return Reporter(None, json_stream=stream, json_lines=json_lines, **common)
    if output == "console":
        console = ConsoleRenderer(
            stream, live=_is_tty(stream) and verbosity >= 0, verbose=verbosity > 0
        )
        return Reporter(
            shown(console, verbosity), finish=console.close, fallback_stream=stream, **common
        )
    plain = PlainRenderer(
        stream, annotations=environ.get("GITHUB_ACTIONS") == "true", verbose=verbosity > 0
    )
    return Reporter(shown(plain, verbosity), finish=plain.close, fallback_stream=stream, **common)


#: Kinds a quiet run still shows: the outcome and the report a read-only verb exists to print.
QUIET_KINDS = frozenset({"verdict", "status", "history", "prune.plan", "demo.summary"})


def shown(render: Callable[[Event], None], verbosity: int) -> Callable[[Event], None]:
    """``render`` behind the ``-q`` filter (normal and verbose runs see every event)."""
    if verbosity >= 0:
        return render

    def quiet(event: Event) -> None:
        if event.level in ("warning", "error") or event.kind in QUIET_KINDS:
            render(event)

    return quiet
