"""``rollout restart``: replace every task of the service on the revision it already runs.

A preset of ``deploy``: the same steps, lock, watch, verdicts and rollback, with two changes.
Preflight reads the revision in service instead of rendering one (and refuses while another
deployment is in flight), Register is skipped, and UpdateService sends
``forceNewDeployment=True`` without a task definition. The ledger entry of the revision is left
as it is: a restart that fails must not unmark a revision that ran healthy.

When the new tasks fail, the rollback is ECS's ``StopServiceDeployment(ROLLBACK)`` to the
deployment the restart replaced (its tasks are still running until the new ones are healthy).
"""

from __future__ import annotations

from dataclasses import dataclass

from rollout.config import EnvConfig
from rollout.context import Context
from rollout.engine.deploy import DeployRequest, DeployRun, Prepared
from rollout.engine.interrupt import Interrupt
from rollout.engine.outcome import Outcome
from rollout.engine.probe import Prober, http_probe
from rollout.engine.session import Session
from rollout.gateways.ecs import EcsGateway
from rollout.verbs.deploy import engine_settings


@dataclass(frozen=True)
class RestartOptions:
    env: str = "prod"
    timeout: float | None = None  # overrides timeouts.deploy
    no_rollback: bool = False
    dry_run: bool = False
    rollback_on_timeout: bool = False


def prepare(cfg: EnvConfig, ctx: Context) -> Prepared:
    """Read the revision in service (read-only): the engine's Preflight step for a restart."""
    svc = EcsGateway(ctx.factory).describe_service(cfg.cluster, cfg.service)
    primary = svc.primary
    arn = primary.task_definition if primary is not None else svc.task_definition
    problems: list[str] = []
    if len(svc.deployments) > 1 or (primary is not None and primary.rollout_state == "IN_PROGRESS"):
        problems.append(
            f"a deployment is in flight on {cfg.cluster}/{cfg.service}: wait for it to finish "
            f"(`rollout watch --env {cfg.name}`), then restart"
        )
    if svc.desired == 0:
        problems.append(
            f"{cfg.cluster}/{cfg.service} runs no tasks (desiredCount 0): there is nothing to "
            f"restart; `rollout scale N --env {cfg.name}` starts some"
        )
    return Prepared(
        document={"family": arn.rsplit("/", 1)[-1].rsplit(":", 1)[0]},
        tags={},
        image="",
        ok=not problems,
        problems=tuple(problems),
        reuse_arn=arn,
    )


def run(
    options: RestartOptions,
    ctx: Context,
    *,
    interrupt: Interrupt | None = None,
    prober: Prober = http_probe,
) -> Outcome:
    cfg = ctx.load_env(options.env)
    session = Session.from_context(
        ctx,
        engine_settings(cfg, options.timeout),
        interrupt=interrupt,
        prober=prober,
        dry_run=options.dry_run,
    )
    request = DeployRequest(
        image="",
        prepare=lambda: prepare(cfg, ctx),
        verb="restart",
        no_rollback=options.no_rollback,
        rollback_on_timeout=options.rollback_on_timeout,
        force_new_deployment=True,
    )
    return DeployRun(session, request).run()
