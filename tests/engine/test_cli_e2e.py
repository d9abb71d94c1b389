"""End to end: the `rollout` CLI in subprocesses against `rollout sandbox up` (real time, fast).

One sandbox process serves every test in this module; `rollout sandbox provision` builds voj on
it. Faults are added through the sandbox's admin API, matched by image digest (rollout pins the
images it deploys), so each test's image decides its fate.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import boto3
import httpx
import pytest

from sandbox_process import ROLLOUT, start_sandbox_up

REPO = Path(__file__).resolve().parents[2]
REPOSITORY = "123456789012.dkr.ecr.ap-northeast-2.amazonaws.com/voj-backend"

pytestmark = pytest.mark.slow


def _base_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "ROLLOUT_", "GITHUB_"))}
    env["ROLLOUT_BAKE__SECONDS"] = "0"
    env["ROLLOUT_TRAFFIC"] = "off"
    env["ROLLOUT_SMOKE_URL"] = ""
    return env


@pytest.fixture(scope="module")
def endpoint() -> Iterator[dict[str, str]]:
    up, exports = start_sandbox_up(_base_env())
    try:
        env = {**_base_env(), **exports}
        done = subprocess.run(
            [ROLLOUT, "sandbox", "provision"],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
            cwd=REPO,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        yield env
    finally:
        up.send_signal(signal.SIGINT)
        up.communicate(timeout=60)


def _crash(env: dict[str, str], tag: str, exit_code: int) -> None:
    """Make every task running image ``tag`` crash 5 s after it starts."""
    ecr = boto3.client(
        "ecr",
        endpoint_url=env["AWS_ENDPOINT_URL"],
        region_name=env["AWS_REGION"],
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
    )
    digest = ecr.describe_images(repositoryName="voj-backend", imageIds=[{"imageTag": tag}])[
        "imageDetails"
    ][0]["imageDigest"]
    rule = {"effect": "crash", "image": digest, "after": 5, "exit_code": exit_code}
    resp = httpx.post(env["AWS_ENDPOINT_URL"] + "/_sandbox/faults", json={"fault": [rule]})
    assert resp.status_code < 300, resp.text


def _rollout(
    env: dict[str, str], *args: str, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [ROLLOUT, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        cwd=REPO,
    )


@pytest.mark.timeout(240)  # the module's sandbox is started and provisioned in this test's time
def test_deploy_cli_healthy_then_crash_then_undo(endpoint: dict[str, str]) -> None:
    """The CLI deploys a good image (0), rolls a crashing one back (20), and undoes (0)."""
    good = _rollout(endpoint, "deploy", "--image", f"{REPOSITORY}:sha-0000002", "--output", "json")
    assert good.returncode == 0, good.stdout + good.stderr
    doc = json.loads(good.stdout)
    assert doc["verdict"] == "SUCCEEDED"
    assert doc["deployment_id"]
    assert doc["api_calls"] > 0
    assert {p["phase"] for p in doc["phases"]} >= {"new tasks healthy", "old tasks drained"}

    _crash(endpoint, "sha-0000003", 7)
    bad = _rollout(endpoint, "deploy", "--image", f"{REPOSITORY}:sha-0000003", "--output", "json")
    assert bad.returncode == 20, bad.stdout + bad.stderr
    doc = json.loads(bad.stdout)
    assert doc["verdict"] == "FAILED_ROLLED_BACK"
    # at 100x real time a poll costs simulated seconds, so ECS's breaker may win the race
    assert "exit code 7" in doc["reason"] or "circuit breaker" in doc["reason"]
    assert any(r.get("exit_codes") == [7] for r in doc["stop_reasons"]), doc["stop_reasons"]
    assert doc["rollback_target_arn"].endswith(":2")

    undo = _rollout(endpoint, "undo", "--output", "plain")
    assert undo.returncode == 0, undo.stdout + undo.stderr
    assert "restored" in undo.stdout


def test_deploy_cli_dry_run_and_preflight(endpoint: dict[str, str]) -> None:
    """--dry-run prints the writes and DRY RUN OK (0); a missing image exits 10."""
    dry = _rollout(
        endpoint, "deploy", "--image", f"{REPOSITORY}:sha-0000002", "--dry-run", "--output", "plain"
    )
    assert dry.returncode == 0, dry.stdout + dry.stderr
    assert "DRY RUN OK" in dry.stdout
    assert "RegisterTaskDefinition" in dry.stdout
    missing = _rollout(endpoint, "deploy", "--image", f"{REPOSITORY}:sha-nope", "--output", "json")
    assert missing.returncode == 10, missing.stdout + missing.stderr
    assert json.loads(missing.stdout)["verdict"] == "PREFLIGHT_FAILED"


def test_deploy_cli_sigint_while_watching_exits_40_quickly(endpoint: dict[str, str]) -> None:
    """SIGINT during the watch stops the CLI within 5 s with exit 40 and the undo command."""
    env = {**endpoint, "ROLLOUT_BAKE__SECONDS": "6000"}  # a long bake: 60 s of wall time
    proc = subprocess.Popen(
        [ROLLOUT, "deploy", "--image", f"{REPOSITORY}:sha-0000001", "--output", "plain"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
    )
    assert proc.stdout is not None
    lines: list[str] = []
    for line in proc.stdout:
        lines.append(line)
        if "baking" in line:
            break
    sent = time.monotonic()
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    elapsed = time.monotonic() - sent
    text = "".join(lines) + out
    assert proc.returncode == 40, text + err
    assert elapsed < 5
    assert "rollout undo --env prod" in text
    assert "rollout watch --env prod" in text
