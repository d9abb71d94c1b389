"""``rollout diff``: what a deploy would change, as a unified diff of normalised JSON.

Two parts: the live PRIMARY deployment's task definition against the rendered one, and the
service's deploy-relevant settings now against after the deploy (a deploy changes only the
service's task definition; the other settings are shown for context when that changes).
Environment values are masked unless ``show_values``; secret ``valueFrom`` ARNs are shown.
Exit code as ``diff``: 0 no difference, 1 a difference. Read-only.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from rollout.config import EnvConfig
from rollout.context import Context
from rollout.decisions.jsondiff import (
    mask_environment,
    normalise_task_definition,
    service_settings,
    unified,
)
from rollout.engine.outcome import Outcome
from rollout.gateways.ecs import EcsGateway
from rollout.model import Service
from rollout.verbs.render import Rendered, render_task_definition


@dataclass(frozen=True)
class DiffResult:
    live_task_definition: str  # ARN of the PRIMARY deployment's task definition
    task_definition_diff: str
    service_diff: str

    @property
    def changed(self) -> bool:
        return bool(self.task_definition_diff or self.service_diff)

    @property
    def exit_code(self) -> int:
        return 1 if self.changed else 0

    def text(self) -> str:
        if not self.changed:
            return f"no difference from {self.live_task_definition}\n"
        return self.task_definition_diff + self.service_diff


def diff(
    cfg: EnvConfig, rendered: Rendered, ctx: Context, *, show_values: bool = False
) -> DiffResult:
    ecs = EcsGateway(ctx.factory)
    service = ecs.describe_service(cfg.cluster, cfg.service)
    primary = service.primary
    live_arn = primary.task_definition if primary else service.task_definition
    live = ecs.describe_task_definition(live_arn)
    before = normalise_task_definition(live.document, show_values=True)
    after = normalise_task_definition(rendered.document, show_values=True)
    if not show_values:
        mask_environment(before, after)
    name = f"{live.family}:{live.revision}"
    td_diff = unified(before, after, before_name=f"live {name}", after_name="rendered")
    settings = _settings(service, name)
    new_settings = dict(settings)
    if td_diff:
        new_settings["taskDefinition"] = f"{rendered.document.get('family')}:(new revision)"
    svc_diff = unified(
        settings,
        new_settings,
        before_name=f"live service {cfg.cluster}/{cfg.service}",
        after_name="after deploy",
    )
    return DiffResult(
        live_task_definition=live_arn, task_definition_diff=td_diff, service_diff=svc_diff
    )


def _settings(service: Service, task_definition: str) -> dict[str, Any]:
    dc = service.deployment_config
    return service_settings(
        {
            "taskDefinition": task_definition,
            "desiredCount": service.desired,
            "deploymentConfiguration": {
                "minimumHealthyPercent": dc.minimum_healthy_percent,
                "maximumPercent": dc.maximum_percent,
                "deploymentCircuitBreaker": {
                    "enable": dc.circuit_breaker_enabled,
                    "rollback": dc.circuit_breaker_rollback,
                },
                "alarms": {
                    "enable": dc.alarms_enabled,
                    "rollback": dc.alarms_rollback,
                    "alarmNames": list(dc.alarm_names),
                },
            },
            "healthCheckGracePeriodSeconds": service.health_check_grace_period,
            "loadBalancers": [
                {
                    "targetGroupArn": lb.target_group_arn,
                    "containerName": lb.container_name,
                    "containerPort": lb.container_port,
                }
                for lb in service.load_balancers
            ],
        }
    )


# -- verb ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DiffOptions:
    env: str
    image: str | None = None
    show_values: bool = False
    overrides: Mapping[str, Any] = field(default_factory=dict)


def run(options: DiffOptions, ctx: Context) -> Outcome:
    """Load the config, render, diff against the live service. ``details["diff"]`` is the
    :class:`DiffResult`; exit 0 (same) or 1 (different)."""
    cfg = ctx.load_env(options.env, options.overrides)
    rendered = render_task_definition(cfg, options.image, ctx)
    result = diff(cfg, rendered, ctx, show_values=options.show_values)
    return Outcome(
        verdict="different" if result.changed else "same",
        exit_code=result.exit_code,
        task_definition_arn=result.live_task_definition,
        details={"diff": result},
    )
