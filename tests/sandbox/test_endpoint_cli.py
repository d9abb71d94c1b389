"""`rollout sandbox up` and `rollout sandbox provision`: parsing, errors and a real run."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import threading
from pathlib import Path
from typing import Any

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


@pytest.mark.parametrize("port", ["-1", "70000"])
def test_up_refuses_a_port_out_of_range_with_exit_2(port: str) -> None:
    """`--port -1` was a traceback and `--port 70000` bound some other port."""
    result = CliRunner().invoke(app, ["sandbox", "up", "--port", port])
    assert result.exit_code == 2, result.output
    assert "Invalid value for '--port'" in result.output


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"port": 70000}, "--port must be 0-65535, got 70000"),
        ({"port": -1}, "--port must be 0-65535, got -1"),
        ({"port": 0, "speed": float("nan")}, "--speed must be a number > 0"),
        ({"port": 0, "speed": float("inf")}, "--speed must be a number > 0"),
        ({"port": 0, "host": "999.1.1.1"}, "failed to start the sandbox on 999.1.1.1:0"),
        ({"port": 0, "region": "bad/region"}, "the AWS region 'bad/region' is not a region name"),
    ],
)
def test_run_up_refuses_bad_settings_before_serving(kwargs: dict[str, Any], message: str) -> None:
    lines: list[str] = []
    with pytest.raises(ConfigError, match=re.escape(message)):
        run_up(echo=lines.append, stop=threading.Event(), **kwargs)
    assert lines == []


def test_run_up_on_a_busy_port_says_which_and_what_to_do() -> None:
    """werkzeug printed "Address already in use" and called sys.exit(1) from inside; now the
    port is bound first and a busy one is a ConfigError naming it, with the way out."""
    with socket.create_server(("127.0.0.1", 0)) as busy:
        port = busy.getsockname()[1]
        with pytest.raises(ConfigError) as info:
            run_up(port=port, echo=lambda _: None, stop=threading.Event())
    assert f"failed to start the sandbox on 127.0.0.1:{port}" in str(info.value)
    assert "pass another --port (0 picks a free one)" in str(info.value)


def test_provision_refuses_a_malformed_endpoint_url_with_exit_2() -> None:
    result = CliRunner().invoke(app, ["sandbox", "provision", "--endpoint-url", "not-a-url"])
    assert result.exit_code == 2, result.output
    assert "'not-a-url'" in result.output
    assert "is not an http(s)://host[:port] URL" in result.output


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
def test_up_then_provision_then_ctrl_c(tmp_path: Path) -> None:
    """`sandbox up` in one process, `sandbox provision` (via AWS_ENDPOINT_URL) in another, with
    a missing AWS_PROFILE and an unparsable AWS config file in the environment (the sandbox
    never reads them). A provision stopped by Ctrl-C says what it left and exits 40; the next
    run finishes the stack; a third finds it complete. SIGINT then stops `up` with exit 0."""
    broken = tmp_path / "aws-config"
    broken.write_text("[default\nregion = eu-west-1\n")
    user_env = {**_env(), "AWS_PROFILE": "nope", "AWS_CONFIG_FILE": str(broken)}
    up, exports = start_sandbox_up(user_env)
    try:
        assert exports, up.stderr.read() if up.stderr else ""
        env = {**user_env, **exports}
        first = subprocess.Popen(
            [ROLLOUT, "sandbox", "provision"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert first.stdout is not None
        seen = [first.stdout.readline(), first.stdout.readline()]  # the first step is done
        first.send_signal(signal.SIGINT)
        out, err = first.communicate(timeout=120)
        assert first.returncode == 40, "".join(seen) + out + err
        assert "Traceback" not in err
        assert "Run `rollout sandbox provision` again" in err
        assert "task definition voj-backend-prod:1: registered" in err  # what was done

        def provision() -> subprocess.CompletedProcess[str]:
            return subprocess.run(
                [ROLLOUT, "sandbox", "provision"],
                env=env,
                capture_output=True,
                text=True,
                timeout=300,
                check=False,
            )

        second = provision()
        assert second.returncode == 0, second.stdout + second.stderr
        assert "task definition voj-backend-prod:1: already registered" in second.stdout
        assert "voj-backend-api" in second.stdout
        assert "created:" in second.stdout
        third = provision()
        assert third.returncode == 0, third.stdout + third.stderr
        assert "voj was already provisioned on this sandbox: nothing to create." in third.stdout
        calls = httpx.get(exports["AWS_ENDPOINT_URL"] + "/_sandbox/calls", timeout=10).json()
        operations = [c["operation"] for c in calls["calls"]]
        assert operations.count("CreateService") == 1
        assert operations.count("CreateStack") == 1
        assert operations.count("RegisterTaskDefinition") == 1
    finally:
        up.send_signal(signal.SIGINT)
        out, err = up.communicate(timeout=60)
    assert up.returncode == 0, err
    assert "# sandbox stopped" in out
