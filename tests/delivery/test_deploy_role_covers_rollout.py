"""The deploy role grants exactly what rollout calls: every AWS call rollout makes in a real
deploy, a failed deploy with its automatic rollback (Route 53 weights included), an undo, and
the operator's status / history / prune is an action the role's policy grants (so the workflows
cannot fail on AccessDenied after a change to rollout), and every action the role grants is one
of those calls (so the role cannot keep permissions nothing uses)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

from rollout.context import Context
from rollout.engine.probe import ProbeResult
from rollout.events import EventLog
from rollout.gateways.r53 import Route53Gateway
from rollout.sandbox import FaultRule, Sandbox
from rollout.sandbox.provisioning.stack import ProvisionResult
from rollout.verbs import deploy, history, prune, status, traffic, undo

from .test_infra import all_policy_statements, as_list, resolver

ROOT = Path(__file__).resolve().parents[2]
# botocore service name -> IAM action prefix, where they differ.
IAM_PREFIX = {"elbv2": "elasticloadbalancing"}
# Calls that need no IAM permission.
UNAUTHORISED = {("sts", "GetCallerIdentity")}
# Actions IAM evaluates as part of another call: registering a task definition that names an
# execution and a task role passes those roles (iam:PassRole is not an API call of its own).
IMPLIED = {"ecs:RegisterTaskDefinition": {"iam:PassRole"}}
# Granted only with EnablePrune=true.
PRUNE_ONLY = {"ecs:DeregisterTaskDefinition"}


def _granted(prune: str, strategy: str = "rolling") -> set[str]:
    return {
        action
        for logical_id, statement in all_policy_statements(
            resolver(EnablePrune=prune, DeploymentStrategy=strategy)
        )
        if logical_id == "DeployRole"
        for action in as_list(statement["Action"])
    }


def _probe(url: str, headers: Mapping[str, str] | None = None) -> ProbeResult:
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
        # Two more good revisions (5, 6), so that prune has old revisions to deregister; then
        # the read-only verbs an operator runs with the same role.
        for tag in ("sha-0000003", "sha-0000002"):
            again = deploy.run(
                deploy.DeployOptions(image=prov.images[tag]), context(), prober=_probe
            )
            verdicts.append(again.verdict)
        status.run(status.StatusOptions(), context())
        history.run(history.HistoryOptions(), context())
        prune.run(prune.PruneOptions(keep=1), context())
        # the operator moves clients to the new ALB in gated steps (ALB metrics judged)
        sb.start_synthetic_traffic(rate=10.0)
        shifted = traffic.run_shift(traffic.ShiftOptions(steps="50,100"), context())
        sb.stop_synthetic_traffic()
        verdicts.append(shifted.verdict)
        traffic.run_status(traffic.StatusOptions(), context())
        calls = {(c.service, c.operation) for c in sb.calls()}
        yield calls, verdicts
    finally:
        sb.close()


def test_the_scenarios_ran_their_course(exercised: tuple[set[tuple[str, str]], list[str]]) -> None:
    """The good deploys succeeded, the bad one was rolled back, the undo succeeded, and the
    writes of all three paths (register, update, lock, tags, traffic) were exercised."""
    calls, verdicts = exercised
    assert (
        verdicts
        == ["SUCCEEDED", "SUCCEEDED", "FAILED_ROLLED_BACK", "SUCCEEDED"] + ["SUCCEEDED"] * 3
    )
    operations = {operation for _, operation in calls}
    assert {
        "RegisterTaskDefinition",
        "UpdateService",
        "PutParameter",
        "DeleteParameter",
        "DeregisterTaskDefinition",
    } <= operations
    assert "ChangeResourceRecordSets" in operations


@pytest.mark.parametrize("prune", ["false", "true"])
def test_every_call_rollout_made_is_granted_to_the_deploy_role(
    exercised: tuple[set[tuple[str, str]], list[str]], prune: str
) -> None:
    """Each (service, operation) rollout called maps to an IAM action the deploy role grants
    (prune's deregistration only with EnablePrune=true)."""
    calls, _ = exercised
    needed = _called(calls) - (PRUNE_ONLY if prune == "false" else set())
    assert sorted(needed - _granted(prune)) == []


def _called(calls: set[tuple[str, str]]) -> set[str]:
    actions = {
        f"{IAM_PREFIX.get(service, service)}:{operation}"
        for service, operation in calls - UNAUTHORISED
    }
    for action in list(actions):
        actions |= IMPLIED.get(action, set())
    return actions


@pytest.mark.parametrize("prune", ["false", "true"])
def test_the_deploy_role_grants_nothing_rollout_does_not_call(
    exercised: tuple[set[tuple[str, str]], list[str]], prune: str
) -> None:
    """Every action the deploy role grants is one rollout called in the scenarios (or one IAM
    checks as part of such a call): no permission is kept "just in case"."""
    calls, _ = exercised
    unused = _granted(prune) - _called(calls)
    assert sorted(unused) == []


def test_prune_permission_is_the_only_difference_enable_prune_makes() -> None:
    """EnablePrune=true adds ecs:DeregisterTaskDefinition and nothing else."""
    assert _granted("true") - _granted("false") == PRUNE_ONLY
