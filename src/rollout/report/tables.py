"""Rich tables for the read-only verbs' report events (``status``, ``history``, ``prune.plan``).

The console prints them in colour; the plain renderer prints the same tables without styling.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

OUTCOME_STYLES = {
    "succeeded": "green",
    "rolled-back": "yellow",
    "rollback-failed": "bold red",
    "superseded": "cyan",
    "interrupted": "magenta",
    "timed-out": "magenta",
    "no-tasks": "magenta",
    "failed": "red",
    "pending": "blue",
    "pre-run-failed": "yellow",
}


def when(at: Any) -> str:
    if not isinstance(at, int | float) or isinstance(at, bool):
        return "—"
    return time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime(at))


def _s(value: Any) -> str:
    return "—" if value is None or value == "" else str(value)


def revision_of(arn: Any) -> str:
    return str(arn).rsplit("/", 1)[-1] if arn else "—"


def short_image(image: Any) -> str:
    """``…/voj-backend:sha-0000002`` → ``sha-0000002``; ``…@sha256:abcd…`` → ``sha256:abcd1234``."""
    if not image:
        return "—"
    name = str(image).rsplit("/", 1)[-1]
    if "@" in name:
        return name.split("@", 1)[1][:15]
    return name.split(":", 1)[1] if ":" in name else name


def deployments_table(deployments: Sequence[Mapping[str, Any]]) -> Table:
    table = Table(title="Deployments", title_justify="left", expand=False)
    for col in ("status", "task definition", "desired", "running", "pending", "failed", "rollout"):
        table.add_column(col)
    for d in deployments:
        state = _s(d.get("rollout_state"))
        reason = d.get("rollout_state_reason")
        table.add_row(
            _s(d.get("status")),
            revision_of(d.get("task_definition")),
            _s(d.get("desired")),
            _s(d.get("running")),
            _s(d.get("pending")),
            _s(d.get("failed", d.get("failed_tasks"))),
            f"{state}: {reason}" if reason else state,
        )
    return table


def targets_table(targets: Sequence[Mapping[str, Any]]) -> Table:
    table = Table(title="Targets", title_justify="left")
    for col in ("target", "state", "reason"):
        table.add_column(col)
    styles = {"healthy": "green", "unhealthy": "red", "draining": "yellow"}
    for t in targets:
        state = _s(t.get("state"))
        port = t.get("port")
        target = _s(t.get("target")) + (f":{port}" if port else "")
        table.add_row(target, Text(state, style=styles.get(state, "")), _s(t.get("reason")))
    return table


def status_renderable(data: Mapping[str, Any]) -> RenderableType:
    head = Table.grid(padding=(0, 2))
    head.add_column(style="bold")
    head.add_column()
    head.add_row("service", f"{_s(data.get('cluster'))}/{_s(data.get('service'))}")
    head.add_row("status", _s(data.get("status")))
    head.add_row(
        "tasks",
        f"{_s(data.get('running'))}/{_s(data.get('desired'))} running, "
        f"{_s(data.get('pending'))} pending",
    )
    raw_current = data.get("current")
    current: Mapping[str, Any] = raw_current if isinstance(raw_current, Mapping) else {}
    ledger_bits = [
        str(current.get("outcome") or "not deployed by rollout"),
        "good" if current.get("good") else "",
        f"git {str(current['git_sha'])[:12]}" if current.get("git_sha") else "",
    ]
    head.add_row(
        "task definition",
        f"{revision_of(data.get('task_definition'))} ({', '.join(b for b in ledger_bits if b)})",
    )
    breaker = data.get("circuit_breaker")
    if isinstance(breaker, Mapping):
        head.add_row(
            "circuit breaker",
            ("on" if breaker.get("enabled") else "OFF")
            + (", rollback on" if breaker.get("rollback") else ", rollback OFF"),
        )
    lock = data.get("lock")
    if isinstance(lock, Mapping):
        head.add_row(
            "lock",
            f"held by {_s(lock.get('holder'))} since {when(lock.get('acquired_at'))}"
            f" ({'STALE, expired' if lock.get('stale') else 'expires'}"
            f" {when(lock.get('expires_at'))})"
            + (f" {lock['run_url']}" if lock.get("run_url") else ""),
        )
    else:
        head.add_row("lock", "free" if data.get("lock_known", True) else "unknown")
    parts: list[RenderableType] = [head, deployments_table(data.get("deployments") or [])]
    tasks = data.get("tasks") or []
    if tasks:
        tt = Table(title="Tasks", title_justify="left")
        for col in ("task", "revision", "status", "health", "started"):
            tt.add_column(col)
        for t in tasks:
            tt.add_row(
                _s(t.get("id")),
                revision_of(t.get("task_definition")),
                _s(t.get("last_status")),
                _s(t.get("health_status")),
                when(t.get("started_at")),
            )
        parts.append(tt)
    targets = data.get("targets") or []
    if targets:
        parts.append(targets_table(targets))
    events = data.get("events") or []
    if events:
        et = Table(title="Last events", title_justify="left")
        et.add_column("at")
        et.add_column("message")
        for e in events:
            et.add_row(when(e.get("at")), _s(e.get("message")))
        parts.append(et)
    return Group(*parts)


def history_renderable(data: Mapping[str, Any]) -> RenderableType:
    table = Table(title=f"History of {_s(data.get('family'))}", title_justify="left")
    for col in ("rev", "image", "git sha", "outcome", "started", "finished", "actor", ""):
        table.add_column(col)
    for e in data.get("entries") or []:
        outcome = _s(e.get("outcome"))
        marks = []
        if e.get("current"):
            marks.append("current")
        if e.get("good"):
            marks.append("good")
        if e.get("status") and e.get("status") != "ACTIVE":
            marks.append(str(e["status"]).lower())
        table.add_row(
            _s(e.get("revision")),
            short_image(e.get("image")),
            _s(e.get("git_sha"))[:12],
            Text(outcome, style=OUTCOME_STYLES.get(outcome, "")),
            when(e.get("started_at")),
            when(e.get("finished_at")),
            _s(e.get("actor")),
            ", ".join(marks),
        )
    return table


def prune_renderable(data: Mapping[str, Any]) -> RenderableType:
    table = Table(
        title=f"Prune plan (keep {_s(data.get('keep'))})"
        + (" - dry run" if data.get("dry_run") else ""),
        title_justify="left",
    )
    table.add_column("revision")
    table.add_column("action")
    table.add_column("why")
    for item in data.get("items") or []:
        action = _s(item.get("action"))
        table.add_row(
            revision_of(item.get("arn")),
            Text(action, style="red" if action == "deregister" else "green"),
            ", ".join(item.get("reasons") or []) or "—",
        )
    return table


def _secs(value: Any) -> str:
    return f"{value:.0f}s" if isinstance(value, int | float) else "—"


#: seconds within which a verdict and a measured restore count as the same moment
SAME_MOMENT = 1.0


def restore_note(row: Mapping[str, Any]) -> str | None:
    """Why a row's "restored" is not at its "verdict", when the two differ by more than a poll.

    The "restored" column is when ECS marked the service steady on the good revision; rollout's
    verdict comes when the good revision's desired tasks are healthy in the target group with no
    bad task serving (and, when it moved traffic back, Route 53 is INSYNC), at its next poll.
    The table must never show one before the other without saying why."""
    if row.get("verdict") != "FAILED_ROLLED_BACK":
        return None
    verdict, restored = row.get("verdict_after"), row.get("restored_after")
    if not isinstance(verdict, int | float) or not isinstance(restored, int | float):
        return None
    traffic = row.get("traffic_restored_after")
    healthy = (
        f" (good targets healthy, none bad, at {traffic:.0f}s)"
        if isinstance(traffic, int | float)
        else ""
    )
    if verdict + SAME_MOMENT < restored:
        return (
            f"verdict {restored - verdict:.0f}s before ECS marked the restore steady: rollout's "
            f"restore is traffic-level{healthy}; ECS also waits for the old tasks to drain"
        )
    if restored + SAME_MOMENT < verdict:
        return (
            f"verdict {verdict - restored:.0f}s after ECS was steady: rollout confirms at its "
            "next poll and, when it moved traffic back, once the Route 53 change is INSYNC"
        )
    return None


def demo_summary_renderable(data: Mapping[str, Any]) -> RenderableType:
    table = Table(
        title="What happened (simulated seconds after UpdateService; breaker = UpdateService + "
        "ECS circuit breaker only)",
        title_justify="left",
    )
    for col in (
        "release",
        "rollout verdict",
        "verdict",
        "restored",
        "calls",
        "breaker: failed",
        "breaker: restored",
        "faster",
    ):
        table.add_column(col, no_wrap=True)
    notes: list[str] = []
    for row in data.get("rows") or []:
        note = restore_note(row)
        mark = ""
        if note is not None:
            notes.append(note)
            mark = f" [{len(notes)}]"
        verdict = _s(row.get("verdict"))
        style = {"SUCCEEDED": "green", "FAILED_ROLLED_BACK": "yellow"}.get(verdict, "red")
        if verdict == "PREFLIGHT_FAILED":
            style = "cyan"
        speedup = row.get("speedup")
        restored = row.get("restored_after")
        if verdict == "PREFLIGHT_FAILED":
            restored_text = "no write"
        elif verdict == "SUCCEEDED":
            restored_text = "—"
        else:
            restored_text = _secs(restored)
        table.add_row(
            _s(row.get("release")),
            Text(verdict, style=style),
            _secs(row.get("verdict_after")) + mark,
            restored_text + mark,
            _s(row.get("api_calls")),
            _secs(row.get("breaker_only_verdict_after")),
            _secs(row.get("breaker_only_restored_after")),
            f"{speedup}x" if speedup else "—",
        )
    parts: list[RenderableType] = [table]
    parts += [Text(f"[{i}] {note}", style="dim") for i, note in enumerate(notes, 1)]
    shipped = data.get("progressive") or []
    if shipped:
        side = Table(
            title="One bad release (500 on 20 % of its requests), 50 req/s: failed requests",
            title_justify="left",
        )
        for col in ("strategy", "verdict", "failed requests", "requests"):
            side.add_column(col, no_wrap=True)
        for row in shipped:
            side.add_row(
                _s(row.get("strategy")),
                _s(row.get("verdict")),
                _s(row.get("failed_requests")),
                _s(row.get("requests")),
            )
        parts.append(side)
    workload = data.get("workload")
    if isinstance(workload, Mapping):
        parts.append(workload_renderable(workload))
    if data.get("wall_seconds") is not None:
        parts.append(Text(f"demo wall time: {data['wall_seconds']}s", style="dim"))
    return Group(*parts)


#: The phases of the demo's request count (``rollout.sandbox.measure.failures_by_phase``).
_PHASES = {
    "before": "before the deploy",
    "until_restored": "deploy to traffic restored",
    "after_restored": "after traffic restored",
    "zero_healthy": "with no healthy target (overlaps)",
}


def workload_renderable(data: Mapping[str, Any]) -> RenderableType:
    """Act 8 of the demo: real requests through the ALB during a bad release, by phase."""
    verdict = _s(data.get("verdict"))
    table = Table(
        title=f"Real requests through the ALB: release {_s(data.get('release'))}, rollout "
        f"{verdict} after {_secs(data.get('verdict_after'))}, traffic restored after "
        f"{_secs(data.get('restored_after'))} (wall seconds after UpdateService)",
        title_justify="left",
    )
    for col in ("phase", "requests", "failed", "failures by kind"):
        table.add_column(col, no_wrap=True)
    phases = data.get("by_phase") or {}
    for key, label in _PHASES.items():
        p = phases.get(key)
        if not isinstance(p, Mapping):
            continue
        kinds = ", ".join(f"{k} {v}" for k, v in sorted((p.get("failures") or {}).items()))
        failed = p.get("failed") or 0
        table.add_row(
            label,
            _s(p.get("requests")),
            Text(str(failed), style="red" if failed else "green"),
            kinds or "—",
        )
    kinds = ", ".join(f"{k} {v}" for k, v in sorted((data.get("failures") or {}).items()))
    table.add_row(
        "all", _s(data.get("requests")), _s(data.get("failed")), kinds or "—", style="bold"
    )
    return table


def doctor_renderable(data: Mapping[str, Any]) -> RenderableType:
    """``rollout doctor``: the estimates with their formulas, then what to change and what it
    saves."""
    est = Table(title="estimates", show_lines=False)
    for col in ("", "seconds", "formula"):
        est.add_column(col)
    for key in ("deploy", "completed", "rollback", "breaker"):
        e = data.get(key)
        if isinstance(e, Mapping):
            est.add_row(str(e.get("name")), f"{e.get('seconds', 0):.0f}", str(e.get("formula")))
    if data.get("deploy_threshold_reading") is not None:
        est.add_row(
            "good deploy, threshold reading (§6.1)",
            f"{data['deploy_threshold_reading']:.0f}",
            "new targets need HealthyThresholdCount checks",
        )
    if data.get("clients_off_bad_path") is not None:
        est.add_row(
            "clients off the bad path (Route 53)",
            f"{data['clients_off_bad_path']:.0f}",
            "rollback + INSYNC + TTL (§7)",
        )
    fixes = Table(title="what makes them slow, and what a fix saves (seconds)")
    for col in (
        "setting",
        "now",
        "suggested",
        "deploy",
        "completed",
        "rollback",
        "breaker",
        "why",
        "source",
    ):
        fixes.add_column(col)
    for f in data.get("findings") or []:
        fixes.add_row(
            str(f.get("setting")),
            str(f.get("current")),
            str(f.get("suggested")),
            _secs(f.get("saves_deploy")),
            _secs(f.get("saves_completed")),
            _secs(f.get("saves_rollback")),
            _secs(f.get("saves_breaker")),
            str(f.get("why")),
            str(f.get("source")),
        )
    parts: list[RenderableType] = [est]
    if data.get("findings"):
        parts.append(fixes)
    parts.extend(Text(f"note: {n}", style="dim") for n in data.get("notes") or [])
    return Group(*parts)


RENDERABLES = {
    "doctor": doctor_renderable,
    "demo.summary": demo_summary_renderable,
    "status": status_renderable,
    "history": history_renderable,
    "prune.plan": prune_renderable,
}
