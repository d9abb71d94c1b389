"""Mutable records of the ECS simulation (one set per account and region)."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

from rollout.sandbox.dataplane.health_timeline import HealthChange
from rollout.sandbox.faults import TaskFaults

ACTIVE_STATES = ("PROVISIONING", "PENDING", "ACTIVATING", "RUNNING")
PENDING_STATES = ("PROVISIONING", "PENDING", "ACTIVATING")


@dataclass(frozen=True)
class TimelineEntry:
    """Something the simulation did, at simulated ``time``."""

    time: float
    kind: str
    detail: dict[str, Any]


@dataclass
class TaskDefinitionRecord:
    arn: str
    family: str
    revision: int
    body: dict[str, Any]
    status: str = "ACTIVE"
    tags: list[dict[str, str]] = field(default_factory=list)
    registered_at: float = 0.0
    deregistered_at: float | None = None


@dataclass
class ClusterRecord:
    name: str
    arn: str
    created_at: float
    status: str = "ACTIVE"
    tags: list[dict[str, str]] = field(default_factory=list)
    settings: list[dict[str, str]] = field(default_factory=list)


@dataclass
class TargetBinding:
    """One load-balancer registration of a task."""

    target_group_arn: str
    container_name: str
    port: int
    registered_at: float
    changes: list[HealthChange]
    state: str = "registered"  # registered | draining | gone


@dataclass
class ContainerRecord:
    name: str
    arn: str
    image: str
    essential: bool
    runtime_id: str
    image_digest: str | None = None
    last_status: str = "PENDING"
    exit_code: int | None = None
    reason: str | None = None
    health_check: dict[str, Any] | None = None


@dataclass
class TaskRecord:
    arn: str
    id: str
    cluster: str
    task_definition_arn: str
    family: str
    revision: int
    group: str
    started_by: str | None
    service: str | None
    deployment_id: str | None
    created_at: float
    containers: list[ContainerRecord]
    cpu: str
    memory: str
    ip: str
    eni_id: str
    mac: str
    subnet: str
    availability_zone: str
    attachment_id: str
    faults: TaskFaults
    tags: list[dict[str, str]] = field(default_factory=list)
    overrides: dict[str, Any] = field(default_factory=dict)
    last_status: str = "PROVISIONING"
    desired_status: str = "RUNNING"
    pull_started_at: float | None = None
    pull_stopped_at: float | None = None
    connectivity_at: float | None = None
    started_at: float | None = None
    stopping_at: float | None = None
    execution_stopped_at: float | None = None
    stopped_at: float | None = None
    stop_code: str | None = None
    stopped_reason: str | None = None
    version: int = 1
    targets: list[TargetBinding] = field(default_factory=list)
    container_health: list[HealthChange] | None = None
    healthy_since: float | None = None
    counted_healthy: bool = False
    #: Stopped by the scheduler for failing health checks.
    replaced_unhealthy: bool = False
    #: A stage-2 failure to add to failedTasks when the task reaches STOPPED
    #: (``Behaviour.stage2_failure_counted == "stopped"``).
    failure_pending: bool = False
    #: The runtime reported the essential container's exit.
    exited: bool = False

    @property
    def live(self) -> bool:
        """Wanted by the scheduler: not told to stop."""
        return self.desired_status != "STOPPED"

    @property
    def answering(self) -> bool:
        """Its essential container is up and accepts connections: RUNNING, or DEACTIVATING while
        its targets drain (ecs-behaviour.md §4.1: the container gets SIGTERM only in STOPPING,
        after deregistration, §6.3), and it has not exited. A request the ALB sends to a target
        whose task is not answering is a refused connection (502)."""
        return not self.exited and self.last_status in ("RUNNING", "DEACTIVATING")


@dataclass
class DeploymentRecord:
    id: str
    task_definition: str
    created_at: float
    updated_at: float
    network_configuration: dict[str, Any] | None
    launch_type: str
    platform_version: str
    load_balancers: list[dict[str, Any]]
    service_deployment_id: str
    status: str = "PRIMARY"  # PRIMARY | ACTIVE | INACTIVE
    desired: int = 0
    rollout_state: str = "IN_PROGRESS"
    rollout_reason: str = ""
    failed_tasks: int = 0
    replaced_unhealthy: int = 0
    consecutive_start_failures: int = 0
    next_launch_at: float = 0.0
    ever_running: bool = False
    completed_at: float | None = None
    started: bool = False
    # service-deployment view
    sd_status: str = "PENDING"
    sd_status_reason: str | None = None
    sd_started_at: float | None = None
    sd_finished_at: float | None = None
    sd_stopped_at: float | None = None
    sd_updated_at: float = 0.0
    source_revisions: list[str] = field(default_factory=list)
    rollback: dict[str, Any] | None = None
    rolled_back_to: str | None = None
    breaker_status: str = "DISABLED"
    alarm_status: str = "DISABLED"
    alarms_ignored: list[str] = field(default_factory=list)
    alarms_triggered: list[str] = field(default_factory=list)
    deployment_configuration: dict[str, Any] = field(default_factory=dict)
    bake_until: float | None = None
    #: traffic-shifting state (a :class:`rollout.sandbox.ecs.shifting.Shift`) of a green deployment
    shift: Any = None


@dataclass
class ServiceRecord:
    name: str
    arn: str
    cluster: str
    cluster_arn: str
    task_definition: str
    desired: int
    launch_type: str
    platform_version: str
    network_configuration: dict[str, Any] | None
    load_balancers: list[dict[str, Any]]
    deployment_configuration: dict[str, Any]
    grace_period: int | None
    created_at: float
    created_by: str
    role_arn: str
    tags: list[dict[str, str]] = field(default_factory=list)
    propagate_tags: str = "NONE"
    enable_ecs_managed_tags: bool = False
    enable_execute_command: bool = False
    scheduling_strategy: str = "REPLICA"
    deployment_controller: dict[str, Any] = field(default_factory=lambda: {"type": "ECS"})
    status: str = "ACTIVE"  # ACTIVE | DRAINING | INACTIVE
    deleted_at: float | None = None
    events: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=100))
    deployments: list[DeploymentRecord] = field(default_factory=list)
    #: the deployment whose ServiceDeployment is current (a rollback does not change it)
    current_deployment: str = ""
    steady: bool = False
    steady_token: int = 0
    stuck_reported: bool = False
    throttle_reported: bool = False
    pass_times: set[float] = field(default_factory=set)

    @property
    def primary(self) -> DeploymentRecord:
        for deployment in self.deployments:
            if deployment.status == "PRIMARY":
                return deployment
        raise LookupError(f"service {self.name} has no PRIMARY deployment")

    def visible_deployments(self) -> list[DeploymentRecord]:
        primary = [d for d in self.deployments if d.status == "PRIMARY"]
        active = sorted(
            (d for d in self.deployments if d.status == "ACTIVE"),
            key=lambda d: d.created_at,
            reverse=True,
        )
        return primary + active

    def deployment(self, deployment_id: str) -> DeploymentRecord | None:
        for deployment in self.deployments:
            if deployment.id == deployment_id:
                return deployment
        return None


@dataclass
class RegionState:
    account: str
    region: str
    task_definitions: dict[str, list[TaskDefinitionRecord]] = field(default_factory=dict)
    clusters: dict[str, ClusterRecord] = field(default_factory=dict)
    services: dict[tuple[str, str], ServiceRecord] = field(default_factory=dict)
    tasks: dict[str, TaskRecord] = field(default_factory=dict)
    ip_counter: int = 0

    def arn(self, resource: str) -> str:
        return f"arn:aws:ecs:{self.region}:{self.account}:{resource}"
