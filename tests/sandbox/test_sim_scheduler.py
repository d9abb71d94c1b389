"""The service scheduler: when it says it is stuck, what wakes it, what a fault rule matches,
and what it costs per task (reference §1.1, §4; issue 11 item 9)."""

from __future__ import annotations

import sys
from collections.abc import Iterator

import pytest
from moto import mock_aws

from rollout.sandbox.ecs.api import image_references
from rollout.sandbox.faults import FaultRule
from rollout.sandbox.harness import SimHarness

STUCK = "was unable to stop or start tasks"


@pytest.fixture(autouse=True)
def _no_default_amis(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")


@pytest.fixture
def h() -> Iterator[SimHarness]:
    with mock_aws():
        yield SimHarness(health_check_interval=10, healthy_threshold=2, unhealthy_threshold=2)


def _messages(h: SimHarness, since: float) -> list[str]:
    return [m for _, m in h.events(since=since)]


def test_unhealthy_tasks_inside_their_grace_period_are_not_a_stuck_deployment(
    h: SimHarness,
) -> None:
    """New tasks failing checks inside a long grace period hold the deployment, but the
    min/max settings (100/200) do not: ECS waits and says nothing about the configuration
    (§1.1: the event is for settings that allow neither a start nor a stop)."""
    td = h.register(h.image("v1"))
    h.create_service(td, desired=2, grace=300)
    h.settle()
    h.sim.faults.add(FaultRule(effect="slow_start", image="*:v2", after=120))
    began = h.clock.now()
    td2 = h.register(h.image("v2"))
    h.update(taskDefinition=td2)
    h.advance(100)  # new tasks RUNNING and unhealthy, well inside the 300 s grace period
    assert any(e.detail["state"] == "unhealthy" for e in h.sim.timeline("target.health"))
    h.settle()
    assert h.service()["taskDefinition"] == td2
    assert not [m for m in _messages(h, began) if STUCK in m]


def test_fixing_min_max_wakes_a_stuck_deployment(h: SimHarness) -> None:
    """A deployment stuck on min 100 / max 100 resumes once UpdateService changes only the
    deployment configuration (no new deployment, the same one completes)."""
    td = h.register(h.image("v1"))
    h.create_service(td, desired=2, minimum=100, maximum=100)
    h.settle()
    began = h.clock.now()
    td2 = h.register(h.image("v2"))
    h.update(taskDefinition=td2)
    h.advance(120)
    assert [m for m in _messages(h, began) if STUCK in m]
    stuck_id = h.service()["deployments"][0]["id"]
    h.update(deploymentConfiguration={"minimumHealthyPercent": 100, "maximumPercent": 200})
    h.settle(limit=600)
    service = h.service()
    assert service["deployments"][0]["id"] == stuck_id
    assert service["deployments"][0]["rolloutState"] == "COMPLETED"
    assert service["taskDefinition"] == td2


def test_a_fault_on_a_tag_matches_the_same_image_deployed_by_digest(h: SimHarness) -> None:
    """ECR resolves tag <-> digest: a rule on ``repo:tag`` hits the image deployed as
    ``repo@sha256:...``, a rule on the digest hits it deployed by tag, other images stay fine."""
    td = h.register(h.image("v1"))
    h.create_service(td, desired=1)
    h.settle()
    tagged = h.image("v2")
    digest = h.ecr.describe_images(repositoryName="api", imageIds=[{"imageTag": "v2"}])[
        "imageDetails"
    ][0]["imageDigest"]
    by_digest = f"{tagged.rsplit(':', 1)[0]}@{digest}"
    h.sim.faults.add(FaultRule(effect="crash", image=tagged, after=1, exit_code=7))
    h.update(taskDefinition=h.register(by_digest))
    h.advance(120)
    crashed = [t for t in h.tasks("STOPPED") if t.get("stopCode") == "EssentialContainerExited"]
    assert crashed
    assert crashed[0]["containers"][0]["exitCode"] == 7

    h.sim.faults.clear()
    h.sim.faults.add(FaultRule(effect="never_healthy", image=digest))
    assert h.sim.faults.decide(
        family="api", revision=9, images=image_references(tagged), environment={}
    ).never_healthy
    other = h.image("v3")
    assert not h.sim.faults.decide(
        family="api", revision=9, images=image_references(other), environment={}
    ).never_healthy


def _calls_per_deploy(tasks: int) -> int:
    """Python function calls the simulation makes for 10 simulated minutes of a deploy whose
    health checks never pass (ECS replaces unhealthy tasks one by one), polled every 5 s.
    Deterministic (seeded simulation, virtual clock): a measure of work, not of time."""
    with mock_aws():
        h = SimHarness(health_check_interval=10, healthy_threshold=2, unhealthy_threshold=2)
        h.create_service(h.register(h.image("v1")), desired=tasks)
        h.settle(limit=3600)
        h.sim.faults.add(FaultRule(effect="never_healthy", image="*:v2"))
        td2 = h.register(h.image("v2"))
        calls = 0

        def count(frame: object, event: str, arg: object) -> None:
            nonlocal calls
            if event == "call":
                calls += 1

        sys.setprofile(count)
        try:
            h.update(taskDefinition=td2)
            for _ in range(120):
                h.advance(5)
        finally:
            sys.setprofile(None)
        return calls


def test_scheduler_work_grows_linearly_with_the_task_count() -> None:
    """Four times the tasks cost at most about four times the work per simulated minute
    (membership tests by ARN, not by comparing task records field by field: O(N), not O(N²));
    bench/sim_cost.py measures the wall time."""
    small, large = _calls_per_deploy(10), _calls_per_deploy(40)
    assert large <= 4 * 1.5 * small, (small, large)
