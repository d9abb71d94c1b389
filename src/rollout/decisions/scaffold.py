"""``rollout init``: a task-definition template and a ``rollout.toml`` from a live service. Pure.

The template is the live task definition with:

- the fields AWS adds at registration removed (``taskDefinitionArn``, ``revision``, ``status``…);
- the account id replaced by the ``<account>`` placeholder everywhere (roles, image registry,
  secret ARNs), which render fills from STS;
- literal ``${`` escaped as ``$${`` (the template language would read it as a variable);
- the docker labels render adds for a release (``rollout.image``…) dropped, and the revision's
  tags kept except the ledger's (``rollout:*``) and AWS's (``aws:*``);
- secrets left as they are: ``valueFrom`` references (SSM parameter or Secrets Manager ARNs),
  never values.

The config names the environment's cluster, service and region, the containers whose image a
deploy swaps (the essential containers running the main image) and the ECR repository.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from rollout.decisions.taskdef import READ_ONLY_FIELDS, parse_image

ACCOUNT_PLACEHOLDER = "<account>"
_BARE = re.compile(r"^[A-Za-z0-9_-]+$")
#: docker labels render adds to each swapped container (rollout.decisions.taskdef.release_labels)
RELEASE_LABELS = frozenset(
    {
        "rollout.image",
        "rollout.image-tag",
        "rollout.run-url",
        "org.opencontainers.image.revision",
        "org.opencontainers.image.source",
    }
)


@dataclass(frozen=True)
class Scaffold:
    template: dict[str, Any]
    containers: tuple[str, ...]
    ecr_repository: str


def _walk(node: Any, account: str) -> Any:
    if isinstance(node, str):
        return node.replace("${", "$${").replace(account, ACCOUNT_PLACEHOLDER)
    if isinstance(node, list):
        return [_walk(v, account) for v in node]
    if isinstance(node, dict):
        return {k: _walk(v, account) for k, v in node.items()}
    return node


def scaffold(document: Mapping[str, Any], tags: Mapping[str, str], account: str) -> Scaffold:
    """The template, the containers a deploy swaps, and the ECR repository, from a live task
    definition (``DescribeTaskDefinition``'s ``taskDefinition`` and its tags)."""
    doc = {k: v for k, v in document.items() if k not in READ_ONLY_FIELDS}
    containers: list[dict[str, Any]] = []
    for c in doc.get("containerDefinitions", []):
        c = dict(c)
        labels = {k: v for k, v in (c.get("dockerLabels") or {}).items() if k not in RELEASE_LABELS}
        if labels:
            c["dockerLabels"] = labels
        else:
            c.pop("dockerLabels", None)
        containers.append(c)
    doc["containerDefinitions"] = containers
    kept = {
        k: v for k, v in tags.items() if not k.startswith("rollout:") and not k.startswith("aws:")
    }
    if kept:
        doc["tags"] = [{"key": k, "value": v} for k, v in sorted(kept.items())]
    swapped, repository = _main_containers(containers)
    return Scaffold(_walk(doc, account), swapped, repository)


def _repository_of(image: str) -> str:
    try:
        ref = parse_image(image)
    except ValueError:
        return image.split("@")[0].rsplit(":", 1)[0]
    return ref.repository


def _main_containers(containers: Sequence[Mapping[str, Any]]) -> tuple[tuple[str, ...], str]:
    """The essential containers running the first essential container's repository."""
    essential = [c for c in containers if c.get("essential", True)] or list(containers)
    if not essential:
        return (), ""
    repository = _repository_of(str(essential[0].get("image", "")))
    names = tuple(
        str(c.get("name"))
        for c in essential
        if _repository_of(str(c.get("image", ""))) == repository
    )
    return names, repository


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return json.dumps(str(value))  # a TOML basic string (same escapes as JSON for these)


def config_text(
    *,
    env: str,
    region: str,
    cluster: str,
    service: str,
    containers: Sequence[str],
    template: str,
    ecr_repository: str,
    source: str,
) -> str:
    """``rollout.toml`` for one environment; every other key keeps its default
    (docs/configuration.md lists them)."""
    lines = [
        f"# rollout configuration, written by `rollout init` from {source}.",
        "# Every key, its default and the ROLLOUT_* overrides: docs/configuration.md.",
        "",
        "[defaults]",
        f"region = {_toml(region)}",
        f"containers = {_toml(list(containers))}",
        f"template = {_toml(template)}  # relative to this file",
        f"ecr_repository = {_toml(ecr_repository)}",
        "",
        f"[env.{env if _BARE.match(env) else json.dumps(env)}]",
        f"cluster = {_toml(cluster)}",
        f"service = {_toml(service)}",
        "",
    ]
    return "\n".join(lines)
