"""fabfuel's ecs-deploy (1.17.0, unmodified, from the venv) against a real-time sandbox.

It has no endpoint option; AWS_ENDPOINT_URL redirects its boto3. It polls once a second and
declares success when the RUNNING tasks on the service's task definition equal desiredCount.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import CLUSTER, CONTAINER, GOOD_TAGS, SERVICE, Realtime

ECS = str(Path(sys.executable).with_name("ecs"))

pytestmark = pytest.mark.slow


def ecs_deploy(rt: Realtime, image: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [ECS, "deploy", CLUSTER, SERVICE, "--image", CONTAINER, image, "--timeout", "120"],
        env=rt.env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_fabfuel_deploys_a_good_image(realtime: Realtime) -> None:
    """ecs deploy succeeds and the service runs the new revision with the new image."""
    image = realtime.stack.image(GOOD_TAGS[1])
    done = ecs_deploy(realtime, image)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Deployment successful" in done.stdout
    service = realtime.stack.service()
    assert service["taskDefinition"].endswith(":2")
    ecs = realtime.stack.client("ecs")
    task_def = ecs.describe_task_definition(taskDefinition=service["taskDefinition"])
    assert task_def["taskDefinition"]["containerDefinitions"][0]["image"] == image


def test_fabfuel_reports_false_success_after_a_breaker_rollback(realtime: Realtime) -> None:
    """fabfuel/ecs-deploy#185 reproduced: after the breaker rolls a missing image back, it prints
    "Deployment successful" (and deregisters the revision that is actually running)."""
    old = realtime.stack.service()["taskDefinition"]
    done = ecs_deploy(realtime, realtime.stack.image("sha-missing"))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Deployment successful" in done.stdout
    service = realtime.stack.service()
    assert service["taskDefinition"] == old
    assert any("rolling back to deployment" in e["message"] for e in service["events"])
    assert realtime.sb.calls("ecs", "DeregisterTaskDefinition")
    status = realtime.stack.client("ecs").describe_task_definition(taskDefinition=old)
    assert status["taskDefinition"]["status"] == "INACTIVE"
