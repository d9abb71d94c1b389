"""Fixtures of the everyday verbs' tests: one provisioned voj sandbox for the package."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from engine.scenario import World
from rollout.sandbox import Sandbox

#: the provisioned desired count, restored before each test
DESIRED: dict[str, int] = {}


@pytest.fixture(scope="package")
def world_package() -> Iterator[World]:
    sb = Sandbox()
    try:
        prov = sb.provision_voj()
        w = World(sb, prov)
        svc = w.ecs.describe_service(prov.cluster, prov.service)
        DESIRED[prov.service] = svc.desired
        yield w
    finally:
        sb.close()


@pytest.fixture
def world(world_package: World) -> World:
    """The sandbox settled on its current revision at its provisioned count, no faults, no lock."""
    w = world_package
    svc = w.ecs.describe_service(w.prov.cluster, w.prov.service)
    if svc.desired != DESIRED[w.prov.service]:
        w.ecs.update_service(w.prov.cluster, w.prov.service, desired_count=DESIRED[w.prov.service])
    w.reset()
    w.sb.advance_until(
        lambda: True if _settled(w) else None,
        timeout=3600,
        step=10,
    )
    w.sb.clear_calls()
    return w


def _settled(w: World) -> bool:
    svc = w.ecs.describe_service(w.prov.cluster, w.prov.service)
    return svc.running == svc.desired == DESIRED[w.prov.service] and svc.pending == 0
