"""One-off tasks (``rollout run``, ``deploy --pre-run``): the RunTask request, where the task's
logs go, and what exit code the task ended with. Pure.

Exit codes of ``rollout run`` (docs/verbs/run.md):

| case                                                             | exit              |
|------------------------------------------------------------------|-------------------|
| the task ran and its container exited                            | the container's   |
| the task could not start (RunTask failure, image pull, secrets…) | 125               |
| the task stopped but the container reported no exit code         | 125               |
| rollout's own errors: usage/config 2, AWS 1; interrupt 40; timeout 50 | as for deploy |

125 follows ``docker run`` ("the error is with the daemon itself"): a command that ran cannot be
told apart from one that did not start by its own code otherwise.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from rollout.model import Service, Task

CANNOT_START_EXIT = 125

ExitState = Literal["succeeded", "failed", "not-started", "no-exit-code"]


@dataclass(frozen=True)
class TaskExit:
    exit_code: int
    state: ExitState
    reason: str

    @property
    def ok(self) -> bool:
        return self.state == "succeeded"


@dataclass(frozen=True)
class LogStream:
    """Where the awslogs driver writes one container's output of one task."""

    group: str
    stream: str
    region: str | None = None


def container_definition(document: Mapping[str, Any], container: str | None) -> Mapping[str, Any]:
    """``container``'s definition, or the first essential one when ``container`` is None.

    Raises ValueError naming the containers when ``container`` is not in the task definition.
    """
    defs = [c for c in document.get("containerDefinitions", []) if isinstance(c, Mapping)]
    if not defs:
        raise ValueError("the task definition has no containers")
    if container is None:
        return next((c for c in defs if c.get("essential", True)), defs[0])
    for c in defs:
        if c.get("name") == container:
            return c
    names = ", ".join(str(c.get("name")) for c in defs)
    raise ValueError(f"no container {container!r} in the task definition (it has: {names})")


def awslogs_stream(document: Mapping[str, Any], container: str, task_id: str) -> LogStream | None:
    """The CloudWatch Logs stream of ``container`` in task ``task_id``, or None when the
    container does not log with ``awslogs`` and a stream prefix.

    The awslogs driver names the stream ``<awslogs-stream-prefix>/<container name>/<task id>``
    (ECS Developer Guide, "Using the awslogs log driver": without a prefix on Fargate no stream
    can be derived).
    """
    cdef = container_definition(document, container)
    log = cdef.get("logConfiguration") or {}
    if log.get("logDriver") != "awslogs":
        return None
    options = log.get("options") or {}
    group = options.get("awslogs-group")
    prefix = options.get("awslogs-stream-prefix")
    if not group or not prefix:
        return None
    return LogStream(
        group=str(group),
        stream=f"{prefix}/{cdef.get('name')}/{task_id}",
        region=options.get("awslogs-region"),
    )


def task_id_of_stream(stream: str) -> str:
    """The task id at the end of an awslogs stream name (``prefix/container/task-id``)."""
    return stream.rsplit("/", 1)[-1]


def run_task_request(
    service: Service,
    task_definition: str,
    container: str,
    command: Sequence[str],
    *,
    started_by: str,
    client_token: str,
    environment: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The RunTask request for a one-off task that runs like the service's tasks.

    Same network configuration (subnets, security groups, public IP), launch type or capacity
    provider strategy and platform version as the service; the task definition carries the roles
    and secrets. ``command`` replaces the container's command (empty: the image's own).
    ``clientToken`` makes a retried call start no second task.
    """
    override: dict[str, Any] = {"name": container}
    if command:
        override["command"] = list(command)
    if environment:
        override["environment"] = [{"name": k, "value": v} for k, v in environment.items()]
    request: dict[str, Any] = {
        "cluster": service.cluster_arn or service.arn.split("/")[-2],
        "taskDefinition": task_definition,
        "count": 1,
        "startedBy": started_by[:128],
        "clientToken": client_token[:64],
        "overrides": {"containerOverrides": [override]},
    }
    if service.capacity_provider_strategy:
        request["capacityProviderStrategy"] = [dict(c) for c in service.capacity_provider_strategy]
    else:
        request["launchType"] = service.launch_type or "FARGATE"
    if service.platform_version:
        request["platformVersion"] = service.platform_version
    if service.network_configuration:
        request["networkConfiguration"] = dict(service.network_configuration)
    return request


def task_exit(task: Task, container: str) -> TaskExit:
    """The exit code ``rollout run`` ends with for a STOPPED one-off task."""
    reason = task.stopped_reason or task.stop_code or "stopped"
    mine = next((c for c in task.containers if c.name == container), None)
    code = mine.exit_code if mine is not None else None
    if task.stop_code == "TaskFailedToStart" or (task.started_at is None and code is None):
        return TaskExit(CANNOT_START_EXIT, "not-started", f"the task could not start: {reason}")
    if code is None:
        detail = f" ({mine.reason})" if mine is not None and mine.reason else ""
        return TaskExit(
            CANNOT_START_EXIT,
            "no-exit-code",
            f"the task stopped without an exit code from {container}: {reason}{detail}",
        )
    if code == 0:
        return TaskExit(0, "succeeded", f"{container} exited 0")
    detail = f" ({mine.reason})" if mine is not None and mine.reason else ""
    return TaskExit(code, "failed", f"{container} exited {code}{detail}")


#: what ``rollout run`` reports for each end of a one-off task: (verdict, exit code or None for
#: the task's own)
RUN_VERDICTS: dict[str, tuple[str, int | None]] = {
    "succeeded": ("SUCCEEDED", 0),
    "dry-run": ("SUCCEEDED", 0),
    "failed": ("TASK_FAILED", None),
    "not-started": ("TASK_NOT_STARTED", CANNOT_START_EXIT),
    "no-exit-code": ("TASK_FAILED", CANNOT_START_EXIT),
    "interrupted": ("INTERRUPTED", 40),
    "timed-out": ("TIMED_OUT", 50),
}


def run_verdict(state: str, exit_code: int | None) -> tuple[str, int]:
    """The verdict and process exit code of ``rollout run`` for a one-off task's end."""
    verdict, code = RUN_VERDICTS[state]
    if code is None:
        code = exit_code if exit_code is not None else CANNOT_START_EXIT
    return verdict, code
