"""A failed verdict quotes the last log lines of one failed task (engine/logs.py)."""

from __future__ import annotations

from rollout.engine.logs import awslogs_stream, failed_container
from rollout.model import Container, Task

DOC = {
    "containerDefinitions": [
        {
            "name": "api",
            "logConfiguration": {
                "logDriver": "awslogs",
                "options": {"awslogs-group": "/ecs/voj", "awslogs-stream-prefix": "api"},
            },
        },
        {"name": "sidecar", "logConfiguration": {"logDriver": "json-file"}},
    ]
}


def _task(arn: str, *codes: int | None, stopped_at: float = 0.0) -> Task:
    return Task(
        arn=arn,
        task_definition="td:1",
        last_status="STOPPED",
        desired_status="STOPPED",
        stopped_at=stopped_at,
        containers=tuple(Container(f"c{i}", exit_code=c) for i, c in enumerate(codes)),
    )


def test_awslogs_stream_is_prefix_container_task() -> None:
    """The stream name ECS writes: <prefix>/<container>/<task id>; other drivers: none."""
    assert awslogs_stream(DOC, "api", "abc") == ("/ecs/voj", "api/api/abc", None)
    assert awslogs_stream(DOC, "sidecar", "abc") is None
    assert awslogs_stream(DOC, "missing", "abc") is None


def test_the_signalled_task_first_else_the_latest_nonzero_exit() -> None:
    """The failure signal's task wins; otherwise the latest stopped task that exited non-zero,
    and within it the container that exited non-zero."""
    a = _task("arn/a", 0, 3, stopped_at=1)
    b = _task("arn/b", 1, stopped_at=5)
    clean = _task("arn/c", 0, stopped_at=9)
    assert failed_container([a, b, clean], None) == (b, b.containers[0])
    assert failed_container([a, b, clean], "arn/a") == (a, a.containers[1])
    assert failed_container([clean], None) is None
