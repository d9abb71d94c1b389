"""The sandbox: a local AWS endpoint where ECS deployments behave like real ECS.

ECS is served by our simulation (``rollout.sandbox.ecs``); ELBv2, EC2, ECR, SSM, Secrets Manager,
IAM, STS, CloudWatch, CloudWatch Logs, Route 53, S3, DynamoDB and CloudFormation by moto (pinned),
with ELBv2 target health and Route 53 change status layered on top. See ``docs/sandbox.md``.

    sb = Sandbox(region="ap-northeast-2")        # fresh state, virtual clock
    ecs = sb.client_factory().client("ecs")      # in-process: no sockets
    url = sb.serve()                             # or over HTTP (AWS_ENDPOINT_URL=url)
    sb.clock.advance(60)
    sb.calls("ecs", "UpdateService"); sb.timeline("breaker")
    sb.close()

    # tasks as real processes of images built from source (wall-speed clock, HTTP served):
    with Sandbox(runtime="process", preset="quick") as sb:
        sb.provision_voj()                                   # revision 1 = the working tree
        sb.build_image("v2", patch=diff_text)                # then `rollout deploy` it

moto's state is process-global, so a process holds one open sandbox at a time: creating a
``Sandbox`` resets every moto backend.
"""

from __future__ import annotations

import json
import logging
import math
import tomllib
import warnings
import weakref
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from rollout.aws import ClientFactory, check_endpoint_url, check_region
from rollout.errors import ConfigError, TimedOut
from rollout.sandbox.clock import DEFAULT_START, RealtimeClock, VirtualClock
from rollout.sandbox.ecs.timings import Behaviour, Timings
from rollout.sandbox.faults import FaultPlan, FaultRule
from rollout.sandbox.inprocess import IN_PROCESS_ENDPOINT, botocore_session
from rollout.sandbox.observability.metrics import DEFAULT_PERIOD as DEFAULT_METRICS_PERIOD
from rollout.sandbox.observability.metrics import DEMO_PERIOD as DEMO_METRICS_PERIOD
from rollout.sandbox.observability.metrics import check_period
from rollout.sandbox.overlays.route53 import DEFAULT_PROPAGATION_DELAY
from rollout.sandbox.recorder import RecordedCall, is_mutating
from rollout.sandbox.server import EndpointServer, FrontApp
from rollout.sandbox.world import ACCOUNT_ID, ApiFault, Ticker, World, steadiness

if TYPE_CHECKING:
    from rollout.sandbox.provisioning.environment import EnvironmentResult
    from rollout.sandbox.provisioning.stack import ProvisionResult

__all__ = [
    "ACCOUNT_ID",
    "DEFAULT_METRICS_PERIOD",
    "DEFAULT_START",
    "DEMO_METRICS_PERIOD",
    "ApiFault",
    "Behaviour",
    "FaultPlan",
    "FaultRule",
    "RealtimeClock",
    "RecordedCall",
    "Sandbox",
    "Timings",
    "VirtualClock",
    "is_mutating",
    "load_fault_file",
]

log = logging.getLogger(__name__)

T = TypeVar("T")

DEFAULT_REGION = "ap-northeast-2"

#: Sandboxes created in this process and not yet garbage-collected (to warn about overlap).
_OPEN: weakref.WeakSet[Sandbox] = weakref.WeakSet()


def load_fault_file(path: Path) -> FaultPlan:
    """A fault plan from a TOML or JSON file (``{"fault": [{...}, ...]}``; see docs/sandbox.md).

    Raises ConfigError saying what is wrong with the file.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(
            f"failed to read the fault file {path}: {exc.strerror or exc}.",
            hint="Pass an existing TOML or JSON file to --faults.",
        ) from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"failed to read the fault file {path}: not UTF-8 text ({exc.reason} at byte "
            f"{exc.start}).",
            hint="Pass a TOML or JSON file saved as UTF-8 to --faults.",
        ) from None
    try:
        data: Any = json.loads(text) if path.suffix == ".json" else tomllib.loads(text)
    except (ValueError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(
            f"failed to parse the fault file {path}: {exc}.",
            hint='Use TOML ([[fault]] tables) or JSON ({"fault": [...]}).',
        ) from exc
    if not isinstance(data, dict):
        raise ConfigError(f"failed to load the fault file {path}: the top level is not a table.")
    try:
        return FaultPlan.from_mapping(data)
    except ValueError as exc:
        raise ConfigError(
            f"failed to load the fault file {path}: {exc}.",
            hint="See docs/sandbox.md, 'Fault files'.",
        ) from exc


class Sandbox:
    """One sandbox: fresh moto state, an ECS simulation, a clock, and an endpoint to reach them.

    ``speed=None`` (the default) gives a :class:`VirtualClock` that moves only when advanced;
    ``speed=N`` gives a :class:`RealtimeClock` N times faster than the wall clock, with a ticker
    thread that keeps the simulation moving (for clients in other processes).

    ``faults`` is a :class:`FaultPlan` (or its mapping form); ``timings`` and ``behaviour`` tune
    the ECS simulation (``rollout.sandbox.ecs.timings``); ``route53_propagation`` is how long
    Route 53 changes stay PENDING (simulated seconds).

    ``metrics_period`` is the sandbox setting for ALB metric resolution: 60 (AWS's) by default;
    ``DEMO_METRICS_PERIOD`` (10 s, high-resolution data) keeps alarm-driven demos short. Alarms
    are evaluated at every period boundary (see ``rollout.sandbox.observability``).
    ``runtime="process"`` runs every task as a real process of an image built with
    :meth:`build_image` (``rollout.sandbox.runtime.process``): the clock then runs at wall speed
    (``speed`` must be None or 1), the HTTP endpoint is served at once (tasks reach AWS through
    it), real ALB health checks run, and ``preset`` (``"quick"``) may shorten ECS's own delays.
    ``max_tasks`` caps the task processes alive at once. ``boot_nice`` (0..19, default 10; 0
    turns it off) is how many steps nicer a task's processes run until its app is up, so booting
    tasks do not starve the serving ones, the ALB listener and the clients (on Fargate each task
    has its own vCPUs; see ``rollout.sandbox.runtime.process``).
    """

    def __init__(
        self,
        region: str = DEFAULT_REGION,
        *,
        speed: float | None = None,
        clock: VirtualClock | RealtimeClock | None = None,
        faults: FaultPlan | Mapping[str, Any] | None = None,
        timings: Timings | None = None,
        behaviour: Behaviour | None = None,
        route53_propagation: float = DEFAULT_PROPAGATION_DELAY,
        tick_interval: float = 0.05,
        metrics_period: int = DEFAULT_METRICS_PERIOD,
        runtime: str = "simulated",
        preset: str | None = None,
        max_tasks: int = 8,
        serve_on: tuple[str, int] = ("127.0.0.1", 0),
        boot_nice: int = 10,
    ) -> None:
        if any(other.is_open for other in _OPEN):
            warnings.warn(
                "another Sandbox is still open in this process: moto's state is process-global "
                "and has just been reset under it. Close sandboxes (sb.close() or `with`) "
                "before creating the next one.",
                RuntimeWarning,
                stacklevel=2,
            )
        if runtime not in ("simulated", "process"):
            raise ConfigError(
                f"failed to start the sandbox: unknown runtime {runtime!r}.",
                hint="Use --runtime simulated (the default) or --runtime process.",
            )
        if runtime == "process":
            if (speed is not None and speed != 1) or isinstance(clock, VirtualClock):
                raise ConfigError(
                    "failed to start the sandbox: the process runtime runs at wall speed "
                    f"(speed 1), got {speed if speed is not None else 'a virtual clock'}.",
                    hint="Drop --speed; shorten ECS's own delays with --preset quick instead.",
                )
            clock = clock or RealtimeClock(speed=1.0)
        if not 0 <= boot_nice <= 19:
            raise ConfigError(
                f"failed to start the sandbox: boot_nice must be 0-19, got {boot_nice}.",
                hint="Pass 10 (the default), or 0 to run booting tasks at the sandbox's priority.",
            )
        if preset is not None:
            from rollout.sandbox.ecs.timings import preset as timings_preset

            try:
                timings = timings_preset(preset)
            except ValueError as exc:
                raise ConfigError(f"failed to start the sandbox: {exc}.") from exc
        self.preset = preset
        if clock is None:
            clock = VirtualClock() if speed is None else RealtimeClock(speed=speed)
        plan = FaultPlan.from_mapping(faults) if isinstance(faults, Mapping) else faults
        try:
            check_period(metrics_period)
        except ValueError as exc:
            raise ConfigError(f"failed to create the sandbox: {exc}.") from exc
        self.world = World(
            region=region,
            clock=clock,
            faults=plan,
            timings=timings,
            behaviour=behaviour,
            route53_propagation=route53_propagation,
            metrics_period=metrics_period,
            runtime=runtime,
            max_tasks=max_tasks,
            boot_nice=boot_nice,
        )
        self.world.preset = preset
        self.app = FrontApp(self.world)
        self._server: EndpointServer | None = None
        self._ticker: Ticker | None = None
        self._health: Any = None
        self._closed = False
        self.provisioned: ProvisionResult | None = None
        _OPEN.add(self)
        if runtime == "process":
            from rollout.sandbox.dataplane.health import HealthChecker

            try:
                self.serve(*serve_on)
            except OSError:
                self.close()
                raise
            self._health = HealthChecker(
                self.world.sim.elb, first_healthy=self.world.sim.behaviour.first_healthy
            )
            self._health.start()
        if isinstance(clock, RealtimeClock):
            self._ticker = Ticker(self.world, interval=tick_interval)
            self._ticker.start()

    @property
    def is_open(self) -> bool:
        """False once :meth:`close` has run."""
        return not self._closed

    # -- basics ------------------------------------------------------------------------------
    @property
    def region(self) -> str:
        return self.world.region

    @property
    def account(self) -> str:
        return self.world.account

    @property
    def runtime(self) -> str:
        """``"simulated"`` or ``"process"``."""
        return self.world.runtime_name

    @property
    def clock(self) -> VirtualClock | RealtimeClock:
        return self.world.clock

    @property
    def faults(self) -> FaultPlan:
        """The simulation's fault plan: ``sb.faults.add(FaultRule(...))``, ``sb.faults.clear()``."""
        plan: FaultPlan = self.world.fault_plan
        return plan

    @property
    def sim(self) -> Any:
        """The ECS simulation itself (for white-box tests; hold ``sb.lock`` when touching it)."""
        return self.world.sim

    @property
    def lock(self) -> Any:
        return self.world.lock

    # -- clients -----------------------------------------------------------------------------
    def client_factory(self, **kwargs: Any) -> ClientFactory:
        """A :class:`ClientFactory` whose clients reach this sandbox in-process (no sockets).

        Keyword arguments go to ``ClientFactory`` (``retry_mode``, ``max_attempts``...).
        """
        return ClientFactory(
            region=self.region,
            endpoint_url=IN_PROCESS_ENDPOINT,
            botocore_session=botocore_session(self.app),
            **kwargs,
        )

    def serve(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Start the HTTP endpoint (once) and return its URL, for ``AWS_ENDPOINT_URL``."""
        if self._server is None:
            self._server = EndpointServer(self.app, host=host, port=port)
            self._server.start()
            self.world.endpoint_url = self._server.url
        return self._server.url

    @property
    def url(self) -> str | None:
        """The HTTP endpoint's URL while serving, else None."""
        return self._server.url if self._server is not None else None

    def env(self) -> dict[str, str]:
        """Environment variables that point an AWS client in another process at this sandbox."""
        url = self.url or self.serve()
        return client_environment(url, self.region)

    def stop(self) -> None:
        """Stop serving HTTP (the sandbox's state stays; in-process clients keep working)."""
        if self._server is not None:
            self._server.stop()
            self._server = None
            self.world.endpoint_url = None

    # -- the ALB data plane and metrics -----------------------------------------------------------
    def start_alb(self) -> Any:
        """Serve every application load balancer on loopback (once); returns the
        :class:`~rollout.sandbox.dataplane.AlbProxy` (``.urls()``, ``.url(name)``, ``.sync()``).
        Load balancers created later are picked up within half a second (or at ``.sync()``)."""
        from rollout.sandbox.dataplane import AlbProxy

        if self.world.alb is None:
            from rollout.sandbox.dataplane.simulated import simulated_reply

            world = self.world

            def simulated(
                tg_arn: str, ip: str, method: str, path: str
            ) -> tuple[int, list[tuple[str, str]], bytes] | None:
                reply = simulated_reply(world, tg_arn, ip, method, path)
                return None if reply is None else (reply.status, reply.headers, reply.body)

            proxy = AlbProxy(
                account=self.account,
                region=self.region,
                clock_now=self.clock.now,
                record=self.world.observability.metrics.record,
                simulated=simulated,
            )
            proxy.start()
            self.world.alb = proxy
        return self.world.alb

    def alb_url(self, name: str) -> str | None:
        """The local URL of load balancer ``name``'s listener (starts the listeners)."""
        proxy = self.start_alb()
        url: str | None = proxy.url(name) or proxy.sync().get(name)
        return url

    # -- synthetic traffic and ECS lifecycle hooks (traffic-shifting deployments) --------------
    def start_synthetic_traffic(
        self,
        rate: float = 10.0,
        *,
        test_rate: float = 0.0,
        latency: float = 0.02,
        tick: float = 1.0,
        load_balancer: str | None = None,
    ) -> Any:
        """Send synthetic requests through the load balancers on the simulation's clock
        (simulated runtime): ``rate`` production requests/s per listener split by the listener
        rules' weights, ``test_rate`` requests/s through each test listener rule; the active
        faults (``serve_5xx``, ``slow``, crashes) shape the answers and the ALB metrics
        (:mod:`rollout.sandbox.dataplane.synthetic`). Returns the
        :class:`~rollout.sandbox.dataplane.synthetic.SyntheticTraffic` (``.totals``,
        ``.blind_moments``, ``.stop()``). Starting again replaces the settings."""
        from rollout.sandbox.dataplane.synthetic import SyntheticSettings

        try:
            settings = SyntheticSettings(
                rate=rate,
                test_rate=test_rate,
                latency=latency,
                tick=tick,
                load_balancer=load_balancer,
            )
            with self.world.lock:
                return self.world.start_synthetic_traffic(settings)
        except ValueError as exc:
            raise ConfigError(f"failed to start synthetic traffic: {exc}.") from exc

    @property
    def synthetic(self) -> Any:
        """The running :class:`~rollout.sandbox.dataplane.synthetic.SyntheticTraffic` or None."""
        return self.world.synthetic

    def stop_synthetic_traffic(self) -> None:
        if self.world.synthetic is not None:
            self.world.synthetic.stop()

    def set_hook_answer(self, answer: str, *, delay: float | None = None) -> None:
        """What AWS_LAMBDA lifecycle hooks answer from now on (the sandbox cannot invoke
        Lambda): ``"SUCCEEDED"``, ``"FAILED"`` or ``"TIMED_OUT"`` (never answers: the hook's
        timeout action applies), after ``delay`` simulated seconds."""
        from rollout.sandbox.ecs.shifting import HOOK_ANSWERS

        if answer not in HOOK_ANSWERS:
            raise ConfigError(
                f"failed to set the hook answer: {answer!r} is not one of "
                f"{', '.join(HOOK_ANSWERS)}."
            )
        if delay is not None and delay < 0:
            raise ConfigError(f"failed to set the hook answer: delay must be >= 0, got {delay}.")
        with self.world.lock:
            self.world.sim.hook_answer = answer
            if delay is not None:
                self.world.sim.hook_delay = delay

    @property
    def observability(self) -> Any:
        """The metrics writer (``.metrics``) and alarm evaluator (``.alarms``)."""
        return self.world.observability

    # -- observing and steering ---------------------------------------------------------------
    def calls(
        self,
        service: str | None = None,
        operation: str | None = None,
        *,
        mutating: bool | None = None,
        since: float | None = None,
    ) -> list[RecordedCall]:
        """Every API call answered so far, oldest first, optionally filtered."""
        return self.world.recorder.calls(service, operation, mutating=mutating, since=since)

    def clear_calls(self) -> None:
        """Forget the calls recorded so far (e.g. after provisioning)."""
        self.world.recorder.clear()

    def timeline(self, kind: str | None = None) -> list[Any]:
        """What the simulation did (task states, health, breaker...), oldest first.

        Entries have ``time``, ``kind`` and ``detail``. ``kind="task."`` matches a prefix.
        """
        with self.world.lock:
            self.world.catch_up()
            return self.world.timeline(kind)

    def inject_api_error(
        self,
        service: str,
        operation: str | None = None,
        *,
        code: str = "ThrottlingException",
        message: str = "Rate exceeded",
        status: int = 400,
        times: int = 1,
    ) -> None:
        """Answer the next ``times`` ``service``/``operation`` calls with an AWS error."""
        self.world.api_faults.add(
            ApiFault(service, operation, code=code, message=message, status=status, times=times)
        )

    def advance(self, seconds: float) -> float:
        """Move a virtual clock forward and run the simulation up to it; returns the new now."""
        if not isinstance(self.clock, VirtualClock):
            raise TypeError("advance() needs a virtual clock; this sandbox runs in real time")
        self.clock.advance(seconds)
        with self.world.lock:
            return self.world.catch_up()

    def advance_until(
        self, check: Callable[[], T | None], *, timeout: float = 1800.0, step: float = 5.0
    ) -> T:
        """Step the clock (``clock.sleep(step)``) until ``check()`` returns a value.

        Raises TimedOut after ``timeout`` simulated seconds.
        """
        deadline = self.clock.now() + timeout
        while True:
            result = check()
            if result is not None:
                return result
            if self.clock.now() >= deadline:
                raise TimedOut(
                    f"failed to wait in the sandbox: the condition did not hold within "
                    f"{timeout:.0f} simulated seconds.",
                    hint="Check sb.timeline() for what the simulation did.",
                )
            self.clock.sleep(step)

    def describe_service(self, cluster: str, service: str) -> dict[str, Any] | None:
        """The service as DescribeServices shows it now (not recorded as a call)."""
        with self.world.lock:
            self.world.catch_up()
            doc = self.world.sim.dispatch(
                "DescribeServices",
                {"cluster": cluster, "services": [service]},
                region=self.region,
                account=self.account,
            )
        services = doc.get("services") or []
        return services[0] if services else None

    def wait_steady(
        self,
        cluster: str,
        service: str,
        *,
        revision: int | None = None,
        timeout: float = 1800.0,
        step: float = 5.0,
    ) -> dict[str, Any]:
        """Advance until the service is steady (on ``revision`` if given); returns it."""

        def check() -> dict[str, Any] | None:
            doc = self.describe_service(cluster, service)
            if doc is None:
                return None
            ok, _ = steadiness(doc, revision)
            return doc if ok else None

        return self.advance_until(check, timeout=timeout, step=step)

    # -- images --------------------------------------------------------------------------------
    def build_image(
        self,
        tag: str,
        *,
        source: Path | None = None,
        patch: str | None = None,
        repository: str = "voj-backend",
    ) -> Any:
        """``rollout sandbox build``: snapshot ``source`` (default: the working tree's
        ``backend/``), apply ``patch`` (a ``git diff`` from the repository root), and push it
        to ``repository`` as ``tag``. Returns the
        :class:`~rollout.sandbox.runtime.images.BuiltImage`
        (``digest``, ``rootfs``...). Raises ConfigError (nothing registered) when it fails."""
        return self.world.build_image(tag, source=source, patch=patch, repository=repository)

    # -- voj -----------------------------------------------------------------------------------
    def provision_voj(self, strategy: str = "rolling") -> ProvisionResult:
        """Create the voj stack (delivery's ``provision_voj``) and wait until the service runs
        revision 1, steady. The result is also kept as :attr:`provisioned`.

        ``strategy`` (rolling, blue-green, canary, linear) is the template's
        ``DeploymentStrategy`` parameter. With the process runtime the stack's images are built
        from the working tree's ``backend/`` (:meth:`build_image`), so revision 1 runs real
        code."""
        from rollout.sandbox.provisioning.stack import check_strategy, provision_voj

        push = None
        if self.runtime == "process":
            push = lambda tag: self.build_image(tag).digest  # noqa: E731
        result = provision_voj(
            self.client_factory(),
            push=push,
            parameters={"DeploymentStrategy": check_strategy(strategy)},
        )
        step = 0.25 if self.runtime == "process" else 5.0
        self.wait_steady(result.cluster, result.service, revision=1, step=step)
        self.provisioned = result
        return result

    def provision_environment(self, env: str, **kwargs: Any) -> EnvironmentResult:
        """Add ``env`` (from rollout.toml, e.g. ``staging``) beside the provisioned voj stack
        (:func:`rollout.sandbox.provisioning.environment.provision_environment`) and wait until
        its service runs its revision 1, steady."""
        from rollout.sandbox.provisioning.environment import provision_environment

        if self.provisioned is None:
            self.provision_voj()
        assert self.provisioned is not None
        result = provision_environment(self.client_factory(), self.provisioned, env, **kwargs)
        self.wait_steady(result.cluster, result.service, revision=1)
        return result

    # -- lifecycle -----------------------------------------------------------------------------
    def close(self) -> None:
        """Stop serving, stop the ticker, release the simulation's hooks. Idempotent."""
        if self._closed:
            return
        self._closed = True
        if self._health is not None:
            self._health.close()
            self._health = None
        if self._ticker is not None:
            self._ticker.stop()
            self._ticker = None
        self.world.close()  # stops the task processes (they may still log into the endpoint)
        self.stop()

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def client_environment(url: str, region: str) -> dict[str, str]:
    """What to export so boto3, the AWS CLI and the JS SDK reach a sandbox endpoint."""
    from rollout.sandbox.wire import DUMMY_ACCESS_KEY, DUMMY_SECRET_KEY

    return {
        "AWS_ENDPOINT_URL": url,
        "AWS_REGION": region,
        "AWS_DEFAULT_REGION": region,
        "AWS_ACCESS_KEY_ID": DUMMY_ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": DUMMY_SECRET_KEY,
    }


# -- `rollout sandbox up` and `rollout sandbox provision` (the CLI only parses and calls these) --
def run_up(
    *,
    host: str = "127.0.0.1",
    port: int = 4566,
    speed: float | None = None,
    faults_file: Path | None = None,
    region: str = DEFAULT_REGION,
    echo: Callable[[str], None] = print,
    stop: Any = None,
    metrics_period: int = DEFAULT_METRICS_PERIOD,
    runtime: str = "simulated",
    preset: str | None = None,
    max_tasks: int = 8,
    boot_nice: int = 10,
) -> None:
    """Serve a real-time sandbox until SIGINT/SIGTERM (or ``stop``, a ``threading.Event``, is set).

    Prints the environment a client needs, then blocks, printing the local listener URL of each
    load balancer as it appears (``GET /_sandbox/albs`` lists them too). Cleans up on the way
    out (with the process runtime: every task process). ``speed`` defaults to 10 (simulated) or
    1 (process, the only speed it runs at).
    """
    import signal
    import threading

    if speed is None:
        speed = 1.0 if runtime == "process" else 10.0
    if not math.isfinite(speed) or speed <= 0:
        raise ConfigError(
            f"failed to start the sandbox: --speed must be a number > 0, got {speed}.",
            hint="Pass --speed 10 (simulated seconds per wall second), for example.",
        )
    check_region(region)
    if not 0 <= port <= 65535:
        raise ConfigError(
            f"failed to start the sandbox: --port must be 0-65535, got {port}.",
            hint="Pass a free port, or 0 to pick one.",
        )
    if max_tasks < 1:
        raise ConfigError(
            f"failed to start the sandbox: --max-tasks must be >= 1, got {max_tasks}."
        )
    plan = load_fault_file(faults_file) if faults_file is not None else None
    done: threading.Event = stop if stop is not None else threading.Event()
    sandbox: Sandbox | None = None
    try:
        # the process runtime serves its endpoint at once (tasks reach AWS through it)
        sandbox = Sandbox(
            region,
            speed=speed,
            faults=plan,
            metrics_period=metrics_period,
            runtime=runtime,
            preset=preset,
            max_tasks=max_tasks,
            boot_nice=boot_nice,
            serve_on=(host, port),
        )
        url = sandbox.serve(host, port)
    except OSError as exc:
        if sandbox is not None:
            sandbox.close()
        raise ConfigError(
            f"failed to start the sandbox on {host}:{port}: {exc.strerror or exc}.",
            hint="Stop whatever uses that port, or pass another --port (0 picks a free one).",
        ) from exc
    try:
        previous: dict[signal.Signals, Any] = {}
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                previous[sig] = signal.signal(sig, lambda *_: done.set())
        try:
            echo(f"# rollout sandbox on {url} (region {region}, {speed:g}x real time)")
            echo(
                f"# runtime: {runtime}"
                + (
                    f" (task processes on 127.x.y.z loopback addresses, at most {max_tasks}; "
                    f"booting tasks nice +{boot_nice})"
                    if runtime == "process"
                    else ""
                )
            )
            echo(
                f"# ECS timings: {preset or 'aws'}"
                + (" (ECS's own delays shortened for demos)" if preset == "quick" else "")
            )
            if plan is not None and plan.rules:
                echo(f"# fault plan: {len(plan.rules)} rule(s) from {faults_file}")
            echo("# export these in the shell that runs your AWS clients:")
            for name, value in client_environment(url, region).items():
                echo(f"export {name}={value}")
            if metrics_period != DEFAULT_METRICS_PERIOD:
                echo(
                    f"# ALB metrics every {metrics_period} simulated s (AWS: 60), alarms "
                    "evaluated at each period"
                )
            proxy = sandbox.start_alb()
            echo("# ALB listeners (also: GET /_sandbox/albs, `rollout sandbox alb NAME`):")
            shown: set[str] = set()
            echo("# Ctrl-C to stop")
            while True:
                for name, lb_url in sorted(proxy.urls().items()):
                    if name not in shown:
                        shown.add(name)
                        echo(f"# ALB {name}: {lb_url}")
                if done.wait(0.5):
                    break
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
    finally:
        sandbox.close()
    echo("# sandbox stopped")


def _check_endpoint(url: str) -> dict[str, Any]:
    """The sandbox's /_sandbox/health document; raises if ``url`` is not a sandbox."""
    import urllib.error
    import urllib.request

    from rollout.errors import AwsError

    health = url.rstrip("/") + "/_sandbox/health"
    try:
        with urllib.request.urlopen(health, timeout=5) as response:  # noqa: S310 - http only
            doc = json.loads(response.read())
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise AwsError(
            f"failed to reach a sandbox at {url}: {exc}.",
            hint="Start one with `rollout sandbox up` and use the AWS_ENDPOINT_URL it prints.",
        ) from exc
    if not isinstance(doc, dict) or doc.get("status") != "ok":
        raise AwsError(f"failed to reach a sandbox at {url}: {health} did not answer ok.")
    return doc


def provision_remote(
    endpoint_url: str | None,
    *,
    region: str | None = None,
    echo: Callable[[str], None] = print,
    timeout: float = 900.0,
    interval: float = 2.0,
    clock: Any = None,
    strategy: str = "rolling",
    env: str = "prod",
    config: Path | None = None,
) -> Any:
    """Provision voj against a running ``rollout sandbox up`` and wait until it is steady; with
    ``env`` other than prod, then that environment of ``config`` (rollout.toml) beside it
    (:func:`rollout.sandbox.provisioning.environment.provision_environment`), and wait for its
    service. ``strategy`` is the template's ``DeploymentStrategy`` (prod's service).

    Refuses anything that is not a sandbox endpoint (it must answer ``/_sandbox/health``), so
    this can never create resources in a real AWS account. Converges: a re-run (after Ctrl-C
    too) finishes what is missing. Progress goes to ``echo``. Returns the ProvisionResult (prod)
    or the EnvironmentResult (another environment).
    """
    import botocore.session

    from rollout.config import load_config
    from rollout.errors import Interrupted, UsageError
    from rollout.sandbox.provisioning.environment import provision_environment
    from rollout.sandbox.provisioning.stack import DEFAULT_CONFIG, check_strategy, provision_voj
    from rollout.sandbox.wire import DUMMY_ACCESS_KEY, DUMMY_SECRET_KEY

    strategy = check_strategy(strategy)
    if not endpoint_url:
        raise UsageError(
            "failed to provision: no sandbox endpoint given.",
            hint="Pass --endpoint-url or export the AWS_ENDPOINT_URL `rollout sandbox up` printed.",
        )
    check_endpoint_url(endpoint_url)
    config = config or DEFAULT_CONFIG
    if env != "prod":
        load_config(config, env, environ={})  # an unknown environment fails before any write
    health = _check_endpoint(endpoint_url)
    region = region or str(health.get("region") or DEFAULT_REGION)
    session = botocore.session.Session()
    session.set_credentials(DUMMY_ACCESS_KEY, DUMMY_SECRET_KEY)
    factory = ClientFactory(region=region, endpoint_url=endpoint_url, botocore_session=session)
    echo(f"provisioning voj on {endpoint_url} ({region})...")
    push = None
    if health.get("runtime") == "process":
        echo("process runtime: building the stack's images from the working tree's backend/")

        def push(tag: str) -> str:
            return str(post_build(endpoint_url, tag=tag)["digest"])

    done: list[str] = []

    def progress(line: str) -> None:
        done.append(line)
        echo(f"  {line}")

    try:
        result = provision_voj(
            factory,
            progress=progress,
            push=push,
            parameters={"DeploymentStrategy": strategy},
        )
    except KeyboardInterrupt:
        raise Interrupted(
            "provisioning interrupted: the sandbox keeps what was done "
            f"({'; '.join(done) if done else 'nothing yet'}); the rest is missing.",
            hint=f"Run `{_provision_command(env)}` again: it reuses what exists and finishes "
            "the stack.",
        ) from None
    if result.complete_before:
        echo("voj was already provisioned on this sandbox: nothing to create.")
    ecs = factory.client("ecs")
    _wait_steady_remote(
        ecs, result.cluster, result.service, echo, timeout, interval, clock, command="provision"
    )
    if env == "prod":
        for line in describe_provision(result):
            echo(line)
        return result

    echo(f"provisioning {env} beside it (from {config})...")
    done.clear()
    try:
        env_result = provision_environment(factory, result, env, config=config, progress=progress)
    except KeyboardInterrupt:
        raise Interrupted(
            f"provisioning {env} interrupted: the sandbox keeps what was done "
            f"({'; '.join(done) if done else 'nothing yet'}); the rest is missing.",
            hint=f"Run `{_provision_command(env)}` again: it reuses what exists and finishes "
            f"{env}.",
        ) from None
    if env_result.complete_before:
        echo(f"{env} was already provisioned on this sandbox: nothing to create.")
    _wait_steady_remote(
        ecs,
        env_result.cluster,
        env_result.service,
        echo,
        timeout,
        interval,
        clock,
        command=_provision_command(env),
    )
    for line in describe_provision(env_result):
        echo(line)
    return env_result


def _provision_command(env: str) -> str:
    return "rollout sandbox provision" + ("" if env == "prod" else f" --env {env}")


def _wait_steady_remote(
    ecs: Any,
    cluster: str,
    service: str,
    echo: Callable[[str], None],
    timeout: float,
    interval: float,
    clock: Any,
    *,
    command: str,
) -> None:
    """Poll DescribeServices until ``cluster/service`` is steady (TimedOut past ``timeout``)."""
    from rollout.clock import SystemClock
    from rollout.errors import Interrupted

    if command == "provision":
        command = "rollout sandbox provision"
    echo(f"waiting for {cluster}/{service} to be steady...")
    wait_clock = clock or SystemClock()
    deadline = wait_clock.now() + timeout
    last = ""
    try:
        while True:
            doc = ecs.describe_services(cluster=cluster, services=[service])
            services = doc.get("services") or []
            ok, summary = steadiness(services[0]) if services else (False, "service not found")
            if summary != last:
                echo(f"  {summary}")
                last = summary
            if ok:
                return
            if wait_clock.now() >= deadline:
                raise TimedOut(
                    f"failed to provision: {cluster}/{service} was not steady within "
                    f"{timeout:.0f} s ({summary}).",
                    hint="Look at GET /_sandbox/timeline on the sandbox for what happened.",
                )
            wait_clock.sleep(interval)
    except KeyboardInterrupt:
        raise Interrupted(
            f"interrupted while waiting: the stack of {cluster}/{service} is complete on the "
            f"sandbox, the service was not steady yet ({last or 'not described yet'}).",
            hint=f"Run `{command}` again to wait for it; nothing is created twice.",
        ) from None


def post_build(
    endpoint_url: str,
    *,
    tag: str,
    source: Path | None = None,
    patch: str | None = None,
    repository: str = "voj-backend",
) -> dict[str, Any]:
    """Ask a running sandbox to build and push an image (``POST /_sandbox/images``)."""
    import urllib.error
    import urllib.request

    from rollout.errors import AwsError

    body = {"tag": tag, "repository": repository}
    if source is not None:
        body["source"] = str(source.resolve())
    if patch is not None:
        body["patch"] = patch
    request = urllib.request.Request(  # noqa: S310 - the sandbox's own http endpoint
        endpoint_url.rstrip("/") + "/_sandbox/images",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=120) as response:  # noqa: S310
            doc: dict[str, Any] = json.loads(response.read())
            return doc
    except urllib.error.HTTPError as exc:
        try:
            error = json.loads(exc.read())
        except ValueError:
            error = {"error": f"HTTP {exc.code}"}
        raise ConfigError(
            str(error.get("error") or f"failed to build {tag}."), hint=error.get("hint") or None
        ) from exc
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise AwsError(
            f"failed to reach the sandbox at {endpoint_url}: {exc}.",
            hint="Start one with `rollout sandbox up` and use the AWS_ENDPOINT_URL it prints.",
        ) from exc


def build_remote(
    endpoint_url: str | None,
    *,
    tag: str,
    source: Path | None = None,
    patch_file: Path | None = None,
    repository: str = "voj-backend",
) -> dict[str, Any]:
    """``rollout sandbox build``: build ``source`` (patched with ``patch_file``) as ``tag`` in
    the sandbox at ``endpoint_url``. Refuses anything that is not a sandbox endpoint."""
    from rollout.errors import UsageError

    if not endpoint_url:
        raise UsageError(
            "failed to build: no sandbox endpoint given.",
            hint="Pass --endpoint-url or export the AWS_ENDPOINT_URL `rollout sandbox up` printed.",
        )
    patch = None
    if patch_file is not None:
        try:
            patch = patch_file.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(
                f"failed to read the patch {patch_file}: {exc.strerror or exc}.",
                hint="Write one with `git diff > change.patch` from the repository root.",
            ) from exc
    if source is not None and not source.is_dir():
        raise ConfigError(
            f"failed to build {tag}: --source {source} is not a directory.",
            hint="Pass a directory laid out like the repository's backend/.",
        )
    _check_endpoint(endpoint_url)
    return post_build(endpoint_url, tag=tag, source=source, patch=patch, repository=repository)


def describe_provision(result: Any) -> list[str]:
    """Human-readable lines for a ProvisionResult (every field, one per line)."""
    import dataclasses

    lines = ["created:"]
    if dataclasses.is_dataclass(result) and not isinstance(result, type):
        for f in dataclasses.fields(result):
            value = getattr(result, f.name)
            if isinstance(value, Mapping):
                lines.append(f"  {f.name}:")
                lines.extend(f"    {k}: {v}" for k, v in value.items())
            elif isinstance(value, list | tuple):
                lines.append(f"  {f.name}: {', '.join(str(v) for v in value)}")
            else:
                lines.append(f"  {f.name}: {value}")
    else:
        lines.append(f"  {result}")
    return lines


# -- `rollout sandbox alb` and `rollout sandbox traffic` ------------------------------------------
def alb_urls_remote(endpoint_url: str | None) -> dict[str, str]:
    """Load balancer name -> local listener URL, from a running ``rollout sandbox up``."""
    import urllib.error
    import urllib.request

    from rollout.errors import AwsError, UsageError

    if not endpoint_url:
        raise UsageError(
            "failed to look up the ALB listener: no sandbox endpoint given.",
            hint="Pass --endpoint-url or export the AWS_ENDPOINT_URL `rollout sandbox up` printed.",
        )
    _check_endpoint(endpoint_url)
    albs = endpoint_url.rstrip("/") + "/_sandbox/albs"
    try:
        with urllib.request.urlopen(albs, timeout=10) as response:  # noqa: S310 - http only
            doc = json.loads(response.read())
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise AwsError(f"failed to read {albs}: {exc}.") from exc
    found = doc.get("load_balancers") if isinstance(doc, dict) else None
    return {str(k): str(v) for k, v in (found or {}).items()}


def alb_url_remote(endpoint_url: str | None, name: str) -> str:
    """The local listener URL of load balancer ``name`` on a running sandbox."""
    from rollout.errors import UsageError

    urls = alb_urls_remote(endpoint_url)
    if name not in urls:
        known = ", ".join(sorted(urls)) or "none yet"
        raise UsageError(
            f"failed to find the load balancer {name!r} in the sandbox (load balancers: {known}).",
            hint="Create it first (e.g. `rollout sandbox provision`), or check the name.",
        )
    return urls[name]


def run_traffic_command(
    *,
    alb: str | None,
    url: str | None,
    endpoint_url: str | None,
    rate: float,
    duration: float,
    paths: tuple[str, ...],
    host: str | None,
    timeout: float,
    output_json: bool,
    echo: Callable[[str], None] = print,
) -> Any:
    """``rollout sandbox traffic``: resolve the listener, send bounded traffic, print per-second
    rows and a summary (or one JSON document). SIGINT ends it early; the summary still prints."""
    import signal
    import threading

    from rollout.errors import UsageError
    from rollout.sandbox.dataplane.traffic import (
        TrafficOptions,
        format_row,
        format_summary,
        run_traffic,
    )

    if (alb is None) == (url is None):
        raise UsageError("failed to send traffic: pass exactly one of --alb NAME or --url URL.")
    target = url if url is not None else alb_url_remote(endpoint_url, str(alb))
    try:
        options = TrafficOptions(
            target,
            rate=rate,
            duration=duration,
            paths=paths or ("/",),
            host=host,
            timeout=timeout,
        )
    except ValueError as exc:
        raise UsageError(f"failed to send traffic: {exc}.") from exc
    stop = threading.Event()
    previous: Any = None
    main = threading.current_thread() is threading.main_thread()
    if main:
        previous = signal.signal(signal.SIGINT, lambda *_: stop.set())
    try:
        if not output_json:
            echo(f"# {rate:g} req/s for {duration:g} s to {options.url} (Ctrl-C ends early)")
        result = run_traffic(
            options, stop=stop, on_second=None if output_json else lambda r: echo(format_row(r))
        )
    finally:
        if main:
            signal.signal(signal.SIGINT, previous)
    if output_json:
        echo(json.dumps(result.to_json()))
    else:
        for line in format_summary(result):
            echo(line)
    return result
