"""Plain timestamped lines, one per event: what CI logs and pipes get.

Each line is ``HH:MM:SSZ +SECONDSs LEVEL message``, the offset counted from the run's first
event. Debug events are left out, except polls (``observation``), which print whenever what
they show changes, so a 10-minute watch shows progress without 120 identical lines.
Inside GitHub Actions, warnings and errors are also emitted as workflow-command annotations.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Mapping
from typing import Any, TextIO

from rich.console import Console, Group, RenderableType
from rich.table import Table

from rollout.events import Event
from rollout.report.tables import RENDERABLES

_SECONDS = re.compile(r"\d(\.\d+)?\s?s\b")

LEVEL_TAGS = {
    "debug": "DEBUG",
    "info": "INFO",
    "success": "OK",
    "warning": "WARN",
    "error": "ERROR",
}


def clock_time(at: float) -> str:
    """``at`` (epoch seconds) as ``HH:MM:SSZ``."""
    return time.strftime("%H:%M:%S", time.gmtime(at)) + "Z"


def describe_deployments(data: Mapping[str, Any]) -> str:
    """A one-line summary of an ``observation``'s deployments and target counts."""
    parts: list[str] = []
    deployments = data.get("deployments")
    if isinstance(deployments, list):
        for dep in deployments:
            if not isinstance(dep, Mapping):
                continue
            label = str(dep.get("status") or dep.get("id") or "?")
            td = str(dep.get("task_definition") or "")
            revision = td.rsplit("/", 1)[-1] if td else ""
            counts = (
                f"{dep.get('running', '?')}/{dep.get('desired', '?')} running"
                f", {dep.get('pending', 0)} pending"
            )
            failed = dep.get("failed") or dep.get("failed_tasks")
            if failed:
                counts += f", {failed} failed"
            state = dep.get("rollout_state")
            parts.append(f"{label} {revision} {counts}{f' [{state}]' if state else ''}".strip())
    keys = ("healthy", "unhealthy", "initial", "draining")
    health = [f"{k} {data[k]}" for k in keys if k in data]
    if health:
        parts.append("targets: " + ", ".join(health))
    return "; ".join(parts)


def detail(event: Event) -> str:
    """Extra text a known kind adds after its message (empty when the message says it all)."""
    d = event.data
    match event.kind:
        case "write.dry_run":
            request = d.get("request")
            if request is None:
                return ""
            return " " + json.dumps(request, sort_keys=True, default=str)
        case "task.stopped":
            bits = [
                str(v)
                for v in (d.get("stop_code"), d.get("stopped_reason"))
                if v and str(v) not in event.message
            ]
            codes = d.get("exit_codes")
            if codes and "exit" not in event.message:
                bits.append(f"exit codes {codes}")
            return f" ({'; '.join(bits)})" if bits else ""
        case "target.health":
            reason = d.get("reason")
            return f" ({reason})" if reason and str(reason) not in event.message else ""
        case "observation":
            summary = describe_deployments(d)
            return f" | {summary}" if summary else ""
        case "phase" | "step.finished":
            secs = d.get("seconds")
            if not isinstance(secs, int | float) or _SECONDS.search(event.message):
                return ""
            return f" ({secs:.1f}s)"
        case _:
            return ""


def format_line(event: Event, origin: float) -> str:
    # Polls are debug-level events, but their changes are the progress CI logs should show.
    level = "info" if event.kind == "observation" else event.level
    tag = LEVEL_TAGS.get(level, level.upper())
    return (
        f"{clock_time(event.at)} +{event.at - origin:6.1f}s {tag:<5} {event.message}{detail(event)}"
    )


def unboxed(renderable: RenderableType) -> RenderableType:
    """The renderable with every table's box removed: plain output is text, not box drawing
    (columns stay aligned by spaces; titles become plain lines)."""
    if isinstance(renderable, Table):
        renderable.box = None
        renderable.show_edge = False
        renderable.pad_edge = False
    elif isinstance(renderable, Group):
        for part in renderable.renderables:
            unboxed(part)
    return renderable


def _escape_command(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


class PlainRenderer:
    """Writes :func:`format_line` for each event to ``stream``."""

    def __init__(self, stream: TextIO, *, annotations: bool = False, verbose: bool = False) -> None:
        self._stream = stream
        self._annotations = annotations
        self._verbose = verbose
        self._origin: float | None = None
        self._last_observation: str | None = None

    def __call__(self, event: Event) -> None:
        if self._origin is None:
            self._origin = event.at
        if event.kind == "observation" and not self._verbose:
            summary = describe_deployments(event.data) or event.message
            if summary == self._last_observation:
                return
            self._last_observation = summary
        elif event.level == "debug" and not self._verbose:
            return
        self._stream.write(format_line(event, self._origin) + "\n")
        if event.kind in RENDERABLES:
            console = Console(
                file=self._stream, no_color=True, highlight=False, width=150, emoji=False
            )
            console.print(unboxed(RENDERABLES[event.kind](event.data)))
        if self._annotations and event.level in ("warning", "error"):
            self._stream.write(f"::{event.level} title=rollout::{_escape_command(event.message)}\n")
        self._stream.flush()

    def close(self) -> None:
        self._stream.flush()
