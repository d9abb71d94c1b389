"""A one-off task (``rollout run``, ``deploy --pre-run``): start it, stream its logs, wait for it
to stop, and say what it exited with.

    describe the service → RunTask (its network, launch type; the revision's roles, secrets)
      → poll DescribeTasks + GetLogEvents until STOPPED → drain the logs → exit code

The request and the exit code are pure decisions (:mod:`rollout.decisions.oneoff`). The task is
never stopped by rollout: on a timeout or an interrupt it is left running (a migration killed
half-way is worse than one that finishes late) and the command to stop it is printed.
"""

from __future__ import annotations

import shlex
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field

from rollout.decisions.oneoff import (
    CANNOT_START_EXIT,
    LogStream,
    TaskExit,
    awslogs_stream,
    container_definition,
    run_task_request,
    task_exit,
)
from rollout.engine.session import Session
from rollout.errors import ConfigError
from rollout.model import Task

STARTED_BY = "rollout-run"


@dataclass(frozen=True)
class OneOffRequest:
    task_definition: str  # ARN (or family:revision) to run
    command: tuple[str, ...] = ()  # replaces the container's command; empty: the image's own
    container: str | None = None  # default: the first essential container
    timeout: float = 3600.0
    environment: Mapping[str, str] = field(default_factory=dict)
    started_by: str = STARTED_BY


@dataclass(frozen=True)
class OneOffResult:
    #: "succeeded" | "failed" | "not-started" | "no-exit-code" | "timed-out" | "interrupted"
    #: | "dry-run"
    state: str
    exit_code: int | None
    reason: str
    task_arn: str | None = None
    log_stream: LogStream | None = None
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.state in ("succeeded", "dry-run")


def run_one_off(s: Session, req: OneOffRequest) -> OneOffResult:
    st = s.settings
    started = s.now()
    svc = s.gw.ecs.describe_service(st.cluster, st.service)
    td = s.gw.ecs.describe_task_definition(req.task_definition)
    try:
        container = str(container_definition(td.document, req.container).get("name"))
    except ValueError as exc:
        raise ConfigError(
            f"failed to run a task of {td.family_revision}: {exc}.",
            hint="Pass --container with one of its container names.",
        ) from exc
    request = run_task_request(
        svc,
        td.arn,
        container,
        req.command,
        started_by=req.started_by,
        client_token=uuid.uuid4().hex,
        environment=req.environment,
    )
    shown = " ".join(req.command) if req.command else "(the image's command)"
    sent = s.write(
        "ecs",
        "RunTask",
        request,
        f"run {shown} in {container} of {td.family_revision}",
        lambda: s.gw.ecs.run_task(request),
    )
    if sent is None:
        return OneOffResult("dry-run", 0, "dry run: RunTask not sent")
    tasks, failures = sent
    if not tasks:
        why = "; ".join(failures) or "RunTask started no task"
        s.emit("task.failed", f"the task could not start: {why}", level="error", failures=failures)
        return OneOffResult("not-started", CANNOT_START_EXIT, f"the task could not start: {why}")
    task = tasks[0]
    stream = awslogs_stream(td.document, container, task.id)
    s.emit(
        "task.started",
        f"task {task.id} started on {td.family_revision}: {shown}"
        + (f" (logs: {stream.group} {stream.stream})" if stream else " (no awslogs stream)"),
        task=task.arn,
        task_definition_arn=td.arn,
        container=container,
        command=list(req.command),
        log_group=stream.group if stream else None,
        log_stream=stream.stream if stream else None,
    )
    return _follow(s, req, task, container, stream, started)


def _follow(
    s: Session,
    req: OneOffRequest,
    task: Task,
    container: str,
    stream: LogStream | None,
    started: float,
) -> OneOffResult:
    st = s.settings
    token: str | None = None
    last_status = task.last_status
    stop_hint = (
        f"`aws ecs stop-task --cluster {st.cluster} --task {task.id}` stops it; "
        f"`rollout logs --env {st.env} --task {task.id} --follow` follows it"
    )
    while True:
        if stream is not None:
            token = _drain(s, stream, token, task.id)
        if s.interrupt.is_set():
            reason = f"interrupted; task {task.id} is left running: {stop_hint}"
            s.emit("interrupted", reason, level="warning", task=task.arn)
            return OneOffResult("interrupted", None, reason, task.arn, stream, s.now() - started)
        found = s.gw.ecs.describe_tasks(st.cluster, [task.arn])
        if found:
            task = found[0]
        if task.last_status != last_status:
            last_status = task.last_status
            s.emit(
                "task.state",
                f"task {task.id} is {task.last_status}",
                level="debug",
                task=task.arn,
                last_status=task.last_status,
            )
        if task.last_status == "STOPPED":
            if stream is not None:  # the driver flushes on exit: read what came last
                token = _drain(s, stream, token, task.id)
            result: TaskExit = task_exit(task, container)
            codes = [c.exit_code for c in task.containers if c.exit_code is not None]
            s.emit(
                "task.stopped",
                f"task {task.id} stopped: {result.reason}",
                level="success" if result.ok else "error",
                task=task.arn,
                stop_code=task.stop_code,
                stopped_reason=task.stopped_reason,
                exit_codes=codes,
                exit_code=result.exit_code,
            )
            return OneOffResult(
                result.state, result.exit_code, result.reason, task.arn, stream, s.now() - started
            )
        if s.now() - started >= req.timeout:
            reason = (
                f"task {task.id} still {task.last_status} after {req.timeout:.0f}s; it is left "
                f"running: {stop_hint}"
            )
            return OneOffResult("timed-out", None, reason, task.arn, stream, s.now() - started)
        s.poll_pause()


def _drain(s: Session, stream: LogStream, token: str | None, task_id: str) -> str | None:
    events, token = s.gw.logs.stream_events(
        stream.group, stream.stream, token, region=stream.region
    )
    for e in events:
        s.emit("log", e.message, task=task_id, stream=e.stream, timestamp=e.at)
    return token


def pre_run_command(command: str) -> tuple[str, ...]:
    """``deploy --pre-run "CMD"`` as the container's argv (shell-like splitting, no shell: the
    image need not have one). Raises ValueError on unbalanced quotes."""
    return tuple(shlex.split(command))
