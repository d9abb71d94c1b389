"""What the ALB knows about targets, read from moto's ELBv2 state.

There is one source of truth for target health: moto's target groups with the sandbox's overlay
(:mod:`rollout.sandbox.dataplane.target_health`) on top. :func:`target_states` asks
``FakeTargetGroup.health_for`` for each registered target, which is the code
``DescribeTargetHealth`` answers with: the
overlay's state for targets the sandbox manages (``initial``/``healthy``/``unhealthy``/
``draining``, from the simulation or the real health checker), moto's (``healthy`` at once) for
targets registered directly with ``RegisterTargets``. Nothing here keeps a second copy.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from rollout.sandbox.observability.metrics import HostCounts

#: States that receive new requests when at least one target is healthy.
HEALTHY = "healthy"
#: States that never receive new requests (the target is leaving the group).
LEAVING = ("draining", "unhealthy.draining", "unused")


@dataclass(frozen=True)
class Target:
    """One registered target of a target group and its health state now."""

    ip: str
    port: int
    state: str

    @property
    def address(self) -> str:
        return f"{self.ip}:{self.port}"


def elbv2_backend(account: str, region: str) -> Any:
    from moto.backends import get_backend

    return get_backend("elbv2")[account][region]


def load_balancers(account: str, region: str) -> list[Any]:
    """Every application load balancer (moto's ``FakeLoadBalancer``), in creation order."""
    backend = elbv2_backend(account, region)
    return [lb for lb in list(backend.load_balancers.values()) if lb.type == "application"]


def find_load_balancer(account: str, region: str, name: str) -> Any | None:
    return next((lb for lb in load_balancers(account, region) if lb.name == name), None)


def target_states(account: str, region: str, tg_arn: str) -> list[Target] | None:
    """The registered targets of ``tg_arn`` with their state now (None: no such group)."""
    from moto.backends import get_backend

    ec2 = get_backend("ec2")[account][region]
    return group_states(elbv2_backend(account, region), ec2, tg_arn)


def group_states(backend: Any, ec2: Any, tg_arn: str) -> list[Target] | None:
    """:func:`target_states` with moto's ELBv2 and EC2 backends already at hand."""
    from rollout.sandbox.dataplane.target_health import group_health

    group = backend.target_groups.get(tg_arn)
    if group is None:
        return None
    return [Target(ip, port, state) for ip, port, state in group_health(group, ec2)]


def routable(targets: Sequence[Target]) -> tuple[list[Target], bool]:
    """The targets a new request may go to, and whether that is a fail-open.

    Healthy targets if there are any; otherwise every registered target that is not leaving the
    group (``initial``, ``unhealthy``, ``unavailable``): "If a target group contains only
    unhealthy registered targets, the load balancer routes requests to all those targets"
    (traffic-shifting.md §2.3, ecs-behaviour.md §6.1). Empty: the ALB answers 503.
    """
    healthy = [t for t in targets if t.state == HEALTHY]
    if healthy:
        return healthy, False
    rest = [t for t in targets if t.state not in LEAVING]
    return rest, bool(rest)


def host_counts(account: str, region: str) -> list[HostCounts]:
    """Healthy/unhealthy target counts per (load balancer, target group) pair in use."""
    backend = elbv2_backend(account, region)
    out: list[HostCounts] = []
    for group in list(backend.target_groups.values()):
        lbs = list(dict.fromkeys(group.load_balancer_arns))
        if not lbs:
            continue
        states = target_states(account, region, group.arn) or []
        healthy = sum(1 for t in states if t.state == HEALTHY)
        unhealthy = sum(1 for t in states if t.state == "unhealthy")
        out.extend(HostCounts(lb, group.arn, healthy, unhealthy) for lb in lbs)
    return out
