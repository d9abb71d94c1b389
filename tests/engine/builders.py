"""Small builders of model objects for decision tables."""

from __future__ import annotations

from rollout.model import Container, Deployment, Service, Task

ARN = "arn:aws:ecs:ap-northeast-2:123456789012:task-definition/voj"


def td(rev: int) -> str:
    return f"{ARN}:{rev}"


def dep(
    id: str,
    rev: int,
    *,
    status: str = "PRIMARY",
    state: str | None = "COMPLETED",
    desired: int = 2,
    running: int = 2,
    pending: int = 0,
    created: float = 0.0,
    reason: str | None = None,
) -> Deployment:
    return Deployment(
        id=id,
        status=status,
        task_definition=td(rev),
        desired=desired,
        pending=pending,
        running=running,
        failed_tasks=0,
        rollout_state=state,
        rollout_state_reason=reason,
        created_at=created,
        updated_at=created,
    )


def svc(*deployments: Deployment, desired: int = 2) -> Service:
    primary = next((d for d in deployments if d.status == "PRIMARY"), None)
    return Service(
        arn="arn:aws:ecs:ap-northeast-2:123456789012:service/voj-prod/voj-api",
        name="voj-api",
        cluster_arn="arn:aws:ecs:ap-northeast-2:123456789012:cluster/voj-prod",
        status="ACTIVE",
        task_definition=primary.task_definition if primary else td(1),
        desired=desired,
        running=sum(d.running for d in deployments),
        pending=sum(d.pending for d in deployments),
        deployments=tuple(deployments),
        events=(),
    )


def stopped(
    n: int,
    *,
    at: float,
    reason: str = "Essential container in task exited",
    code: str | None = "EssentialContainerExited",
    started: float | None = None,
    exit_code: int | None = 1,
    container_reason: str | None = None,
) -> Task:
    return Task(
        arn=f"arn:aws:ecs:ap-northeast-2:123456789012:task/voj-prod/t{n}",
        task_definition=td(2),
        last_status="STOPPED",
        desired_status="STOPPED",
        started_by="ecs-svc/2",
        stop_code=code,
        stopped_reason=reason,
        created_at=(started if started is not None else at) - 5,
        started_at=started,
        stopped_at=at,
        containers=(Container(name="api", exit_code=exit_code, reason=container_reason),),
    )
