"""One-off task decisions as tables: exit codes, log streams, the RunTask request."""

from __future__ import annotations

from dataclasses import replace

import pytest

from engine.builders import dep, svc
from rollout.decisions.oneoff import (
    CANNOT_START_EXIT,
    LogStream,
    awslogs_stream,
    container_definition,
    run_task_request,
    run_verdict,
    task_exit,
)
from rollout.model import Container, Task


def _task(
    *,
    stop_code: str | None = "EssentialContainerExited",
    reason: str | None = "Essential container in task exited",
    started: float | None = 10.0,
    exit_code: int | None = 0,
    container_reason: str | None = None,
    name: str = "api",
) -> Task:
    return Task(
        arn="arn:aws:ecs:r:1:task/c/abc",
        task_definition="arn:td:1",
        last_status="STOPPED",
        desired_status="STOPPED",
        stop_code=stop_code,
        stopped_reason=reason,
        started_at=started,
        containers=(Container(name=name, exit_code=exit_code, reason=container_reason),),
    )


EXITS = [
    ("exit 0", _task(exit_code=0), 0, "succeeded"),
    ("exit 3", _task(exit_code=3), 3, "failed"),
    ("OOM kill", _task(exit_code=137, container_reason="OutOfMemoryError"), 137, "failed"),
    (
        "image pull",
        _task(
            stop_code="TaskFailedToStart",
            reason="CannotPullContainerError: x",
            started=None,
            exit_code=None,
        ),
        CANNOT_START_EXIT,
        "not-started",
    ),
    (
        "secrets",
        _task(
            stop_code="TaskFailedToStart",
            reason="ResourceInitializationError: y",
            started=None,
            exit_code=None,
        ),
        CANNOT_START_EXIT,
        "not-started",
    ),
    (
        "never started, no stop code yet",
        _task(stop_code=None, reason=None, started=None, exit_code=None),
        CANNOT_START_EXIT,
        "not-started",
    ),
    (
        "stopped by a user while running, no exit code",
        _task(stop_code="UserInitiated", reason="drill", exit_code=None),
        CANNOT_START_EXIT,
        "no-exit-code",
    ),
    (
        "other container's exit only",
        _task(exit_code=0, name="sidecar"),
        CANNOT_START_EXIT,
        "no-exit-code",
    ),
]


@pytest.mark.parametrize(("name", "task", "code", "state"), EXITS, ids=[e[0] for e in EXITS])
def test_task_exit(name: str, task: Task, code: int, state: str) -> None:
    """The exit code and state of each stopped one-off task."""
    got = task_exit(task, "api")
    assert (got.exit_code, got.state) == (code, state)


VERDICTS = [
    ("succeeded", 0, ("SUCCEEDED", 0)),
    ("dry-run", 0, ("SUCCEEDED", 0)),
    ("failed", 3, ("TASK_FAILED", 3)),
    ("failed", None, ("TASK_FAILED", CANNOT_START_EXIT)),
    ("not-started", 125, ("TASK_NOT_STARTED", 125)),
    ("no-exit-code", 125, ("TASK_FAILED", 125)),
    ("interrupted", None, ("INTERRUPTED", 40)),
    ("timed-out", None, ("TIMED_OUT", 50)),
]


@pytest.mark.parametrize(("state", "code", "expected"), VERDICTS)
def test_run_verdict(state: str, code: int | None, expected: tuple[str, int]) -> None:
    """rollout run's verdict and exit code per task end (the task's own code when it ran)."""
    assert run_verdict(state, code) == expected


def _doc(log: dict | None) -> dict:  # type: ignore[type-arg]
    c: dict = {"name": "api", "essential": True}  # type: ignore[type-arg]
    if log is not None:
        c["logConfiguration"] = log
    return {"containerDefinitions": [{"name": "init", "essential": False}, c]}


STREAMS = [
    (
        "awslogs with prefix",
        _doc(
            {
                "logDriver": "awslogs",
                "options": {
                    "awslogs-group": "/ecs/x",
                    "awslogs-stream-prefix": "p",
                    "awslogs-region": "eu-west-1",
                },
            }
        ),
        LogStream("/ecs/x", "p/api/T1", "eu-west-1"),
    ),
    (
        "awslogs without prefix",
        _doc({"logDriver": "awslogs", "options": {"awslogs-group": "g"}}),
        None,
    ),
    ("firelens", _doc({"logDriver": "awsfirelens", "options": {}}), None),
    ("no log configuration", _doc(None), None),
]


@pytest.mark.parametrize(("name", "doc", "expected"), STREAMS, ids=[s[0] for s in STREAMS])
def test_awslogs_stream(name: str, doc: dict, expected: LogStream | None) -> None:  # type: ignore[type-arg]
    """The awslogs stream is prefix/container/task-id, and only with awslogs and a prefix."""
    assert awslogs_stream(doc, "api", "T1") == expected


def test_container_definition_defaults_to_the_first_essential_and_names_the_others() -> None:
    """No --container: the first essential container; an unknown name lists the real ones."""
    doc = _doc(None)
    assert container_definition(doc, None)["name"] == "api"
    with pytest.raises(ValueError, match="it has: init, api"):
        container_definition(doc, "web")


def test_run_task_request_copies_the_service_network_and_platform() -> None:
    """RunTask runs like the service: its network, launch type or capacity providers, platform
    version; the command replaces the container's; a client token makes retries safe."""
    network = {
        "awsvpcConfiguration": {
            "subnets": ["s1"],
            "securityGroups": ["sg"],
            "assignPublicIp": "DISABLED",
        }
    }
    service = replace(svc(dep("d", 1)), network_configuration=network, platform_version="1.4.0")
    req = run_task_request(
        service,
        "arn:td:7",
        "api",
        ["alembic", "upgrade", "head"],
        started_by="rollout-run",
        client_token="t" * 80,
    )
    assert req["networkConfiguration"] == network
    assert req["launchType"] == "FARGATE"
    assert req["platformVersion"] == "1.4.0"
    assert req["overrides"] == {
        "containerOverrides": [{"name": "api", "command": ["alembic", "upgrade", "head"]}]
    }
    assert len(req["clientToken"]) == 64
    assert req["cluster"] == service.cluster_arn
    spot = replace(
        service, capacity_provider_strategy=({"capacityProvider": "FARGATE_SPOT", "weight": 1},)
    )
    req = run_task_request(spot, "arn:td:7", "api", [], started_by="x", client_token="t")
    assert "launchType" not in req
    assert req["capacityProviderStrategy"] == [{"capacityProvider": "FARGATE_SPOT", "weight": 1}]
    assert req["overrides"] == {"containerOverrides": [{"name": "api"}]}
