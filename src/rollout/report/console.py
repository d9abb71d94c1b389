"""The live console for a TTY: a rich ``Live`` panel plus a scrolling log above it.

The panel shows what the latest events say: the current step, the deployments with their
counts, target health, the newest ECS service events and stop reasons. Every event that is not
a poll also prints one log line above the panel, so the scrollback tells the whole story.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from typing import Any, TextIO

from rich import box
from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.panel import Panel
from rich.text import Text

from rollout.events import Event
from rollout.report.plain import clock_time, detail
from rollout.report.tables import RENDERABLES, deployments_table

LEVEL_STYLES = {
    "debug": "dim",
    "info": "",
    "success": "bold green",
    "warning": "yellow",
    "error": "bold red",
}
LEVEL_MARKS = {"debug": "·", "info": "•", "success": "✔", "warning": "!", "error": "✘"}
MAX_TARGETS = 4
VERDICT_STYLES = {
    "SUCCEEDED": "bold green",
    "OK": "bold green",
    "FAILED_ROLLED_BACK": "bold yellow",
    "PREFLIGHT_FAILED": "bold cyan",
    "PRE_RUN_FAILED": "bold cyan",
    "NO_TASKS": "bold magenta",  # nothing ran, nothing verified: never green
    "NOTHING_TO_WATCH": "bold blue",
}


class ConsoleRenderer:
    """Renders events on a rich console; ``live=False`` prints the log lines only."""

    def __init__(
        self,
        stream: TextIO,
        *,
        live: bool = True,
        console: Console | None = None,
        verbose: bool = False,
    ):
        self.console = console or Console(file=stream, highlight=False)
        self._live_enabled = live
        self._verbose = verbose
        self._live: Live | None = None
        self._origin: float | None = None
        self._now: float = 0.0
        self._run_started: float | None = None
        self._title = "rollout"
        self._step = ""
        self._observation: Mapping[str, Any] = {}
        self._targets: dict[str, dict[str, Any]] = {}
        self._ecs_events: deque[str] = deque(maxlen=5)
        self._stops: deque[str] = deque(maxlen=4)
        self._stage = ""
        self._analysis = ""

    # -- state -------------------------------------------------------------------------------

    def _update(self, event: Event) -> None:
        d = event.data
        match event.kind:
            case "run.started":
                self._run_started = event.at
                self._step = ""
                self._observation = {}
                self._stage = self._analysis = ""
                self._targets.clear()
                self._ecs_events.clear()
                self._stops.clear()
                self._title = " ".join(
                    str(x)
                    for x in (
                        "rollout",
                        d.get("verb"),
                        f"{d.get('cluster')}/{d.get('service')}" if d.get("service") else None,
                        f"[{d.get('env')}]" if d.get("env") else None,
                        "(dry run)" if d.get("dry_run") else None,
                    )
                    if x
                )
            case "step.started":
                idx, total = d.get("index"), d.get("total")
                prefix = f"step {idx}/{total}: " if idx is not None and total else ""
                self._step = prefix + str(d.get("step") or event.message)
            case "observation":
                self._observation = d
            case "target.health":
                target = str(d.get("target") or "?")
                self._targets[target] = {
                    "target": target,
                    "state": d.get("state"),
                    "reason": d.get("reason"),
                }
            case "ecs.event":
                self._ecs_events.append(f"{clock_time(event.at)} {event.message}")
            case "task.stopped":
                self._stops.append(f"{clock_time(event.at)} {event.message}{detail(event)}")
            case "stage":
                self._stage = event.message
            case "analysis":
                self._analysis = event.message
            case _:
                pass

    def panel(self) -> RenderableType:
        """The live panel for the current state (kept short: it must fit a terminal)."""
        parts: list[RenderableType] = []
        start = self._run_started if self._run_started is not None else self._origin
        elapsed = self._now - start if start is not None else 0.0
        parts.append(Text(f"{self._step or 'starting'}   ({elapsed:.0f}s)", style="bold"))
        for line in (self._stage, self._analysis):
            if line:
                parts.append(Text(line, no_wrap=True, overflow="ellipsis"))
        deployments = self._observation.get("deployments")
        if isinstance(deployments, list) and deployments:
            table = deployments_table([x for x in deployments if isinstance(x, Mapping)])
            table.title = None
            table.box = box.SIMPLE
            parts.append(table)
        counts = [
            f"{k} {self._observation[k]}"
            for k in ("healthy", "unhealthy", "initial", "draining")
            if k in self._observation
        ]
        targets = [
            f"{t['target']} {t.get('state')}" + (f" ({t['reason']})" if t.get("reason") else "")
            for t in list(self._targets.values())[-MAX_TARGETS:]
        ]
        if counts or targets:
            line = "targets: " + (", ".join(counts) if counts else "")
            if targets:
                line += ("  |  " if counts else "") + "; ".join(targets)
            parts.append(Text(line, no_wrap=True, overflow="ellipsis"))
        for title, lines in (("event", self._ecs_events), ("stopped", self._stops)):
            for line in list(lines)[-3:]:
                parts.append(
                    Text(f"{title}: {line}", style="dim", no_wrap=True, overflow="ellipsis")
                )
        return Panel(Group(*parts), title=self._title, title_align="left")

    # -- sink --------------------------------------------------------------------------------

    def __call__(self, event: Event) -> None:
        if self._origin is None:
            self._origin = event.at
        self._now = event.at
        self._update(event)
        # The panel appears once a run has steps or polls to show (not for status/history).
        live_kinds = ("step.started", "observation", "stage")
        if event.kind in live_kinds and self._live_enabled and self._live is None:
            self._live = Live(
                self.panel(),
                console=self.console,
                refresh_per_second=8,
                transient=True,
                redirect_stdout=False,
                redirect_stderr=False,
            )
            self._live.start()
        if event.kind != "observation" and (event.level != "debug" or self._verbose):
            self.console.print(self._line(event))
            if event.kind in RENDERABLES:
                self.console.print(RENDERABLES[event.kind](event.data))
        if event.kind == "verdict":
            self._print_verdict(event)
        if event.kind == "run.finished":
            self.close()
        elif self._live is not None:
            self._live.update(self.panel())

    def _line(self, event: Event) -> Text:
        origin = self._origin if self._origin is not None else event.at
        text = Text(f"{clock_time(event.at)} +{event.at - origin:6.1f}s ", style="dim")
        style = LEVEL_STYLES.get(event.level, "")
        text.append(f"{LEVEL_MARKS.get(event.level, '•')} {event.message}", style=style)
        extra = detail(event)
        if extra:
            text.append(extra, style="dim")
        return text

    def _print_verdict(self, event: Event) -> None:
        verdict = str(event.data.get("verdict") or event.message)
        style = VERDICT_STYLES.get(verdict, "bold red")
        body = Text(verdict, style=style)
        reason = event.data.get("reason")
        if reason:
            body.append(f"\n{reason}", style="")
        code = event.data.get("exit_code")
        title = f"verdict (exit {code})" if code is not None else "verdict"
        self.console.print(Panel(body, title=title, title_align="left", border_style=style))

    def close(self) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None
