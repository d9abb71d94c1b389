"""ECS gateway: a few typed methods over the ECS API, returning :mod:`rollout.model` data.

Reads use botocore's retry mode from the client factory. The one write that must never be
repeated, ``UpdateService(forceNewDeployment=True)``, goes through a single-attempt client: a
retry after a lost response would start a second deployment.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from rollout.aws import ClientFactory
from rollout.decisions.taskdef import READ_ONLY_FIELDS
from rollout.errors import AwsError
from rollout.gateways._base import UNSUPPORTED_CODES, aws_errors, ts
from rollout.model import (
    Container,
    Deployment,
    DeploymentConfig,
    LoadBalancerRef,
    Service,
    ServiceDeploymentInfo,
    ServiceEvent,
    Task,
    TaskDefinition,
)


class ServiceNotFound(AwsError):
    """The cluster or service does not exist (or is INACTIVE)."""


class EcsGateway:
    def __init__(self, factory: ClientFactory) -> None:
        self._factory = factory

    @property
    def _ecs(self) -> Any:
        return self._factory.client("ecs")

    # -- services -----------------------------------------------------------------------------

    def describe_service(self, cluster: str, service: str) -> Service:
        with aws_errors(f"describe service {cluster}/{service}"):
            resp = self._ecs.describe_services(cluster=cluster, services=[service])
        services = [s for s in resp.get("services", []) if s.get("status") != "INACTIVE"]
        if not services:
            reason = next((f.get("reason") for f in resp.get("failures", [])), "MISSING")
            raise ServiceNotFound(
                f"failed to describe service {cluster}/{service}: it does not exist ({reason}).",
                hint="Check `cluster` and `service` in rollout.toml and the region.",
                code=reason,
            )
        return _service(services[0])

    def update_service(
        self,
        cluster: str,
        service: str,
        *,
        task_definition: str | None = None,
        force_new_deployment: bool = False,
        desired_count: int | None = None,
        deployment_configuration: Mapping[str, Any] | None = None,
    ) -> Service:
        """Point the service at ``task_definition`` (and/or force a new deployment).

        With ``force_new_deployment`` the call is made exactly once (no retries).
        """
        kwargs: dict[str, Any] = {"cluster": cluster, "service": service}
        if task_definition is not None:
            kwargs["taskDefinition"] = task_definition
        if desired_count is not None:
            kwargs["desiredCount"] = desired_count
        if deployment_configuration is not None:
            kwargs["deploymentConfiguration"] = dict(deployment_configuration)
        client = self._ecs
        if force_new_deployment:
            kwargs["forceNewDeployment"] = True
            client = self._factory.no_retry_client("ecs")
        with aws_errors(f"update service {cluster}/{service}"):
            resp = client.update_service(**kwargs)
        return _service(resp["service"])

    # -- task definitions ---------------------------------------------------------------------

    def describe_task_definition(self, task_definition: str) -> TaskDefinition:
        with aws_errors(f"describe task definition {task_definition}"):
            resp = self._ecs.describe_task_definition(
                taskDefinition=task_definition, include=["TAGS"]
            )
        return _task_definition(resp["taskDefinition"], resp.get("tags", []))

    def register_task_definition(
        self, document: Mapping[str, Any], tags: Mapping[str, str] | None = None
    ) -> TaskDefinition:
        body = {k: v for k, v in document.items() if k not in READ_ONLY_FIELDS}
        if tags:
            body["tags"] = [{"key": k, "value": v} for k, v in tags.items()]
        family = body.get("family", "?")
        with aws_errors(f"register a task definition in family {family}"):
            resp = self._ecs.register_task_definition(**body)
        return _task_definition(resp["taskDefinition"], resp.get("tags", []))

    def list_task_definitions(self, family: str, *, status: str = "ACTIVE") -> list[str]:
        """ARNs of ``family``'s revisions, oldest first."""
        arns: list[str] = []
        with aws_errors(f"list task definitions of {family}"):
            pages = self._ecs.get_paginator("list_task_definitions").paginate(
                familyPrefix=family, status=status, sort="ASC"
            )
            for page in pages:
                arns.extend(a for a in page["taskDefinitionArns"] if _family(a) == family)
        return arns

    def deregister_task_definition(self, task_definition: str) -> None:
        with aws_errors(f"deregister task definition {task_definition}"):
            self._ecs.deregister_task_definition(taskDefinition=task_definition)

    def tag(self, arn: str, tags: Mapping[str, str]) -> None:
        with aws_errors(f"tag {arn}"):
            self._ecs.tag_resource(
                resourceArn=arn, tags=[{"key": k, "value": v} for k, v in tags.items()]
            )

    def untag(self, arn: str, keys: Iterable[str]) -> None:
        with aws_errors(f"untag {arn}"):
            self._ecs.untag_resource(resourceArn=arn, tagKeys=list(keys))

    def tags(self, arn: str) -> dict[str, str]:
        with aws_errors(f"list tags of {arn}"):
            resp = self._ecs.list_tags_for_resource(resourceArn=arn)
        return {t["key"]: t["value"] for t in resp.get("tags", [])}

    # -- tasks --------------------------------------------------------------------------------

    def list_tasks(
        self,
        cluster: str,
        *,
        service: str | None = None,
        started_by: str | None = None,
        desired_status: str | None = None,
        family: str | None = None,
    ) -> list[str]:
        kwargs: dict[str, Any] = {"cluster": cluster}
        if service is not None:
            kwargs["serviceName"] = service
        if started_by is not None:
            kwargs["startedBy"] = started_by
        if desired_status is not None:
            kwargs["desiredStatus"] = desired_status
        if family is not None:
            kwargs["family"] = family
        arns: list[str] = []
        with aws_errors(f"list tasks in {cluster}"):
            for page in self._ecs.get_paginator("list_tasks").paginate(**kwargs):
                arns.extend(page["taskArns"])
        return arns

    def describe_tasks(self, cluster: str, task_arns: Sequence[str]) -> list[Task]:
        tasks: list[Task] = []
        for start in range(0, len(task_arns), 100):
            batch = list(task_arns[start : start + 100])
            with aws_errors(f"describe {len(batch)} tasks in {cluster}"):
                resp = self._ecs.describe_tasks(cluster=cluster, tasks=batch)
            tasks.extend(_task(t) for t in resp.get("tasks", []))
        return tasks

    def run_task(self, request: Mapping[str, Any]) -> tuple[list[Task], list[str]]:
        """Start a one-off task; returns the tasks started and the failures' reasons.

        Sent on a single-attempt client: even with the request's ``clientToken`` a retry is left
        to the caller, who knows whether a second migration run is acceptable.
        """
        with aws_errors(f"run a task of {request.get('taskDefinition')}"):
            resp = self._factory.no_retry_client("ecs").run_task(**request)
        failures = [
            f"{f.get('reason', 'failure')}" + (f" ({f['detail']})" if f.get("detail") else "")
            for f in resp.get("failures", [])
        ]
        return [_task(t) for t in resp.get("tasks", [])], failures

    def stop_task(self, cluster: str, task: str, reason: str) -> None:
        with aws_errors(f"stop task {task}"):
            self._ecs.stop_task(cluster=cluster, task=task, reason=reason[:255])

    # -- service deployments API (absent in older regions/SDKs: returns None) -----------------

    def list_service_deployments(
        self, cluster: str, service: str, *, created_after: float | None = None
    ) -> list[str] | None:
        """ARNs of the service's deployments, newest first; None where the API is unavailable."""
        kwargs: dict[str, Any] = {"cluster": cluster, "service": service}
        if created_after is not None:
            kwargs["createdAt"] = {"after": created_after}
        try:
            with aws_errors(f"list service deployments of {cluster}/{service}"):
                resp = self._ecs.list_service_deployments(**kwargs)
        except AwsError as exc:
            if exc.code in UNSUPPORTED_CODES:
                return None
            raise
        return [d["serviceDeploymentArn"] for d in resp.get("serviceDeployments", [])]

    def describe_service_deployments(self, arns: Sequence[str]) -> list[ServiceDeploymentInfo]:
        if not arns:
            return []
        with aws_errors("describe service deployments"):
            resp = self._ecs.describe_service_deployments(serviceDeploymentArns=list(arns))
        return [_service_deployment(d) for d in resp.get("serviceDeployments", [])]

    def stop_service_deployment_rollback(self, arn: str) -> bool:
        """Ask ECS to roll ``arn`` back. False where the API is unavailable."""
        try:
            with aws_errors(f"stop service deployment {arn}"):
                self._ecs.stop_service_deployment(serviceDeploymentArn=arn, stopType="ROLLBACK")
        except AwsError as exc:
            if exc.code in UNSUPPORTED_CODES:
                return False
            raise
        return True

    def continue_service_deployment(self, arn: str, hook_id: str, action: str = "CONTINUE") -> None:
        """Answer a PAUSE lifecycle hook: CONTINUE to the next stage, or ROLLBACK."""
        with aws_errors(f"continue service deployment {arn}"):
            self._ecs.continue_service_deployment(
                serviceDeploymentArn=arn, hookId=hook_id, action=action
            )


# -- shape conversion -------------------------------------------------------------------------


def _family(task_definition_arn: str) -> str:
    return task_definition_arn.rsplit("/", 1)[-1].rsplit(":", 1)[0]


def _service(raw: Mapping[str, Any]) -> Service:
    cfg = raw.get("deploymentConfiguration", {}) or {}
    breaker = cfg.get("deploymentCircuitBreaker", {}) or {}
    alarms = cfg.get("alarms", {}) or {}
    return Service(
        arn=raw["serviceArn"],
        name=raw["serviceName"],
        cluster_arn=raw.get("clusterArn", ""),
        status=raw.get("status", "ACTIVE"),
        task_definition=raw.get("taskDefinition", ""),
        desired=int(raw.get("desiredCount", 0)),
        running=int(raw.get("runningCount", 0)),
        pending=int(raw.get("pendingCount", 0)),
        deployments=tuple(_deployment(d) for d in raw.get("deployments", [])),
        events=tuple(
            ServiceEvent(
                id=e.get("id", ""),
                created_at=ts(e.get("createdAt")) or 0.0,
                message=e.get("message", ""),
            )
            for e in raw.get("events", [])
        ),
        load_balancers=tuple(
            LoadBalancerRef(
                target_group_arn=lb.get("targetGroupArn", ""),
                container_name=lb.get("containerName", ""),
                container_port=int(lb.get("containerPort", 0)),
                alternate_target_group_arn=(lb.get("advancedConfiguration") or {}).get(
                    "alternateTargetGroupArn"
                ),
                production_listener_rule=(lb.get("advancedConfiguration") or {}).get(
                    "productionListenerRule"
                ),
                test_listener_rule=(lb.get("advancedConfiguration") or {}).get("testListenerRule"),
                role_arn=(lb.get("advancedConfiguration") or {}).get("roleArn"),
            )
            for lb in raw.get("loadBalancers", [])
        ),
        deployment_config=DeploymentConfig(
            minimum_healthy_percent=int(cfg.get("minimumHealthyPercent", 100)),
            maximum_percent=int(cfg.get("maximumPercent", 200)),
            circuit_breaker_enabled=bool(breaker.get("enable", False)),
            circuit_breaker_rollback=bool(breaker.get("rollback", False)),
            alarms_enabled=bool(alarms.get("enable", False)),
            alarms_rollback=bool(alarms.get("rollback", False)),
            alarm_names=tuple(alarms.get("alarmNames", [])),
        ),
        health_check_grace_period=int(raw.get("healthCheckGracePeriodSeconds", 0) or 0),
        launch_type=raw.get("launchType"),
        network_configuration=raw.get("networkConfiguration"),
        capacity_provider_strategy=tuple(raw.get("capacityProviderStrategy") or ()),
        platform_version=raw.get("platformVersion"),
        deployment_controller=str((raw.get("deploymentController") or {}).get("type") or "ECS"),
        strategy=str(cfg.get("strategy") or "ROLLING"),
        deployment_configuration_raw=dict(cfg),
    )


def _deployment(raw: Mapping[str, Any]) -> Deployment:
    return Deployment(
        id=raw["id"],
        status=raw.get("status", ""),
        task_definition=raw.get("taskDefinition", ""),
        desired=int(raw.get("desiredCount", 0)),
        pending=int(raw.get("pendingCount", 0)),
        running=int(raw.get("runningCount", 0)),
        failed_tasks=int(raw.get("failedTasks", 0)),
        rollout_state=raw.get("rolloutState"),
        rollout_state_reason=raw.get("rolloutStateReason"),
        created_at=ts(raw.get("createdAt")) or 0.0,
        updated_at=ts(raw.get("updatedAt")) or 0.0,
    )


def _task_definition(raw: Mapping[str, Any], tags: Iterable[Mapping[str, str]]) -> TaskDefinition:
    return TaskDefinition(
        arn=raw["taskDefinitionArn"],
        family=raw["family"],
        revision=int(raw["revision"]),
        status=raw.get("status", "ACTIVE"),
        document=dict(raw),
        tags={t["key"]: t["value"] for t in tags},
        registered_at=ts(raw.get("registeredAt")),
    )


def _task(raw: Mapping[str, Any]) -> Task:
    ip = None
    for attachment in raw.get("attachments", []):
        for detail in attachment.get("details", []):
            if detail.get("name") == "privateIPv4Address":
                ip = detail.get("value")
    return Task(
        arn=raw["taskArn"],
        task_definition=raw.get("taskDefinitionArn", ""),
        last_status=raw.get("lastStatus", ""),
        desired_status=raw.get("desiredStatus", ""),
        started_by=raw.get("startedBy"),
        health_status=raw.get("healthStatus"),
        stop_code=raw.get("stopCode"),
        stopped_reason=raw.get("stoppedReason"),
        created_at=ts(raw.get("createdAt")),
        started_at=ts(raw.get("startedAt")),
        stopping_at=ts(raw.get("stoppingAt")),
        stopped_at=ts(raw.get("stoppedAt")),
        containers=tuple(
            Container(
                name=c.get("name", ""),
                last_status=c.get("lastStatus"),
                exit_code=c.get("exitCode"),
                reason=c.get("reason"),
                health_status=c.get("healthStatus"),
                image=c.get("image"),
            )
            for c in raw.get("containers", [])
        ),
        private_ip=ip,
    )


def _service_deployment(raw: Mapping[str, Any]) -> ServiceDeploymentInfo:
    breaker = raw.get("deploymentCircuitBreaker", {}) or {}
    rollback = raw.get("rollback", {}) or {}
    target = raw.get("targetServiceRevision") or {}
    alarms = raw.get("alarms") or {}
    triggered = alarms.get("triggeredAlarmNames") or []
    if isinstance(triggered, str):  # the model: "A ',' separates the alarm names"
        triggered = triggered.split(",")
    return ServiceDeploymentInfo(
        arn=raw["serviceDeploymentArn"],
        status=raw.get("status", ""),
        target_revision_arn=(raw.get("targetServiceRevision") or {}).get("arn"),
        status_reason=raw.get("statusReason"),
        created_at=ts(raw.get("createdAt")),
        finished_at=ts(raw.get("finishedAt")),
        circuit_breaker_status=breaker.get("status"),
        circuit_breaker_failures=breaker.get("failureCount"),
        circuit_breaker_threshold=breaker.get("threshold"),
        rollback_reason=rollback.get("reason"),
        lifecycle_stage=raw.get("lifecycleStage"),
        production_weight=_float(target.get("requestedProductionTrafficWeight")),
        test_weight=_float(target.get("requestedTestTrafficWeight")),
        strategy=(raw.get("deploymentConfiguration") or {}).get("strategy"),
        pause_hook_id=next(
            (
                h.get("hookId")
                for h in raw.get("lifecycleHookDetails") or []
                if h.get("targetType") == "PAUSE" and h.get("status") == "AWAITING_ACTION"
            ),
            None,
        ),
        alarm_status=alarms.get("status"),
        alarms_triggered=tuple(str(n).strip() for n in triggered if str(n).strip()),
    )


def _float(value: Any) -> float | None:
    return None if value is None else float(value)
