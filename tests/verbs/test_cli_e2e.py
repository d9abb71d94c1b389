"""End to end: the everyday verbs through the `rollout` CLI in subprocesses against
`rollout sandbox up` (real time at 100x): exit codes, JSON output, files."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from sandbox_process import ROLLOUT, start_sandbox_up

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow


def _base_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "ROLLOUT_", "GITHUB_"))}
    env["ROLLOUT_BAKE__SECONDS"] = "0"
    env["ROLLOUT_TRAFFIC"] = "off"
    env["ROLLOUT_SMOKE_URL"] = ""
    env["ROLLOUT_WATCH__POLL_INTERVAL"] = "1"
    return env


@pytest.fixture(scope="module")
def endpoint() -> Iterator[dict[str, str]]:
    up, exports = start_sandbox_up(_base_env())
    try:
        env = {**_base_env(), **exports}
        done = _rollout(env, "sandbox", "provision")
        assert done.returncode == 0, done.stdout + done.stderr
        yield env
    finally:
        up.send_signal(signal.SIGINT)
        up.communicate(timeout=60)


def _rollout(
    env: dict[str, str], *args: str, timeout: float = 300, cwd: Path = REPO
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [ROLLOUT, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        cwd=cwd,
    )


def test_everyday_verbs_through_the_cli(endpoint: dict[str, str], tmp_path: Path) -> None:
    """scale (0), restart --dry-run (DRY RUN OK), doctor -o json, logs, init (then exit 2 on a
    second init), and run exiting with the task's code (3)."""
    scaled = _rollout(endpoint, "scale", "3", "-o", "json")
    assert scaled.returncode == 0, scaled.stdout + scaled.stderr
    assert json.loads(scaled.stdout)["verdict"] == "SUCCEEDED"

    dry = _rollout(endpoint, "restart", "--dry-run", "-o", "plain")
    assert dry.returncode == 0, dry.stdout + dry.stderr
    assert "DRY RUN OK" in dry.stdout
    assert "forceNewDeployment" in dry.stdout

    doc = _rollout(endpoint, "doctor", "-o", "json")
    assert doc.returncode == 0, doc.stdout + doc.stderr
    report = json.loads(doc.stdout)["doctor"]
    assert report["deploy"]["seconds"] > 0
    assert report["read"]["target_groups"]

    logs = _rollout(endpoint, "logs", "--since", "5m", "-o", "plain")
    assert logs.returncode == 0, logs.stdout + logs.stderr

    init = _rollout(
        endpoint,
        "init",
        "--cluster",
        "voj-prod",
        "--service",
        "voj-backend-api",
        "--config",
        str(tmp_path / "rollout.toml"),
        "-o",
        "plain",
    )
    assert init.returncode == 0, init.stdout + init.stderr
    assert (tmp_path / "rollout.toml").exists()
    again = _rollout(
        endpoint,
        "init",
        "--cluster",
        "voj-prod",
        "--service",
        "voj-backend-api",
        "--config",
        str(tmp_path / "rollout.toml"),
    )
    assert again.returncode == 2
    assert "already exist" in again.stderr

    # one-off tasks of the revision in service exit 3 five seconds after they start
    rule = {"effect": "crash", "family": "voj-backend-prod", "after": 5, "exit_code": 3}
    resp = httpx.post(endpoint["AWS_ENDPOINT_URL"] + "/_sandbox/faults", json={"fault": [rule]})
    assert resp.status_code < 300, resp.text
    ran = _rollout(endpoint, "run", "-o", "json", "--", "python", "-m", "app.migrate")
    assert ran.returncode == 3, ran.stdout + ran.stderr
    result = json.loads(ran.stdout)
    assert result["verdict"] == "TASK_FAILED"
    assert result["exit_code"] == 3
