"""Plain, frozen data that gateways return and decisions consume.

Times are floats (seconds since the epoch) so decisions never touch ``datetime`` or a clock.
Raw AWS shapes stay out of here except where a whole document is the point (a task definition).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Deployment:
    """One entry of ``Service.deployments[]``."""

    id: str
    status: str  # PRIMARY | ACTIVE | INACTIVE
    task_definition: str  # ARN
    desired: int
    pending: int
    running: int
    failed_tasks: int
    rollout_state: str | None  # IN_PROGRESS | COMPLETED | FAILED
    rollout_state_reason: str | None
    created_at: float
    updated_at: float


@dataclass(frozen=True)
class ServiceEvent:
    id: str
    created_at: float
    message: str


@dataclass(frozen=True)
class LoadBalancerRef:
    target_group_arn: str
    container_name: str
    container_port: int
    #: ``advancedConfiguration`` (native blue/green, linear, canary); None when absent
    alternate_target_group_arn: str | None = None
    production_listener_rule: str | None = None
    test_listener_rule: str | None = None
    role_arn: str | None = None


@dataclass(frozen=True)
class DeploymentConfig:
    minimum_healthy_percent: int = 100
    maximum_percent: int = 200
    circuit_breaker_enabled: bool = False
    circuit_breaker_rollback: bool = False
    alarms_enabled: bool = False
    alarms_rollback: bool = False
    alarm_names: tuple[str, ...] = ()


@dataclass(frozen=True)
class Service:
    arn: str
    name: str
    cluster_arn: str
    status: str  # ACTIVE | DRAINING | INACTIVE
    task_definition: str
    desired: int
    running: int
    pending: int
    deployments: tuple[Deployment, ...]
    events: tuple[ServiceEvent, ...]  # newest first, as AWS returns them
    load_balancers: tuple[LoadBalancerRef, ...] = ()
    deployment_config: DeploymentConfig = field(default_factory=DeploymentConfig)
    health_check_grace_period: int = 0
    launch_type: str | None = None
    network_configuration: Mapping[str, Any] | None = None
    capacity_provider_strategy: tuple[Mapping[str, Any], ...] = ()
    platform_version: str | None = None
    #: ``deploymentController.type``: ECS | CODE_DEPLOY | EXTERNAL
    deployment_controller: str = "ECS"
    #: ``deploymentConfiguration.strategy``: ROLLING | BLUE_GREEN | LINEAR | CANARY
    strategy: str = "ROLLING"
    #: ``deploymentConfiguration`` as DescribeServices returned it (sent back, changed, by a
    #: deploy that sets the strategy)
    deployment_configuration_raw: Mapping[str, Any] = field(default_factory=dict)

    @property
    def primary(self) -> Deployment | None:
        return next((d for d in self.deployments if d.status == "PRIMARY"), None)

    def deployment(self, deployment_id: str) -> Deployment | None:
        return next((d for d in self.deployments if d.id == deployment_id), None)


@dataclass(frozen=True)
class Container:
    name: str
    last_status: str | None = None
    exit_code: int | None = None
    reason: str | None = None
    health_status: str | None = None
    image: str | None = None


@dataclass(frozen=True)
class Task:
    arn: str
    task_definition: str
    last_status: str
    desired_status: str
    started_by: str | None = None
    health_status: str | None = None
    stop_code: str | None = None
    stopped_reason: str | None = None
    created_at: float | None = None
    started_at: float | None = None
    stopping_at: float | None = None
    stopped_at: float | None = None
    containers: tuple[Container, ...] = ()
    private_ip: str | None = None

    @property
    def id(self) -> str:
        return self.arn.rsplit("/", 1)[-1]


@dataclass(frozen=True)
class TaskDefinition:
    """A registered revision. ``document`` is the full DescribeTaskDefinition ``taskDefinition``."""

    arn: str
    family: str
    revision: int
    status: str  # ACTIVE | INACTIVE | DELETE_IN_PROGRESS
    document: Mapping[str, Any]
    tags: Mapping[str, str] = field(default_factory=dict)
    registered_at: float | None = None

    @property
    def family_revision(self) -> str:
        return f"{self.family}:{self.revision}"


@dataclass(frozen=True)
class ServiceDeploymentInfo:
    """A ServiceDeployment from the service-deployments API (ECS, 2024-10 and later)."""

    arn: str
    status: str  # PENDING | IN_PROGRESS | SUCCESSFUL | STOPPED | ROLLBACK_* | STOP_REQUESTED
    target_revision_arn: str | None = None
    status_reason: str | None = None
    created_at: float | None = None
    finished_at: float | None = None
    circuit_breaker_status: str | None = None
    circuit_breaker_failures: int | None = None
    circuit_breaker_threshold: int | None = None
    rollback_reason: str | None = None
    #: ``lifecycleStage`` (native strategies walk them; traffic-shifting.md §1.2)
    lifecycle_stage: str | None = None
    #: green's ``requestedProductionTrafficWeight`` / ``requestedTestTrafficWeight`` (percent)
    production_weight: float | None = None
    test_weight: float | None = None
    #: ``deploymentConfiguration.strategy`` of this deployment, when reported
    strategy: str | None = None
    #: ``hookId`` of a PAUSE lifecycle hook AWAITING_ACTION (ContinueServiceDeployment's input)
    pause_hook_id: str | None = None
    #: ``alarms.status`` (TRIGGERED | MONITORING | MONITORING_COMPLETE | DISABLED) and
    #: ``alarms.triggeredAlarmNames``: the deployment alarms that failed it, if any
    alarm_status: str | None = None
    alarms_triggered: tuple[str, ...] = ()


@dataclass(frozen=True)
class LogEvent:
    """One CloudWatch Logs event."""

    at: float  # the event's timestamp, seconds since the epoch
    message: str
    stream: str
    event_id: str | None = None


@dataclass(frozen=True)
class TargetGroup:
    arn: str
    name: str
    port: int | None
    protocol: str | None
    target_type: str | None
    health_check_path: str | None
    health_check_interval: int
    health_check_timeout: int
    healthy_threshold: int
    unhealthy_threshold: int
    matcher: str | None
    deregistration_delay: int
    load_balancer_arns: tuple[str, ...] = ()


@dataclass(frozen=True)
class TargetHealth:
    target_id: str
    port: int | None
    state: str  # initial | healthy | unhealthy | unused | draining | unavailable
    reason: str | None = None
    description: str | None = None


@dataclass(frozen=True)
class RuleCondition:
    """One condition of a listener rule (``Conditions[]`` of DescribeRules): ``field`` is
    ``http-header``, ``path-pattern``, ``host-header``, ...; ``header`` the header name of an
    ``http-header`` condition; ``values`` its patterns (any may match)."""

    field: str
    values: tuple[str, ...]
    header: str | None = None


@dataclass(frozen=True)
class LoadBalancer:
    arn: str
    name: str
    dns_name: str
    scheme: str | None = None
