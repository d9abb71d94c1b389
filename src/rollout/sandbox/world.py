"""The state of one sandbox: clock, ECS simulation, moto's backends and the overlays on top.

moto keeps its state in process-global backends, so a process holds one sandbox world at a time:
creating a :class:`World` resets every moto backend (moto's own reset API) and makes it the current
one. Everything that reads or changes the world runs under :attr:`World.lock` (the simulation's
lock): every request the front app answers, and the real-time :class:`Ticker`.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from rollout.sandbox.clock import RealtimeClock, VirtualClock
from rollout.sandbox.overlays import iam_managed
from rollout.sandbox.overlays.route53 import DEFAULT_PROPAGATION_DELAY, Route53Overlay
from rollout.sandbox.recorder import CallRecorder

log = logging.getLogger(__name__)

SandboxClock = VirtualClock | RealtimeClock

#: The account every sandbox request acts in (moto's ``DEFAULT_ACCOUNT_ID``; dummy credentials
#: map to it).
ACCOUNT_ID = "123456789012"


def reset_moto() -> None:
    """Forget every resource in every moto backend of this process.

    Also turns off moto's loading of ~2,500 public EC2 AMIs per region backend (about 1 s of
    CPU per sandbox; Fargate never uses them), unless ``MOTO_EC2_LOAD_DEFAULT_AMIS`` is set.
    """
    import os

    from moto.moto_api._internal.models import moto_api_backend

    os.environ.setdefault("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")
    moto_api_backend.reset()


class Simulation(Protocol):
    """What the world needs from :class:`rollout.sandbox.ecs.EcsSimulation`."""

    lock: Any

    def dispatch(
        self, operation: str, params: Mapping[str, Any], *, region: str, account: str
    ) -> dict[str, Any]: ...

    def run_until(self, t: float) -> None: ...


@dataclass(frozen=True)
class ApiFault:
    """Answer the next ``times`` matching requests with an AWS error instead of serving them.

    Used for throttling (``ThrottlingException`` / ``Throttling`` / ``RequestLimitExceeded``,
    reference §9), expired credentials (``ExpiredTokenException``) or server errors: the error
    goes over the wire, so botocore's retry handler sees it as it would on AWS.
    """

    service: str
    operation: str | None = None
    code: str = "ThrottlingException"
    message: str = "Rate exceeded"
    status: int = 400
    times: int = 1

    def __post_init__(self) -> None:
        if self.times < 1:
            raise ValueError(f"ApiFault.times must be >= 1, got {self.times}")
        if not 400 <= self.status <= 599:
            raise ValueError(f"ApiFault.status must be an HTTP error status, got {self.status}")


@dataclass
class ApiFaults:
    """Pending :class:`ApiFault` answers, consumed in order."""

    _pending: list[list[Any]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, fault: ApiFault) -> None:
        with self._lock:
            self._pending.append([fault, fault.times])

    def clear(self) -> None:
        with self._lock:
            self._pending.clear()

    def take(self, service: str, operation: str) -> ApiFault | None:
        """The fault to apply to this request, if any (uses up one of its ``times``)."""
        with self._lock:
            for entry in self._pending:
                fault: ApiFault = entry[0]
                if fault.service == service and fault.operation in (None, operation):
                    entry[1] -= 1
                    if entry[1] <= 0:
                        self._pending.remove(entry)
                    return fault
        return None

    def __len__(self) -> int:
        with self._lock:
            return len(self._pending)


class World:
    """One sandbox's state. See the module docstring."""

    def __init__(
        self,
        *,
        region: str,
        clock: SandboxClock,
        simulation_factory: Callable[[], Simulation] | None = None,
        faults: Any = None,
        timings: Any = None,
        behaviour: Any = None,
        route53_propagation: float = DEFAULT_PROPAGATION_DELAY,
        account: str = ACCOUNT_ID,
        metrics_period: int = 60,
        runtime: str = "simulated",
        max_tasks: int = 8,
        boot_nice: int = 10,
    ) -> None:
        self.region = region
        self.account = account
        self.clock = clock
        self.runtime_name = runtime
        #: the named timings preset (``sandbox up --preset``), for the banner and /_sandbox/health
        self.preset: str | None = None
        #: the HTTP endpoint's URL once served (task processes reach AWS through it)
        self.endpoint_url: str | None = None
        self._cache_dir: Path | None = None
        self._images: Any = None
        reset_moto()
        task_runtime: Any = None
        if runtime == "process":
            from rollout.sandbox.runtime.process import ProcessRuntime

            task_runtime = ProcessRuntime(
                images=self.images,
                endpoint=self._endpoint,
                clock_now=clock.now,
                max_tasks=max_tasks,
                boot_nice=boot_nice,
            )
        elif runtime != "simulated":
            raise ValueError(f"unknown runtime {runtime!r}: use simulated or process")
        self.sim: Any = (
            simulation_factory()
            if simulation_factory is not None
            else _make_simulation(
                clock=clock,
                faults=faults,
                timings=timings,
                behaviour=behaviour,
                runtime=task_runtime,
            )
        )
        self.lock: Any = self.sim.lock
        self.recorder = CallRecorder()
        self.route53 = Route53Overlay(clock, propagation_delay=route53_propagation)
        iam_managed.install()  # AWS managed policies exist, CFN roles attach them
        self.api_faults = ApiFaults()
        self.observability = _make_observability(self, metrics_period)
        #: The local ALB listeners, once started (``Sandbox.start_alb``).
        self.alb: Any = None
        #: Synthetic traffic (simulated runtime), once started (``start_synthetic_traffic``).
        self.synthetic: Any = None

    @property
    def cache_dir(self) -> Path:
        """The sandbox's own scratch directory (image snapshots); removed by :meth:`close`."""
        if self._cache_dir is None:
            self._cache_dir = Path(tempfile.mkdtemp(prefix="rollout-sandbox-"))
            self._cache_dir.chmod(0o755)
        return self._cache_dir

    @property
    def images(self) -> Any:
        """The :class:`~rollout.sandbox.runtime.images.ImageStore` of images built for this
        sandbox."""
        if self._images is None:
            from rollout.sandbox.runtime.images import ImageStore

            self._images = ImageStore(self.cache_dir)
        return self._images

    def build_image(
        self, tag: str, *, source: Path | None = None, patch: str | None = None, repository: str
    ) -> Any:
        """Build an image from source and push it to ``repository`` (see
        :mod:`rollout.sandbox.runtime.images`); returns the ``BuiltImage``."""
        from rollout.sandbox.runtime.images import register_in_ecr

        built = self.images.build(tag=tag, source=source, patch=patch)
        with self.lock:
            register_in_ecr(
                built, account=self.account, region=self.region, repository=repository, tag=tag
            )
        return built

    def _endpoint(self) -> str:
        if self.endpoint_url is None:
            from rollout.sandbox.runtime import StartFailure

            raise StartFailure("sandbox: the endpoint is not served; tasks could not reach AWS")
        return self.endpoint_url

    @property
    def virtual(self) -> bool:
        return isinstance(self.clock, VirtualClock)

    def catch_up(self) -> float:
        """Run the simulation forward to the clock's now (caller holds :attr:`lock`)."""
        now = self.clock.now()
        self.sim.run_until(now)
        return now

    @property
    def fault_plan(self) -> Any:
        """The simulation's :class:`~rollout.sandbox.faults.FaultPlan`."""
        return self.sim.faults

    def timeline(self, kind: str | None = None) -> list[Any]:
        """The simulation's timeline entries (``time``, ``kind``, ``detail``), oldest first.

        ``kind`` is an exact kind, or a prefix ending in ``.`` (``"task."``)."""
        entries: list[Any] = self.sim.timeline(kind)
        return entries

    def start_synthetic_traffic(self, settings: Any) -> Any:
        """Start (or restart with new settings) the synthetic traffic of the simulated runtime
        (:mod:`rollout.sandbox.dataplane.synthetic`); caller holds :attr:`lock`."""
        from rollout.sandbox.dataplane.synthetic import SyntheticTraffic

        if self.runtime_name == "process":
            raise ValueError(
                "synthetic traffic is for the simulated runtime; the process runtime serves real "
                "requests (send them through the ALB listener: `rollout sandbox traffic`)"
            )
        self.catch_up()
        if self.synthetic is not None:
            self.synthetic.stop()
        self.synthetic = SyntheticTraffic(
            sim=self.sim,
            account=self.account,
            region=self.region,
            record=self.observability.metrics.record,
            settings=settings,
        )
        self.synthetic.start()
        return self.synthetic

    def close(self) -> None:
        """Release what the world installed into moto (nothing is left to a later world)."""
        if self.alb is not None:
            self.alb.close()
            self.alb = None
        uninstall = getattr(self.sim, "close", None)
        if callable(uninstall):
            uninstall()
        if self._cache_dir is not None:
            shutil.rmtree(self._cache_dir, ignore_errors=True)


def _make_observability(world: World, period: int) -> Any:
    """ALB metrics and alarm evaluation, ticking on the simulation's clock."""
    from rollout.sandbox.dataplane.targets import host_counts
    from rollout.sandbox.observability import Observability

    account, region = world.account, world.region
    obs = Observability(
        account=account,
        region=region,
        period=period,
        hosts=lambda: host_counts(account, region),
    )
    schedule = getattr(world.sim, "schedule", None)
    if callable(schedule):
        obs.schedule_on(schedule, world.clock.now())
    return obs


def _make_simulation(
    *, clock: SandboxClock, faults: Any, timings: Any, behaviour: Any, runtime: Any
) -> Any:
    from rollout.sandbox.ecs.simulation import EcsSimulation
    from rollout.sandbox.ecs.timings import Timings
    from rollout.sandbox.runtime.simulated import SimulatedRuntime

    if runtime is None:  # the default: tasks are a model whose future the fault plan predicts
        runtime = SimulatedRuntime(sigterm_exit=(timings or Timings()).sigterm_exit)
    # The simulation serves every region and account it is asked about (dispatch names them).
    return EcsSimulation(
        clock, faults=faults, timings=timings, behaviour=behaviour, runtime=runtime
    )


class Ticker:
    """Drives a real-time world: runs the simulation up to ``clock.now()`` every ``interval``
    wall seconds, under the world's lock, so state changes happen even when nobody asks."""

    def __init__(self, world: World, interval: float = 0.05) -> None:
        self.world = world
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sandbox-ticker", daemon=True)
        self.error: BaseException | None = None

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                with self.world.lock:
                    self.world.catch_up()
            except Exception as exc:  # keep serving; log it and keep the last error
                log.exception("sandbox ticker: the simulation failed to advance")
                self.error = exc
                time.sleep(self.interval)

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)


def steadiness(service: Mapping[str, Any], revision: int | None = None) -> tuple[bool, str]:
    """Whether a DescribeServices ``service`` is steady (on ``revision``), and a one-line summary.

    Steady: ACTIVE, one deployment, COMPLETED, ``runningCount == desiredCount`` (what the
    ``services-stable`` waiter checks, plus ``rolloutState``, which it does not).
    """
    deployments = list(service.get("deployments") or [])
    primary = next((d for d in deployments if d.get("status") == "PRIMARY"), None)
    task_def = str((primary or service).get("taskDefinition", ""))
    family_rev = task_def.rsplit("/", 1)[-1]
    running = int(service.get("runningCount", 0))
    desired = int(service.get("desiredCount", 0))
    state = (primary or {}).get("rolloutState")
    summary = (
        f"{family_rev or '?'}: {len(deployments)} deployment(s), running {running}/{desired}, "
        f"pending {int(service.get('pendingCount', 0))}, rollout {state or '-'}"
    )
    ok = (
        service.get("status") == "ACTIVE"
        and len(deployments) == 1
        and running == desired
        and state in (None, "COMPLETED")
        and (revision is None or family_rev.endswith(f":{revision}"))
    )
    return ok, summary
