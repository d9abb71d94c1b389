"""Act 9 of ``rollout demo``: a release that serves errors to real requests, and the count.

The acts before it run on the virtual clock with simulated tasks, whose bad releases never
serve a request. This one runs the real service: a sandbox with the process runtime (every ECS
task a gunicorn/voj process group on its own loopback address, ECS's own delays cut by the
``quick`` preset, ALB metrics every 10 s), steady traffic through the local ALB listener, and a
release built from ``backend/`` with a real code change (``rollout.sandbox.runtime.patches``:
``books-500``, every other ``GET /books`` answers 500). The release boots and passes its health
checks, then fails real requests; rollout deploys it with the real ``deploy`` verb, the 5xx
alarm fires, and the service goes back to revision 1. The failed requests are counted by phase
(:func:`rollout.sandbox.measure.failures_by_phase`).

The operator's one change to the stack, said where it is made: the ``voj-prod-target-5xx``
alarm is put on 10-second periods (high-resolution, the sandbox's ``DEMO_METRICS_PERIOD``)
instead of 60, so the act takes seconds, not minutes.
"""

from __future__ import annotations

import tempfile
import threading
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from rollout.events import Event, EventSink
from rollout.sandbox import DEMO_METRICS_PERIOD, Sandbox, measure
from rollout.sandbox.dataplane.traffic import TrafficOptions, TrafficResult, run_traffic
from rollout.sandbox.runtime.patches import patch_text
from rollout.verbs import deploy

#: The bad release's image tag and patch.
BAD_TAG = "sha-0000006"
PATCH = "books-500"
#: The steady traffic through the listener: requests per second, and the paths it cycles.
RATE = 20.0
PATHS = ("/books", "/health")
HOST = "api.voj.example.com"  # the stack's ALLOWED_HOSTS
#: The alarm the operator puts on high-resolution periods for the demo.
ALARM = "voj-prod-target-5xx"
#: How long rollout bakes the release (rollout.toml says 60 s; the alarm fires well inside).
BAKE_SECONDS = 30
#: Bounds: the traffic never runs longer than this (wall seconds), whatever happens.
TRAFFIC_LIMIT = 150.0
#: Wall seconds to wait after the verdict for traffic to be restored, at most.
RESTORE_WAIT = 40.0
#: Phases of :func:`measure.failures_by_phase`, in the order the demo prints them.
PHASES = ("before", "until_restored", "after_restored", "zero_healthy")


@dataclass(frozen=True)
class WorkloadMeasured:
    """What Act 9 counted (sandbox seconds are wall seconds in the process runtime)."""

    release: str
    verdict: str
    verdict_after: float | None  # UpdateService -> rollout's verdict
    restored_after: float | None  # UpdateService -> traffic restored (measure.restore)
    requests: int
    failed: int
    failures: dict[str, int]
    by_phase: dict[str, dict[str, Any]] = field(default_factory=dict)
    p50_ms: float | None = None
    p99_ms: float | None = None
    wall_seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "release": self.release,
            "verdict": self.verdict,
            "verdict_after": _round(self.verdict_after),
            "restored_after": _round(self.restored_after),
            "requests": self.requests,
            "failed": self.failed,
            "failures": dict(self.failures),
            "by_phase": self.by_phase,
            "p50_ms": _round(self.p50_ms),
            "p99_ms": _round(self.p99_ms),
            "wall_seconds": round(self.wall_seconds, 1),
        }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def available() -> bool:
    """Whether the backend's source is here to build images from (a checkout, not a wheel)."""
    from rollout.sandbox.runtime.images import DEFAULT_SOURCE

    return (DEFAULT_SOURCE / "Dockerfile").is_file()


def _say(emit: EventSink, at: float, message: str, level: Any = "info", **data: Any) -> None:
    emit(Event("demo.act", at, message, level=level, data=data))


def tighten_alarm(sb: Sandbox, name: str = ALARM, period: int = DEMO_METRICS_PERIOD) -> None:
    """The operator's demo setting: ``name`` evaluated on ``period``-second periods."""
    cw = sb.client_factory().client("cloudwatch")
    [alarm] = cw.describe_alarms(AlarmNames=[name])["MetricAlarms"]
    keep = (
        "AlarmName",
        "AlarmDescription",
        "ActionsEnabled",
        "Namespace",
        "MetricName",
        "Dimensions",
        "Statistic",
        "EvaluationPeriods",
        "Threshold",
        "ComparisonOperator",
        "TreatMissingData",
    )
    params = {k: alarm[k] for k in keep if alarm.get(k) is not None}
    cw.put_metric_alarm(**params, Period=period)


class _Traffic:
    """Steady traffic through the listener on a thread; ``started_at`` on the sandbox clock."""

    def __init__(self, sb: Sandbox, url: str) -> None:
        self.sb = sb
        self.stop = threading.Event()
        self.started_at = 0.0
        self.result: TrafficResult | None = None
        self.options = TrafficOptions(
            url, rate=RATE, duration=TRAFFIC_LIMIT, paths=PATHS, host=HOST, timeout=10.0
        )
        self.thread = threading.Thread(target=self._send, name="demo-traffic", daemon=True)

    def _send(self) -> None:
        self.started_at = self.sb.clock.now()
        self.result = run_traffic(self.options, stop=self.stop)

    def seconds(self) -> list[measure.SecondCount]:
        if self.result is None:
            return []
        return [
            measure.SecondCount(self.started_at + row.second, row.requests, dict(row.failures))
            for row in self.result.seconds
        ]


def act(
    config_path: Path,
    report: EventSink,
    *,
    base_environ: dict[str, str],
    continue_at: float = 0.0,
) -> WorkloadMeasured | None:
    """Act 9 (see the module docstring); None when there is no ``backend/`` to build from.

    Its events go to ``report`` with their times moved to continue from ``continue_at`` (where
    the acts before, on the virtual clock, ended), one wall second per second."""
    from rollout.verbs.demo import Stage, template_of

    wall = time.perf_counter()
    if not available():
        _say(report, continue_at, "Act 9 skipped: no backend/ source to build real images from")
        return None
    with (
        tempfile.TemporaryDirectory(prefix="rollout-demo-") as tmp,
        Sandbox(runtime="process", preset="quick", metrics_period=DEMO_METRICS_PERIOD) as sb,
    ):
        origin = sb.clock.now()

        def emit(event: Event) -> None:
            report(replace(event, at=event.at - origin + continue_at))

        _say(
            emit,
            sb.clock.now(),
            "Act 9: the real service. A new sandbox runs every task as a real gunicorn process "
            "of an image built from backend/ (process runtime, wall-clock time, ECS's own "
            "delays cut); requests go through the local ALB listener",
            level="success",
        )
        prov = sb.provision_voj()
        url = sb.alb_url(prov.load_balancer_name)
        assert url is not None  # the stack has its load balancer
        tighten_alarm(sb)
        _say(
            emit,
            sb.clock.now(),
            f"voj runs {prov.family}:1 as 2 real processes behind {url}; the operator puts "
            f"{ALARM} on {DEMO_METRICS_PERIOD}-second periods (AWS: 60) for the demo",
        )
        sb.build_image(BAD_TAG, patch=patch_text(PATCH))
        _say(
            emit,
            sb.clock.now(),
            f"built {BAD_TAG} from backend/ with a real patch ({PATCH}.diff: every other "
            f"GET /books answers 500); {RATE:g} req/s of {' and '.join(PATHS)} start through "
            "the ALB",
        )
        config = config_path.resolve()
        environ = {**base_environ, "ROLLOUT_BAKE__SECONDS": str(BAKE_SECONDS)}
        stage = Stage(sb, prov, config, Path(tmp), template_of(config), environ)
        traffic = _Traffic(sb, url)
        traffic.thread.start()
        try:
            time.sleep(2.0)  # a baseline of good requests first
            t0 = sb.clock.now()
            events: list[Event] = []

            def tee(event: Event) -> None:
                events.append(event)
                emit(event)

            image = f"{prov.repository_uri}:{BAD_TAG}"
            outcome = deploy.run(
                deploy.DeployOptions(image=image, env="prod"), stage.factory_context(tee, environ)
            )
            # rollout's verdict comes once revision 1 is healthy again; the bad tasks still
            # drain: count on until traffic is restored (measure.restore), then a little more
            update = measure.first_update_call(sb.calls("ecs"), t0)
            deadline = time.monotonic() + RESTORE_WAIT
            while update is not None and time.monotonic() < deadline:
                moment = measure.restore(sb, prov.cluster, prov.service, update)
                if moment is None or moment.restored_at is not None:
                    break
                time.sleep(0.5)
            time.sleep(3.0)
        finally:
            traffic.stop.set()
            traffic.thread.join(timeout=30)
        verdict_at = next((e.at for e in events if e.kind == "verdict"), sb.clock.now())
        moment = (
            measure.restore(sb, prov.cluster, prov.service, update) if update is not None else None
        )
        seconds = traffic.seconds()
        phases = measure.failures_by_phase(seconds, moment) if moment is not None else {}
        result = traffic.result
        measured = WorkloadMeasured(
            release=f"{PATCH} ({BAD_TAG})",
            verdict=outcome.verdict,
            verdict_after=verdict_at - update if update is not None else None,
            restored_after=moment.restored_after if moment is not None else None,
            requests=result.requests if result else 0,
            failed=result.failed if result else 0,
            failures={k: v for k, v in (result.failures if result else {}).items() if v},
            by_phase={
                name: {
                    "requests": t.requests,
                    "failed": t.failed,
                    "failures": {k: v for k, v in t.failures.items() if v},
                }
                for name, t in phases.items()
            },
            p50_ms=result.p50_ms if result else None,
            p99_ms=result.p99_ms if result else None,
            wall_seconds=time.perf_counter() - wall,
        )
        phase_text = "; ".join(
            f"{name.replace('_', ' ')}: {p['failed']} of {p['requests']}"
            for name, p in measured.by_phase.items()
        )
        _say(
            emit,
            sb.clock.now(),
            f"users saw {measured.failed} failed requests of {measured.requests} "
            f"({phase_text or 'no deployment measured'})",
            level="warning" if measured.failed else "success",
            **measured.to_json(),
        )
        return measured
