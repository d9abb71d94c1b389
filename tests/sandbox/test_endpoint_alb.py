"""The ALB data plane under /_sandbox/alb/<name>/<path>: what a smoke probe sees."""

from __future__ import annotations

import httpx
import pytest

from rollout.sandbox import FaultRule, Sandbox
from rollout.sandbox.dataplane.simulated import image_tag

from .conftest import CLUSTER, GOOD_TAGS, LB_NAME, SERVICE, MiniStack


def probe(sb: Sandbox, path: str, lb: str = LB_NAME) -> httpx.Response:
    url = sb.url or sb.serve()
    return httpx.get(f"{url}/_sandbox/alb/{lb}{path}", timeout=10)


def test_version_names_the_serving_image(sandbox: Sandbox, mini: MiniStack) -> None:
    """GET /version through the ALB answers 200 with the running task's image and tag."""
    response = probe(sandbox, "/version")
    assert response.status_code == 200
    doc = response.json()
    assert doc["image"] == mini.image(GOOD_TAGS[0])
    assert doc["version"] == GOOD_TAGS[0]


def test_requests_take_turns_across_healthy_targets(sandbox: Sandbox, mini: MiniStack) -> None:
    """Consecutive requests go to the two healthy targets in turn."""
    targets = [probe(sandbox, "/health").headers["X-Sandbox-Target"] for _ in range(4)]
    assert len(set(targets)) == 2
    assert targets[0] == targets[2]
    assert targets[1] == targets[3]


def test_after_a_deploy_the_new_image_serves(sandbox: Sandbox, mini: MiniStack) -> None:
    """Once a good deploy completes, the ALB serves only the new image."""
    mini.deploy(mini.image(GOOD_TAGS[1]))
    sandbox.wait_steady(CLUSTER, SERVICE, revision=2)
    images = {probe(sandbox, "/version").json()["image"] for _ in range(4)}
    assert images == {mini.image(GOOD_TAGS[1])}


def test_no_healthy_targets_is_503(sandbox: Sandbox, mini: MiniStack) -> None:
    """With the service scaled to zero the ALB answers its own 503 page."""
    mini.client("ecs").update_service(cluster=CLUSTER, service=SERVICE, desiredCount=0)
    elbv2 = mini.client("elbv2")

    def no_healthy_target() -> bool | None:
        described = elbv2.describe_target_health(TargetGroupArn=mini.target_group_arn)
        states = {t["TargetHealth"]["State"] for t in described["TargetHealthDescriptions"]}
        return True if "healthy" not in states else None

    assert probe(sandbox, "/health").status_code == 200
    sandbox.advance_until(no_healthy_target, step=1, timeout=600)
    response = probe(sandbox, "/health")
    assert response.status_code == 503
    assert "503 Service Temporarily Unavailable" in response.text


def test_serve_5xx_fault_shows_through_the_alb(sandbox: Sandbox, mini: MiniStack) -> None:
    """Tasks with a serve_5xx fault pass health checks but answer requests with the fault's
    status once it is due."""
    sandbox.faults.add(FaultRule(effect="serve_5xx", image=f"*:{GOOD_TAGS[1]}", after=120))
    mini.deploy(mini.image(GOOD_TAGS[1]))
    sandbox.wait_steady(CLUSTER, SERVICE, revision=2)
    sandbox.clock.advance(120)
    response = probe(sandbox, "/books")
    assert response.status_code == 500
    assert response.headers["X-Sandbox-Task"].startswith("arn:aws:ecs:")


def test_head_answers_without_a_body(sandbox: Sandbox, mini: MiniStack) -> None:
    """HEAD through the ALB answers 200 with the serving target named and no body."""
    url = sandbox.serve()
    response = httpx.head(f"{url}/_sandbox/alb/{LB_NAME}/health", timeout=10)
    assert response.status_code == 200
    assert response.content == b""
    assert response.headers["X-Sandbox-Target"].endswith(":8000")


def test_unknown_load_balancer_is_404(sandbox: Sandbox) -> None:
    """A name with no load balancer is a 404 naming it."""
    response = probe(sandbox, "/health", lb="nope")
    assert response.status_code == 404
    assert "nope" in response.json()["error"]


@pytest.mark.parametrize(
    ("image", "tag"),
    [
        (
            "123456789012.dkr.ecr.ap-northeast-2.amazonaws.com/voj-backend:sha-0000001",
            "sha-0000001",
        ),
        ("localhost:5000/app:v2@sha256:abc", "v2"),
        ("localhost:5000/app", None),
        (None, None),
    ],
)
def test_image_tag(image: str | None, tag: str | None) -> None:
    """image_tag takes the tag from an image reference, ignoring registry ports and digests."""
    assert image_tag(image) == tag
