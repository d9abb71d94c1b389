"""The process runtime end to end: voj tasks as real processes of images built from source.

These tests call each task directly on its own loopback address, which is what the ALB
listener targets; requests through the listener are in ``test_workload.py``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from rollout.sandbox import Sandbox

from .test_images import crash_at_import_patch

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
HOST = {"Host": "api.voj.example.com"}  # ALLOWED_HOSTS of the sandbox stack


@pytest.fixture(scope="module")
def sb() -> Iterator[Sandbox]:
    with Sandbox(runtime="process", preset="quick") as sandbox:
        sandbox.provision_voj()
        yield sandbox


def _env(sb: Sandbox) -> dict[str, str]:
    keep = {
        k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "ROLLOUT_", "GITHUB_"))
    }
    return {
        **keep,
        **sb.env(),
        "ROLLOUT_BAKE__SECONDS": "0",
        "ROLLOUT_TRAFFIC": "off",
        "ROLLOUT_SMOKE_URL": "",
    }


def _tasks(sb: Sandbox, status: str = "RUNNING") -> list[dict[str, Any]]:
    assert sb.provisioned is not None
    ecs = sb.client_factory().client("ecs")
    cluster = sb.provisioned.cluster
    arns = ecs.list_tasks(cluster=cluster, desiredStatus=status)["taskArns"]
    return ecs.describe_tasks(cluster=cluster, tasks=arns)["tasks"] if arns else []


def _ip(task: dict[str, Any]) -> str:
    return str(task["containers"][0]["networkInterfaces"][0]["privateIpv4Address"])


def _log_messages(sb: Sandbox, task_id: str) -> list[str]:
    """The task's awslogs stream, read with the AWS CLI (v1 in the dev group: no `logs tail`)."""
    out = subprocess.run(
        [
            str(BIN / "aws"),
            "logs",
            "filter-log-events",
            "--log-group-name",
            "/ecs/voj-backend-prod",
            "--log-stream-name-prefix",
            f"api/api/{task_id}",
            "--output",
            "json",
        ],
        env={**_env(sb), "AWS_DEFAULT_REGION": sb.region},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return [str(e["message"]) for e in json.loads(out.stdout)["events"]]


def test_tasks_serve_their_image_tag_and_log_to_cloudwatch(sb: Sandbox) -> None:
    """Each task of revision 1 is a real gunicorn on its own loopback address (its ENI IP,
    registered and healthy in the target group) answering /version with its image tag; its
    stdout is in its awslogs stream, as the AWS CLI reads it."""
    assert sb.provisioned is not None
    tasks = _tasks(sb)
    assert len(tasks) == 2
    ips = {_ip(t) for t in tasks}
    assert all(ip.startswith("127.") for ip in ips)
    assert len(ips) == 2
    for ip in ips:
        answer = httpx.get(f"http://{ip}:8000/version", headers=HOST, timeout=10)
        assert answer.json()["version"] == "sha-0000001"
    elb = sb.client_factory().client("elbv2")
    health = elb.describe_target_health(TargetGroupArn=sb.provisioned.target_group_arns[0])
    assert {
        (d["Target"]["Id"], d["TargetHealth"]["State"]) for d in health["TargetHealthDescriptions"]
    } == {(ip, "healthy") for ip in ips}
    assert {t["healthStatus"] for t in tasks} == {"HEALTHY"}  # the container healthCheck ran
    messages = _log_messages(sb, tasks[0]["taskArn"].rsplit("/", 1)[-1])
    assert any("Starting gunicorn" in m for m in messages), messages


def _aws_cli_v2() -> str | None:
    """An AWS CLI v2 on this machine (PyPI has only v1, which has no `logs tail`; Debian
    packages v2, and .ci/run installs it from apt), or None."""
    import shutil

    for candidate in (os.environ.get("ROLLOUT_AWSCLI2"), "/usr/bin/aws", shutil.which("aws")):
        if not candidate or not Path(candidate).is_file():
            continue
        version = subprocess.run(
            [candidate, "--version"], capture_output=True, text=True, timeout=30, check=False
        )
        if version.stdout.startswith("aws-cli/2."):
            return candidate
    return None


def test_aws_logs_tail_shows_a_task_s_lines(sb: Sandbox) -> None:
    """`aws logs tail` (AWS CLI v2) reads a task's awslogs stream from the sandbox, by the
    task definition's group and `prefix/container/task-id` stream. .ci/run installs the CLI
    v2 and sets ROLLOUT_REQUIRE_AWSCLI2=1, so CI fails instead of skipping when it is absent."""
    cli = _aws_cli_v2()
    if cli is None:
        if os.environ.get("ROLLOUT_REQUIRE_AWSCLI2") == "1":
            pytest.fail("ROLLOUT_REQUIRE_AWSCLI2=1 but no AWS CLI v2 was found")
        pytest.skip("no AWS CLI v2 here (Debian/Ubuntu: apt install awscli)")
    task_id = _tasks(sb)[0]["taskArn"].rsplit("/", 1)[-1]
    env = {**_env(sb), "AWS_DEFAULT_REGION": sb.region}
    out = subprocess.run(
        # --endpoint-url: CLI versions before 2.13 ignore AWS_ENDPOINT_URL
        [
            *(cli, "--endpoint-url", env["AWS_ENDPOINT_URL"], "logs", "tail"),
            *("/ecs/voj-backend-prod", "--since", "1h"),
            *("--log-stream-name-prefix", f"api/api/{task_id}"),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    lines = out.stdout.splitlines()
    assert any("Starting gunicorn" in line for line in lines), out.stdout[-2000:]
    assert all(f"api/api/{task_id}" in line for line in lines if line.strip()), [
        line for line in lines if f"api/api/{task_id}" not in line
    ]


def test_crash_at_import_stops_like_aws_and_deploy_rolls_back(sb: Sandbox) -> None:
    """An image patched to raise at import: its tasks stop with EssentialContainerExited,
    "Essential container in task exited" and exit code 1 from the real process, the traceback's
    last lines are in CloudWatch Logs, and `rollout deploy` rolls back to revision 1."""
    assert sb.provisioned is not None
    sb.build_image("crash-1", patch=crash_at_import_patch())
    image = f"{sb.provisioned.repository_uri}:crash-1"
    deploy = subprocess.run(
        [str(BIN / "rollout"), "deploy", "--image", image, "--output", "json"],
        env=_env(sb),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=REPO,
    )
    assert deploy.returncode == 20, deploy.stdout + deploy.stderr
    doc = json.loads(deploy.stdout)
    assert doc["verdict"] == "FAILED_ROLLED_BACK"
    assert "exit code 1" in doc["reason"] or "circuit breaker" in doc["reason"]
    quoted = doc["failed_task_logs"]  # the verdict quotes the failed task's last lines
    assert quoted["log_group"] == "/ecs/voj-backend-prod"
    assert any("boom at import" in line for line in quoted["lines"]), quoted
    crashed = [t for t in _tasks(sb, "STOPPED") if t.get("stopCode") == "EssentialContainerExited"]
    assert crashed, "no task stopped with EssentialContainerExited"
    task = crashed[0]
    assert task["stoppedReason"] == "Essential container in task exited"
    assert task["containers"][0]["exitCode"] == 1
    messages = _log_messages(sb, task["taskArn"].rsplit("/", 1)[-1])
    assert any("boom at import" in m for m in messages), messages
    running = _tasks(sb)
    assert {t["taskDefinitionArn"].rsplit(":", 1)[-1] for t in running} == {"1"}
    for t in running:
        assert httpx.get(f"http://{_ip(t)}:8000/version", headers=HOST).json()["version"] == (
            "sha-0000001"
        )


def test_stop_task_is_sigterm_then_a_clean_exit(sb: Sandbox) -> None:
    """StopTask drains the target, then SIGTERMs gunicorn, which exits 0 (graceful)."""
    assert sb.provisioned is not None
    ecs = sb.client_factory().client("ecs")
    victim = _tasks(sb)[0]
    ecs.stop_task(cluster=sb.provisioned.cluster, task=victim["taskArn"], reason="test")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        doc = ecs.describe_tasks(cluster=sb.provisioned.cluster, tasks=[victim["taskArn"]])
        task = doc["tasks"][0]
        if task["lastStatus"] in ("DEPROVISIONING", "STOPPED"):
            break
        time.sleep(0.5)
    assert task["stopCode"] == "UserInitiated"
    assert task["containers"][0]["exitCode"] == 0
    with pytest.raises(httpx.TransportError):
        httpx.get(f"http://{_ip(victim)}:8000/health", timeout=2)
    messages = _log_messages(sb, victim["taskArn"].rsplit("/", 1)[-1])
    assert any("Handling signal: term" in m or "Shutting down" in m for m in messages), messages


# -- no orphans ----------------------------------------------------------------------------------


def _children_groups(pid: int) -> set[int]:
    """Process groups of the task init processes started by ``pid``."""
    groups = set()
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            stat = Path(f"/proc/{name}/stat").read_text()
            cmdline = Path(f"/proc/{name}/cmdline").read_bytes()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == pid and b"_init.py" in cmdline:
            groups.add(int(name))
    return groups


def _members(groups: set[int]) -> list[int]:
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            stat = Path(f"/proc/{name}/stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if fields[0] != "Z" and int(fields[2]) in groups:
            found.append(int(name))
    return found


@pytest.mark.timeout(150)
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["sigterm", "sigkill"])
def test_no_task_process_outlives_sandbox_up(sig: signal.Signals) -> None:
    """`rollout sandbox up --runtime process` killed with SIGTERM or SIGKILL leaves no task
    process behind (gunicorn masters and workers included)."""
    from sandbox_process import ROLLOUT

    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "ROLLOUT_"))}
    up = subprocess.Popen(
        [ROLLOUT, "sandbox", "up", "--port", "0", "--runtime", "process", "--preset", "quick"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    provision: subprocess.Popen[str] | None = None
    try:
        assert up.stdout is not None
        exports: dict[str, str] = {}
        for line in up.stdout:
            if line.startswith("export "):
                key, value = line[len("export ") :].strip().split("=", 1)
                exports[key] = value
            if line.startswith("# Ctrl-C"):
                break
        provision = subprocess.Popen(
            [ROLLOUT, "sandbox", "provision"],
            env={**env, **exports},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            cwd=REPO,
        )
        deadline = time.monotonic() + 90
        groups: set[int] = set()
        # two task groups, each with its init and the gunicorn it started (the init spawns
        # the command a moment after the group appears)
        while time.monotonic() < deadline and (
            len(groups) < 2 or len(_members(groups)) <= len(groups)
        ):
            time.sleep(0.5)
            groups = _children_groups(up.pid)
        assert len(groups) >= 2, "the sandbox started no task processes"
        assert len(_members(groups)) > len(groups)  # inits and the gunicorns under them
        up.send_signal(sig)
        up.wait(timeout=60)
        deadline = time.monotonic() + 10
        while _members(groups) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert _members(groups) == []
    finally:
        if provision is not None:
            provision.kill()
            provision.wait()
        if up.poll() is None:
            up.kill()
            up.wait()


# -- the runtime alone: stop timeout and exit codes -------------------------------------------


class _Events:
    def __init__(self) -> None:
        self.exits: list[int] = []

    def exited(self, exit_code: int) -> None:
        self.exits.append(exit_code)

    def container_health(self, status: str) -> None:
        pass

    def failed_to_start(self, reason: str) -> None:
        pass


STUBBORN = """
import signal, sys, time
signal.signal(signal.SIGTERM, lambda *_: print("ignoring SIGTERM", flush=True))
print("up", flush=True)
if sys.argv[1:] == ["exit"]:
    sys.exit(3)
time.sleep(60)
"""


def _runtime_and_image(tmp_path: Path, *command: str) -> tuple[Any, Any]:
    import threading

    from rollout.sandbox.runtime.images import ImageStore
    from rollout.sandbox.runtime.process import ProcessRuntime

    source = tmp_path / "backend"
    source.mkdir()
    (source / "app.py").write_text(STUBBORN)
    cmd = json.dumps(["python", "app.py", *command])
    (source / "Dockerfile").write_text(
        f"FROM python\nWORKDIR /app\nCOPY backend/app.py ./\nCMD {cmd}\n"
    )
    store = ImageStore(tmp_path / "cache")
    image = store.build(tag="t", source=source)
    runtime = ProcessRuntime(
        images=store, endpoint=lambda: "http://127.0.0.1:1", clock_now=time.time
    )
    runtime.attach(lock=threading.RLock(), now=time.time, scheduler=None, catch_up=lambda: None)  # type: ignore[arg-type]
    return runtime, image


def _spec(image: Any, ip: str, stop_timeout: float) -> Any:
    from rollout.sandbox.runtime import ContainerSpec, TaskSpec

    container = ContainerSpec(
        name="app",
        image="x/app:t",
        image_digest=image.digest,
        essential=True,
        command=None,
        entry_point=None,
        environment={},
        secrets=(),
        ports=(),
        health_check=None,
        stop_timeout=stop_timeout,
        log_configuration=None,
    )
    return TaskSpec("t1", "arn:t1", "c", "f", 1, "123456789012", "ap-northeast-2", ip, (container,))


def _wait_exit(events: _Events, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not events.exits and time.monotonic() < deadline:
        time.sleep(0.05)


def test_a_process_that_ignores_sigterm_is_killed_after_the_stop_timeout(tmp_path: Path) -> None:
    """stop(): SIGTERM, then SIGKILL of the group after stopTimeout: exit code 137."""
    runtime, image = _runtime_and_image(tmp_path)
    events = _Events()
    try:
        runtime.start(_spec(image, runtime.address(1, []), 1.0), events)
        time.sleep(1.0)  # let it install its handler
        began = time.monotonic()
        runtime.stop("t1", timeout=1.0)
        _wait_exit(events, 10)
        assert events.exits == [137]
        assert 0.9 <= time.monotonic() - began < 5
    finally:
        runtime.close()


def test_a_process_exit_code_is_reported(tmp_path: Path) -> None:
    """A command exiting with status 3 reports exit code 3."""
    runtime, image = _runtime_and_image(tmp_path, "exit")
    events = _Events()
    try:
        runtime.start(_spec(image, runtime.address(1, []), 30.0), events)
        _wait_exit(events, 10)
        assert events.exits == [3]
    finally:
        runtime.close()
