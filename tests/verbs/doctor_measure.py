"""Measure on the sandbox what ``rollout doctor`` estimates, for docs/verbs/doctor.md.

    python3 -m uv run --frozen python tests/verbs/doctor_measure.py

For a configuration of the voj service (the provisioned one, or AWS's defaults: health check
every 30 s with thresholds 5/2, 300 s deregistration delay, 120 s grace), it reads the doctor's
estimates and measures, in simulated seconds on the virtual clock:

- good deploy: UpdateService → rollout's SUCCEEDED (bake 0, no Route 53 step);
- ECS COMPLETED: UpdateService → the deployment COMPLETED with the old tasks stopped;
- rollback by rollout: a release whose tasks never pass the ALB check → FAILED_ROLLED_BACK;
- rollback by ECS's breaker alone: the same release sent with UpdateService and left to ECS →
  the old deployment PRIMARY again and COMPLETED.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.scenario import World, passing_probe
from rollout.decisions.estimate import Settings, diagnose
from rollout.events import Event
from rollout.sandbox import FaultRule, Sandbox
from rollout.verbs import doctor

#: AWS's defaults for a new target group and a typical service (§6.1, §6.3, §6.4)
AWS_DEFAULTS: dict[str, Any] = {
    "interval": 30,
    "healthy": 5,
    "unhealthy": 2,
    "deregistration_delay": 300,
    "grace": 120,
}


@dataclass(frozen=True)
class Comparison:
    name: str
    estimated: float
    measured: float

    @property
    def error(self) -> float:
        return (self.estimated - self.measured) / self.measured if self.measured else 0.0


PROVISIONED_KEYS = ("interval", "healthy", "unhealthy", "deregistration_delay", "grace")


def current(world: World) -> dict[str, Any]:
    """The health-check settings configure() changes, as they are now (to put them back)."""
    elb = world.sb.client_factory().client("elbv2")
    tg = elb.describe_target_groups(TargetGroupArns=[world.prov.target_group_arns[0]])
    g = tg["TargetGroups"][0]
    attrs = elb.describe_target_group_attributes(TargetGroupArn=g["TargetGroupArn"])
    delay = next(
        a["Value"]
        for a in attrs["Attributes"]
        if a["Key"] == "deregistration_delay.timeout_seconds"
    )
    svc = world.ecs.describe_service(world.prov.cluster, world.prov.service)
    return {
        "interval": g["HealthCheckIntervalSeconds"],
        "healthy": g["HealthyThresholdCount"],
        "unhealthy": g["UnhealthyThresholdCount"],
        "deregistration_delay": int(delay),
        "grace": svc.health_check_grace_period,
    }


def configure(world: World, cfg: dict[str, Any]) -> None:
    elb = world.sb.client_factory().client("elbv2")
    for tg in world.prov.target_group_arns:
        elb.modify_target_group(
            TargetGroupArn=tg,
            HealthCheckIntervalSeconds=cfg["interval"],
            HealthyThresholdCount=cfg["healthy"],
            UnhealthyThresholdCount=cfg["unhealthy"],
        )
        elb.modify_target_group_attributes(
            TargetGroupArn=tg,
            Attributes=[
                {
                    "Key": "deregistration_delay.timeout_seconds",
                    "Value": str(cfg["deregistration_delay"]),
                }
            ],
        )
    world.sb.client_factory().client("ecs").update_service(
        cluster=world.prov.cluster,
        service=world.prov.service,
        healthCheckGracePeriodSeconds=cfg["grace"],
    )


def doctor_settings(world: World) -> Settings:
    ctx, log = world.context()
    doctor.run(doctor.DoctorOptions(env="prod"), ctx)
    data = next(e for e in log.events if e.kind == "doctor").data
    # measured without the bake and the Route 53 step (World.settings() drops both)
    return replace(Settings(**data["settings"]), bake_seconds=0.0, route53_ttl=None)


def _completed_at(world: World, deployment_id: str) -> float:
    def done() -> float | None:
        svc = world.ecs.describe_service(world.prov.cluster, world.prov.service)
        d = svc.deployment(deployment_id)
        if d is not None and d.rollout_state == "COMPLETED" and len(svc.deployments) == 1:
            return world.sb.clock.now()
        return None

    return world.sb.advance_until(done, timeout=7200, step=5)


def measure(world: World) -> dict[str, float]:
    out: dict[str, float] = {}
    world.reset()
    updated: list[float] = []

    def mark(e: Event) -> None:
        if e.kind == "deployment":
            updated.append(world.sb.clock.now())

    run = world.deploy("sha-0000002", prober=passing_probe, sink=mark)
    assert run.outcome.verdict == "SUCCEEDED", run.outcome
    start = run.events[0].at
    out["deploy"] = run.events[-1].at - start
    out["completed"] = _completed_at(world, run.outcome.deployment_id or "") - start
    world.reset()
    world.break_next("never_healthy")
    run = world.deploy("sha-0000003", prober=passing_probe)
    assert run.outcome.verdict == "FAILED_ROLLED_BACK", run.outcome
    out["rollback"] = run.events[-1].at - run.events[0].at
    world.reset()
    # ECS alone: UpdateService to a revision whose tasks never pass the ALB check. The breaker
    # alone, as the doctor names it: the stack's deployment alarms (which the sandbox evaluates,
    # and which can roll back sooner on UnHealthyHostCount) are switched off for this measure.
    client = world.sb.client_factory().client("ecs")
    raw = client.describe_services(cluster=world.prov.cluster, services=[world.prov.service])
    config = dict(raw["services"][0]["deploymentConfiguration"])
    if config.get("alarms"):
        config["alarms"] = {**config["alarms"], "enable": False}
        client.update_service(
            cluster=world.prov.cluster,
            service=world.prov.service,
            deploymentConfiguration=config,
        )
    ecs = world.ecs
    svc = ecs.describe_service(world.prov.cluster, world.prov.service)
    old = svc.task_definition
    doc = dict(ecs.describe_task_definition(old).document)
    rev = world.next_revision()
    world.sb.faults.add(FaultRule(effect="never_healthy", family=world.prov.family, revision=rev))
    new = ecs.register_task_definition(doc)
    t0 = world.sb.clock.now()
    ecs.update_service(world.prov.cluster, world.prov.service, task_definition=new.arn)

    def restored() -> float | None:
        s = ecs.describe_service(world.prov.cluster, world.prov.service)
        p = s.primary
        if (
            p is not None
            and p.task_definition == old
            and p.rollout_state == "COMPLETED"
            and len(s.deployments) == 1
        ):
            return world.sb.clock.now()
        return None

    out["breaker"] = world.sb.advance_until(restored, timeout=7200, step=5) - t0
    world.sb.faults.clear()
    return out


def compare(world: World) -> list[Comparison]:
    settings = doctor_settings(world)
    d = diagnose(settings)
    measured = measure(world)
    estimated = {
        "deploy": d.deploy.seconds,
        "completed": d.completed.seconds,
        "rollback": d.rollback.seconds,
        "breaker": d.breaker.seconds if d.breaker else 0.0,
    }
    return [
        Comparison(k, estimated[k], measured[k])
        for k in ("deploy", "completed", "rollback", "breaker")
    ]


def main() -> None:
    for label, cfg in (("voj as provisioned", None), ("AWS defaults", AWS_DEFAULTS)):
        sb = Sandbox()
        try:
            world = World(sb, sb.provision_voj())
            if cfg is not None:
                configure(world, cfg)
                world.reset()
            print(f"\n{label}")
            for c in compare(world):
                print(
                    f"| {c.name} | {c.estimated:.0f} | {c.measured:.0f} | {c.error * 100:+.0f}% |"
                )
        finally:
            sb.close()


if __name__ == "__main__":
    main()
