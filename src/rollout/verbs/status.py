"""``rollout status``: the service as it is now, in one read-only look.

Service and deployments, the tasks that are not stopped, target health in the service's target
groups, the newest service events, the current revision's ledger entry and the lock holder. It
emits one ``status`` event carrying all of it; the reporter renders it (table or JSON).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rollout.config import EnvConfig
from rollout.context import Context
from rollout.decisions import ledger
from rollout.engine.interrupt import Interrupt
from rollout.engine.outcome import Outcome
from rollout.events import Event
from rollout.gateways.ecs import EcsGateway
from rollout.gateways.elb import ElbGateway
from rollout.model import Service
from rollout.verbs._ops import finish, lock_holder, start


@dataclass(frozen=True)
class StatusOptions:
    env: str = "prod"
    #: How many of the newest service events to show.
    events: int = 10
    #: Refresh every ``interval`` seconds until interrupted (Ctrl-C) or ``count`` looks.
    watch: bool = False
    interval: float = 5.0
    #: With ``watch``: stop after this many looks (None: until interrupted). For tests and CI.
    count: int | None = None


def snapshot(cfg: EnvConfig, ctx: Context, *, events: int = 10) -> dict[str, Any]:
    """Read the service, tasks, targets, ledger entry and lock into one JSON-safe mapping."""
    ecs = EcsGateway(ctx.factory)
    elb = ElbGateway(ctx.factory)
    svc: Service = ecs.describe_service(cfg.cluster, cfg.service)
    task_arns = ecs.list_tasks(cfg.cluster, service=cfg.service)
    tasks = ecs.describe_tasks(cfg.cluster, task_arns) if task_arns else []
    targets: list[dict[str, Any]] = []
    for ref in svc.load_balancers:
        for th in elb.describe_target_health(ref.target_group_arn):
            targets.append(
                {
                    "target_group": ref.target_group_arn.rsplit("/", 2)[-2],
                    "target": th.target_id,
                    "port": th.port,
                    "state": th.state,
                    "reason": th.reason,
                }
            )
    current = ledger.parse(ecs.describe_task_definition(svc.task_definition))
    lock, lock_known = lock_holder(cfg, ctx)
    return {
        "cluster": cfg.cluster,
        "service": svc.name,
        "status": svc.status,
        "desired": svc.desired,
        "running": svc.running,
        "pending": svc.pending,
        "task_definition": svc.task_definition,
        "current": {
            "revision": current.revision,
            "image": current.image,
            "git_sha": current.git_sha,
            "outcome": current.outcome,
            "good": current.good,
        },
        "circuit_breaker": {
            "enabled": svc.deployment_config.circuit_breaker_enabled,
            "rollback": svc.deployment_config.circuit_breaker_rollback,
        },
        "deployments": [
            {
                "id": d.id,
                "status": d.status,
                "task_definition": d.task_definition,
                "desired": d.desired,
                "running": d.running,
                "pending": d.pending,
                "failed": d.failed_tasks,
                "rollout_state": d.rollout_state,
                "rollout_state_reason": d.rollout_state_reason,
                "created_at": d.created_at,
            }
            for d in svc.deployments
        ],
        "tasks": [
            {
                "id": t.id,
                "task_definition": t.task_definition,
                "last_status": t.last_status,
                "desired_status": t.desired_status,
                "health_status": t.health_status,
                "started_at": t.started_at,
            }
            for t in tasks
        ],
        "targets": targets,
        "events": [
            {"at": e.created_at, "message": e.message} for e in svc.events[: max(0, events)]
        ],
        "lock": lock,
        "lock_known": lock_known,
    }


def run(options: StatusOptions, ctx: Context, *, interrupt: Interrupt | None = None) -> Outcome:
    """One look at the service; with ``watch``, one every ``interval`` seconds (on the Context's
    clock) until ``interrupt`` is set (Ctrl-C) or ``count`` looks were shown. Stopping a watch
    is the normal way out: exit 0."""
    cfg = ctx.load_env(options.env)
    interrupt = interrupt or Interrupt()
    started = start(ctx, "status", cfg)
    looks = 0
    while True:
        data = snapshot(cfg, ctx, events=options.events)
        looks += 1
        ctx.emit(
            Event(
                "status",
                ctx.clock.now(),
                f"{cfg.cluster}/{cfg.service}: {data['running']}/{data['desired']} running on "
                f"{data['task_definition'].rsplit('/', 1)[-1]}",
                data={**data, "look": looks} if options.watch else data,
            )
        )
        if not options.watch or (options.count is not None and looks >= options.count):
            break
        interrupt.sleep(ctx.clock, options.interval)
        if interrupt.is_set():
            break
    return finish(ctx, started, message="stopped watching" if options.watch else "done")
