"""provision_voj on fresh sandboxes: over HTTP, and from an edited template (its own module: a
module-scoped sandbox elsewhere must be closed before a new one resets moto's global state)."""

from __future__ import annotations

from pathlib import Path

import pytest

from rollout.aws import ClientFactory
from rollout.sandbox import Sandbox
from rollout.sandbox.provisioning.stack import DEFAULT_TEMPLATE, provision_voj


def test_provision_works_over_http(monkeypatch: pytest.MonkeyPatch) -> None:
    """The same provisioning runs through a served endpoint (AWS_ENDPOINT_URL), not in-process."""
    sb = Sandbox()
    try:
        url = sb.serve()
        for key, value in sb.env().items():
            monkeypatch.setenv(key, value)
        factory = ClientFactory(region=sb.region, endpoint_url=url)
        result = provision_voj(factory)
        sb.wait_steady(result.cluster, result.service, revision=1)
        assert result.family == "voj-backend-prod"
        assert result.task_definition_arn.endswith(":1")
        assert sb.calls(service="cloudformation", operation="CreateStack")
        service = factory.client("ecs").describe_services(
            cluster=result.cluster, services=[result.service]
        )["services"][0]
        assert service["runningCount"] == 2
    finally:
        sb.close()


def test_the_sandbox_follows_template_changes(tmp_path: Path) -> None:
    """Edit the template (grace period, deregistration delay, an alarm threshold, desired
    count) and the sandbox built from it changes accordingly: gap resources are read from the
    template, not hard-coded."""
    text = DEFAULT_TEMPLATE.read_text(encoding="utf-8")
    edits = {
        "HealthCheckGracePeriodSeconds: 30": "HealthCheckGracePeriodSeconds: 45",
        'deregistration_delay.timeout_seconds, Value: "15"': (
            'deregistration_delay.timeout_seconds, Value: "20"'
        ),
        "Threshold: 10\n      ComparisonOperator: GreaterThanOrEqualToThreshold\n      "
        "TreatMissingData: notBreaching\n  Elb5xxAlarm": (
            "Threshold: 7\n      ComparisonOperator: GreaterThanOrEqualToThreshold\n      "
            "TreatMissingData: notBreaching\n  Elb5xxAlarm"
        ),
    }
    for old, new in edits.items():
        assert old in text, old
        text = text.replace(old, new)
    template = tmp_path / "voj.yaml"
    template.write_text(text, encoding="utf-8")
    with Sandbox() as sb:
        result = provision_voj(
            sb.client_factory(), template=template, parameters={"DesiredCount": "3"}
        )
        f = sb.client_factory()
        service = f.client("ecs").describe_services(
            cluster=result.cluster, services=[result.service]
        )["services"][0]
        assert service["healthCheckGracePeriodSeconds"] == 45
        assert service["desiredCount"] == 3
        for arn in result.target_group_arns:
            attrs = f.client("elbv2").describe_target_group_attributes(TargetGroupArn=arn)
            values = {a["Key"]: a["Value"] for a in attrs["Attributes"]}
            assert values["deregistration_delay.timeout_seconds"] == "20"
        (alarm,) = f.client("cloudwatch").describe_alarms(AlarmNames=["voj-prod-target-5xx"])[
            "MetricAlarms"
        ]
        assert alarm["Threshold"] == 7.0
