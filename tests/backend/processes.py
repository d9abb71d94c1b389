"""Running real server processes in tests: free ports, collected output, health polling."""

from __future__ import annotations

import contextlib
import json
import os
import queue
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from .conftest import FAKE_CREDENTIALS

BOOT_DEADLINE = 30.0  # generous: the CI machine may be busy; the benchmark measures boot time


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def process_env(extra: dict[str, str]) -> dict[str, str]:
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PYTHONUNBUFFERED": "1",
        **FAKE_CREDENTIALS,
        **extra,
    }


@dataclass
class Gunicorn:
    """A running gunicorn with its merged output collected line by line."""

    process: subprocess.Popen[str]
    base_url: str
    lines: queue.Queue[str] = field(default_factory=queue.Queue)
    seen: list[str] = field(default_factory=list)

    def _pump(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line)

    def wait_for_line(self, match: Callable[[dict[str, Any]], bool], timeout: float) -> None:
        """Block until a JSON log line satisfies ``match`` (or fail after ``timeout``)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=0.1)
            except queue.Empty:
                assert self.process.poll() is None, "gunicorn exited:\n" + "".join(self.seen)
                continue
            self.seen.append(line)
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue
            if match(record):
                return
        pytest.fail("log line not seen in time:\n" + "".join(self.seen))

    def wait_healthy(self) -> float:
        """Poll /health until 200 (paced by the process's own output); return seconds taken."""
        started = time.monotonic()
        while time.monotonic() - started < BOOT_DEADLINE:
            assert self.process.poll() is None, "gunicorn exited:\n" + "".join(self.seen)
            try:
                if httpx.get(f"{self.base_url}/health", timeout=1).status_code == 200:
                    return time.monotonic() - started
            except httpx.TransportError:
                pass
            with contextlib.suppress(queue.Empty):
                self.seen.append(self.lines.get(timeout=0.05))
        pytest.fail("gunicorn did not become healthy:\n" + "".join(self.seen))

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=40)


def start_gunicorn(command: list[str], port: int, cwd: Path, env: dict[str, str]) -> Gunicorn:
    """Start ``command`` (bound to 127.0.0.1:``port``) and wait until /health answers 200."""
    process = subprocess.Popen(
        command,
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    server = Gunicorn(process=process, base_url=f"http://127.0.0.1:{port}")
    threading.Thread(target=server._pump, daemon=True).start()
    server.wait_healthy()
    return server
