"""GitHub Actions: the step summary (``$GITHUB_STEP_SUMMARY``) and outputs (``$GITHUB_OUTPUT``).

Both are drawn from the result document (:func:`rollout.report.result.build_result`). Outputs
use the multiline form ``name<<DELIMITER`` with a random delimiter that does not occur in the
value, so a value with newlines (or one that looks like ``other=...``) cannot inject an output.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any

#: Output name -> result-document key.
OUTPUTS = {
    "task-definition-arn": "task_definition_arn",
    "deployment-id": "deployment_id",
    "verdict": "verdict",
}


#: A step whose outcome mentions one of these is drawn red ("crit") in the gantt.
CRITICAL_OUTCOMES = ("fail", "error", "rollback", "timedout", "interrupt")


def format_output(name: str, value: str) -> str:
    """One ``$GITHUB_OUTPUT`` entry in the delimiter (heredoc) form."""
    delimiter = f"ghadelimiter_{secrets.token_hex(8)}"
    while delimiter in value:  # pragma: no cover - 64 random bits
        delimiter = f"ghadelimiter_{secrets.token_hex(8)}"
    return f"{name}<<{delimiter}\n{value}\n{delimiter}\n"


def outputs(result: Mapping[str, Any]) -> dict[str, str]:
    """The step outputs of a run: empty strings for what the run did not produce."""
    return {name: str(result.get(key) or "") for name, key in OUTPUTS.items()}


def write_outputs(path: Path, result: Mapping[str, Any]) -> None:
    with path.open("a", encoding="utf-8") as fh:
        for name, value in outputs(result).items():
            fh.write(format_output(name, value))


def _cell(value: Any) -> str:
    text = "" if value is None else str(value)
    return text.replace("|", "\\|").replace("\n", " ") or "—"


def _mermaid_label(text: str) -> str:
    # ':' starts the task's metadata and '#'/';' break the parser: keep labels plain.
    for ch in ":#;":
        text = text.replace(ch, " ")
    return " ".join(text.split()) or "?"


def mermaid_gantt(result: Mapping[str, Any]) -> str:
    """A mermaid gantt of the run's steps and phases, in seconds from the run's start."""
    origin = result.get("started_at") or 0.0
    title = " ".join(
        str(x) for x in (result.get("verb") or "rollout", result.get("service") or "") if x
    )
    lines = [
        "gantt",
        f"    title {_mermaid_label(title)}",
        "    dateFormat X",
        "    axisFormat %M:%S",
    ]
    n = 0
    for section, key, label_key in (("steps", "steps", "step"), ("phases", "phases", "phase")):
        spans = [s for s in result.get(key) or [] if s.get("started_at") is not None]
        if not spans:
            continue
        lines.append(f"    section {section}")
        for span in spans:
            n += 1
            start = max(0, round(span["started_at"] - origin))
            end = max(start + 1, round(span["ended_at"] - origin))
            outcome = str(span.get("outcome") or "").lower().replace(" ", "")
            status = "crit, " if any(w in outcome for w in CRITICAL_OUTCOMES) else ""
            label = _mermaid_label(f"{span.get(label_key)} {span.get('seconds') or 0:.0f}s")
            lines.append(f"    {label} :{status}s{n}, {start}, {end}")
    stages = [x for x in result.get("stages") or [] if x.get("started_at") is not None]
    if stages:
        # the ECS lifecycle stages of a traffic-shifting deployment, on the same time axis
        lines.append("    section stages")
        for stage in stages:
            n += 1
            start = max(0, round(stage["started_at"] - origin))
            end = max(start + 1, round((stage.get("ended_at") or stage["started_at"]) - origin))
            weight = stage.get("production_weight")
            label = str(stage.get("stage") or "?").replace("_", " ").lower()
            if weight:
                label += f" {weight:g} pct"
            lines.append(f"    {_mermaid_label(label)} :s{n}, {start}, {end}")
    if n == 0:
        lines.append("    section run")
        total = max(1, round(result.get("seconds") or 0))
        lines.append(f"    {_mermaid_label(str(result.get('verdict') or 'run'))} :s1, 0, {total}")
    return "\n".join(lines)


def step_summary(result: Mapping[str, Any]) -> str:
    """Markdown for the step summary: a table, the phases, stop reasons and the timeline."""
    verdict = result.get("verdict") or "UNKNOWN"
    rows = [
        ("Verdict", verdict),
        ("Exit code", result.get("exit_code")),
        ("Reason", result.get("reason")),
        ("Environment", result.get("env")),
        ("Service", f"{result.get('cluster') or '?'}/{result.get('service') or '?'}"),
        ("Deployment", result.get("deployment_id")),
        ("Task definition", result.get("task_definition_arn")),
        ("Rollback target", result.get("rollback_target_arn")),
        ("Duration", f"{result['seconds']:.1f}s" if result.get("seconds") is not None else None),
        ("AWS API calls", result.get("api_calls")),
    ]
    if result.get("dry_run"):
        rows.insert(1, ("Dry run", "yes: nothing was written"))
    out = [f"## rollout {result.get('verb') or ''}: {verdict}".rstrip(), ""]
    out += ["| | |", "|---|---|"]
    out += [f"| {name} | {_cell(value)} |" for name, value in rows]
    phases = result.get("phases") or []
    if phases:
        out += ["", "| Phase | Seconds |", "|---|---:|"]
        out += [
            f"| {_cell(p.get('phase'))} | {p['seconds']:.1f} |"
            if p.get("seconds") is not None
            else f"| {_cell(p.get('phase'))} | — |"
            for p in phases
        ]
    stops = result.get("stop_reasons") or []
    if stops:
        out += ["", "| Stopped task | Stop code | Reason | Exit codes |", "|---|---|---|---|"]
        out += [
            f"| {_cell(str(s.get('task') or '').rsplit('/', 1)[-1])} | "
            f"{_cell(s.get('stop_code'))} | "
            f"{_cell(s.get('stopped_reason'))} | {_cell(s.get('exit_codes'))} |"
            for s in stops[:10]
        ]
    windows = result.get("analysis") or []
    if windows:
        out += [
            "",
            "| Analysis window | Stage | Outcome | Requests | Detail |",
            "|---:|---|---|---:|---|",
        ]
        out += [
            f"| {i} | {_cell(w.get('stage'))} | {_cell(w.get('outcome'))} | "
            f"{_cell(w.get('requests'))} | {_cell(w.get('message'))} |"
            for i, w in enumerate(windows[-20:], start=max(1, len(windows) - 19))
        ]
    if result.get("traffic_back_seconds") is not None:
        out += [
            "",
            f"Production traffic back on blue {result['traffic_back_seconds']:g}s after "
            "the rollback decision.",
        ]
    out += ["", "```mermaid", mermaid_gantt(result), "```", ""]
    return "\n".join(out)


def write_step_summary(path: Path, result: Mapping[str, Any]) -> None:
    with path.open("a", encoding="utf-8") as fh:
        fh.write(step_summary(result))
