"""Bounded, steady HTTP traffic to a local ALB listener, counting what fails and how.

    result = run_traffic(TrafficOptions(url, rate=20, duration=30, paths=("/health", "/books")))
    result.failed, result.failures["target_5xx"], result.p99_ms, result.seconds[0].requests

Requests are sent open-loop at ``rate`` per second (request *i* leaves at ``i / rate`` s, whether
or not earlier ones have answered, as real users do), cycling through ``paths``, for ``duration``
seconds or until ``stop`` is set; then the requests still in flight get up to ``timeout`` seconds.
Only loopback URLs are accepted (127.0.0.0/8, ``localhost``, ``::1``): this is a sandbox tool.

Failures, by kind (:data:`FAILURE_KINDS`):

- ``target_5xx``: a 5xx the target sent (the ALB passed it through);
- ``elb_502`` / ``elb_503`` / ``elb_504`` / ``elb_5xx``: a 5xx the load balancer made itself
  (recognised by ``Server: awselb/2.0``, as AWS's ALB answers);
- ``connection_error``: no connection to the listener, or it dropped;
- ``timeout``: no answer within ``timeout`` seconds.

4xx answers are not failures. Latency percentiles are over every request that got an HTTP
answer (nearest rank).
"""

from __future__ import annotations

import asyncio
import ipaddress
import math
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import urlsplit

FAILURE_KINDS = (
    "target_5xx",
    "elb_502",
    "elb_503",
    "elb_504",
    "elb_5xx",
    "connection_error",
    "timeout",
)
#: Bounds: this generator is for a laptop sandbox, not a load test.
MAX_RATE = 1000.0
MAX_DURATION = 3600.0
MAX_IN_FLIGHT = 512


def check_loopback(url: str) -> str:
    """``url`` if it is http(s) to a loopback address; ValueError otherwise."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"not an http URL: {url!r}")
    host = parts.hostname
    if host != "localhost":
        try:
            loopback = ipaddress.ip_address(host).is_loopback
        except ValueError:
            loopback = False
        if not loopback:
            raise ValueError(
                f"refusing to send traffic to {host}: only loopback addresses "
                "(127.0.0.0/8, localhost, ::1) are allowed"
            )
    return url.rstrip("/")


@dataclass(frozen=True)
class TrafficOptions:
    url: str
    rate: float
    duration: float
    paths: tuple[str, ...] = ("/",)
    host: str | None = None
    timeout: float = 10.0

    def __post_init__(self) -> None:
        check_loopback(self.url)
        if not 0 < self.rate <= MAX_RATE:
            raise ValueError(f"rate must be in (0, {MAX_RATE:g}] requests/s, got {self.rate:g}")
        if not 0 < self.duration <= MAX_DURATION:
            raise ValueError(f"duration must be in (0, {MAX_DURATION:g}] s, got {self.duration:g}")
        if not self.paths or any(not p.startswith("/") for p in self.paths):
            raise ValueError(f"paths must start with '/', got {list(self.paths)}")
        if self.timeout <= 0:
            raise ValueError(f"timeout must be > 0, got {self.timeout:g}")


def _percentile(values: Sequence[float], p: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(1, math.ceil(p / 100 * len(ordered))) - 1]


@dataclass
class SecondRow:
    """Requests sent during one second of the run (``second`` 0 is the first)."""

    second: int
    requests: int = 0
    failed: int = 0
    failures: dict[str, int] = field(default_factory=dict)
    p50_ms: float | None = None
    p99_ms: float | None = None


@dataclass
class TrafficResult:
    url: str
    rate: float
    duration: float
    elapsed: float
    interrupted: bool
    requests: int
    failed: int
    failures: dict[str, int]
    statuses: dict[str, int]
    skipped: int
    p50_ms: float | None
    p99_ms: float | None
    seconds: list[SecondRow]

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class _Sample:
    sent: float  # seconds since the start
    kind: str | None  # failure kind, None if fine
    status: int | None
    latency_ms: float | None


def classify(status: int, server: str | None) -> str | None:
    """The failure kind of an HTTP answer (None: not a failure)."""
    if status < 500:
        return None
    if (server or "").lower().startswith("awselb"):
        return f"elb_{status}" if status in (502, 503, 504) else "elb_5xx"
    return "target_5xx"


def _rows(samples: Sequence[_Sample]) -> list[SecondRow]:
    by_second: dict[int, list[_Sample]] = {}
    for s in samples:
        by_second.setdefault(int(s.sent), []).append(s)
    rows = []
    for second in range(0, max(by_second, default=-1) + 1):
        group = by_second.get(second, [])
        kinds = Counter(s.kind for s in group if s.kind)
        latencies = [s.latency_ms for s in group if s.latency_ms is not None]
        rows.append(
            SecondRow(
                second,
                len(group),
                sum(kinds.values()),
                dict(kinds),
                _percentile(latencies, 50),
                _percentile(latencies, 99),
            )
        )
    return rows


async def run_traffic_async(
    options: TrafficOptions,
    *,
    stop: threading.Event | None = None,
    on_second: Callable[[SecondRow], None] | None = None,
) -> TrafficResult:
    """:func:`run_traffic` inside a running event loop."""
    import aiohttp

    samples: list[_Sample] = []
    headers = {"Host": options.host} if options.host else {}
    timeout = aiohttp.ClientTimeout(total=options.timeout)
    pending: dict[asyncio.Task[None], float] = {}  # in flight -> when it was sent
    interval = 1.0 / options.rate
    started = time.perf_counter()
    reported = 0
    interrupted = False
    skipped = 0

    async def one(session: aiohttp.ClientSession, path: str, sent: float) -> None:
        t0 = time.perf_counter()
        try:
            async with session.get(options.url + path, headers=headers) as resp:
                await resp.read()
                latency = (time.perf_counter() - t0) * 1000
                kind = classify(resp.status, resp.headers.get("Server"))
                samples.append(_Sample(sent, kind, resp.status, latency))
        except TimeoutError:
            samples.append(_Sample(sent, "timeout", None, None))
        except (aiohttp.ClientError, OSError):
            samples.append(_Sample(sent, "connection_error", None, None))

    def report(upto: int) -> None:
        nonlocal reported
        if on_second is None:
            reported = upto
            return
        rows = _rows([s for s in samples if s.sent < upto])
        for row in rows[reported:upto]:
            on_second(row)
        reported = upto

    connector = aiohttp.TCPConnector(limit=MAX_IN_FLIGHT)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        i = 0
        while True:
            now = time.perf_counter() - started
            if stop is not None and stop.is_set():
                interrupted = True
                break
            due = i * interval
            if due >= options.duration:
                break
            if now < due:
                await asyncio.sleep(min(due - now, 0.05))
                continue
            if len(pending) < MAX_IN_FLIGHT:
                path = options.paths[i % len(options.paths)]
                task = asyncio.ensure_future(one(session, path, due))
                pending[task] = due
                task.add_done_callback(lambda t: pending.pop(t, None))
            else:
                skipped += 1  # MAX_IN_FLIGHT requests unanswered: the generator holds back
            i += 1
            # a second is reported once every request sent in it has answered
            settled = int(min([now, *pending.values()]))
            if settled > reported:
                report(settled)
        if pending:
            grace = 1.0 if interrupted else options.timeout
            _, still = await asyncio.wait(set(pending), timeout=grace)
            for task in still:
                task.cancel()
            if still:
                await asyncio.gather(*still, return_exceptions=True)
    elapsed = time.perf_counter() - started
    report(math.ceil(min(elapsed, options.duration)) if samples else 0)
    kinds = Counter(s.kind for s in samples if s.kind)
    statuses = Counter(str(s.status) for s in samples if s.status is not None)
    latencies = [s.latency_ms for s in samples if s.latency_ms is not None]
    return TrafficResult(
        url=options.url,
        rate=options.rate,
        duration=options.duration,
        elapsed=round(elapsed, 3),
        interrupted=interrupted,
        requests=len(samples),
        failed=sum(kinds.values()),
        failures={k: kinds.get(k, 0) for k in FAILURE_KINDS},
        statuses=dict(sorted(statuses.items())),
        skipped=skipped,
        p50_ms=_percentile(latencies, 50),
        p99_ms=_percentile(latencies, 99),
        seconds=_rows(samples),
    )


def run_traffic(
    options: TrafficOptions,
    *,
    stop: threading.Event | None = None,
    on_second: Callable[[SecondRow], None] | None = None,
) -> TrafficResult:
    """Send the traffic ``options`` describe and return what happened (blocks; runs its own
    event loop). ``stop`` ends the run early (the result says ``interrupted``); ``on_second``
    gets each second's row once its requests have answered."""
    return asyncio.run(run_traffic_async(options, stop=stop, on_second=on_second))


def format_row(row: SecondRow) -> str:
    kinds = ", ".join(f"{k} {v}" for k, v in sorted(row.failures.items()))
    p50 = "-" if row.p50_ms is None else f"{row.p50_ms:.1f}"
    p99 = "-" if row.p99_ms is None else f"{row.p99_ms:.1f}"
    return (
        f"{row.second:>4}s  {row.requests:>5} req  {row.failed:>4} failed"
        f"{'  (' + kinds + ')' if kinds else ''}  p50 {p50} ms  p99 {p99} ms"
    )


def format_summary(result: TrafficResult) -> list[str]:
    kinds = ", ".join(f"{k} {v}" for k, v in result.failures.items() if v) or "none"
    p50 = "-" if result.p50_ms is None else f"{result.p50_ms:.1f}"
    p99 = "-" if result.p99_ms is None else f"{result.p99_ms:.1f}"
    head = "interrupted" if result.interrupted else "done"
    return [
        f"--- {result.url} traffic statistics ({head} after {result.elapsed:.1f} s) ---",
        f"{result.requests} requests, {result.failed} failed ({kinds})",
        f"latency p50 {p50} ms, p99 {p99} ms",
    ]
