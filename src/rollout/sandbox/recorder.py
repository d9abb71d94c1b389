"""Every API call the sandbox answers, kept in order so tests and benchmarks can count them.

A call is recorded once per HTTP request (so a botocore retry is two calls, as on AWS's side),
with the service (boto3's name: ``ecs``, ``elbv2``, ``route53``...), the operation, the
simulated time it arrived, the wall time, the HTTP status and, for errors, the error code.
``mutating`` says whether the operation changes state; it is decided from the operation's name
(see :func:`is_mutating`).
"""

from __future__ import annotations

import threading
from dataclasses import asdict, dataclass
from typing import Any

#: Operation-name prefixes of AWS write operations. ``Batch*`` and ``Transact*`` are decided by
#: what follows the prefix (``BatchGetImage`` reads, ``BatchDeleteImage`` writes).
_WRITE_PREFIXES = (
    "Abort",
    "Add",
    "Allocate",
    "Apply",
    "Associate",
    "Attach",
    "Authorize",
    "Cancel",
    "Change",
    "Complete",
    "Copy",
    "Continue",  # ContinueServiceDeployment moves a paused deployment on
    "Create",
    "Delete",
    "Deregister",
    "Detach",
    "Disable",
    "Disassociate",
    "Enable",
    "Execute",
    "Import",
    "Initiate",
    "Modify",
    "Put",
    "Register",
    "Release",
    "Remove",
    "Replace",
    "Reset",
    "Restore",
    "Revoke",
    "Rotate",
    "Run",
    "Send",
    "Set",
    "Start",
    "Stop",
    "Submit",
    "Tag",
    "Terminate",
    "Untag",
    "Update",
    "Upload",
    "Write",
)


def is_mutating(operation: str) -> bool:
    """Whether an AWS operation changes state, judged by its name (``UpdateService`` -> True)."""
    for prefix in ("Batch", "Transact"):
        if operation.startswith(prefix) and len(operation) > len(prefix):
            return is_mutating(operation[len(prefix) :])
    return operation.startswith(_WRITE_PREFIXES)


@dataclass(frozen=True)
class RecordedCall:
    """One API request as the sandbox answered it."""

    service: str
    operation: str
    sim_time: float
    wall_time: float
    status: int
    mutating: bool
    region: str | None = None
    error_code: str | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


class CallRecorder:
    """A thread-safe, append-only list of :class:`RecordedCall`."""

    def __init__(self) -> None:
        self._calls: list[RecordedCall] = []
        self._lock = threading.Lock()

    def record(self, call: RecordedCall) -> None:
        with self._lock:
            self._calls.append(call)

    def calls(
        self,
        service: str | None = None,
        operation: str | None = None,
        *,
        mutating: bool | None = None,
        since: float | None = None,
    ) -> list[RecordedCall]:
        """Recorded calls in arrival order, filtered by any of the given fields.

        ``since`` keeps calls whose simulated time is at or after it.
        """
        with self._lock:
            snapshot = list(self._calls)
        return [
            c
            for c in snapshot
            if (service is None or c.service == service)
            and (operation is None or c.operation == operation)
            and (mutating is None or c.mutating == mutating)
            and (since is None or c.sim_time >= since)
        ]

    def clear(self) -> None:
        with self._lock:
            self._calls.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self._calls)
