"""Booting tasks vs serving ones on the process runtime: requests that fail while new tasks boot.

    uv run --frozen python bench/boot_contention.py                 # a forced new deployment
    uv run --frozen python bench/boot_contention.py --scale 4       # or 4 more tasks at once
    uv run --frozen python bench/boot_contention.py --boot-nice 0   # without the CPU setting

An in-process sandbox (``runtime="process"``, ``preset="quick"``) provisions voj (2 tasks), sends
50 req/s of ``GET /books`` through the local ALB listener (client timeout 2 s, the traffic thread
runs in this process as in ``bench/progressive_process.py``), and after 5 s of warm-up either
forces a new deployment of the same (good) image (the rolling stack starts 2 new tasks, then
stops the old ones) or scales the service up by ``--scale`` tasks. The new gunicorn tasks boot
(imports of FastAPI, boto3, ...) on the same cores as the serving tasks, the ALB listener and
the client. Counted from the change until the service is steady again plus 10 s: requests,
failed requests by kind, seconds with a failure, and how long the new tasks took to turn
healthy targets. On AWS every Fargate task has its own vCPUs, so the good release fails no
request; issue 10's benchmark saw 124 and 335 ``timeout`` failures here (before the sandbox's
``boot_nice`` setting, see docs/sandbox.md).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from typing import Any

from rollout.sandbox import Sandbox
from rollout.sandbox.dataplane.traffic import SecondRow, TrafficOptions, run_traffic

HOST = "api.voj.example.com"
RATE = 50.0
SLOW = 2.0
TAIL = 10.0


def _steady(sb: Sandbox, cluster: str, service: str, want: int) -> bool:
    doc = sb.describe_service(cluster, service) or {}
    deployments = doc.get("deployments", [])
    return (
        len(deployments) == 1
        and deployments[0].get("rolloutState") == "COMPLETED"
        and doc.get("runningCount") == want
    )


def _task_ips(sb: Sandbox, cluster: str) -> set[str]:
    ecs = sb.client_factory().client("ecs")
    arns = ecs.list_tasks(cluster=cluster, desiredStatus="RUNNING")["taskArns"]
    tasks = ecs.describe_tasks(cluster=cluster, tasks=arns)["tasks"] if arns else []
    return {
        str(d["privateIpv4Address"])
        for t in tasks
        for c in t.get("containers", [])
        for d in c.get("networkInterfaces", [])
    }


def _healthy_targets(sb: Sandbox, arn: str) -> set[str]:
    elb = sb.client_factory().client("elbv2")
    docs = elb.describe_target_health(TargetGroupArn=arn)["TargetHealthDescriptions"]
    return {d["Target"]["Id"] for d in docs if d["TargetHealth"]["State"] == "healthy"}


def run(scale: int, boot_nice: int | None) -> dict[str, Any]:
    kwargs: dict[str, Any] = {} if boot_nice is None else {"boot_nice": boot_nice}
    rows: list[SecondRow] = []
    stop = threading.Event()
    wall0 = time.perf_counter()
    with Sandbox(runtime="process", preset="quick", **kwargs) as sb:
        prov = sb.provision_voj()
        url = sb.alb_url(prov.load_balancer_name)
        assert url
        ecs = sb.client_factory().client("ecs")
        before = int((sb.describe_service(prov.cluster, prov.service) or {})["desiredCount"])
        opts = TrafficOptions(
            url=url, rate=RATE, duration=1800.0, paths=("/books",), host=HOST, timeout=SLOW
        )
        thread = threading.Thread(
            target=run_traffic, args=(opts,), kwargs={"stop": stop, "on_second": rows.append}
        )
        old = _task_ips(sb, prov.cluster)
        new = scale or len(old)
        origin = time.monotonic()
        thread.start()
        try:
            time.sleep(5)
            t0 = time.monotonic()
            first = int(t0 - origin)
            if scale:
                want = before + scale
                ecs.update_service(cluster=prov.cluster, service=prov.service, desiredCount=want)
            else:
                want = before
                ecs.update_service(
                    cluster=prov.cluster, service=prov.service, forceNewDeployment=True
                )
            time.sleep(3)
            all_healthy: float | None = None
            end = time.monotonic() + 300
            while time.monotonic() < end:
                healthy = _healthy_targets(sb, prov.target_group_arns[0])
                if all_healthy is None and len(healthy - old) >= new:
                    all_healthy = time.monotonic() - t0
                if _steady(sb, prov.cluster, prov.service, want):
                    break
                time.sleep(0.5)
            settled = time.monotonic() - t0
            time.sleep(TAIL + SLOW)
        finally:
            stop.set()
            thread.join(timeout=15)
    window = [r for r in rows if first <= r.second < first + int(settled + TAIL)]
    kinds: dict[str, int] = {}
    for r in window:
        for k, n in r.failures.items():
            kinds[k] = kinds.get(k, 0) + n
    return {
        "change": f"scale +{scale}" if scale else "forced new deployment",
        "boot_nice": boot_nice,
        "requests": sum(r.requests for r in window),
        "failed": sum(r.failed for r in window),
        "failed_seconds": sum(1 for r in window if r.failed),
        "kinds": kinds,
        "failed_at": {str(r.second - first): r.failed for r in window if r.failed},
        "new_tasks_healthy_s": None if all_healthy is None else round(all_healthy, 1),
        "settled_s": round(settled, 1),
        "load": [round(x, 1) for x in os.getloadavg()],
        "wall": round(time.perf_counter() - wall0, 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=int, default=0, help="scale up by N (default: deploy)")
    parser.add_argument("--boot-nice", type=int, default=None, help="the sandbox's boot_nice")
    args = parser.parse_args(argv)
    print(json.dumps(run(args.scale, args.boot_nice)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
