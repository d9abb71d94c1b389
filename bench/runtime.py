"""Process runtime benchmark: from a task's process start to a healthy ALB target.

    uv run --frozen python bench/runtime.py            # print the section
    uv run --frozen python bench/runtime.py --write    # also update docs/benchmarks.md

A sandbox with the process runtime (``preset="quick"``) provisions voj (revision 1 built from the
working tree), then ``--rounds`` times scales the service from 2 to ``2 + --burst`` tasks and back.
For each task started it reads the sandbox's timeline: RUNNING (the moment the runtime spawned the
task's process group), the target's ``healthy`` (the first passing real ALB health check after
registration) and the container's ``HEALTHY`` (the task definition's healthCheck command). The
target group checks every 5 s (``infra/voj.yaml``), so start → healthy target is at least one
interval; the rest is gunicorn booting (two workers, the app preloaded) while ``--burst`` tasks
start at once on a shared 2-core machine.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from _shared import write_section as shared_write_section

REPO = Path(__file__).resolve().parents[1]
DOCS = REPO / "docs" / "benchmarks.md"
TITLE = "## Process runtime"


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = max(0, min(len(ordered) - 1, round(q * (len(ordered) - 1))))
    return ordered[index]


def _poll_ready(sb: Any, ecs: Any, cluster: str, ready: dict[str, float | None]) -> None:
    """Record when each RUNNING task first answers 200 on /health (the app is up)."""
    import urllib.request

    arns = ecs.list_tasks(cluster=cluster, desiredStatus="RUNNING")["taskArns"]
    for task in ecs.describe_tasks(cluster=cluster, tasks=arns)["tasks"] if arns else []:
        task_id = task["taskArn"].rsplit("/", 1)[-1]
        if ready.get(task_id) is not None or task["lastStatus"] != "RUNNING":
            continue
        ready.setdefault(task_id, None)
        ip = task["containers"][0]["networkInterfaces"][0]["privateIpv4Address"]
        try:
            with urllib.request.urlopen(f"http://{ip}:8000/health", timeout=0.2) as answer:
                if answer.status == 200:
                    ready[task_id] = sb.clock.now()
        except OSError:
            pass


def measure(rounds: int, burst: int) -> dict[str, Any]:
    from rollout.sandbox import Sandbox

    started = time.monotonic()
    with Sandbox(runtime="process", preset="quick") as sb:
        result = sb.provision_voj()
        ecs = sb.client_factory().client("ecs")
        elb = sb.client_factory().client("elbv2")
        group = result.target_group_arns[0]
        ready: dict[str, float | None] = {}
        _poll_ready(sb, ecs, result.cluster, ready)
        before = set(ready)  # provision's tasks: started before the bench watched
        for _ in range(rounds):
            ecs.update_service(
                cluster=result.cluster, service=result.service, desiredCount=2 + burst
            )
            deadline = time.monotonic() + 120  # every new target healthy (steady is not enough)
            while time.monotonic() < deadline:
                _poll_ready(sb, ecs, result.cluster, ready)
                targets = elb.describe_target_health(TargetGroupArn=group)
                states = [d["TargetHealth"]["State"] for d in targets["TargetHealthDescriptions"]]
                if states.count("healthy") >= 2 + burst:
                    break
                time.sleep(0.05)
            ecs.update_service(cluster=result.cluster, service=result.service, desiredCount=2)
            sb.wait_steady(result.cluster, result.service, timeout=180, step=0.25)
            # ECS is steady once the extra tasks leave RUNNING; wait until they have drained and
            # exited, so the next round starts `burst` tasks beside only the 2 that stay
            deadline = time.monotonic() + 120
            while sb.sim.runtime.live_count() > 2 and time.monotonic() < deadline:
                time.sleep(0.25)
        timeline = sb.timeline()
    running: dict[str, float] = {}
    target: dict[str, float] = {}
    container: dict[str, float] = {}
    for entry in timeline:
        task = entry.detail.get("task")
        if entry.kind == "task.state" and entry.detail.get("state") == "RUNNING":
            running.setdefault(task, entry.time)
        elif entry.kind == "target.health" and entry.detail.get("state") == "healthy":
            target.setdefault(task, entry.time)
        elif entry.kind == "task.health" and entry.detail.get("state") == "HEALTHY":
            container.setdefault(task, entry.time)
    to_target = [target[t] - running[t] for t in running if t in target]
    to_container = [container[t] - running[t] for t in running if t in container]
    to_app = [
        at - running[t]
        for t, at in ready.items()
        if at is not None and t in running and t not in before
    ]
    return {
        "samples": len(to_target),
        "target_median": statistics.median(to_target),
        "target_p90": _pct(to_target, 0.9),
        "target_min": min(to_target),
        "target_max": max(to_target),
        "app_median": statistics.median(to_app),
        "app_p90": _pct(to_app, 0.9),
        "app_samples": len(to_app),
        "container_median": statistics.median(to_container),
        "container_p90": _pct(to_container, 0.9),
        "wall": time.monotonic() - started,
        "load": os.getloadavg(),
    }


def render(r: dict[str, Any], args: argparse.Namespace) -> str:
    load = ", ".join(f"{x:.1f}" for x in r["load"])
    target_row = (
        "| task process start (RUNNING) → target `healthy` (real ALB check, 5 s interval) | "
        f"{r['target_median']:.1f} s | {r['target_p90']:.1f} s | "
        f"{r['target_min']:.1f}-{r['target_max']:.1f} s |"
    )
    app_row = (
        "| task process start → the app's first 200 on `/health` (polled every ~50 ms) | "
        f"{r['app_median']:.1f} s | {r['app_p90']:.1f} s | {r['app_samples']} samples |"
    )
    container_row = (
        "| task process start → container healthCheck `HEALTHY` (10 s interval) | "
        f"{r['container_median']:.1f} s | {r['container_p90']:.1f} s | |"
    )
    return f"""{TITLE}

Measured by `bench/runtime.py` on {datetime.now(UTC):%Y-%m-%d}: {os.cpu_count()} CPUs, Python
{platform.python_version()}, load average at the end {load} (shared machine). A process-runtime
sandbox (`preset="quick"`) provisions voj, then {args.rounds} times scales it from 2 to
{2 + args.burst} tasks and back; {r["samples"]} task starts, {args.burst} at once each round.

| measure | median | p90 | range |
|---|---:|---:|---|
{target_row}
{app_row}
{container_row}

The floor is the target group's 5 s interval: the first check runs one interval after the
target is registered (registration follows RUNNING at once), and one pass turns a new target
healthy (the ALB guide's reading, `Behaviour.first_healthy`); the app itself is up well before
(the second row, with {args.burst} tasks booting at once on 2 shared cores; polling adds up to a
few hundred ms when the bench's own describe calls queue behind the sandbox's lock).
Wall time of the whole run: {r["wall"]:.0f} s.

Reproduce: `uv run --frozen python bench/runtime.py` (add `--write` to update this section).
"""


def write_section(section: str) -> None:
    shared_write_section(section, TITLE, DOCS)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--burst", type=int, default=4, help="tasks started at once (cap 8 - 2)")
    parser.add_argument("--write", action="store_true", help="update docs/benchmarks.md")
    args = parser.parse_args(argv)
    section = render(measure(args.rounds, args.burst), args)
    print(section)
    if args.write:
        write_section(section)
        print(f"wrote {DOCS.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
