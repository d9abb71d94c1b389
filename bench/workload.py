"""Sandbox cost with the real workload: CPU of the sandbox process and memory per task process.

    uv run --frozen python bench/workload.py            # print the section
    uv run --frozen python bench/workload.py --write    # also update docs/benchmarks.md

An in-process sandbox with the process runtime (``preset="quick"``) provisions voj and scales
it to 4 tasks (4 gunicorn/voj process groups, each on its own loopback address); once they are
healthy, a client in another process sends 50 req/s through the local ALB listener (cycling
``/health``, ``/books``, ``/version``) for ``--seconds``. Over that window:

- CPU of the sandbox process (moto, the ECS model, the ALB listener, health checks, awslogs,
  metrics): user + system time of this process (``resource.getrusage``) / wall time, in cores
  (target <= 1 core);
- memory of each task: the PSS (``/proc/<pid>/smaps_rollup``) and RSS (``/proc/<pid>/status``)
  of every process in its process group (the init, the gunicorn master and its workers), summed,
  read every second; the peak per task (target <= 150 MB, judged on PSS: see the notes the
  section prints), with and without the task's init;
- for reference, the task processes' own CPU (``/proc/<pid>/stat`` utime + stime) and the
  sandbox process's RSS.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from _shared import write_section as shared_write_section

REPO = Path(__file__).resolve().parents[1]
DOC = REPO / "docs" / "benchmarks.md"
HEADING = "## Sandbox cost with real tasks"
HOST = "api.voj.example.com"
TICK = os.sysconf("SC_CLK_TCK")


# -- /proc reads -------------------------------------------------------------------------------
def _stat(pid: str) -> list[str] | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None


def task_groups(parent: int) -> set[int]:
    """Process groups of the task inits ``parent`` started (each task is one group)."""
    groups = set()
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        fields = _stat(name)
        if fields is None:
            continue
        try:
            cmdline = Path(f"/proc/{name}/cmdline").read_bytes()
        except OSError:
            continue
        if int(fields[1]) == parent and b"_init.py" in cmdline:
            groups.add(int(fields[2]))
    return groups


def _kb(path: str, keys: tuple[str, ...]) -> dict[str, int]:
    out = dict.fromkeys(keys, 0)
    try:
        for line in Path(path).read_text().splitlines():
            name = line.split(":", 1)[0]
            if name in out:
                out[name] = int(line.split()[1]) * 1024
    except OSError:
        pass
    return out


def group_usage(groups: set[int]) -> dict[int, dict[str, float]]:
    """Per group, over its live members: ``rss`` (VmRSS summed), ``pss`` (proportional set
    size summed: shared pages split among the processes sharing them, so a page the gunicorn
    master shares with its forked workers counts once), both also without the task's init
    (``app_rss``, ``app_pss``: the container's own processes), and ``cpu`` seconds."""
    usage: dict[int, dict[str, float]] = {
        g: {"rss": 0, "pss": 0, "app_rss": 0, "app_pss": 0, "cpu": 0.0, "procs": 0} for g in groups
    }
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        fields = _stat(name)
        if fields is None or fields[0] == "Z" or int(fields[2]) not in groups:
            continue
        rss = _kb(f"/proc/{name}/status", ("VmRSS",))["VmRSS"]
        pss = _kb(f"/proc/{name}/smaps_rollup", ("Pss",))["Pss"]
        try:
            init = b"_init.py" in Path(f"/proc/{name}/cmdline").read_bytes()
        except OSError:
            continue
        u = usage[int(fields[2])]
        u["rss"] += rss
        u["pss"] += pss
        if not init:
            u["app_rss"] += rss
            u["app_pss"] += pss
        u["cpu"] += (int(fields[11]) + int(fields[12])) / TICK
        u["procs"] += 1
    return usage


def self_rss() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


# -- the client process ------------------------------------------------------------------------
def client_main(url: str, rate: float, seconds: float) -> None:
    from rollout.sandbox.dataplane.traffic import TrafficOptions, run_traffic

    result = run_traffic(
        TrafficOptions(
            url,
            rate=rate,
            duration=seconds,
            paths=("/health", "/books", "/version"),
            host=HOST,
            timeout=10.0,
        )
    )
    print(
        json.dumps(
            {
                "requests": result.requests,
                "failed": result.failed,
                "failures": result.failures,
                "p50_ms": result.p50_ms,
                "p99_ms": result.p99_ms,
            }
        )
    )


# -- orchestration -----------------------------------------------------------------------------
def measure(tasks: int, rate: float, seconds: float) -> dict[str, Any]:
    sys.path.insert(0, str(REPO / "src"))
    from rollout.sandbox import Sandbox

    wall0 = time.perf_counter()
    with Sandbox(runtime="process", preset="quick") as sb:
        prov = sb.provision_voj()
        ecs = sb.client_factory().client("ecs")
        ecs.update_service(cluster=prov.cluster, service=prov.service, desiredCount=tasks)

        def healthy() -> bool | None:
            elb = sb.client_factory().client("elbv2")
            docs = elb.describe_target_health(TargetGroupArn=prov.target_group_arns[0])
            states = [d["TargetHealth"]["State"] for d in docs["TargetHealthDescriptions"]]
            return (states.count("healthy") == tasks and len(states) == tasks) or None

        sb.advance_until(healthy, timeout=180, step=0.5)
        url = sb.alb_url(prov.load_balancer_name)
        groups = task_groups(os.getpid())
        assert len(groups) == tasks, groups
        usage0 = group_usage(groups)
        ru0 = resource.getrusage(resource.RUSAGE_SELF)
        t0 = time.perf_counter()
        client = subprocess.Popen(
            [sys.executable, __file__, "--client", str(url), str(rate), str(seconds)],
            stdout=subprocess.PIPE,
            text=True,
        )
        keys = ("rss", "pss", "app_rss", "app_pss")
        peak: dict[int, dict[str, float]] = {g: dict.fromkeys(keys, 0.0) for g in groups}
        procs = 0
        sandbox_peak = 0
        try:
            while client.poll() is None:
                for g, u in group_usage(groups).items():
                    for k in keys:
                        peak[g][k] = max(peak[g][k], u[k])
                    procs = max(procs, int(u["procs"]))
                sandbox_peak = max(sandbox_peak, self_rss())
                time.sleep(1.0)
            out, _ = client.communicate(timeout=30)
        finally:
            if client.poll() is None:
                client.kill()
                client.wait()
        elapsed = time.perf_counter() - t0
        ru1 = resource.getrusage(resource.RUSAGE_SELF)
        usage1 = group_usage(groups)
    traffic = json.loads(out)
    cpu = (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime)
    task_cpu = [(usage1[g]["cpu"] - usage0[g]["cpu"]) / elapsed for g in sorted(groups)]
    return {
        "tasks": tasks,
        "rate": rate,
        "seconds": seconds,
        "elapsed": elapsed,
        "traffic": traffic,
        "sandbox_cores": cpu / elapsed,
        "sandbox_rss_mb": sandbox_peak / 2**20,
        "task_mb": {k: [peak[g][k] / 2**20 for g in sorted(groups)] for k in keys},
        "procs": procs,
        "task_cores": task_cpu,
        "wall": time.perf_counter() - wall0,
        "load": os.getloadavg(),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
    }


def section(m: dict[str, Any]) -> str:
    cores = m["sandbox_cores"]
    mb = m["task_mb"]
    pss = mb["pss"]
    t = m["traffic"]
    load = ", ".join(f"{x:.1f}" for x in m["load"])

    def each(key: str) -> str:
        return f"max {max(mb[key]):.0f} MB (each: {', '.join(f'{x:.0f}' for x in mb[key])})"

    per_task_cpu = ", ".join(f"{x:.2f}" for x in m["task_cores"])
    failures = ", ".join(f"{k} {v}" for k, v in t["failures"].items() if v) or "none"
    return "\n".join(
        [
            HEADING,
            "",
            f"Measured by `bench/workload.py` on {time.strftime('%Y-%m-%d')}: {m['cpus']} CPUs, "
            f"Python {m['python']}, load average at the end {load} (shared machine).",
            f'{m["tasks"]} voj task processes (process runtime, `preset="quick"`), '
            f"{m['rate']:g} req/s through the ALB listener for {m['elapsed']:.0f} s "
            "(`/health`, `/books`, `/version` in turn, from a client process).",
            "",
            "| measure | value | target |",
            "|---|---:|---|",
            f"| CPU of the sandbox process (moto, ECS model, listener, health checks, logs, "
            f"metrics) | {cores:.2f} cores | <= 1 core: {'met' if cores <= 1 else 'NOT met'} |",
            f"| memory per task, PSS of its process group ({m['procs']} processes: the task's "
            f"init, the gunicorn master, its workers), peak | {each('pss')} | <= 150 MB: "
            f"{'met' if max(pss) <= 150 else 'NOT met'} |",
            f"| the same without the init (the container's own processes), PSS | "
            f"{each('app_pss')} |  |",
            f"| RSS summed over the group (shared pages counted once per process) | "
            f"{each('rss')} |  |",
            f"| RSS summed without the init | {each('app_rss')} |  |",
            f"| CPU per task process group | {per_task_cpu} cores |  |",
            f"| sandbox process peak RSS | {m['sandbox_rss_mb']:.0f} MB |  |",
            f"| requests / failed | {t['requests']} / {t['failed']} ({failures}) |  |",
            f"| latency through the listener p50 / p99 | {t['p50_ms']:.1f} / {t['p99_ms']:.1f} "
            "ms |  |",
            "",
            "CPU is `getrusage(RUSAGE_SELF)` of the sandbox's process over the traffic window;",
            "memory is read every second from `/proc/<pid>/smaps_rollup` (Pss) and",
            "`/proc/<pid>/status` (VmRSS) of every process in each task's process group. PSS is",
            "the target's measure: with `preload_app` the workers share the master's pages",
            "copy-on-write, which a summed RSS counts once per process and a container's memory",
            "cgroup charges once; PSS splits each shared page among its sharers. The init is the",
            "sandbox's stand-in for the container runtime (it forwards signals and kills the",
            "group), not part of the container on Fargate.",
            f"Wall time of the whole run: {m['wall']:.0f} s.",
            "",
            "Reproduce: `uv run --frozen python bench/workload.py` (add `--write` to update this "
            "section).",
            "",
        ]
    )


def write_section(text: str, doc: Path = DOC) -> None:
    """Put ``text`` in place of this benchmark's section (append it if there is none)."""
    shared_write_section(text, HEADING, doc)


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["--client"]:
        client_main(args[1], float(args[2]), float(args[3]))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="update docs/benchmarks.md")
    parser.add_argument("--tasks", type=int, default=4)
    parser.add_argument("--rate", type=float, default=50.0)
    parser.add_argument("--seconds", type=float, default=30.0)
    parsed = parser.parse_args(args)
    text = section(measure(parsed.tasks, parsed.rate, parsed.seconds))
    print(text)
    if parsed.write:
        write_section(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
