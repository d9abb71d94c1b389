"""The result document: one JSON-safe summary of a run, built only from its events.

The JSON renderer prints it, the GitHub step summary and outputs are drawn from it, and the demo
and the restore benchmark read it. Building it aggregates what the events say; it decides
nothing (the verdict, the phases and their durations are whatever the engine emitted).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from rollout.events import Event

#: Kinds whose ``data`` is a whole report of its own (read-only verbs), copied under this key.
REPORT_KINDS = {
    "status": "status",
    "history": "history",
    "prune.plan": "prune",
    "doctor": "doctor",
    "init": "init",
}

#: ``data`` keys, in any event, that name a deployment or a task definition of this run.
_DEPLOYMENT_KEYS = ("deployment_id",)
_TASK_DEFINITION_KEYS = ("task_definition_arn", "rollback_target_arn", "task_definition")


def _append_unique(items: list[str], value: Any) -> None:
    if isinstance(value, str) and value and value not in items:
        items.append(value)


def build_result(events: Iterable[Event]) -> dict[str, Any]:
    """Summarise ``events`` (in emission order) into the result document."""
    evs = list(events)
    doc: dict[str, Any] = {
        "verb": None,
        "env": None,
        "cluster": None,
        "service": None,
        "dry_run": False,
        "verdict": None,
        "exit_code": None,
        "reason": None,
        "error": None,
        "deployment_id": None,
        "task_definition_arn": None,
        "rollback_target_arn": None,
        "deployment_ids": [],
        "task_definition_arns": [],
        "started_at": evs[0].at if evs else None,
        "finished_at": evs[-1].at if evs else None,
        "seconds": None,
        "api_calls": None,
        "steps": [],
        "phases": [],
        "stop_reasons": [],
        "signals": [],
        "ecs_events": [],
        "writes": [],
        "checks": [],
        "image_policy_override": None,
        "rollback": None,
        "failed_task_logs": None,
        "events": [e.to_json() for e in evs],
    }
    started = False
    deployment_ids: list[str] = doc["deployment_ids"]
    td_arns: list[str] = doc["task_definition_arns"]
    for e in evs:
        d: Mapping[str, Any] = e.data
        for key in _DEPLOYMENT_KEYS:
            _append_unique(deployment_ids, d.get(key))
        for key in _TASK_DEFINITION_KEYS:
            _append_unique(td_arns, d.get(key))
        match e.kind:
            case "run.started" if not started:
                # The first run names the document; a verb that runs others (the demo runs
                # deploy, status and history) stays the subject.
                started = True
                for key in ("verb", "env", "cluster", "service"):
                    doc[key] = d.get(key, doc[key])
                doc["dry_run"] = bool(d.get("dry_run", False))
                doc["started_at"] = e.at
            case "step.finished":
                secs = _num(d.get("seconds"))
                doc["steps"].append(
                    {
                        "step": d.get("step", e.message),
                        "index": d.get("index"),
                        "total": d.get("total"),
                        "outcome": d.get("outcome"),
                        "seconds": secs,
                        "started_at": e.at - secs if secs is not None else None,
                        "ended_at": e.at,
                    }
                )
            case "phase":
                secs = _num(d.get("seconds"))
                doc["phases"].append(
                    {
                        "phase": d.get("phase", e.message),
                        "seconds": secs,
                        "started_at": e.at - secs if secs is not None else None,
                        "ended_at": e.at,
                    }
                )
            case "task.stopped":
                doc["stop_reasons"].append(
                    {
                        "at": e.at,
                        "task": d.get("task"),
                        "stop_code": d.get("stop_code"),
                        "stopped_reason": d.get("stopped_reason"),
                        "exit_codes": d.get("exit_codes"),
                    }
                )
            case "task.logs":
                doc["failed_task_logs"] = {
                    key: d.get(key)
                    for key in ("task", "container", "log_group", "log_stream", "lines")
                }
            case "signal":
                doc["signals"].append({"at": e.at, **dict(d), "message": e.message})
            case "ecs.event":
                doc["ecs_events"].append({"at": e.at, "message": e.message, "id": d.get("id")})
            case "write" | "write.dry_run":
                doc["writes"].append(
                    {
                        "at": e.at,
                        "sent": e.kind == "write",
                        "service": d.get("service"),
                        "operation": d.get("operation"),
                        "summary": d.get("summary", e.message),
                    }
                )
            case "check":
                doc["checks"].append(
                    {"name": d.get("name"), "status": d.get("status"), "message": e.message}
                )
            case "image_policy.override":
                doc["image_policy_override"] = {
                    "reason": d.get("reason"),
                    "violations": list(d.get("violations") or []),
                }
            case "rollback.started":
                doc["rollback"] = {"at": e.at, "to": d.get("to"), "via": d.get("via")}
                _append_unique(td_arns, d.get("to"))
            case "verdict":
                for key in (
                    "verdict",
                    "exit_code",
                    "reason",
                    "deployment_id",
                    "task_definition_arn",
                    "rollback_target_arn",
                ):
                    if key in d:
                        doc[key] = d[key]
            case "error":
                # the run ended on an error before any verdict (lock held, bad config, AWS)
                doc["error"] = d.get("error")
                doc["reason"] = e.message
                if doc["exit_code"] is None:
                    doc["exit_code"] = d.get("exit_code")
            case "run.finished":
                for key in ("verdict", "exit_code"):
                    if d.get(key) is not None:
                        doc[key] = d[key]
                doc["seconds"] = _num(d.get("seconds"))
                doc["api_calls"] = d.get("api_calls")
                doc["finished_at"] = e.at
            case kind if kind in REPORT_KINDS:
                doc[REPORT_KINDS[kind]] = dict(d)
            case _:
                pass
    if doc["seconds"] is None and doc["started_at"] is not None and doc["finished_at"]:
        doc["seconds"] = round(doc["finished_at"] - doc["started_at"], 3)
    return doc


def _num(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)
