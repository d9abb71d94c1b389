"""provision_voj over HTTP (its own module: a module-scoped sandbox elsewhere must be closed
before a new one resets moto's process-global state)."""

from __future__ import annotations

import pytest

from rollout.aws import ClientFactory
from rollout.sandbox import Sandbox
from rollout.sandbox.provision import provision_voj


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
