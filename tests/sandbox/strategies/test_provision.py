"""`rollout sandbox provision --strategy`: voj's stack from infra/voj.yaml's DeploymentStrategy,
and the admin endpoints for synthetic traffic and hook answers."""

from __future__ import annotations

import json
import urllib.request
from typing import Any

import pytest
from typer.testing import CliRunner

import rollout.cli.sandbox  # noqa: F401 - registers the sandbox commands
from rollout.cli import app
from rollout.sandbox import Sandbox

from ..conftest import register_revision


def test_unknown_strategy_is_a_usage_error_before_anything_is_created() -> None:
    result = CliRunner().invoke(
        app,
        ["sandbox", "provision", "--strategy", "red-black", "--endpoint-url", "http://127.0.0.1:9"],
    )
    assert result.exit_code == 2
    assert "unknown strategy 'red-black'" in result.output
    assert "rolling, blue-green, canary, linear" in result.output


@pytest.mark.parametrize("strategy", ["canary"])
def test_provision_with_a_strategy_builds_a_traffic_shifting_voj(
    sandbox: Sandbox, strategy: str
) -> None:
    prov = sandbox.provision_voj(strategy=strategy)
    factory = sandbox.client_factory()
    ecs, elbv2, iam = factory.client("ecs"), factory.client("elbv2"), factory.client("iam")
    service = ecs.describe_services(cluster=prov.cluster, services=[prov.service])["services"][0]
    config = service["deploymentConfiguration"]
    assert config["strategy"] == "CANARY"
    assert config["canaryConfiguration"] == {"canaryPercent": 10.0, "canaryBakeTimeInMinutes": 5}
    assert config["bakeTimeInMinutes"] == 5
    advanced = service["loadBalancers"][0]["advancedConfiguration"]
    blue, green = prov.target_group_arns
    assert advanced["alternateTargetGroupArn"] == green
    assert advanced["roleArn"].endswith(":role/voj-backend-ecs-infrastructure-lb")
    for rule in (advanced["productionListenerRule"], advanced["testListenerRule"]):
        doc = elbv2.describe_rules(RuleArns=[rule])["Rules"][0]
        groups = doc["Actions"][0]["ForwardConfig"]["TargetGroups"]
        assert {g["TargetGroupArn"]: g["Weight"] for g in groups} == {blue: 1, green: 0}
    assert prov.outputs["ProductionListenerRuleArn"] == advanced["productionListenerRule"]
    policy = iam.get_role_policy(RoleName="voj-backend-github-deploy", PolicyName="rollout-deploy")
    document = policy["PolicyDocument"]  # moto may hand back the stored text
    text = document if isinstance(document, str) else json.dumps(document)
    assert "InspectTheLoadBalancerInfrastructureRole" in text
    assert "EcsContinueServiceDeployments" in text
    # a release ships through the canary on the provisioned stack
    traffic = sandbox.start_synthetic_traffic(rate=5)
    ecs.update_service(
        cluster=prov.cluster,
        service=prov.service,
        taskDefinition=register_revision(
            sandbox, prov.images["sha-0000002"], base=prov.task_definition_arn
        ),
    )
    arn = ecs.describe_services(cluster=prov.cluster, services=[prov.service])["services"][0][
        "currentServiceDeployment"
    ]

    def status() -> str:
        doc = ecs.describe_service_deployments(serviceDeploymentArns=[arn])
        return str(doc["serviceDeployments"][0]["status"])

    sandbox.advance_until(lambda: status() if status() == "SUCCESSFUL" else None, step=10)
    assert traffic.blind_moments == []


def test_rolling_is_the_default_and_has_no_listener_rules(sandbox: Sandbox) -> None:
    prov = sandbox.provision_voj()
    ecs = sandbox.client_factory().client("ecs")
    service = ecs.describe_services(cluster=prov.cluster, services=[prov.service])["services"][0]
    assert service["deploymentConfiguration"]["strategy"] == "ROLLING"
    assert "advancedConfiguration" not in service["loadBalancers"][0]
    assert "ProductionListenerRuleArn" not in prov.outputs


def test_admin_endpoints_start_synthetic_traffic_and_set_hook_answers(sandbox: Sandbox) -> None:
    url = sandbox.serve()

    def call(method: str, path: str, doc: dict[str, Any] | None = None) -> tuple[int, Any]:
        data = json.dumps(doc).encode() if doc is not None else None
        request = urllib.request.Request(  # noqa: S310 - the sandbox on loopback
            url + "/_sandbox/" + path, data=data, method=method
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read())

    status, doc = call("POST", "traffic/synthetic", {"rate": 25, "test_rate": 1})
    assert status == 200
    assert doc["running"] is True
    assert doc["settings"]["rate"] == 25
    assert sandbox.synthetic.settings.test_rate == 1
    assert call("POST", "traffic/synthetic", {"rate": -1})[0] == 400
    assert call("POST", "traffic/synthetic", {"speed": 3})[0] == 400
    assert call("DELETE", "traffic/synthetic")[1]["running"] is False
    assert call("POST", "hooks", {"answer": "FAILED", "delay": 3}) == (
        200,
        {"answer": "FAILED", "delay": 3.0},
    )
    assert sandbox.sim.hook_answer == "FAILED"
    assert call("POST", "hooks", {"answer": "MAYBE"})[0] == 400
    sandbox.stop()


def test_voj_blue_green_rolls_back_on_its_own_5xx_alarm(sandbox: Sandbox) -> None:
    """voj's stack as the template builds it for blue-green: a release answering 500 on 20 % of
    requests fires the stack's target-5xx alarm once production is on green; ECS rolls back by
    the traffic switch."""
    from rollout.sandbox import FaultRule

    prov = sandbox.provision_voj(strategy="blue-green")
    ecs = sandbox.client_factory().client("ecs")
    traffic = sandbox.start_synthetic_traffic(rate=50)
    sandbox.faults.add(FaultRule(effect="serve_5xx", image="sha-0000002", share=0.2))
    ecs.update_service(
        cluster=prov.cluster,
        service=prov.service,
        taskDefinition=register_revision(
            sandbox, prov.images["sha-0000002"], base=prov.task_definition_arn
        ),
    )
    arn = ecs.describe_services(cluster=prov.cluster, services=[prov.service])["services"][0][
        "currentServiceDeployment"
    ]

    def finished() -> dict[str, Any] | None:
        doc = ecs.describe_service_deployments(serviceDeploymentArns=[arn])
        sd: dict[str, Any] = doc["serviceDeployments"][0]
        return sd if sd["status"] in ("SUCCESSFUL", "ROLLBACK_SUCCESSFUL") else None

    sd = sandbox.advance_until(finished, step=10)
    assert sd["status"] == "ROLLBACK_SUCCESSFUL"
    assert sd["alarms"]["triggeredAlarmNames"] == ["voj-prod-target-5xx"]
    assert sd["lifecycleStage"] == "BAKE_TIME"
    assert traffic.blind_moments == []
    blue, green = prov.target_group_arns
    assert traffic.totals[(green, 500)] > 0
    assert not [k for k in traffic.totals if k[0] == blue and k[1] >= 500]
