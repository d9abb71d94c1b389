"""Normalise task definitions and service settings so a diff shows only real differences.

DescribeTaskDefinition returns fields the template never wrote (read-only fields, empty lists,
``cpu: 0`` on containers, ``hostPort`` equal to ``containerPort`` in awsvpc, ``protocol: tcp``).
Both sides go through :func:`normalise_task_definition` before :func:`unified` compares them.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Mapping
from typing import Any

from rollout.decisions.taskdef import READ_ONLY_FIELDS

MASK = "***"

# Container fields whose value, when equal to this, is ECS's default (dropped from the diff).
_CONTAINER_DEFAULTS: dict[str, Any] = {"cpu": 0, "essential": True}


def _prune(node: Any) -> Any:
    """Drop None, empty lists and empty dicts, recursively."""
    if isinstance(node, dict):
        pruned = {k: _prune(v) for k, v in node.items()}
        return {k: v for k, v in pruned.items() if v not in (None, [], {})}
    if isinstance(node, list):
        return [_prune(v) for v in node]
    return node


def _port(mapping: Mapping[str, Any], awsvpc: bool) -> dict[str, Any]:
    result = dict(mapping)
    if awsvpc and result.get("hostPort") == result.get("containerPort"):
        result.pop("hostPort", None)
    if result.get("protocol") == "tcp":
        result.pop("protocol")
    return result


def normalise_task_definition(
    document: Mapping[str, Any], *, show_values: bool = False
) -> dict[str, Any]:
    """A comparable copy: read-only fields and defaults gone, name-keyed lists sorted, plain
    environment values masked unless ``show_values`` (secret ARNs are always shown)."""
    doc = {k: v for k, v in document.items() if k not in READ_ONLY_FIELDS and k != "tags"}
    awsvpc = doc.get("networkMode") == "awsvpc"
    containers = []
    for raw in doc.get("containerDefinitions") or []:
        c = {k: v for k, v in raw.items() if _CONTAINER_DEFAULTS.get(k, object()) != v}
        env = sorted(c.get("environment") or [], key=lambda e: str(e.get("name")))
        c["environment"] = [
            {"name": e.get("name"), "value": e.get("value") if show_values else MASK} for e in env
        ]
        c["secrets"] = sorted(c.get("secrets") or [], key=lambda e: str(e.get("name")))
        c["portMappings"] = [_port(p, awsvpc) for p in c.get("portMappings") or []]
        containers.append(c)
    doc["containerDefinitions"] = sorted(containers, key=lambda c: str(c.get("name")))
    for key in ("cpu", "memory"):
        if key in doc and doc[key] is not None:
            doc[key] = str(doc[key])
    result: dict[str, Any] = _prune(doc)
    return result


def mask_environment(before: dict[str, Any], after: dict[str, Any]) -> None:
    """Mask plain environment values on both sides, in place (normalise with show_values=True
    first). A value that differs between the sides is masked as ``*** (changed)`` on the
    ``after`` side, so a change stays visible without showing either value."""
    old = {
        (c.get("name"), e.get("name")): e.get("value")
        for c in before.get("containerDefinitions", [])
        for e in c.get("environment", [])
    }
    for c in before.get("containerDefinitions", []):
        for e in c.get("environment", []):
            e["value"] = MASK
    for c in after.get("containerDefinitions", []):
        for e in c.get("environment", []):
            key = (c.get("name"), e.get("name"))
            changed = key in old and old[key] != e.get("value")
            e["value"] = f"{MASK} (changed)" if changed else MASK


def service_settings(service: Mapping[str, Any]) -> dict[str, Any]:
    """The deploy-relevant settings of a service, as plain JSON (input: model fields)."""
    return _prune(dict(service))  # type: ignore[no-any-return]


def dumps(document: Any) -> str:
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def unified(before: Any, after: Any, *, before_name: str, after_name: str) -> str:
    """A unified diff of the two documents' sorted JSON ("" when they are equal)."""
    a, b = dumps(before).splitlines(keepends=True), dumps(after).splitlines(keepends=True)
    return "".join(difflib.unified_diff(a, b, fromfile=before_name, tofile=after_name))
