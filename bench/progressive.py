"""Progressive-delivery benchmark: failed user requests per release, four ways (issue 10).

Four releases (good; 500 on 20 % of its requests; crashes 30 s after turning healthy; p99 above
2 s) shipped four ways, each way on its own freshly provisioned voj sandbox under steady
synthetic traffic (50 req/s through the ALB listener rules, the simulated runtime, virtual
clock):

- breaker-only rolling: RegisterTaskDefinition + UpdateService on the rolling stack, then
  nothing but ECS (circuit breaker and the stack's deployment alarms, both with rollback);
- rollout rolling: ``rollout deploy`` on the same stack;
- rollout canary / rollout blue-green: ``rollout deploy`` with ``strategy`` canary (10 % for
  3 min) / blue-green, bake 5 min, on the stack provisioned ``--strategy`` that way.

Per release, over the same 20 simulated minutes from the deploy's start: failed requests (a 5xx
from the target or the ALB, or an answer slower than 2 s), seconds with any failed request, and
the span from the first to the last failed request (traffic back on a good release). Counted from
every request the synthetic traffic sent (``SyntheticTraffic.record``), not from metrics.

    uv run --frozen python bench/progressive.py            # print the table
    uv run --frozen python bench/progressive.py --write    # and put it in docs/benchmarks.md

Not yet the issue's full benchmark: this runs on the simulated runtime (synthetic requests on the
virtual clock), not on the process runtime's real requests through the ALB listener.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from _shared import register_with_image
from _shared import write_section as shared_write_section
from rollout.context import Context
from rollout.engine.probe import ProbeResult
from rollout.events import EventLog
from rollout.sandbox import FaultRule, Sandbox
from rollout.verbs import deploy

REPO = Path(__file__).resolve().parents[1]
DOC = REPO / "docs" / "benchmarks.md"
RATE = 50.0  # requests per second through the ALB
WINDOW = 20 * 60.0  # simulated seconds counted per release, from the deploy's start
SLOW = 2.0  # an answer this slow counts as failed
WAYS = ("breaker-only rolling", "rollout rolling", "rollout canary", "rollout blue-green")
STACK = {
    "breaker-only rolling": "rolling",
    "rollout rolling": "rolling",
    "rollout canary": "canary",
    "rollout blue-green": "blue-green",
}


@dataclass(frozen=True)
class Release:
    name: str
    tag: str
    fault: Callable[[str, int], FaultRule] | None


RELEASES = (
    Release("good", "sha-0000002", None),
    Release(
        "500 on 20 %",
        "sha-0000003",
        lambda family, rev: FaultRule(effect="serve_5xx", family=family, revision=rev, share=0.2),
    ),
    Release(
        "crash 30 s after healthy",
        "sha-0000002",
        lambda family, rev: FaultRule(
            effect="crash", family=family, revision=rev, after=30.0, count=1000
        ),
    ),
    Release(
        "p99 above 2 s",
        "sha-0000003",
        lambda family, rev: FaultRule(
            effect="slow", family=family, revision=rev, share=0.05, latency=2.5
        ),
    ),
)


@dataclass
class Row:
    way: str
    release: str
    verdict: str
    failed: int
    failed_seconds: int
    span: float | None
    requests: int
    wall: float


@dataclass
class _Counter:
    failures: list[float] = field(default_factory=list)
    kinds: Counter[str] = field(default_factory=Counter)
    requests: int = 0

    def wrap(self, record: Callable[[Any], None]) -> Callable[[Any], None]:
        def counted(outcome: Any) -> None:
            self.requests += 1
            if outcome.status >= 500 or (outcome.latency or 0.0) >= SLOW:
                self.failures.append(float(outcome.at))
                self.kinds[f"{outcome.kind} {outcome.status}"] += 1
            record(outcome)

        return counted


def _pass(url: str, headers: Mapping[str, str] | None = None) -> ProbeResult:
    return ProbeResult("pass", 200, f"GET {url} -> 200")


def _next_revision(sb: Sandbox, family: str) -> int:
    ecs = sb.client_factory().client("ecs")
    n = 0
    for status in ("ACTIVE", "INACTIVE"):
        pages = ecs.get_paginator("list_task_definitions").paginate(
            familyPrefix=family, status=status
        )
        n += sum(len(p["taskDefinitionArns"]) for p in pages)
    return n + 1


def _steady(sb: Sandbox, cluster: str, service: str) -> bool:
    svc = sb.client_factory().client("ecs").describe_services(cluster=cluster, services=[service])
    deployments = svc["services"][0]["deployments"]
    return len(deployments) == 1 and deployments[0].get("rolloutState") == "COMPLETED"


def _breaker_only(sb: Sandbox, prov: Any, image: str) -> str:
    ecs = sb.client_factory().client("ecs")
    current = ecs.describe_services(cluster=prov.cluster, services=[prov.service])["services"][0]
    arn = register_with_image(ecs, current["taskDefinition"], image)
    ecs.update_service(cluster=prov.cluster, service=prov.service, taskDefinition=arn)
    return "(ECS)"


def run_way(way: str) -> list[Row]:
    rows: list[Row] = []
    with Sandbox() as sb:
        prov = sb.provision_voj(strategy=STACK[way])
        traffic = sb.start_synthetic_traffic(rate=RATE)
        counter = _Counter()
        traffic.record = counter.wrap(traffic.record)
        environ = {
            "USER": "bench",
            "GITHUB_SHA": "b" * 40,
            "ROLLOUT_TRAFFIC": "off",
            "ROLLOUT_SMOKE_URL": "",
            "ROLLOUT_STRATEGY": way.removeprefix("rollout ") if way != WAYS[0] else "rolling",
            "ROLLOUT_CANARY_PERCENT": "10",
            "ROLLOUT_CANARY_BAKE_MINUTES": "3",
            "ROLLOUT_BAKE_MINUTES": "5",
        }
        for release in RELEASES:
            sb.advance_until(
                lambda: True if _steady(sb, prov.cluster, prov.service) else None,
                timeout=3600,
                step=5,
            )
            if release.fault is not None:
                sb.faults.add(release.fault(prov.family, _next_revision(sb, prov.family)))
            start = sb.clock.now()
            before_failed, before_requests = len(counter.failures), counter.requests
            t0 = time.perf_counter()
            image = prov.images[release.tag]
            if way == WAYS[0]:
                verdict = _breaker_only(sb, prov, image)
            else:
                ctx = Context(
                    factory=sb.client_factory(),
                    clock=sb.clock,
                    emit=EventLog(),
                    config_path=REPO / "rollout.toml",
                    environ=environ,
                )
                verdict = deploy.run(deploy.DeployOptions(image=image), ctx, prober=_pass).verdict
            left = start + WINDOW - sb.clock.now()
            if left > 0:
                sb.advance(left)
            wall = time.perf_counter() - t0
            failures = [t for t in counter.failures[before_failed:] if t < start + WINDOW]
            rows.append(
                Row(
                    way=way,
                    release=release.name,
                    verdict=verdict,
                    failed=len(failures),
                    failed_seconds=len({int(t) for t in failures}),
                    span=round(max(failures) - min(failures) + 1, 1) if failures else None,
                    requests=counter.requests - before_requests,
                    wall=round(wall, 2),
                )
            )
            print(f"{way} / {release.name}: {dict(counter.kinds)}", file=sys.stderr)
            counter.kinds.clear()
            sb.faults.clear()
        sb.stop_synthetic_traffic()
    return rows


def table(rows: list[Row]) -> str:
    lines = [
        "| release | way | verdict | failed requests | seconds with a failure "
        "| first→last failure (s) | requests |",
        "|---|---|---|---:|---:|---:|---:|",
    ]
    for release in RELEASES:
        for row in (r for r in rows if r.release == release.name):
            span = "—" if row.span is None else f"{row.span:g}"
            lines.append(
                f"| {row.release} | {row.way} | {row.verdict} | {row.failed} | "
                f"{row.failed_seconds} | {span} | {row.requests} |"
            )
    return "\n".join(lines)


def ratios(rows: list[Row]) -> str:
    """Best rollout way's failed requests against breaker-only rolling, per bad release."""
    out = []
    for release in RELEASES[1:]:
        base = next(
            (r.failed for r in rows if r.release == release.name and r.way == WAYS[0]), None
        )
        ours = [r for r in rows if r.release == release.name and r.way != WAYS[0]]
        if base is None or not ours:
            continue
        best = min(ours, key=lambda r: r.failed)
        ratio = "—" if base == 0 else f"{best.failed / base:.3f}"
        out.append(
            f"- {release.name}: breaker-only {base}, best {best.way} {best.failed} "
            f"(ratio {ratio}; target ≤ 0.05)"
        )
    return "\n".join(out)


def section(rows: list[Row], wall: float) -> str:
    return (
        "## Progressive delivery\n\n"
        "`bench/progressive.py`: four releases shipped four ways, each way on a fresh voj sandbox "
        f"(simulated runtime, virtual clock) under {RATE:g} req/s of synthetic traffic through "
        f"the ALB rules; counted over {WINDOW / 60:g} simulated minutes from each deploy's start. "
        f"A failed request is a 5xx (target or ALB) or an answer slower than {SLOW:g} s. "
        f"Wall time of the whole run: {wall:.0f} s.\n\n"
        + table(rows)
        + "\n\nBest rollout way against breaker-only rolling (failed requests):\n\n"
        + ratios(rows)
        + "\n\nRolling deploys: the old tasks' targets drain before their tasks stop (ECS "
        "deregisters first, the ALB sends a draining target nothing), so a good rolling deploy "
        "fails no request and the stack's ELB-5xx deployment alarm no longer rolls it back. "
        "(Until the sandbox fix of the `fidelity` branch every rolling deploy here counted "
        "about 100 ALB 502s from tasks being stopped, and the good release was rolled back.) "
        "The slow release shipped rolling is not caught: no alarm of the stack watches "
        "latency and `rollout deploy` runs its metric analysis on traffic-shifting deploys only, "
        "so it reports SUCCEEDED while 5 % of requests take 2.5 s; the canary and blue-green ways "
        "judge the new target group's p99 and roll it back."
        + "\n\nThe same on the process runtime (real requests through the ALB listener), with "
        'the time from the rollback decision to traffic on blue: "Progressive delivery on the '
        'process runtime" below.\n'
    )


def write_section(text: str, doc: Path = DOC) -> None:
    """Put ``text`` in place of the ``## Progressive delivery`` section (or append it)."""
    shared_write_section(text, "## Progressive delivery", doc)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="update docs/benchmarks.md")
    parser.add_argument("--ways", default=",".join(WAYS), help="comma-separated subset")
    args = parser.parse_args(argv)
    t0 = time.perf_counter()
    rows: list[Row] = []
    for way in [w.strip() for w in args.ways.split(",") if w.strip()]:
        rows += run_way(way)
        print(table([r for r in rows if r.way == way]), file=sys.stderr)
    text = section(rows, time.perf_counter() - t0)
    print(text)
    if args.write:
        write_section(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
