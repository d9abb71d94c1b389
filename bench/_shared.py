"""What every benchmark script here shares: its section of docs/benchmarks.md, and the
breaker-only way's task-definition swap. The scripts run as ``python bench/<name>.py`` (this
directory is then on ``sys.path``); tests that load a script by path put it there too."""

from __future__ import annotations

from pathlib import Path
from typing import Any

DOC = Path(__file__).resolve().parents[1] / "docs" / "benchmarks.md"

#: the fields RegisterTaskDefinition takes back from DescribeTaskDefinition (what a deploy keeps)
TASK_DEFINITION_FIELDS = (
    "family",
    "containerDefinitions",
    "networkMode",
    "requiresCompatibilities",
    "cpu",
    "memory",
    "executionRoleArn",
    "taskRoleArn",
    "volumes",
)


def write_section(text: str, heading: str, doc: Path = DOC) -> None:
    """Put ``text`` in place of the section titled ``heading`` (up to the next ``## ``), keeping
    the others; append it after what is there when there is none."""
    current = doc.read_text(encoding="utf-8") if doc.exists() else "# Benchmarks\n"
    lines = current.splitlines(keepends=True)
    start = next((i for i, line in enumerate(lines) if line.strip() == heading), None)
    if start is None:
        body = current if current.endswith("\n") else current + "\n"
        doc.write_text(body + "\n" + text, encoding="utf-8")
        return
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
    rest = "".join(lines[end:])
    doc.write_text("".join(lines[:start]) + text + ("\n" + rest if rest else ""), encoding="utf-8")


def register_with_image(ecs: Any, task_definition: str, image: str) -> str:
    """RegisterTaskDefinition: ``task_definition`` with every container on ``image`` (what the
    official deploy action does); the new revision's ARN."""
    td = ecs.describe_task_definition(taskDefinition=task_definition)["taskDefinition"]
    doc = {k: td[k] for k in TASK_DEFINITION_FIELDS if k in td}
    for container in doc["containerDefinitions"]:
        container["image"] = image
    return str(ecs.register_task_definition(**doc)["taskDefinition"]["taskDefinitionArn"])
