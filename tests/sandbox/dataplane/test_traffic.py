"""The traffic generator: bounded, loopback only, failures by kind, and Ctrl-C like ping."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time

import pytest
from tests.sandbox.dataplane.conftest import Alb, Targets

from rollout.sandbox.dataplane.traffic import TrafficOptions, check_loopback, classify, run_traffic


@pytest.mark.parametrize(
    "url",
    ["http://10.0.0.1/", "http://example.com/", "http://192.168.1.2:8080", "ftp://127.0.0.1/"],
)
def test_non_loopback_urls_are_refused(url: str) -> None:
    """Only 127.0.0.0/8, localhost and ::1 may receive generated traffic."""
    with pytest.raises(ValueError, match=r"loopback|not an http URL"):
        check_loopback(url)


def test_loopback_urls_are_accepted() -> None:
    """Any 127/8 address, localhost and [::1] are loopback."""
    for url in ("http://127.0.0.1:80/", "http://127.1.2.3", "http://localhost:9", "http://[::1]/"):
        assert check_loopback(url)


@pytest.mark.parametrize(("rate", "duration"), [(0, 1), (5000, 1), (10, 0), (10, 7200)])
def test_unbounded_runs_are_refused(rate: float, duration: float) -> None:
    """Rate and duration are bounded (at most 1000 req/s, 1 h)."""
    with pytest.raises(ValueError, match="must be in"):
        TrafficOptions("http://127.0.0.1:1", rate=rate, duration=duration)


@pytest.mark.parametrize(
    ("status", "server", "kind"),
    [
        (200, None, None),
        (404, "awselb/2.0", None),
        (500, "uvicorn", "target_5xx"),
        (502, None, "target_5xx"),
        (502, "awselb/2.0", "elb_502"),
        (503, "awselb/2.0", "elb_503"),
        (504, "awselb/2.0", "elb_504"),
        (500, "awselb/2.0", "elb_5xx"),
    ],
)
def test_classify(status: int, server: str | None, kind: str | None) -> None:
    """A 5xx is the ALB's when it says Server: awselb/2.0, else the target's; 4xx is fine."""
    assert classify(status, server) == kind


def test_summary_counts_failures_by_kind(alb: Alb, targets: Targets) -> None:
    """Half the paths answer 500 from the target: the totals and per-second rows say so."""
    app = targets.start("a", "127.0.0.2")
    alb.register(0, app)
    result = run_traffic(TrafficOptions(alb.url, rate=40, duration=1.0, paths=("/", "/status/500")))
    assert result.requests == 40
    assert result.failed == 20
    assert result.failures["target_5xx"] == 20
    assert result.statuses == {"200": 20, "500": 20}
    assert result.p50_ms is not None
    assert result.p99_ms is not None
    assert result.p50_ms <= result.p99_ms
    assert [r.requests for r in result.seconds] == [40]
    doc = result.to_json()
    assert {"requests", "failed", "failures", "p50_ms", "p99_ms", "seconds"} <= set(doc)


def test_alb_errors_and_connection_errors_are_told_apart(alb: Alb) -> None:
    """No target: every request is the ALB's 503; nothing listening: connection errors."""
    result = run_traffic(TrafficOptions(alb.url, rate=20, duration=0.5))
    assert result.failures["elb_503"] == result.requests == 10
    closed = run_traffic(TrafficOptions("http://127.0.0.1:9", rate=20, duration=0.25))
    assert closed.failures["connection_error"] == closed.requests == 5


def test_stop_event_ends_the_run_early(alb: Alb, targets: Targets) -> None:
    """Setting ``stop`` ends a long run at once; the result is marked interrupted."""
    app = targets.start("a", "127.0.0.2")
    alb.register(0, app)
    stop = threading.Event()
    threading.Timer(0.5, stop.set).start()
    started = time.monotonic()
    result = run_traffic(TrafficOptions(alb.url, rate=20, duration=60), stop=stop)
    assert time.monotonic() - started < 3
    assert result.interrupted
    assert 5 <= result.requests <= 15


@pytest.mark.slow
def test_sigint_prints_the_summary(targets: Targets) -> None:
    """`rollout sandbox traffic` interrupted by SIGINT exits 0 with its JSON summary."""
    app = targets.start("a", "127.0.0.2")
    url = f"http://{app.ip}:{app.port}"
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "rollout",
            "sandbox",
            "traffic",
            "--url",
            url,
            "--rate",
            "20",
            "--duration",
            "60",
            "--output",
            "json",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    try:
        deadline = time.monotonic() + 30
        while app.requests < 5 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert app.requests >= 5
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err.decode()
    doc = json.loads(out.decode().strip().splitlines()[-1])
    assert doc["interrupted"] is True
    assert doc["requests"] >= 5
    assert doc["failed"] == 0
