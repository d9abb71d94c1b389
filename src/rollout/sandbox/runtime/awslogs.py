"""The ``awslogs`` log driver of the process runtime: container output → sandbox CloudWatch Logs.

As on Fargate, each container with ``logConfiguration.logDriver == "awslogs"`` writes to the group
``awslogs-group`` (which must exist unless ``awslogs-create-group`` is ``"true"``), stream
``<awslogs-stream-prefix>/<container name>/<task id>``; one event per line of stdout or stderr,
stamped when the line was read. Lines are shipped in batches (every ``interval`` seconds and when
the process ends), straight into moto's Logs backend under the world's lock, so they are not
recorded as API calls (on AWS the agent's PutLogEvents calls are not the user's either).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from rollout.sandbox.runtime import StartFailure

#: UNVERIFIED wording (AWS re:Post threads quote it with small variations).
MISSING_GROUP = (
    "ResourceInitializationError: failed to validate logger args: create stream has been "
    "retried 1 times: failed to create Cloudwatch log stream: ResourceNotFoundException: "
    "The specified log group does not exist. : exit status 1"
)


@dataclass
class Stream:
    """One container's log stream and its unshipped lines."""

    account: str
    region: str
    group: str
    name: str
    pending: list[dict[str, Any]] = field(default_factory=list)


def stream_for(
    config: Mapping[str, Any] | None, *, container: str, task_id: str, account: str, region: str
) -> Stream | None:
    """The stream a container logs to (None: not ``awslogs``). Creates it in moto; raises
    StartFailure when the group is missing (caller holds the world's lock)."""
    if not config or config.get("logDriver") != "awslogs":
        return None
    options = dict(config.get("options") or {})
    group = str(options.get("awslogs-group", ""))
    prefix = options.get("awslogs-stream-prefix")
    region = str(options.get("awslogs-region") or region)
    name = f"{prefix}/{container}/{task_id}" if prefix else task_id
    from moto.backends import get_backend

    backend = get_backend("logs")[account][region]
    if group not in backend.groups:
        if str(options.get("awslogs-create-group", "")).lower() != "true":
            raise StartFailure(MISSING_GROUP)
        backend.create_log_group(group, {})
    if name not in backend.groups[group].streams:
        backend.create_log_stream(group, name)
    return Stream(account, region, group, name)


class LogShipper:
    """Ships every stream's pending lines every ``interval`` seconds under ``lock``."""

    def __init__(self, lock: Any, now: Callable[[], float], interval: float = 0.25) -> None:
        self._lock = lock
        self._now = now
        self._interval = interval
        self._streams: list[Stream] = []
        self._guard = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sandbox-awslogs", daemon=True)
        self._thread.start()

    def add(self, stream: Stream) -> None:
        with self._guard:
            self._streams.append(stream)

    def line(self, stream: Stream, text: str) -> None:
        event = {"timestamp": int(self._now() * 1000), "message": text}
        with self._guard:
            stream.pending.append(event)

    def flush(self, only: Stream | None = None) -> None:
        with self._guard:
            batches = []
            for stream in self._streams if only is None else [only]:
                if stream.pending:
                    batches.append((stream, stream.pending))
                    stream.pending = []
        if not batches:
            return
        from moto.backends import get_backend

        with self._lock:
            for stream, events in batches:
                try:
                    backend = get_backend("logs")[stream.account][stream.region]
                    backend.put_log_events(stream.group, stream.name, events)
                except Exception:  # noqa: S112 - the group was deleted: the lines are lost
                    continue

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self.flush()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.flush()
