"""`rollout sandbox up` and `rollout sandbox provision`: parsing, errors and a real run."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

import rollout.cli.sandbox  # noqa: F401 - registers the sandbox commands
from rollout.cli import app
from rollout.errors import ConfigError
from rollout.sandbox import load_fault_file, run_up
from sandbox_process import ROLLOUT, start_sandbox_up


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}


@pytest.mark.parametrize(
    ("name", "text", "problem"),
    [
        ("plan.toml", '[[fault]]\neffect = "crash"\nimage = "*:bad"\nafter = 5\n', None),
        ("plan.json", '{"fault": [{"effect": "serve_5xx", "after": 60}]}', None),
        ("plan.toml", "[[fault]]\neffect = 'explode'\n", "explode"),
        ("plan.toml", "[[fault]]\nimage = '*'\n", "effect"),
        ("plan.toml", "fault = [", "parse"),
        ("plan.json", '{"fault": [{"effect": "crash", "colour": "red"}]}', "colour"),
    ],
)
def test_fault_file(tmp_path: Path, name: str, text: str, problem: str | None) -> None:
    """Fault files load from TOML or JSON; a bad one is a ConfigError naming the problem."""
    path = tmp_path / name
    path.write_text(text)
    if problem is None:
        assert len(load_fault_file(path).rules) == 1
    else:
        with pytest.raises(ConfigError, match=problem):
            load_fault_file(path)


def test_up_rejects_a_bad_fault_file_with_exit_2(tmp_path: Path) -> None:
    """`sandbox up --faults` with a broken file exits 2 and says what is wrong."""
    path = tmp_path / "plan.toml"
    path.write_text("[[fault]]\neffect = 'explode'\n")
    result = CliRunner().invoke(app, ["sandbox", "up", "--port", "0", "--faults", str(path)])
    assert result.exit_code == 2
    assert "explode" in result.output


def test_provision_without_an_endpoint_is_a_usage_error() -> None:
    """`sandbox provision` with neither --endpoint-url nor AWS_ENDPOINT_URL exits 2."""
    result = CliRunner().invoke(app, ["sandbox", "provision"], env={"AWS_ENDPOINT_URL": ""})
    assert result.exit_code == 2
    assert "AWS_ENDPOINT_URL" in result.output


def test_provision_refuses_an_endpoint_that_is_not_a_sandbox() -> None:
    """An endpoint that does not answer /_sandbox/health is refused before any AWS call."""
    result = CliRunner().invoke(
        app, ["sandbox", "provision", "--endpoint-url", "http://127.0.0.1:9"]
    )
    assert result.exit_code == 1
    assert "failed to reach a sandbox" in result.output


def test_run_up_serves_until_stopped(tmp_path: Path) -> None:
    """run_up prints the environment to export, serves with the fault file's plan, and shuts
    down when told to."""
    faults = tmp_path / "faults.toml"
    faults.write_text('[[fault]]\neffect = "crash"\nimage = "*:bad-*"\nafter = 5\n')
    lines: list[str] = []
    ready = threading.Event()
    stop = threading.Event()

    def echo(line: str) -> None:
        lines.append(line)
        if line.startswith("# Ctrl-C"):
            ready.set()

    thread = threading.Thread(
        target=run_up,
        kwargs={"port": 0, "speed": 50, "echo": echo, "stop": stop, "faults_file": faults},
    )
    thread.start()
    try:
        assert ready.wait(timeout=60)
        exports = dict(
            line[len("export ") :].split("=", 1) for line in lines if line.startswith("export ")
        )
        assert set(exports) == {
            "AWS_ENDPOINT_URL",
            "AWS_REGION",
            "AWS_DEFAULT_REGION",
            "AWS_ACCESS_KEY_ID",
            "AWS_SECRET_ACCESS_KEY",
        }
        health = httpx.get(exports["AWS_ENDPOINT_URL"] + "/_sandbox/health", timeout=10).json()
        assert health["clock"] == {"now": health["clock"]["now"], "mode": "realtime", "speed": 50}
        plan = httpx.get(exports["AWS_ENDPOINT_URL"] + "/_sandbox/faults", timeout=10).json()
        assert [(f["effect"], f["image"]) for f in plan["fault"]] == [("crash", "*:bad-*")]
    finally:
        stop.set()
        thread.join(timeout=30)
    assert not thread.is_alive()
    assert lines[-1] == "# sandbox stopped"


@pytest.mark.slow
def test_up_then_provision_then_ctrl_c() -> None:
    """`sandbox up` in one process, `sandbox provision` (via AWS_ENDPOINT_URL) in another: voj
    ends up steady on revision 1; SIGINT then stops `up` cleanly with exit 0."""
    up, exports = start_sandbox_up(_env())
    try:
        env = {**_env(), **exports}
        provision = subprocess.run(
            [ROLLOUT, "sandbox", "provision"],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert provision.returncode == 0, provision.stdout + provision.stderr
        assert "voj-backend-api" in provision.stdout
        assert "created:" in provision.stdout
        calls = httpx.get(exports["AWS_ENDPOINT_URL"] + "/_sandbox/calls?service=ecs", timeout=10)
        assert "CreateService" in {c["operation"] for c in calls.json()["calls"]}
    finally:
        up.send_signal(signal.SIGINT)
        out, err = up.communicate(timeout=60)
    assert up.returncode == 0, err
    assert "# sandbox stopped" in out
