"""`make serve` (python -m app.devserver): seeded data on loopback, clean stop on Ctrl-C."""

from __future__ import annotations

import contextlib
import signal
import socket
import subprocess
import sys
import time

import httpx
import pytest

from .conftest import REPO

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def test_devserver_serves_seeded_books_and_stops_on_ctrl_c() -> None:
    """The devserver prints its URLs, serves /health and seeded /books, and exits 0 on SIGINT."""
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "app.devserver", "--port", str(port)],
        cwd=REPO,  # `uv run` runs it from the repository root
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert process.stdout is not None
        banner = [process.stdout.readline() for _ in range(5)]
        assert f"http://127.0.0.1:{port}/books\n" in [line.lstrip() for line in banner], banner
        deadline = time.monotonic() + 30
        while True:
            try:
                health = httpx.get(f"http://127.0.0.1:{port}/health", timeout=1)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "devserver did not answer"
                with contextlib.suppress(subprocess.TimeoutExpired):  # paces the polling
                    process.wait(timeout=0.05)
                assert process.returncode is None, process.stdout.read()
        assert health.status_code == 200
        books = httpx.get(f"http://127.0.0.1:{port}/books", params={"limit": 100}).json()
        assert len(books["items"]) >= 10
        assert httpx.get(f"http://127.0.0.1:{port}/ready").json() == {"status": "ready"}
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=30) == 0
        assert "stopped." in process.stdout.read()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_devserver_on_a_busy_port_says_so_before_its_banner() -> None:
    """A second `make serve` printed its banner, seeded moto, then failed: now it checks the
    port first, names it, says how to pick another, and starts nothing."""
    with socket.create_server(("127.0.0.1", 0)) as busy:
        port = busy.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "app.devserver", "--port", str(port)],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert result.returncode == 1
    assert result.stdout == ""  # no banner, no moto
    assert result.stderr == (
        f"error: cannot serve on 127.0.0.1:{port}: the port is in use (another `make serve`?). "
        "Stop what uses it, or pick another port: `make serve PORT=8001` (or `python -m "
        "app.devserver --port 8001`).\n"
    )


@pytest.mark.parametrize("port", ["-1", "70000"])
def test_devserver_refuses_a_port_out_of_range(port: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "app.devserver", "--port", port],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert f"--port must be 0-65535, got {port}" in result.stderr
