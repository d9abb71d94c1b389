"""The process runtime's and the ALB health checker's pure rules (tables, no processes)."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator

import pytest

from rollout.sandbox.dataplane.health import Probe, TargetState, matches, probe
from rollout.sandbox.runtime import signal_exit_code
from rollout.sandbox.runtime.process import local_address, rewrite_binds

IP = "127.80.0.2"


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["gunicorn", "-b", "0.0.0.0:8000"], ["gunicorn", "-b", f"{IP}:8000"]),
        (["gunicorn", "--bind", "[::]:8000"], ["gunicorn", "--bind", f"{IP}:8000"]),
        (["gunicorn", "--bind=0.0.0.0:9000"], ["gunicorn", f"--bind={IP}:9000"]),
        (
            ["uvicorn", "--host", "0.0.0.0", "--port", "80"],
            ["uvicorn", "--host", IP, "--port", "80"],
        ),
        (["uvicorn", "--host=0.0.0.0"], ["uvicorn", f"--host={IP}"]),
        (["gunicorn", "-b", "10.1.2.3:8000"], ["gunicorn", "-b", "10.1.2.3:8000"]),
        (["gunicorn", "-b", "unix:/tmp/s"], ["gunicorn", "-b", "unix:/tmp/s"]),
        (["sh", "-c", "echo 0.0.0.0:1"], ["sh", "-c", "echo 0.0.0.0:1"]),
    ],
)
def test_wildcard_binds_become_the_task_address(argv: list[str], expected: list[str]) -> None:
    """Only wildcard addresses in bind/host options are rewritten."""
    assert rewrite_binds(argv, IP) == expected


def test_health_check_commands_reach_the_task_for_localhost() -> None:
    """127.0.0.1 and localhost in a healthCheck mean the task's own address."""
    assert local_address(["curl http://localhost:8000/ && wget 127.0.0.1:8000"], IP) == [
        f"curl http://{IP}:8000/ && wget {IP}:8000"
    ]


@pytest.mark.parametrize(
    ("status", "matcher", "ok"),
    [
        (200, "200", True),
        (204, "200", False),
        (204, "200,204", True),
        (302, "200-399", True),
        (404, "200-399", False),
    ],
)
def test_matcher(status: int, matcher: str, ok: bool) -> None:
    """Matcher.HttpCode: a code, a list, or a range."""
    assert matches(status, matcher) is ok


PASS = Probe(True)
FAIL = Probe(False, "Target.ResponseCodeMismatch", "Health checks failed with these codes: [503]")


@pytest.mark.parametrize(
    ("first_healthy", "results", "states"),
    [
        ("one_check", [PASS], ["healthy"]),
        ("threshold", [PASS, PASS], [None, "healthy"]),
        ("one_check", [FAIL, FAIL], [None, "unhealthy"]),
        ("one_check", [FAIL, PASS], [None, "healthy"]),
        # from unhealthy it takes HealthyThresholdCount passes in a row
        (
            "one_check",
            [FAIL, FAIL, PASS, FAIL, PASS, PASS],
            [None, "unhealthy", None, None, None, "healthy"],
        ),
        # from healthy, UnhealthyThresholdCount fails in a row
        ("one_check", [PASS, FAIL, PASS, FAIL, FAIL], ["healthy", None, None, None, "unhealthy"]),
    ],
)
def test_target_state_machine(
    first_healthy: str, results: list[Probe], states: list[str | None]
) -> None:
    """Thresholds as §6.1 of the reference; each change carries the failing probe's reason."""
    machine = TargetState(healthy_threshold=2, unhealthy_threshold=2, first_healthy=first_healthy)  # type: ignore[arg-type]
    seen = []
    for at, result in enumerate(results):
        change = machine.feed(result, float(at))
        seen.append(change.state if change else None)
        if change is not None and change.state == "unhealthy":
            assert change.reason == "Target.ResponseCodeMismatch"
    assert seen == states


@pytest.fixture
def server() -> Iterator[tuple[str, int]]:
    """A loopback HTTP server: /ok → 200, /bad → 503, /slow → answers after 2 s."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path == "/slow":
                threading.Event().wait(2)
            self.send_response(200 if self.path in ("/ok", "/slow") else 503)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield "127.0.0.1", int(httpd.server_address[1])
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_probe_reasons(server: tuple[str, int]) -> None:
    """A real request: pass, ResponseCodeMismatch with the code, Timeout, FailedHealthChecks."""
    host, port = server
    assert probe(host, port, "/ok", 1.0, "200").passed
    bad = probe(host, port, "/bad", 1.0, "200")
    assert (bad.reason, bad.description) == (
        "Target.ResponseCodeMismatch",
        "Health checks failed with these codes: [503]",
    )
    assert probe(host, port, "/slow", 0.3, "200").reason == "Target.Timeout"
    assert probe("127.0.0.1", 1, "/", 0.5, "200").reason == "Target.FailedHealthChecks"


@pytest.mark.parametrize(("returncode", "code"), [(0, 0), (3, 3), (-15, 143), (-9, 137)])
def test_exit_codes_as_docker_reports_them(returncode: int, code: int) -> None:
    """A process killed by signal n exits 128 + n."""
    assert signal_exit_code(returncode) == code
