"""The deploy role is least privilege AND enough: every AWS call rollout makes in a real deploy,
a failed deploy with its automatic rollback (Route 53 weights included) and an undo is an
action the role's policy grants, so the workflows cannot fail on AccessDenied after a change
to rollout, and the role cannot silently lag behind the code."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from rollout.context import Context
from rollout.engine.probe import ProbeResult
from rollout.events import EventLog
from rollout.gateways.r53 import Route53Gateway
from rollout.sandbox import FaultRule, Sandbox
from rollout.sandbox.provision import ProvisionResult
from rollout.verbs import deploy, undo

from .test_infra import all_policy_statements, as_list, resolver

ROOT = Path(__file__).resolve().parents[2]
# botocore service name -> IAM action prefix, where they differ.
IAM_PREFIX = {"elbv2": "elasticloadbalancing"}
# Calls that need no IAM permission.
UNAUTHORISED = {("sts", "GetCallerIdentity")}


def _granted(prune: str) -> set[str]:
    return {
        action
        for logical_id, statement in all_policy_statements(resolver(EnablePrune=prune))
        if logical_id == "DeployRole"
        for action in as_list(statement["Action"])
    }


def _probe(url: str) -> ProbeResult:
    return ProbeResult("pass", 200, f"GET {url} -> 200")


@pytest.fixture(scope="module")
def exercised() -> Iterator[tuple[set[tuple[str, str]], list[str]]]:
    """Run two good deploys, a crashing deploy (rolled back, traffic shifted) and an undo in the
    sandbox; return the (service, operation) pairs called and the verdicts."""
    sb = Sandbox()
    try:
        prov: ProvisionResult = sb.provision_voj()
        # the operator has cut traffic over to the new ALB, so the rollback must move it back
        Route53Gateway(sb.client_factory()).set_weights(
            prov.hosted_zone_id, prov.record_name, {"ecs": 100, "legacy": 0}, "CNAME"
        )
        sb.clear_calls()
        verdicts: list[str] = []

        def context() -> Context:
            return Context(
                factory=sb.client_factory(),
                clock=sb.clock,
                emit=EventLog(),
                config_path=ROOT / "rollout.toml",
                environ={"USER": "ci", "GITHUB_SHA": "1" * 40},
            )

        # Revisions: 1 from provisioning, 2 and 3 good deploys, 4 crashes and is rolled back
        # to 3; then undo goes back to the last good revision before 3, which is 2.
        for tag in ("sha-0000002", "sha-0000003"):
            good = deploy.run(
                deploy.DeployOptions(image=prov.images[tag]), context(), prober=_probe
            )
            verdicts.append(good.verdict)
        sb.faults.add(FaultRule(effect="crash", family=prov.family, revision=4, after=5.0))
        bad = deploy.run(
            deploy.DeployOptions(image=prov.images["sha-0000002"]), context(), prober=_probe
        )
        verdicts.append(bad.verdict)
        sb.faults.clear()
        back = undo.run(undo.UndoOptions(), context())
        verdicts.append(back.verdict)
        calls = {(c.service, c.operation) for c in sb.calls()}
        yield calls, verdicts
    finally:
        sb.close()


def test_the_scenarios_ran_their_course(exercised: tuple[set[tuple[str, str]], list[str]]) -> None:
    """The good deploys succeeded, the bad one was rolled back, the undo succeeded, and the
    writes of all three paths (register, update, lock, tags, traffic) were exercised."""
    calls, verdicts = exercised
    assert verdicts == ["SUCCEEDED", "SUCCEEDED", "FAILED_ROLLED_BACK", "SUCCEEDED"]
    operations = {operation for _, operation in calls}
    assert {"RegisterTaskDefinition", "UpdateService", "PutParameter", "DeleteParameter"} <= (
        operations
    )
    assert "ChangeResourceRecordSets" in operations


@pytest.mark.parametrize("prune", ["false", "true"])
def test_every_call_rollout_made_is_granted_to_the_deploy_role(
    exercised: tuple[set[tuple[str, str]], list[str]], prune: str
) -> None:
    """Each (service, operation) rollout called maps to an IAM action the deploy role grants."""
    calls, _ = exercised
    granted = _granted(prune)
    missing = sorted(
        f"{IAM_PREFIX.get(service, service)}:{operation}"
        for service, operation in calls - UNAUTHORISED
        if f"{IAM_PREFIX.get(service, service)}:{operation}" not in granted
    )
    assert missing == []


def test_the_role_grants_nothing_for_services_rollout_never_calls(
    exercised: tuple[set[tuple[str, str]], list[str]],
) -> None:
    """Every service prefix in the deploy policy is one rollout (or the image push) uses."""
    calls, _ = exercised
    used = {IAM_PREFIX.get(service, service) for service, _ in calls} | {"ecr"}
    prefixes: set[Any] = {action.split(":")[0] for action in _granted("true")}
    assert prefixes <= used
