"""The gateways the engine uses, bundled so tests can pass fakes or sandbox-backed ones."""

from __future__ import annotations

from dataclasses import dataclass

from rollout.aws import ClientFactory
from rollout.gateways.cw import CloudWatchGateway
from rollout.gateways.ecs import EcsGateway
from rollout.gateways.elb import ElbGateway
from rollout.gateways.logs import LogsGateway
from rollout.gateways.r53 import Route53Gateway
from rollout.gateways.ssm import SsmGateway


@dataclass(frozen=True)
class Gateways:
    ecs: EcsGateway
    elb: ElbGateway
    ssm: SsmGateway
    r53: Route53Gateway
    cw: CloudWatchGateway
    #: optional so fakes need not provide it (used only to quote a failed task's logs)
    logs: LogsGateway | None = None

    @classmethod
    def from_factory(cls, factory: ClientFactory) -> Gateways:
        return cls(
            ecs=EcsGateway(factory),
            elb=ElbGateway(factory),
            ssm=SsmGateway(factory),
            r53=Route53Gateway(factory),
            cw=CloudWatchGateway(factory),
            logs=LogsGateway(factory),
        )
