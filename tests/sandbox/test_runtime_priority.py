"""The process runtime's CPU priority while a task boots (``boot_nice``): read back from /proc.

A booting task runs ``boot_nice`` steps nicer (every process of its group, its session's
autogroup at ``boot_nice``) so it does not starve the tasks that serve, the ALB listener and the
clients; once its app is up (a container port accepts connections, or after ``BOOT_WINDOW``) the
autogroup is back at 0 and, where the sandbox may lower nice values (CAP_SYS_NICE), the processes
are back at the sandbox's own nice value.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import rollout.cli.sandbox  # noqa: F401 - registers the sandbox commands
from rollout.cli import app
from rollout.errors import ConfigError
from rollout.sandbox import Sandbox
from rollout.sandbox.runtime import ContainerSpec, TaskSpec
from rollout.sandbox.runtime import process as process_runtime
from rollout.sandbox.runtime.images import ImageStore
from rollout.sandbox.runtime.process import ProcessRuntime

#: boots (sleeps) for BOOT seconds with a forked child (a "worker"), then listens on port 8000
#: of the address after --host (the runtime rewrites 0.0.0.0 to the task's address)
APP = """
import os, socket, sys, time
if os.fork() == 0:
    time.sleep(60)
    os._exit(0)
time.sleep(float(os.environ.get("BOOT", "1.5")))
server = socket.socket()
server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
server.bind((sys.argv[sys.argv.index("--host") + 1], 8000))
server.listen()
print("up", flush=True)
time.sleep(60)
"""
AUTOGROUPS = Path("/proc/self/autogroup").exists()
BASE = os.getpriority(os.PRIO_PROCESS, 0)


class _Events:
    def exited(self, exit_code: int) -> None:
        pass

    def container_health(self, status: str) -> None:
        pass

    def failed_to_start(self, reason: str) -> None:
        pass


def _may_lower_nice() -> bool:
    """Whether this user may make a process less nice again (CAP_SYS_NICE or RLIMIT_NICE)."""
    code = "import os; n = os.getpriority(os.PRIO_PROCESS, 0); os.nice(1); "
    code += "os.setpriority(os.PRIO_PROCESS, 0, n)"
    return subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


def _members(pgid: int) -> dict[int, int]:
    """pid -> nice value of every live process in group ``pgid``."""
    out = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            fields = Path(f"/proc/{name}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] != "Z" and int(fields[2]) == pgid:
            out[int(name)] = int(fields[16])
    return out


def _autogroup_nice(pid: int) -> int:
    return int(Path(f"/proc/{pid}/autogroup").read_text().split()[-1])


def _until(check: Callable[[], bool], seconds: float = 15) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


@pytest.fixture
def make(tmp_path: Path) -> Iterator[Callable[..., tuple[ProcessRuntime, int]]]:
    runtimes: list[ProcessRuntime] = []
    source = tmp_path / "backend"
    source.mkdir()
    (source / "app.py").write_text(APP)
    cmd = json.dumps(["python", "app.py", "--host", "0.0.0.0"])
    (source / "Dockerfile").write_text(
        f"FROM python\nWORKDIR /app\nCOPY backend/app.py ./\nCMD {cmd}\n"
    )
    store = ImageStore(tmp_path / "cache")
    image = store.build(tag="t", source=source)

    def start(boot_nice: int, *, ports: tuple[int, ...] = (8000,)) -> tuple[ProcessRuntime, int]:
        runtime = ProcessRuntime(
            images=store,
            endpoint=lambda: "http://127.0.0.1:1",
            clock_now=time.time,
            boot_nice=boot_nice,
        )
        runtimes.append(runtime)
        lock: Any = threading.RLock()
        runtime.attach(lock=lock, now=time.time, scheduler=None, catch_up=lambda: None)  # type: ignore[arg-type]
        container = ContainerSpec(
            name="app",
            image="x/app:t",
            image_digest=image.digest,
            essential=True,
            command=None,
            entry_point=None,
            environment={"BOOT": "1.5"},
            secrets=(),
            ports=ports,
            health_check=None,
            stop_timeout=1.0,
            log_configuration=None,
        )
        ip = runtime.address(1, list(ports))
        spec = TaskSpec(
            "t1", "arn:t1", "c", "f", 1, "123456789012", "ap-northeast-2", ip, (container,)
        )
        runtime.start(spec, _Events())
        pgid = runtime._tasks["t1"].pgid
        # the init, the app and the app's child
        _until(lambda: len(_members(pgid)) >= 3)
        return runtime, pgid

    yield start
    for runtime in runtimes:
        runtime.close()


@pytest.mark.slow
def test_a_booting_task_runs_nicer_and_gets_its_priority_back_once_its_port_answers(
    make: Callable[..., tuple[ProcessRuntime, int]],
) -> None:
    runtime, pgid = make(7)
    booting = _members(pgid)
    assert len(booting) == 3
    assert set(booting.values()) == {min(19, BASE + 7)}, booting
    if AUTOGROUPS:
        assert _autogroup_nice(pgid) == 7
    assert os.getpriority(os.PRIO_PROCESS, 0) == BASE  # the sandbox itself is untouched
    assert not runtime._tasks["t1"].up.is_set()

    _until(lambda: runtime._tasks["t1"].up.is_set())  # the app listens after 1.5 s
    serving = _members(pgid)
    assert set(serving) == set(booting)
    want = BASE if _may_lower_nice() else min(19, BASE + 7)
    assert set(serving.values()) == {want}, serving
    if AUTOGROUPS:
        assert _autogroup_nice(pgid) == 0


@pytest.mark.slow
def test_a_task_with_no_sign_of_its_app_gets_its_priority_back_after_the_boot_window(
    make: Callable[..., tuple[ProcessRuntime, int]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """No port, no healthCheck: the task is not left nicer forever."""
    monkeypatch.setattr(process_runtime, "BOOT_WINDOW", 1.0)
    runtime, pgid = make(5, ports=())
    assert set(_members(pgid).values()) == {min(19, BASE + 5)}
    _until(lambda: runtime._tasks["t1"].up.is_set(), seconds=5)
    if AUTOGROUPS:
        assert _autogroup_nice(pgid) == 0


@pytest.mark.slow
def test_boot_nice_0_leaves_tasks_at_the_sandbox_priority(
    make: Callable[..., tuple[ProcessRuntime, int]],
) -> None:
    runtime, pgid = make(0)
    assert set(_members(pgid).values()) == {BASE}
    if AUTOGROUPS:
        assert _autogroup_nice(pgid) == 0
    assert runtime._tasks["t1"].up.is_set()


def test_boot_nice_is_bounded(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"boot_nice must be in 0\.\.19"):
        ProcessRuntime(
            images=ImageStore(tmp_path),
            endpoint=lambda: "",
            clock_now=time.time,
            boot_nice=20,
        )


@pytest.mark.parametrize("value", ["-1", "20"])
def test_up_refuses_a_boot_nice_out_of_range_with_exit_2(value: str) -> None:
    result = CliRunner().invoke(app, ["sandbox", "up", "--port", "0", "--boot-nice", value])
    assert result.exit_code == 2, result.output
    assert "--boot-nice" in result.output


def test_a_sandbox_refuses_a_boot_nice_out_of_range() -> None:
    with pytest.raises(ConfigError, match="boot_nice must be 0-19, got 20"):
        Sandbox(runtime="process", boot_nice=20)
