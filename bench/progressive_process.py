"""Progressive-delivery benchmark on the PROCESS runtime: real voj, real requests (issue 10).

The issue's benchmark as it asks for it: four releases of the real voj backend (gunicorn
processes built from ``backend/``) shipped four ways, each way on its own freshly provisioned
sandbox (``Sandbox(runtime="process", preset="quick", metrics_period=10)``), under steady
traffic of real HTTP requests (``rollout.sandbox.dataplane.traffic``, 50 req/s of
``GET /books``) through the sandbox's local ALB listener, on the wall clock.

Releases (real code changes: unified diffs against ``backend/`` given to ``sb.build_image``):

- good: ``backend/`` as it is;
- 500 on 20 %: ``GET /books`` answers 500 on every fifth request of a worker;
- crash: each worker starts a 30 s timer at its first health-check answer (the ALB's first
  check of the new task, a few seconds before the target turns healthy), then kills its
  gunicorn master (the task's main process) and exits: the task stops;
- p99 above 2 s: ``GET /books`` sleeps 2.5 s on every twentieth request of a worker.

Ways: breaker-only rolling (RegisterTaskDefinition + UpdateService on the rolling stack, then
only ECS: circuit breaker and the stack's deployment alarms), and ``rollout deploy`` rolling /
canary / blue-green on the stack provisioned that way.

A failed request is a 5xx (target or ALB), a connection error, or an answer not back within
2 s (the traffic's client timeout is 2 s, so a slow answer is a ``timeout``). Each release is
counted from its deploy's start until the deploy is over (rollout returned; for breaker-only:
the service steady again, or ``BREAKER_WINDOW`` seconds) plus ``TAIL`` seconds.

    uv run --frozen python bench/progressive_process.py --ways "rollout canary" --json out.json
    uv run --frozen python bench/progressive_process.py --merge a.json b.json --write

Short settings so it fits on 2 cores well inside 30 minutes (see ``ENVIRON``): canary 5 %
(rollout's default) for 1 min, bake 1 min, analysis window 20 s, ``min_requests`` 20, poll
interval 2 s, sandbox metrics per 10 s. The traffic-shifting ways run rollout's real smoke
probe (``http_probe``) before any production traffic: ``test_url`` is the sandbox ALB
listener's ``/health`` and ``test_headers`` come from rollout.toml (``X-Rollout-Test: 1``, what
the stack's test listener rule matches), so the probe reaches green through the test rule. The
rolling ways have no smoke probe (``ROLLOUT_SMOKE_URL`` empty: the stack's public name does not
resolve here).
"""

from __future__ import annotations

import argparse
import difflib
import json
import sys
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from _shared import register_with_image
from _shared import write_section as shared_write_section
from rollout.context import Context
from rollout.engine.probe import http_probe
from rollout.events import EventLog
from rollout.sandbox import Sandbox, measure
from rollout.sandbox.dataplane.traffic import SecondRow, TrafficOptions, run_traffic
from rollout.verbs import deploy

REPO = Path(__file__).resolve().parents[1]
BACKEND = REPO / "backend"
DOC = REPO / "docs" / "benchmarks.md"
RATE = 50.0
SLOW = 2.0  # the client timeout: an answer slower than this is a failed request
TAIL = 10.0  # seconds of traffic counted after the deploy is over
ALARM_PERIOD = 60.0  # the stack's alarms' Period (infra/voj.yaml)
BREAKER_WINDOW = 180.0  # breaker-only: count at most this long from UpdateService
HOST = "api.voj.example.com"
WAYS = ("breaker-only rolling", "rollout rolling", "rollout canary", "rollout blue-green")
STACK = {
    "breaker-only rolling": "rolling",
    "rollout rolling": "rolling",
    "rollout canary": "canary",
    "rollout blue-green": "blue-green",
}
RELEASES = ("good", "500 on 20 %", "crash 30 s after healthy", "p99 above 2 s")
ENVIRON = {
    "USER": "bench",
    "GITHUB_SHA": "b" * 40,
    "ROLLOUT_TRAFFIC": "off",
    "ROLLOUT_SMOKE_URL": "",
    "ROLLOUT_CANARY_PERCENT": "5",  # rollout's default
    "ROLLOUT_CANARY_BAKE_MINUTES": "1",
    "ROLLOUT_BAKE_MINUTES": "1",
    "ROLLOUT_WINDOW": "20",
    "ROLLOUT_MIN_REQUESTS": "20",
    "ROLLOUT_POLL_INTERVAL": "2",
    "ROLLOUT_SECONDS": "60",
}


def _diff(rel: str, old: str, new: str) -> str:
    return "".join(
        difflib.unified_diff(old.splitlines(True), new.splitlines(True), f"a/{rel}", f"b/{rel}")
    )


def _replace(rel: str, anchor: str, new: str) -> str:
    text = (REPO / rel).read_text(encoding="utf-8")
    if text.count(anchor) != 1:
        raise SystemExit(f"bench: anchor not found once in {rel}: {anchor!r}")
    return _diff(rel, text, text.replace(anchor, new))


_BOOKS = (
    '        """A page of books; pass ``next_cursor`` back as ``cursor`` for the next one."""\n'
)


def _api_with(body: str) -> str:
    text = (REPO / "backend/app/api.py").read_text(encoding="utf-8")
    anchor = "from app.catalog import Catalog, InvalidCursorError\n"
    assert text.count(anchor) == 1
    assert text.count(_BOOKS) == 1
    new = text.replace(anchor, anchor + "\n_BAD = [0]\n").replace(_BOOKS, _BOOKS + body)
    return _diff("backend/app/api.py", text, new)


def patch_500() -> str:
    """Every fifth ``GET /books`` of a worker answers 500 (20 %)."""
    return _api_with(
        "        _BAD[0] += 1\n"
        "        if _BAD[0] % 5 == 0:\n"
        '            raise HTTPException(status_code=500, detail="bad release")\n'
    )


def patch_slow() -> str:
    """Every twentieth ``GET /books`` of a worker takes 2.5 s (5 %: p99 above 2 s)."""
    return _api_with(
        "        _BAD[0] += 1\n        if _BAD[0] % 20 == 0:\n            time.sleep(2.5)\n"
    )


def patch_crash() -> str:
    """30 s after a worker's first health-check answer it kills its master and exits."""
    rel = "backend/app/edge.py"
    text = (REPO / rel).read_text(encoding="utf-8")
    anchor = '    """Send the liveness answer: 200 ``{"status":"ok"}`` (no body for HEAD)."""\n'
    assert text.count(anchor) == 1
    body = (
        "    if not _CRASH:\n"
        "        import os, signal, threading\n"
        "\n"
        "        def _crash() -> None:\n"
        "            os.kill(os.getppid(), signal.SIGKILL)\n"
        "            os._exit(1)\n"
        "\n"
        "        _CRASH.append(threading.Timer(30.0, _crash))\n"
        "        _CRASH[0].daemon = True\n"
        "        _CRASH[0].start()\n"
    )
    new = text.replace(anchor, anchor + body).replace(
        "_HEALTH_HEADERS = [", "_CRASH: list[Any] = []\n\n_HEALTH_HEADERS = [", 1
    )
    return _diff(rel, text, new)


PATCHES = {
    "500 on 20 %": patch_500,
    "crash 30 s after healthy": patch_crash,
    "p99 above 2 s": patch_slow,
}
TAGS = {
    "good": "sha-0000002",
    "500 on 20 %": "bad-500",
    "crash 30 s after healthy": "bad-crash",
    "p99 above 2 s": "bad-slow",
}


@dataclass
class Row:
    way: str
    release: str
    verdict: str
    requests: int
    failed: int
    failed_seconds: int
    first_to_back: float | None  # first failed request -> service restored on a good release
    during_rollback: int | None  # failed requests from the rollback decision to restored
    blue_back: float | None  # blue/green: rollback decision -> production weight on blue
    kinds: dict[str, int]
    wall: float
    raw: dict[str, Any] | None = None  # moments (sandbox clock) and failed seconds, for audits


def _current(sb: Sandbox, prov: Any) -> str:
    doc = sb.describe_service(prov.cluster, prov.service) or {}
    return str(doc.get("taskDefinition", ""))


def _breaker_only(sb: Sandbox, prov: Any, image: str) -> str:
    """RegisterTaskDefinition (the current one with ``image``) + UpdateService; the new ARN."""
    ecs = sb.client_factory().client("ecs")
    arn = register_with_image(ecs, _current(sb, prov), image)
    ecs.update_service(cluster=prov.cluster, service=prov.service, taskDefinition=arn)
    return arn


def _on(sb: Sandbox, prov: Any, arn: str) -> bool:
    """The service steady (one COMPLETED deployment) on task definition ``arn``."""
    doc = sb.describe_service(prov.cluster, prov.service) or {}
    deployments = doc.get("deployments", [])
    return (
        len(deployments) == 1
        and deployments[0].get("rolloutState") == "COMPLETED"
        and deployments[0].get("taskDefinition") == arn
    )


def _back_to(sb: Sandbox, prov: Any, arn: str) -> None:
    """Unmeasured clean-up between releases: put the service back on ``arn`` if it is not, and
    wait for every alarm to leave ALARM."""
    _wait(lambda: _steady(sb, prov.cluster, prov.service), 300)
    if _current(sb, prov) != arn:
        print(f"  clean-up: UpdateService back to {arn}", file=sys.stderr, flush=True)
        ecs = sb.client_factory().client("ecs")
        ecs.update_service(cluster=prov.cluster, service=prov.service, taskDefinition=arn)
        time.sleep(5)
        _wait(lambda: _on(sb, prov, arn), 300)
    # the previous release's 5xx must not fail this one: no stack alarm in ALARM, checked again
    # one alarm period later (a 60 s period still holding the errors can fire after the first
    # check, as it did once before this second check existed)
    for pause in (ALARM_PERIOD + 10, 0.0):
        if not _wait(lambda: not _alarms_in_alarm(sb), 300):
            print(f"  clean-up: in ALARM: {_alarms_in_alarm(sb)}", file=sys.stderr, flush=True)
        time.sleep(pause)


def _alarms_in_alarm(sb: Sandbox) -> list[str]:
    cw = sb.client_factory().client("cloudwatch")
    alarms = cw.describe_alarms(StateValue="ALARM")["MetricAlarms"]
    return [str(a["AlarmName"]) for a in alarms]


def _steady(sb: Sandbox, cluster: str, service: str) -> bool:
    doc = sb.describe_service(cluster, service) or {}
    deployments = doc.get("deployments", [])
    return len(deployments) == 1 and deployments[0].get("rolloutState") == "COMPLETED"


def _wait(pred: Any, timeout: float) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(1.0)
    return False


class Traffic:
    """run_traffic in a thread; per-second rows on the sandbox clock."""

    def __init__(self, sb: Sandbox, url: str) -> None:
        self.rows: list[measure.SecondCount] = []
        self.stop = threading.Event()
        self.origin = sb.clock.now()
        opts = TrafficOptions(
            url=url, rate=RATE, duration=1800.0, paths=("/books",), host=HOST, timeout=SLOW
        )
        self.thread = threading.Thread(target=self._run, args=(opts,), daemon=True)
        self.thread.start()

    def _run(self, opts: TrafficOptions) -> None:
        run_traffic(opts, stop=self.stop, on_second=self._on)

    def _on(self, row: SecondRow) -> None:
        self.rows.append(
            measure.SecondCount(self.origin + row.second, row.requests, dict(row.failures))
        )

    def close(self) -> None:
        self.stop.set()
        self.thread.join(timeout=15)


def run_way(way: str, releases: tuple[str, ...]) -> list[Row]:
    rows: list[Row] = []
    t_way = time.perf_counter()
    with Sandbox(runtime="process", preset="quick", metrics_period=10) as sb:
        prov = sb.provision_voj(strategy=STACK[way])
        images = {"good": prov.images[TAGS["good"]]}
        for name in releases:
            if name != "good":
                sb.build_image(TAGS[name], patch=PATCHES[name]())
                images[name] = f"{prov.repository_uri}:{TAGS[name]}"
        url = sb.alb_url(prov.load_balancer_name)
        assert url, "no ALB listener URL"
        print(
            f"[{way}] provisioned in {time.perf_counter() - t_way:.0f}s, ALB {url}",
            file=sys.stderr,
            flush=True,
        )
        traffic = Traffic(sb, url)
        try:
            time.sleep(5)
            good_arn = _current(sb, prov)
            for name in releases:
                _back_to(sb, prov, good_arn)
                t0 = time.perf_counter()
                start = sb.clock.now()
                log = EventLog()
                verdict = "(ECS)"
                if way == WAYS[0]:
                    new_arn = _breaker_only(sb, prov, images[name])
                    want = new_arn if name == "good" else good_arn
                    time.sleep(10)
                    _wait(lambda w=want: _on(sb, prov, w), BREAKER_WINDOW - 10)
                else:
                    ctx = Context(
                        factory=sb.client_factory(),
                        clock=sb.clock,
                        emit=log,
                        config_path=REPO / "rollout.toml",
                        environ={
                            **ENVIRON,
                            "ROLLOUT_STRATEGY": way.removeprefix("rollout "),
                            # the real probe, through the test listener rule (rollout.toml's
                            # test_headers), before any production traffic
                            "ROLLOUT_TEST_URL": f"{url.rstrip('/')}/health",
                        },
                    )
                    verdict = deploy.run(
                        deploy.DeployOptions(image=images[name]), ctx, prober=http_probe
                    ).verdict
                time.sleep(TAIL + 2)  # let the last seconds' requests answer
                end = sb.clock.now() - 2
                moment = measure.restore(sb, prov.cluster, prov.service, since=start - 1, until=end)
                seconds = [s for s in traffic.rows if start <= s.at < end]
                failed_at = [s.at for s in seconds if s.failed]
                decided = next((e.at for e in log.events if e.kind == "rollback.started"), None)
                back = next(
                    (float(e.data["seconds"]) for e in log.events if e.kind == "traffic.restored"),
                    None,
                )
                restored = moment.restored_at if moment is not None else None
                source = "measure.restore"
                if restored is None and decided is not None and back is not None:
                    restored, source = decided + back, "decision + traffic back on blue"
                kinds: dict[str, int] = {}
                for s in seconds:
                    for k, n in s.failures.items():
                        kinds[k] = kinds.get(k, 0) + n
                row = Row(
                    way=way,
                    release=name,
                    verdict=str(verdict),
                    requests=sum(s.requests for s in seconds),
                    failed=sum(s.failed for s in seconds),
                    failed_seconds=len(failed_at),
                    first_to_back=(
                        round(restored - min(failed_at), 1)
                        if failed_at and restored is not None and name != "good"
                        else None
                    ),
                    during_rollback=(
                        measure.tally(seconds, decided, restored or end).failed
                        if decided is not None
                        else None
                    ),
                    blue_back=back if way == "rollout blue-green" else None,
                    kinds=kinds,
                    wall=round(time.perf_counter() - t0, 1),
                    raw={
                        "start": start,
                        "end": end,
                        "decided": decided,
                        "restored": restored,
                        "restored_source": source,
                        "measure_restored": None if moment is None else moment.restored_at,
                        "events": [
                            [round(e.at - start, 1), e.kind, e.message[:160]]
                            for e in log.events
                            if e.kind.startswith(("rollback", "signal", "traffic", "restore"))
                            or e.kind in ("stage", "analysis", "smoke")
                        ],
                        "failed_at": {f"{s.at - start:.0f}": s.failed for s in seconds if s.failed},
                    },
                )
                rows.append(row)
                if name == "good" and row.verdict in ("SUCCEEDED", "(ECS)"):
                    good_arn = _current(sb, prov)
                print(f"[{way}] {json.dumps(asdict(row))}", file=sys.stderr, flush=True)
        finally:
            traffic.close()
    return rows


def _fmt(v: float | int | None) -> str:
    return "—" if v is None else f"{v:g}"


def _kinds(r: Row) -> str:
    return ", ".join(f"{k} {n}" for k, n in sorted(r.kinds.items())) or "—"


def _detected(r: Row) -> str:
    """The first failure signal rollout acted on (its message, shortened)."""
    for at, kind, message in (r.raw or {}).get("events", []):
        if kind == "signal":
            return f"{message[:90]} (at {at:g} s)".replace("|", "/")
    return "—"


def table(rows: list[Row]) -> str:
    lines = [
        "| release | way | verdict | failed requests | seconds with a failure "
        "| first failure → back on good (s) | failed during rollback "
        "| decision → prod on blue (s) | requests | failure kinds | detected by |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---|---|",
    ]
    for release in RELEASES:
        for r in (r for r in rows if r.release == release):
            lines.append(
                f"| {r.release} | {r.way} | {r.verdict} | {r.failed} | {r.failed_seconds} | "
                f"{_fmt(r.first_to_back)} | {_fmt(r.during_rollback)} | {_fmt(r.blue_back)} | "
                f"{r.requests} | {_kinds(r)} | {_detected(r)} |"
            )
    return "\n".join(lines)


def targets(rows: list[Row]) -> str:
    out = []
    for release in RELEASES[1:]:
        base = next((r.failed for r in rows if r.release == release and r.way == WAYS[0]), None)
        ours = [r for r in rows if r.release == release and r.way != WAYS[0]]
        if base is None or not ours:
            out.append(f"- {release}: not measured in this run")
            continue
        best = min(ours, key=lambda r: r.failed)
        ratio = best.failed / base if base else None
        met = "met" if ratio is not None and ratio <= 0.05 else "NOT met"
        out.append(
            f"- {release}: breaker-only {base}, best {best.way} {best.failed} "
            f"(ratio {_fmt(None if ratio is None else round(ratio, 3))}; "
            f"target ≤ 0.05: {met})"
        )
    good = [r for r in rows if r.release == "good"]
    if good:
        bad = [f"{r.way} {r.failed}" for r in good if r.failed]
        out.append(
            "- good release, 0 failed requests: "
            + ("met" if not bad else "NOT met (" + ", ".join(bad) + ")")
        )
    rb = [r for r in rows if r.during_rollback is not None]
    if rb:
        bad = [f"{r.way}/{r.release} {r.during_rollback}" for r in rb if r.during_rollback]
        out.append(
            "- 0 failed requests during every rollback (rollout ways): "
            + ("met" if not bad else "NOT met (" + ", ".join(bad) + ")")
        )
    bg = [r for r in rows if r.way == "rollout blue-green" and r.blue_back is not None]
    if bg:
        worst = max(r.blue_back or 0.0 for r in bg)
        out.append(
            f"- blue/green, traffic on blue ≤ 1 s after the decision: worst {worst:g} s "
            f"({'met' if worst <= 1 else 'NOT met'})"
        )
    return "\n".join(out)


def section(rows: list[Row], wall: float, missing: list[str], notes: tuple[str, ...] = ()) -> str:
    text = (
        "## Progressive delivery on the process runtime\n\n"
        "`bench/progressive_process.py`: the issue 10 benchmark with real voj gunicorn processes "
        "(images built from `backend/`, the bad releases are real code changes applied as "
        f"diffs) and real HTTP requests: {RATE:g} req/s of `GET /books` through the sandbox's "
        "local ALB listener, wall clock, `preset=quick`, sandbox metrics per 10 s. A failed "
        f"request is a 5xx (target or ALB), a connection error, or no answer within {SLOW:g} s. "
        "Counted from each deploy's start until it is over (rollout returned; breaker-only: "
        f"service steady again or {BREAKER_WINDOW:g} s) plus {TAIL:g} s. Short settings so the "
        "matrix fits in minutes: canary 5 % (rollout's default) for 1 min, bake 1 min, "
        "analysis window 20 s, min_requests 20, poll 2 s (production defaults: 10 min, 10 min, "
        "60 s). The "
        "traffic-shifting ways run rollout's real smoke probe (`GET /health` with "
        "`X-Rollout-Test: 1`, rollout.toml's `test_headers`) through the test listener rule "
        f"before any production traffic. Wall time of the run(s): {wall:.0f} s.\n\n"
        + table(rows)
        + "\n\nTargets:\n\n"
        + targets(rows)
        + "\n"
    )
    text += (
        "\nHow to read it, and what differs from AWS:\n\n"
        "- Breaker-only rows are cut at "
        f"{BREAKER_WINDOW:g} s: a bad release ECS does not roll back keeps failing after that "
        "(on AWS until someone acts), so its counts are a floor, and 'back on good' is '—' "
        "when ECS had not restored the service by then.\n"
        "- 'Back on good' for the traffic-shifting ways is rollout's rollback decision plus "
        "its measured time to production weight on blue (`traffic.restored`); "
        "`measure.restore` did not report a moment for them in this run (the bad tasks keep "
        "targets registered until ECS stops them after the rollback). For rolling it is "
        "`measure.restore`.\n"
        "- Everything runs on one shared 2-core machine (several sandboxes and other work at "
        "once): a `timeout` (no answer in 2 s) can come from CPU starvation while new "
        "gunicorn tasks boot, not from the release. The failure kinds per row are in the "
        "JSON (`--json`).\n"
        "- The ALB listener is the sandbox's local proxy, health checks and ECS timings use "
        "the `quick` preset (shorter than AWS's), and ALB metrics are published per 10 s "
        "(AWS: per 60 s), which shortens every alarm- and analysis-based detection.\n"
        "- The crash release's 30 s count from each worker's first health-check answer, a "
        "few seconds before the target turns healthy.\n"
    )
    if notes:
        text += "".join(f"- {n}\n" for n in notes)
    if missing:
        text += (
            "\nNot measured (did not finish in the session's time): " + ", ".join(missing) + ".\n"
        )
    return text


def write_section(text: str, doc: Path = DOC) -> None:
    shared_write_section(text, "## Progressive delivery on the process runtime", doc)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ways", default=",".join(WAYS))
    parser.add_argument("--releases", default=",".join(RELEASES))
    parser.add_argument("--json", type=Path, help="write the rows here")
    parser.add_argument("--merge", type=Path, nargs="*", help="rows files to merge, no run")
    parser.add_argument("--write", action="store_true", help="update docs/benchmarks.md")
    parser.add_argument("--note", action="append", default=[], help="a line for the doc")
    args = parser.parse_args(argv)
    t0 = time.perf_counter()
    rows: list[Row] = []
    wall = 0.0
    notes = list(args.note)
    if args.merge:
        keyed: dict[tuple[str, str], Row] = {}
        for path in args.merge:  # a later file's row replaces an earlier one (a rerun)
            doc = json.loads(path.read_text())
            wall += doc["wall"]
            for r in (Row(**x) for x in doc["rows"]):
                first = keyed.get((r.way, r.release))
                if first is not None:
                    notes.append(
                        f"{r.way} / {r.release} was run twice: in its way's full sequence "
                        f"{first.failed} failed requests ({_kinds(first)}; verdict "
                        f"{first.verdict}; detected by: {_detected(first)}); rerun alone on a "
                        f"fresh sandbox: {r.failed} (the row above)."
                    )
                keyed[(r.way, r.release)] = r
        rows = list(keyed.values())
    else:
        releases = tuple(r.strip() for r in args.releases.split(",") if r.strip())
        for way in [w.strip() for w in args.ways.split(",") if w.strip()]:
            rows += run_way(way, releases)
        wall = time.perf_counter() - t0
        if args.json:
            args.json.write_text(json.dumps({"wall": wall, "rows": [asdict(r) for r in rows]}))
    missing = [
        f"{w} / {r}"
        for w in WAYS
        for r in RELEASES
        if not any(x.way == w and x.release == r for x in rows)
    ]
    text = section(rows, wall, missing, tuple(notes))
    print(text)
    print(f"total wall time: {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    if args.write:
        write_section(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
