"""The AWS CLI (v1, from the venv) against a real-time sandbox, unmodified, via AWS_ENDPOINT_URL.

``aws ecs wait services-stable`` polls DescribeServices every 15 s of wall time, so these tests
take ~10-20 s each whatever the sandbox's speed.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import CLUSTER, GOOD_TAGS, SERVICE, Realtime

AWS = str(Path(sys.executable).with_name("aws"))

pytestmark = pytest.mark.slow


def aws(rt: Realtime, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [AWS, *args], env=rt.env, capture_output=True, text=True, timeout=300, check=False
    )


def update_then_wait(rt: Realtime, task_definition: str) -> subprocess.CompletedProcess[str]:
    update = aws(
        rt,
        "ecs",
        "update-service",
        "--cluster",
        CLUSTER,
        "--service",
        SERVICE,
        "--task-definition",
        task_definition,
    )
    assert update.returncode == 0, update.stderr
    return aws(rt, "ecs", "wait", "services-stable", "--cluster", CLUSTER, "--services", SERVICE)


def test_cli_waits_for_a_good_deploy(realtime: Realtime) -> None:
    """update-service then services-stable succeeds and the new revision is what runs."""
    arn = realtime.stack.register(realtime.stack.image(GOOD_TAGS[1]))
    waited = update_then_wait(realtime, arn)
    assert waited.returncode == 0, waited.stderr
    service = realtime.stack.service()
    assert service["taskDefinition"] == arn
    assert [d["rolloutState"] for d in service["deployments"]] == ["COMPLETED"]
    assert realtime.sb.calls("ecs", "DescribeServices")


def test_cli_reports_success_after_a_breaker_rollback(realtime: Realtime) -> None:
    """The documented quirk: services-stable succeeds after the circuit breaker rolled a bad
    image back, although the revision the CLI asked for is not running."""
    old = realtime.stack.service()
    bad = realtime.stack.register(realtime.stack.image("sha-missing"))
    waited = update_then_wait(realtime, bad)
    assert waited.returncode == 0, waited.stderr
    service = realtime.stack.service()
    assert service["taskDefinition"] == old["taskDefinition"] != bad
    assert any(
        e["message"] == f"(service {SERVICE}) rolling back to deployment "
        f"{old['deployments'][0]['id']}."
        for e in service["events"]
    )
    assert realtime.sb.timeline("breaker.")
