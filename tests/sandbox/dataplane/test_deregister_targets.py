"""A public ``elbv2 DeregisterTargets`` call drains the target as on AWS (ecs-behaviour.md §6.2,
§6.3; botocore's DeregisterTargets doc), through the same overlay path ECS's own deregistration
uses; simulated runtime, virtual clock."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from moto import mock_aws

from rollout.sandbox.dataplane.targets import routable, target_states
from rollout.sandbox.harness import ACCOUNT, CLUSTER, REGION, SimHarness

DRAINING = {
    "State": "draining",
    "Reason": "Target.DeregistrationInProgress",
    "Description": "Target deregistration is in progress",
}
A = "10.0.1.50"
B = "10.0.1.51"


@pytest.fixture(autouse=True)
def _no_default_amis(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")


@pytest.fixture
def h() -> Iterator[SimHarness]:
    with mock_aws():
        harness = SimHarness(deregistration_delay=30)
        yield harness
        harness.sim.close()


def _health(h: SimHarness, *ids: str) -> dict[str, dict[str, Any]]:
    targets = [{"Id": i, "Port": 8000} for i in ids]
    answer = h.elbv2.describe_target_health(
        TargetGroupArn=h.tg_arn, **({"Targets": targets} if targets else {})
    )
    return {d["Target"]["Id"]: d["TargetHealth"] for d in answer["TargetHealthDescriptions"]}


def _register(h: SimHarness, *ids: str) -> None:
    h.elbv2.register_targets(
        TargetGroupArn=h.tg_arn, Targets=[{"Id": i, "Port": 8000} for i in ids]
    )


def _deregister(h: SimHarness, *ids: str) -> None:
    h.elbv2.deregister_targets(
        TargetGroupArn=h.tg_arn, Targets=[{"Id": i, "Port": 8000} for i in ids]
    )


def test_deregistered_target_drains_for_the_delay_then_is_gone(h: SimHarness) -> None:
    _register(h, A, B)
    _deregister(h, A)
    assert _health(h)[A] == DRAINING  # listed without a target list, as on AWS
    assert _health(h)[B] == {"State": "healthy"}
    h.advance(29.9)
    assert _health(h)[A] == DRAINING
    h.advance(0.1)
    assert A not in _health(h)  # the sandbox's own removal did not drain it again
    assert _health(h, A)[A]["State"] == "unused"
    assert _health(h, A)[A]["Reason"] == "Target.NotRegistered"
    h.advance(120)
    assert set(_health(h)) == {B}


def test_listener_sends_no_new_request_to_a_draining_target(h: SimHarness) -> None:
    _register(h, A, B)
    _deregister(h, A)
    states = {t.ip: t.state for t in target_states(ACCOUNT, REGION, h.tg_arn) or []}
    assert states == {A: "draining", B: "healthy"}
    chosen, fail_open = routable(target_states(ACCOUNT, REGION, h.tg_arn) or [])
    assert [t.ip for t in chosen] == [B]
    assert not fail_open
    _deregister(h, B)  # every target draining: no fail-open to them, the ALB answers 503
    chosen, _ = routable(target_states(ACCOUNT, REGION, h.tg_arn) or [])
    assert chosen == []


def test_deregistering_a_target_that_is_not_registered_succeeds_and_changes_nothing(
    h: SimHarness,
) -> None:
    """botocore's DeregisterTargets doc: "If the specified target does not exist, the action
    returns successfully." (moto raises InvalidTarget)."""
    _register(h, B)
    _deregister(h, A)
    h.elbv2.deregister_targets(  # a port other than the registered one is another target
        TargetGroupArn=h.tg_arn, Targets=[{"Id": B, "Port": 9000}]
    )
    assert _health(h) == {B: {"State": "healthy"}}


def test_deregistering_a_draining_target_again_keeps_its_deadline(h: SimHarness) -> None:
    _register(h, A)
    _deregister(h, A)
    h.advance(20)
    _deregister(h, A)
    assert _health(h)[A] == DRAINING
    h.advance(10)
    assert A not in _health(h)


def test_registering_a_draining_target_again_cancels_the_drain(h: SimHarness) -> None:
    _register(h, A)
    _deregister(h, A)
    h.advance(10)
    _register(h, A)
    assert _health(h)[A] == {"State": "healthy"}
    h.advance(60)  # the first drain's end removes nothing
    assert _health(h)[A] == {"State": "healthy"}


def test_hand_deregistered_task_target_drains_and_ecs_stops_the_task_later(
    h: SimHarness,
) -> None:
    td = h.register(h.image("v1"))
    h.create_service(td)
    h.settle()
    [ip] = _health(h)
    assert _health(h)[ip] == {"State": "healthy"}
    _deregister(h, ip)
    assert _health(h)[ip] == DRAINING
    h.advance(30)
    assert ip not in _health(h)
    [task] = h.tasks()
    h.call("StopTask", cluster=CLUSTER, task=task["taskArn"], reason="drill")
    h.advance(120)  # ECS's own deregistration finds the target gone; the task still stops
    stopped = h.call("DescribeTasks", cluster=CLUSTER, tasks=[task["taskArn"]])["tasks"][0]
    assert stopped["lastStatus"] == "STOPPED"


def test_after_moto_is_reset_no_stale_simulation_drains_targets(h: SimHarness) -> None:
    """A later plain-moto user in the same process gets moto's removal, not a drain on a
    simulation nobody runs any more."""
    from moto.core.base_backend import BackendDict

    BackendDict.reset()
    vpc = h.ec2.create_vpc(CidrBlock="10.1.0.0/16")["Vpc"]["VpcId"]
    tg = h.elbv2.create_target_group(
        Name="plain", Protocol="HTTP", Port=80, VpcId=vpc, TargetType="ip"
    )["TargetGroups"][0]["TargetGroupArn"]
    h.elbv2.register_targets(TargetGroupArn=tg, Targets=[{"Id": A}])
    h.elbv2.deregister_targets(TargetGroupArn=tg, Targets=[{"Id": A}, {"Id": B}])
    assert h.elbv2.describe_target_health(TargetGroupArn=tg)["TargetHealthDescriptions"] == []
