"""The simulated runtime: tasks exist only in the model; the fault plan predicts their future.

A task's application turns ready ``healthy_after`` seconds after RUNNING (never with
``never_healthy``) and its essential container exits with ``exit_code`` ``crash_after`` seconds
after RUNNING (``crash``/``flaky`` rules); asked to stop, it exits 0 after ``sigterm_exit``
seconds (bounded by the stop timeout). Everything runs on the simulation's event queue, in
simulated time, so timelines are exact and repeatable.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from rollout.sandbox.faults import TaskFaults
from rollout.sandbox.runtime import Readiness, Scheduler, TaskEvents, TaskSpec


class SimulatedRuntime:
    """See the module docstring. ``sigterm_exit``: seconds from SIGTERM to a clean exit."""

    name = "simulated"

    def __init__(self, *, sigterm_exit: float = 2.0) -> None:
        self.sigterm_exit = sigterm_exit
        self._scheduler: Scheduler | None = None
        self._now: Callable[[], float] = lambda: 0.0
        self._events: dict[str, TaskEvents] = {}

    def attach(
        self,
        *,
        lock: Any,
        now: Callable[[], float],
        scheduler: Scheduler,
        catch_up: Callable[[], None],
    ) -> None:
        self._scheduler = scheduler
        self._now = now

    def address(self, index: int, ports: Sequence[int]) -> str:
        return f"10.0.{(index // 250) % 250 + 1}.{index % 250 + 4}"

    def _schedule(self, at: float, action: Callable[[], None]) -> None:
        assert self._scheduler is not None, "SimulatedRuntime.attach was not called"
        self._scheduler.schedule(at, action)

    def start(self, spec: TaskSpec, events: TaskEvents) -> Readiness:
        faults: TaskFaults = spec.faults if spec.faults is not None else TaskFaults()
        now = self._now()
        self._events[spec.task_id] = events
        if faults.crash_after is not None:
            code = faults.exit_code
            self._schedule(now + faults.crash_after, lambda: events.exited(code))
        ready_at = None if faults.never_healthy else now + faults.healthy_after
        return Readiness(predicted=True, ready_at=ready_at)

    def stop(self, task_id: str, *, timeout: float) -> None:
        events = self._events.pop(task_id, None)
        if events is None:
            return
        self._schedule(self._now() + min(self.sigterm_exit, timeout), lambda: events.exited(0))

    def close(self) -> None:
        self._events.clear()
