"""Fixtures of the engine scenarios: one provisioned voj sandbox for the whole package."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from rollout.sandbox import Sandbox

from .scenario import World


@pytest.fixture(scope="package")
def world_module() -> Iterator[World]:
    sb = Sandbox()
    try:
        prov = sb.provision_voj()
        yield World(sb, prov)
    finally:
        sb.close()


@pytest.fixture
def world(world_module: World) -> World:
    """The module's sandbox, settled on its current revision, with no faults and no lock."""
    world_module.reset()
    return world_module
