"""docs/sandbox.md's "Rehearsing a release locally", command for command.

`rollout sandbox up --runtime process`, `sandbox provision`, `sandbox alb`, `sandbox build`
(plain and `--patch`), `sandbox traffic` beside `rollout deploy`: the good release fails no
request and the listener then answers with its tag, the release that serves 500s is rolled back
(exit 20) and its 5xx are counted. This is also the suite's one good-deploy-under-traffic run on
real processes (``test_workload.py`` keeps the listener and the breaker-only alarm rollback). Every
process started here is stopped (the sandbox takes its task processes with it).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from rollout.sandbox.runtime.patches import patch_path
from sandbox_process import ROLLOUT

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
HOST = "api.voj.example.com"


def _run(args: list[str], env: dict[str, str], timeout: float = 180) -> str:
    done = subprocess.run(
        [ROLLOUT, *args],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert done.returncode == 0, f"{args}: {done.stdout}{done.stderr}"
    return done.stdout


def _traffic(env: dict[str, str], seconds: int) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            ROLLOUT,
            "sandbox",
            "traffic",
            "--alb",
            "voj-prod",
            "--rate",
            "20",
            "--duration",
            str(seconds),
            "--path",
            "/books",
            "--path",
            "/health",
            "--host",
            HOST,
            "--output",
            "json",
        ],
        env=env,
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )


def _deploy(env: dict[str, str], image: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [ROLLOUT, "deploy", "--image", image, "--output", "json"],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )


def _version(alb: str) -> str:
    answer = httpx.get(f"{alb}/version", headers={"Host": HOST}, timeout=10)
    assert answer.status_code == 200, answer.text
    return str(answer.json()["version"])


def _summary(traffic: subprocess.Popen[str]) -> dict[str, object]:
    traffic.send_signal(signal.SIGINT)  # as Ctrl-C: ends early, still prints the summary
    out, _ = traffic.communicate(timeout=30)
    doc: dict[str, object] = json.loads(out)
    return doc


@pytest.mark.timeout(600)
def test_the_rehearsal_walkthrough(tmp_path: Path) -> None:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "ROLLOUT_"))}
    up = subprocess.Popen(
        [
            ROLLOUT,
            "sandbox",
            "up",
            "--runtime",
            "process",
            "--preset",
            "quick",
            "--metrics-period",
            "10",
            "--port",
            "0",
        ],
        env=base,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    running: list[subprocess.Popen[str]] = []
    try:
        assert up.stdout is not None
        exports: dict[str, str] = {}
        for line in up.stdout:
            if line.startswith("export "):
                key, value = line[len("export ") :].strip().split("=", 1)
                exports[key] = value
            if line.startswith("# Ctrl-C"):
                break
        env = {
            **base,
            **exports,
            "ROLLOUT_SMOKE_URL": "",
            "ROLLOUT_TRAFFIC": "off",
            "ROLLOUT_BAKE__SECONDS": "90",
        }
        _run(["sandbox", "provision"], env, timeout=300)
        alb = _run(["sandbox", "alb", "voj-prod"], env).strip()
        assert alb.startswith("http://127.")
        assert _version(alb) == "sha-0000001"  # the doc's curl: revision 1, through the ALB
        good = _run(["sandbox", "build", "--tag", "v2"], env).splitlines()[-1]
        bad = _run(
            ["sandbox", "build", "--tag", "v3", "--patch", patch_path("books-500")], env
        ).splitlines()[-1]
        assert "@sha256:" in good
        assert "@sha256:" in bad

        traffic = _traffic(env, 150)
        running.append(traffic)
        time.sleep(2)
        # the good release needs no bake to show 0 failed requests through the old tasks'
        # draining and stop (both happen before rollout's verdict); the doc bakes both, the
        # suite saves those 90 s
        deploy = _deploy({**env, "ROLLOUT_BAKE__SECONDS": "0"}, good)
        time.sleep(2)
        calm = _summary(traffic)
        assert deploy.returncode == 0, deploy.stdout + deploy.stderr
        assert json.loads(deploy.stdout)["verdict"] == "SUCCEEDED"
        assert calm["failed"] == 0, calm
        assert int(str(calm["requests"])) > 100, calm
        assert _version(alb) == "v2"  # the listener now reaches the new tasks only

        traffic = _traffic(env, 150)
        running.append(traffic)
        time.sleep(2)
        deploy = _deploy(env, bad)
        time.sleep(2)
        storm = _summary(traffic)
        assert deploy.returncode == 20, deploy.stdout + deploy.stderr
        assert json.loads(deploy.stdout)["verdict"] == "FAILED_ROLLED_BACK"
        failures = storm["failures"]
        assert isinstance(failures, dict), storm
        assert failures["target_5xx"] > 0, storm
        logs = subprocess.run(
            [
                str(Path(ROLLOUT).parent / "aws"),
                *("logs", "filter-log-events", "--log-group-name", "/ecs/voj-backend-prod"),
                *("--limit", "20", "--output", "json"),
            ],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        assert json.loads(logs.stdout)["events"], logs.stdout
    finally:
        for proc in running:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        up.send_signal(signal.SIGTERM)
        try:
            up.wait(timeout=60)
        except subprocess.TimeoutExpired:
            up.kill()
            up.wait()
