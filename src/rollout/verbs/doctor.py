"""``rollout doctor --env E``: read the live service, target groups, listeners, Route 53 records
and alarms; estimate, with the formula shown, how long a good deploy and a rollback take; say
which settings make them slow and what each fix saves, in seconds.

Reads like a script: read (ECS, ELBv2, Route 53, CloudWatch — all read-only), build
:class:`rollout.decisions.estimate.Settings`, call :func:`~rollout.decisions.estimate.diagnose`
(pure), emit one ``doctor`` event carrying everything (console/plain: a table; JSON: the data).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from rollout.context import Context
from rollout.decisions.estimate import Diagnosis, Estimate, Settings, diagnose
from rollout.engine.outcome import Outcome
from rollout.errors import AwsError
from rollout.events import Event
from rollout.gateways.cw import CloudWatchGateway
from rollout.gateways.ecs import EcsGateway
from rollout.gateways.elb import ElbGateway
from rollout.gateways.r53 import Route53Gateway
from rollout.verbs._ops import finish, start


@dataclass(frozen=True)
class DoctorOptions:
    env: str = "prod"


def run(options: DoctorOptions, ctx: Context) -> Outcome:
    cfg = ctx.load_env(options.env)
    started = start(ctx, "doctor", cfg)
    ecs, elb = EcsGateway(ctx.factory), ElbGateway(ctx.factory)
    svc = ecs.describe_service(cfg.cluster, cfg.service)
    td = ecs.describe_task_definition(svc.task_definition)
    essential: dict[str, Any] = next(
        (c for c in td.document.get("containerDefinitions", []) if c.get("essential", True)), {}
    )
    hc = essential.get("healthCheck")
    groups = elb.describe_target_groups([lb.target_group_arn for lb in svc.load_balancers])
    read: dict[str, Any] = {
        "service": {
            "desired": svc.desired,
            "minimum_healthy_percent": svc.deployment_config.minimum_healthy_percent,
            "maximum_percent": svc.deployment_config.maximum_percent,
            "health_check_grace_period": svc.health_check_grace_period,
            "circuit_breaker": {
                "enable": svc.deployment_config.circuit_breaker_enabled,
                "rollback": svc.deployment_config.circuit_breaker_rollback,
            },
            "alarms": list(svc.deployment_config.alarm_names),
            "task_definition": td.family_revision,
            "container_health_check": hc,
            "stop_timeout": essential.get("stopTimeout"),
        },
        "target_groups": [
            {
                "name": g.name,
                "interval": g.health_check_interval,
                "healthy_threshold": g.healthy_threshold,
                "unhealthy_threshold": g.unhealthy_threshold,
                "timeout": g.health_check_timeout,
                "deregistration_delay": g.deregistration_delay,
            }
            for g in groups
        ],
    }
    read["listeners"] = _listeners(elb, groups)
    ttl = _route53_ttl(cfg, ctx, read)
    alarm_names = list(dict.fromkeys([*cfg.bake.alarms, *svc.deployment_config.alarm_names]))
    alarms = _alarms(ctx, alarm_names, read)
    slowest = max(groups, key=lambda g: g.deregistration_delay, default=None)
    settings = Settings(
        desired=svc.desired,
        min_percent=svc.deployment_config.minimum_healthy_percent,
        max_percent=svc.deployment_config.maximum_percent,
        grace_period=float(svc.health_check_grace_period),
        hc_interval=float(slowest.health_check_interval) if slowest else None,
        hc_healthy_threshold=slowest.healthy_threshold if slowest else 5,
        hc_unhealthy_threshold=slowest.unhealthy_threshold if slowest else 2,
        deregistration_delay=float(slowest.deregistration_delay) if slowest else 0.0,
        container_hc=(
            (
                float(hc.get("interval", 30)),
                int(hc.get("retries", 3)),
                float(hc.get("startPeriod", 0)),
            )
            if hc
            else None
        ),
        stop_timeout=float(essential.get("stopTimeout") or 30),
        breaker_enabled=svc.deployment_config.circuit_breaker_enabled,
        breaker_rollback=svc.deployment_config.circuit_breaker_rollback,
        route53_ttl=ttl,
        poll_interval=float(cfg.watch.poll_interval),
        bake_seconds=float(cfg.bake.seconds),
        consecutive_failures=int(cfg.detection.consecutive_failures),
        alarm_fire_seconds=min(alarms) if alarms else None,
    )
    diagnosis = diagnose(settings)
    data = {"read": read, "settings": asdict(settings), **report_data(diagnosis)}
    ctx.emit(
        Event(
            "doctor",
            ctx.clock.now(),
            f"{cfg.cluster}/{cfg.service}: a good deploy ≈ {diagnosis.deploy.seconds:.0f}s, "
            f"a rollback ≈ {diagnosis.rollback.seconds:.0f}s; {len(diagnosis.findings)} "
            "setting(s) to look at",
            data=data,
        )
    )
    return finish(ctx, started)


def report_data(d: Diagnosis) -> dict[str, Any]:
    """The diagnosis as JSON-safe data (the ``doctor`` event's payload)."""

    def est(e: Estimate | None) -> dict[str, Any] | None:
        if e is None:
            return None
        return {
            "name": e.name,
            "seconds": round(e.seconds, 1),
            "formula": e.formula,
            "terms": [asdict(t) for t in e.terms],
        }

    return {
        "deploy": est(d.deploy),
        "completed": est(d.completed),
        "deploy_threshold_reading": d.deploy_threshold_reading,
        "rollback": est(d.rollback),
        "breaker": est(d.breaker),
        "clients_off_bad_path": d.clients_off_bad_path,
        "findings": [asdict(f) for f in d.findings],
        "notes": list(d.notes),
    }


def _listeners(elb: ElbGateway, groups: list[Any]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    arns = {g.arn for g in groups}
    for lb_arn in dict.fromkeys(a for g in groups for a in g.load_balancer_arns):
        for listener in elb.listeners(lb_arn):
            mine = {k: v for k, v in listener["forwards"].items() if k in arns}
            out.append(
                {
                    "port": listener["port"],
                    "protocol": listener["protocol"],
                    "forwards": {k.rsplit("/", 2)[-2]: v for k, v in listener["forwards"].items()},
                    "serves_this_service": bool(mine) and any(v > 0 for v in mine.values()),
                }
            )
    return out


def _route53_ttl(cfg: Any, ctx: Context, read: dict[str, Any]) -> float | None:
    t = cfg.traffic
    if t is None:
        return None
    r53 = Route53Gateway(ctx.factory)
    try:
        zone = t.hosted_zone_id or r53.zone_id(t.zone_name)
        records = r53.weighted_records(zone, t.record_name, t.record_type)
    except AwsError as exc:
        read["route53"] = {"error": str(exc)}
        return None
    ttls = [float(r["TTL"]) for r in records.values() if "TTL" in r]
    read["route53"] = {
        "record": t.record_name,
        "weights": {k: r.get("Weight") for k, r in records.items()},
        "ttl": max(ttls) if ttls else None,
        "alias": any("AliasTarget" in r for r in records.values()),
    }
    # ELB alias records have no TTL of their own; resolvers use 60 s for them (§7)
    return max(ttls) if ttls else (60.0 if records else None)


def _alarms(ctx: Context, names: list[str], read: dict[str, Any]) -> list[float]:
    if not names:
        read["alarms"] = []
        return []
    try:
        found = CloudWatchGateway(ctx.factory).alarm_definitions(names)
    except AwsError as exc:
        read["alarms"] = {"error": str(exc)}
        return []
    read["alarms"] = [
        {"name": n, **found[n]} if n in found else {"name": n, "missing": True} for n in names
    ]
    return [float(a["period"] * a["datapoints_to_alarm"]) for a in found.values() if "period" in a]
