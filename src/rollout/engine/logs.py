"""Quote the last log lines of a failed task, so a red run shows why the release died.

On a failed verdict the deploy reads one failed task of the new deployment (the task of the
failure signal, else the latest stopped one with a non-zero exit code), finds its container's
``awslogs`` stream from the task definition (``<awslogs-stream-prefix>/<container>/<task id>``)
and emits a ``task.logs`` event with the stream's last lines (CloudWatch Logs GetLogEvents, read
only). Reading logs never changes the outcome: any error only drops the quote.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from rollout.engine.session import Session
from rollout.errors import RolloutError
from rollout.model import Container, Task

LINES = 10


def awslogs_stream(
    document: Mapping[str, Any], container: str, task_id: str
) -> tuple[str, str, str | None] | None:
    """(group, stream, region) of ``container``'s awslogs stream, None unless it logs there."""
    for cdef in document.get("containerDefinitions", []) or []:
        if cdef.get("name") != container:
            continue
        config = cdef.get("logConfiguration") or {}
        if config.get("logDriver") != "awslogs":
            return None
        options = config.get("options") or {}
        group = options.get("awslogs-group")
        if not group:
            return None
        prefix = options.get("awslogs-stream-prefix")
        stream = f"{prefix}/{container}/{task_id}" if prefix else task_id
        return str(group), stream, options.get("awslogs-region")
    return None


def failed_container(tasks: Sequence[Task], preferred: str | None) -> tuple[Task, Container] | None:
    """The task to quote (``preferred`` ARN first, else the latest stopped with a non-zero exit
    code) and its container (the one that exited non-zero, else the first)."""
    candidates = [t for t in tasks if t.arn == preferred] or sorted(
        (t for t in tasks if any(c.exit_code not in (None, 0) for c in t.containers)),
        key=lambda t: t.stopped_at or t.stopping_at or 0.0,
        reverse=True,
    )
    for task in candidates:
        if not task.containers:
            continue
        failed = [c for c in task.containers if c.exit_code not in (None, 0)]
        return task, (failed or list(task.containers))[0]
    return None


def quote_failed_task_logs(s: Session, deployment_id: str | None, task_arn: str | None) -> None:
    """Emit ``task.logs`` with a failed task's last lines (see the module docstring)."""
    if s.gw.logs is None or deployment_id is None:
        return
    st = s.settings
    try:
        arns = s.gw.ecs.list_tasks(st.cluster, started_by=deployment_id, desired_status="STOPPED")
        if task_arn and task_arn not in arns:
            arns = [task_arn, *arns]
        tasks = s.gw.ecs.describe_tasks(st.cluster, arns[:100]) if arns else []
        chosen = failed_container(tasks, task_arn)
        if chosen is None:
            return
        task, container = chosen
        document = s.gw.ecs.describe_task_definition(task.task_definition).document
        where = awslogs_stream(document, container.name, task.id)
        if where is None:
            return
        group, stream, region = where
        lines = s.gw.logs.last_lines(group, stream, region=region, limit=LINES)
    except RolloutError:
        return  # the quote is a courtesy: never let it change the outcome
    if not lines:
        return
    s.emit(
        "task.logs",
        f"last {len(lines)} log lines of task {task.id} ({group} {stream}):\n"
        + "\n".join(f"  | {line}" for line in lines),
        level="warning",
        task=task.arn,
        container=container.name,
        log_group=group,
        log_stream=stream,
        lines=lines,
    )
