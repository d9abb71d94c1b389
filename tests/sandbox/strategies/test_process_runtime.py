"""A canary on the process runtime: real requests through the ALB listener follow the weights ECS
writes into the production rule, and a rollback moves them back to blue at once."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator

import httpx
import pytest

from rollout.sandbox import Sandbox

from ..conftest import register_revision

pytestmark = pytest.mark.slow

HOST = {"Host": "api.voj.example.com"}  # ALLOWED_HOSTS of the sandbox stack


@pytest.fixture(scope="module")
def sb() -> Iterator[Sandbox]:
    with Sandbox(runtime="process", preset="quick") as sandbox:
        sandbox.provision_voj(strategy="canary")
        yield sandbox


def _versions(url: str, n: int) -> Counter[str]:
    seen: Counter[str] = Counter()
    with httpx.Client(base_url=url, headers=HOST, timeout=10) as client:
        for _ in range(n):
            answer = client.get("/version")
            seen[answer.json()["version"] if answer.status_code == 200 else answer.status_code] += 1
    return seen


def test_real_requests_follow_the_canary_weights_and_the_rollback(sb: Sandbox) -> None:
    prov = sb.provisioned
    assert prov is not None
    ecs = sb.client_factory().client("ecs")
    ecs.update_service(
        cluster=prov.cluster,
        service=prov.service,
        deploymentConfiguration={
            "canaryConfiguration": {"canaryPercent": 50.0, "canaryBakeTimeInMinutes": 10}
        },
    )
    url = sb.alb_url(prov.load_balancer_name)
    assert url is not None
    assert _versions(url, 10) == Counter({"sha-0000001": 10})
    ecs.update_service(
        cluster=prov.cluster,
        service=prov.service,
        taskDefinition=register_revision(
            sb, prov.images["sha-0000002"], base=prov.task_definition_arn
        ),
    )
    arn = ecs.describe_services(cluster=prov.cluster, services=[prov.service])["services"][0][
        "currentServiceDeployment"
    ]
    deadline = time.monotonic() + 180
    while True:
        doc = ecs.describe_service_deployments(serviceDeploymentArns=[arn])["serviceDeployments"][0]
        if doc["targetServiceRevision"].get("requestedProductionTrafficWeight") == 50.0:
            break
        assert time.monotonic() < deadline, doc
        time.sleep(0.5)
    split = _versions(url, 40)
    assert split == Counter({"sha-0000001": 20, "sha-0000002": 20})  # weighted round robin
    ecs.stop_service_deployment(serviceDeploymentArn=arn, stopType="ROLLBACK")
    # back on blue at once: the very next 20 requests all answered by blue (how long "at once"
    # takes in wall time is measured by bench/progressive_process.py, not asserted here)
    assert _versions(url, 20) == Counter({"sha-0000001": 20})
