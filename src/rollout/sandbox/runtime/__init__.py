"""Runtimes: what makes the tasks the control plane (the ECS model) decides on real.

The control plane decides which tasks exist and when they should start and stop; it hands each
task to a :class:`Runtime` as a :class:`TaskSpec` and hears back through :class:`TaskEvents`
(exits, container health, start failures). The walls: a runtime never touches the control
plane's records, and the control plane never knows what a runtime does with a task. Two
implementations:

- :class:`~rollout.sandbox.runtime.simulated.SimulatedRuntime` (the default): the task's future
  comes from the fault plan (crash after N s, healthy after N s, ...), so it is *predicted*;
  exits are scheduled on the simulation's own event queue, in simulated time.
- :class:`~rollout.sandbox.runtime.process.ProcessRuntime` (``--runtime process``): each task is
  a real OS process group running the image built by ``rollout sandbox build``; readiness is
  *observed* (real ALB health checks, the container's ``healthCheck`` command), exits are real.

Every :class:`TaskEvents` call arrives under the world's lock.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True)
class ContainerSpec:
    """One container of a task, as the task definition (and its overrides) describe it."""

    name: str
    image: str
    image_digest: str | None
    essential: bool
    command: tuple[str, ...] | None
    entry_point: tuple[str, ...] | None
    environment: Mapping[str, str]
    #: (variable name, valueFrom): SSM parameter or Secrets Manager ARN, resolved by the runtime
    secrets: tuple[tuple[str, str], ...]
    ports: tuple[int, ...]
    health_check: Mapping[str, Any] | None
    stop_timeout: float
    log_configuration: Mapping[str, Any] | None
    user: str | None = None
    working_directory: str | None = None


@dataclass(frozen=True)
class TaskSpec:
    """What a runtime needs to run one task."""

    task_id: str
    task_arn: str
    cluster: str
    family: str
    revision: int
    account: str
    region: str
    ip: str
    containers: tuple[ContainerSpec, ...]
    #: the fault plan's decision (a :class:`rollout.sandbox.faults.TaskFaults`): simulated only
    faults: Any = None
    tags: tuple[tuple[str, str], ...] = field(default_factory=tuple)

    @property
    def essential(self) -> ContainerSpec:
        return next((c for c in self.containers if c.essential), self.containers[0])


@dataclass(frozen=True)
class Readiness:
    """How the control plane learns when a started task's application answers.

    ``predicted``: the runtime knows now (``ready_at``: simulated time the app starts answering
    health checks; None: never). Otherwise readiness is *observed*: the ALB health checker and
    :meth:`TaskEvents.container_health` report it as it happens.
    """

    predicted: bool
    ready_at: float | None = None

    @classmethod
    def observed(cls) -> Readiness:
        return cls(predicted=False)


class TaskEvents(Protocol):
    """What a runtime reports about one task (implemented by the control plane)."""

    def exited(self, exit_code: int) -> None:
        """The essential container's process ended with ``exit_code`` (128 + n for signal n)."""

    def container_health(self, status: str) -> None:
        """The container ``healthCheck`` status changed: ``HEALTHY`` or ``UNHEALTHY``."""

    def failed_to_start(self, reason: str) -> None:
        """The task could not be started (stopped reason as ECS writes it)."""


class Scheduler(Protocol):
    """The simulation's event queue, for runtimes that act in simulated time."""

    def schedule(self, at: float, action: Callable[[], None], *, late: bool = False) -> None: ...


class Runtime(Protocol):
    """Makes tasks real (or simulated). See the module docstring."""

    name: str

    def attach(
        self,
        *,
        lock: Any,
        now: Callable[[], float],
        scheduler: Scheduler,
        catch_up: Callable[[], None],
    ) -> None:
        """Called once by the simulation that owns this runtime. A runtime that reports from
        its own threads takes ``lock`` and calls ``catch_up`` (run the simulation to the
        present) before calling a :class:`TaskEvents` method."""

    def address(self, index: int, ports: Sequence[int]) -> str:
        """The private IPv4 address of the ``index``-th task (its ENI), free for ``ports``."""

    def start(self, spec: TaskSpec, events: TaskEvents) -> Readiness:
        """Start the task's containers (the task then turns RUNNING); raise
        :class:`StartFailure` when they cannot start."""

    def stop(self, task_id: str, *, timeout: float) -> None:
        """Stop: SIGTERM now, SIGKILL after ``timeout`` seconds; report the exit."""

    def close(self) -> None:
        """Stop every task and release everything (idempotent)."""


def signal_exit_code(returncode: int) -> int:
    """A container's exit code as Docker reports it: 128 + n for a process killed by signal n."""
    return 128 - returncode if returncode < 0 else returncode


__all__ = [
    "ContainerSpec",
    "Readiness",
    "Runtime",
    "Scheduler",
    "StartFailure",
    "TaskEvents",
    "TaskSpec",
    "signal_exit_code",
]


class StartFailure(Exception):
    """A task cannot be started; ``reason`` is its stoppedReason (stop code TaskFailedToStart)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
