"""What the ECS API handlers (:mod:`rollout.sandbox.ecs.api`) need from the simulation.

The simulation (:mod:`rollout.sandbox.ecs.simulation`) dispatches each call to a handler in
``api`` and passes itself; the handlers reach the simulation only through
:class:`SimulationPort`. So ``api`` never imports ``simulation`` (not even for typing) and the
two modules form no import cycle: ``simulation`` → ``api`` → ``ports`` ← ``simulation``.
:class:`~rollout.sandbox.ecs.simulation.EcsSimulation` satisfies this Protocol structurally
(mypy checks it where the simulation passes itself to a handler).
"""

from __future__ import annotations

from typing import Any, Protocol

from rollout.sandbox.ecs.state import (
    DeploymentRecord,
    RegionState,
    ServiceRecord,
    TaskDefinitionRecord,
    TaskRecord,
)
from rollout.sandbox.ecs.timings import Behaviour, Timings


class SimulationPort(Protocol):
    """The simulation as the API handlers see it: its time, settings, and the moves they ask."""

    now: float
    timings: Timings
    behaviour: Behaviour
    shifter: Any  # the traffic-shifting driver (ecs.shifting.Shifter; Any: no import cycle)

    def record(self, kind: str, **detail: Any) -> None: ...

    def threshold(self, service: ServiceRecord) -> int: ...

    def revision_arn(self, rs: RegionState, service: ServiceRecord, d: DeploymentRecord) -> str: ...

    def service_deployment_arn(
        self, rs: RegionState, service: ServiceRecord, d: DeploymentRecord
    ) -> str: ...

    def last_completed(
        self, service: ServiceRecord, exclude: DeploymentRecord
    ) -> DeploymentRecord | None: ...

    def start_deployment(self, rs: RegionState, service: ServiceRecord) -> DeploymentRecord: ...

    def set_rollout(
        self, service: ServiceRecord, d: DeploymentRecord, state: str, reason: str
    ) -> None: ...

    def set_sd_status(self, service: ServiceRecord, d: DeploymentRecord, status: str) -> None: ...

    def start_rollback(
        self,
        rs: RegionState,
        service: ServiceRecord,
        failed: DeploymentRecord,
        target: DeploymentRecord,
        *,
        breaker: bool,
    ) -> None: ...

    def request_pass(self, rs: RegionState, service: ServiceRecord, at: float) -> None: ...

    def launch_task(
        self,
        rs: RegionState,
        service: ServiceRecord | None,
        deployment: DeploymentRecord | None,
        *,
        task_definition: TaskDefinitionRecord | None = None,
        cluster: str | None = None,
        started_by: str | None = None,
        group: str | None = None,
        network_configuration: dict[str, Any] | None = None,
        overrides: dict[str, Any] | None = None,
        tags: list[dict[str, str]] | None = None,
    ) -> TaskRecord: ...

    def stop_tasks(
        self,
        rs: RegionState,
        service: ServiceRecord | None,
        tasks: list[TaskRecord],
        *,
        code: str,
        reason: str,
    ) -> None: ...


class ShiftingPort(SimulationPort, Protocol):
    """The simulation as the traffic-shifting driver (:mod:`rollout.sandbox.ecs.shifting`) sees
    it: the API handlers' view plus the scheduler's moves it drives through the stages. Typed
    loosely (``*args: Any``): the point is the import graph (``shifting`` never imports
    ``simulation``), and mypy still checks that the simulation has each member."""

    hook_answer: str
    hook_delay: float

    def schedule(self, *args: Any, **kwargs: Any) -> Any: ...
    def service_event(self, *args: Any, **kwargs: Any) -> Any: ...
    def service_tasks(self, *args: Any, **kwargs: Any) -> Any: ...
    def is_healthy(self, *args: Any, **kwargs: Any) -> Any: ...
    def unhealthy_reason(self, *args: Any, **kwargs: Any) -> Any: ...
    def new_uuid(self) -> str: ...
    def hook_failed(self, *args: Any, **kwargs: Any) -> Any: ...
    def _stage2_failure(self, *args: Any, **kwargs: Any) -> Any: ...
    def _steady(self, *args: Any, **kwargs: Any) -> Any: ...
    def _delay_replacement(self, *args: Any, **kwargs: Any) -> Any: ...
    def _drop_drained(self, *args: Any, **kwargs: Any) -> Any: ...
