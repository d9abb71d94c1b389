"""Small engine units: smoke-probe outcomes, the interruptible sleep, settings from config."""

from __future__ import annotations

import signal
import threading
from dataclasses import dataclass, field

import pytest

from rollout.clock import SystemClock
from rollout.engine.interrupt import WALL_SLICE, Interrupt
from rollout.engine.probe import classify_status, http_probe


@pytest.mark.parametrize(
    ("status", "outcome"),
    [
        (200, "pass"),
        (204, "pass"),
        (301, "pass"),
        (404, "fail"),
        (429, "error"),
        (500, "fail"),
        (503, "fail"),
    ],
)
def test_smoke_status_classification(status: int, outcome: str) -> None:
    """2xx/3xx pass, 5xx and other 4xx fail (bad release), 429 is a probe error."""
    assert classify_status(status) == outcome


def test_unreachable_smoke_url_is_an_error_not_a_failure() -> None:
    """A probe that cannot connect is 'error' (no rollback), never 'fail'."""
    assert http_probe("http://127.0.0.1:9/health", timeout=2).outcome == "error"
    assert http_probe("ftp://example.invalid/").outcome == "error"


def test_http_probe_sends_the_headers_and_names_them_without_values() -> None:
    """The test listener rule matches on a header: the probe sends ``headers`` with the GET
    (the server answers 200 only with it, like a rule in front of green); the result's detail
    names the headers, never their values."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    seen: list[dict[str, str]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append(dict(self.headers.items()))
            ok = self.headers.get("X-Rollout-Test") == "1"
            self.send_response(200 if ok else 503)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/health"
        sent = http_probe(url, {"X-Rollout-Test": "1", "X-Token": "hunter2"}, timeout=5)
        bare = http_probe(url, timeout=5)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
    assert (sent.outcome, sent.status) == ("pass", 200)
    assert (bare.outcome, bare.status) == ("fail", 503)
    assert seen[0]["X-Rollout-Test"] == "1"
    assert seen[0]["User-Agent"] == "rollout-smoke"
    assert "X-Rollout-Test" not in seen[1]
    assert "X-Rollout-Test" in sent.detail
    assert "hunter2" not in sent.detail


class StepClock:
    def __init__(self) -> None:
        self.t = 0.0
        self.sleeps: list[float] = []

    def now(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.t += seconds


def test_interruptible_sleep_runs_in_short_slices_and_stops_on_the_flag() -> None:
    """The engine's sleep advances in slices of at most 0.5 s and returns once interrupted."""
    clock = StepClock()
    flag = Interrupt()
    flag.sleep(clock, 3.0)
    assert clock.t == pytest.approx(3.0)
    assert max(clock.sleeps) <= 0.5

    class Tripping(StepClock):
        def sleep(self, seconds: float) -> None:
            super().sleep(seconds)
            if self.t >= 1.0:
                flag.set("SIGTERM")

    tripping = Tripping()
    flag.sleep(tripping, 600.0)
    assert tripping.t <= 1.5  # stopped within one slice of the signal
    assert flag.signal_name == "SIGTERM"
    before = tripping.t
    flag.sleep(tripping, 10.0)  # once set, no more sleeping
    assert tripping.t == before


@dataclass(frozen=True)
class SignalledSystemClock(SystemClock):
    """The system clock's type (so the wall-time path runs) with a fake time and a SIGINT that
    arrives in the main thread during the second slice, as the OS would deliver it."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    sleeps: list[float] = field(default_factory=list)

    def now(self) -> float:
        return sum(self.sleeps)

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        if len(self.sleeps) == 2:
            with self.lock:  # like Event.wait: a lock held where the signal lands
                handler = signal.getsignal(signal.SIGINT)
                assert callable(handler)
                handler(signal.SIGINT, None)


def test_sigint_during_a_wall_clock_sleep_stops_it_without_taking_a_lock() -> None:
    """A signal landing mid-sleep sets the flag without blocking and ends the sleep in a slice."""
    flag = Interrupt()
    clock = SignalledSystemClock()
    with flag.handle_signals():
        flag.sleep(clock, 5.0)
    assert flag.is_set()
    assert flag.signal_name == "SIGINT"
    assert len(clock.sleeps) == 2
    assert max(clock.sleeps) <= WALL_SLICE
