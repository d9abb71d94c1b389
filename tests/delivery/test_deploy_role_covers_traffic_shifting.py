"""The deploy role on a stack provisioned for traffic shifting (DeploymentStrategy=canary):
every call of verify and of good and bad canary deploys is granted, and what the strategy adds to
the role is called (tests/delivery/test_deploy_role_covers_rollout.py covers the rolling stack)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from rollout.context import Context
from rollout.events import EventLog
from rollout.sandbox import FaultRule, Sandbox
from rollout.sandbox.provisioning.stack import ProvisionResult
from rollout.verbs import deploy, verify

from .test_deploy_role_covers_rollout import _called, _granted, _probe

ROOT = Path(__file__).resolve().parents[2]


# -- a service provisioned for traffic shifting (DeploymentStrategy=canary) -------------------


@pytest.fixture(scope="module")
def exercised_canary() -> Iterator[tuple[set[tuple[str, str]], list[str]]]:
    """On a canary stack: verify, a good canary deploy (smoke through the test listener while a
    PAUSE hook holds green, analysis windows) and a bad one (analysis fails it,
    StopServiceDeployment rolls it back)."""
    sb = Sandbox()
    try:
        prov: ProvisionResult = sb.provision_voj(strategy="canary")
        sb.start_synthetic_traffic(rate=10.0, test_rate=1.0)
        sb.clear_calls()
        environ = {
            "USER": "ci",
            "GITHUB_SHA": "1" * 40,
            "ROLLOUT_STRATEGY": "canary",
            "ROLLOUT_TEST_URL": "http://test.voj.invalid/health",
            "ROLLOUT_BAKE_MINUTES": "2",
            "ROLLOUT_CANARY_BAKE_MINUTES": "2",
            "ROLLOUT_CANARY_PERCENT": "20",
        }

        def context() -> Context:
            return Context(
                factory=sb.client_factory(),
                clock=sb.clock,
                emit=EventLog(),
                config_path=ROOT / "rollout.toml",
                environ=environ,
            )

        verdicts = [
            verify.run(
                verify.VerifyOptions(env="prod", image=prov.images["sha-0000002"]), context()
            ).verdict
        ]
        good = deploy.run(
            deploy.DeployOptions(image=prov.images["sha-0000002"]), context(), prober=_probe
        )
        verdicts.append(good.verdict)
        sb.faults.add(FaultRule(effect="serve_5xx", family=prov.family, revision=3, share=0.3))
        bad = deploy.run(
            deploy.DeployOptions(image=prov.images["sha-0000003"]), context(), prober=_probe
        )
        verdicts.append(bad.verdict)
        yield {(c.service, c.operation) for c in sb.calls()}, verdicts
    finally:
        sb.stop_synthetic_traffic()
        sb.close()


def test_the_canary_scenarios_ran_their_course(
    exercised_canary: tuple[set[tuple[str, str]], list[str]],
) -> None:
    calls, verdicts = exercised_canary
    assert verdicts == ["ok", "SUCCEEDED", "FAILED_ROLLED_BACK"]
    operations = {operation for _, operation in calls}
    # the bad release is rolled back by rollout's analysis or by the stack's deployment alarms,
    # whichever fires first: both are a traffic switch back to blue
    assert {"DescribeRules", "GetMetricData", "ContinueServiceDeployment"} <= operations


def test_every_call_of_a_traffic_shifting_deploy_is_granted(
    exercised_canary: tuple[set[tuple[str, str]], list[str]],
) -> None:
    calls, _ = exercised_canary
    assert sorted(_called(calls) - _granted("false", "canary")) == []


def test_traffic_shifting_grants_only_what_its_deploys_call(
    exercised_canary: tuple[set[tuple[str, str]], list[str]],
) -> None:
    """What DeploymentStrategy=canary adds to the role is called by the canary scenarios."""
    calls, _ = exercised_canary
    added = _granted("false", "canary") - _granted("false")
    assert sorted(added - _called(calls)) == []
