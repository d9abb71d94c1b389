"""Scenarios from issue 11: verdicts and writes that must say only what is true.

Each test reproduces a case tried by hand on the sandbox that rollout got wrong: a service at
desiredCount 0, a re-run after an interrupt, a rollback over someone else's deploy, ECS unable
to place tasks, a restore that cannot start, "restored" declared too early, and smaller ones.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from rollout.decisions import ledger

from .scenario import World


def _ecs(world: World) -> Any:
    return world.sb.client_factory().client("ecs")


@pytest.fixture
def scaled_to_zero(world: World) -> Iterator[World]:
    """The voj service at desiredCount 0 (put back afterwards)."""
    svc = _ecs(world).describe_services(
        cluster=world.prov.cluster, services=[world.prov.service]
    )["services"][0]
    desired = svc["desiredCount"]
    _ecs(world).update_service(
        cluster=world.prov.cluster, service=world.prov.service, desiredCount=0
    )
    world.reset()
    try:
        yield world
    finally:
        _ecs(world).update_service(
            cluster=world.prov.cluster, service=world.prov.service, desiredCount=desired
        )
        world.reset()


# -- 1. desiredCount 0 ---------------------------------------------------------------------------


def test_deploy_at_desired_zero_claims_no_healthy_tasks_and_is_not_good(
    scaled_to_zero: World,
) -> None:
    """At desiredCount 0 nothing runs: the verdict says so, and the revision is never good."""
    world = scaled_to_zero
    world.break_next("crash", after=1)
    run = world.deploy("sha-0000002")
    assert run.outcome.verdict == "NO_TASKS"
    assert run.outcome.exit_code == 60
    assert "runs no tasks" in (run.outcome.reason or "")
    assert not any("healthy in" in e.message for e in run.kinds("phase"))
    entry = ledger.parse(world.ecs.describe_task_definition(run.outcome.task_definition_arn or ""))
    assert not entry.good
    assert entry.outcome == "no-tasks"
