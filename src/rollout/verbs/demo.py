"""``rollout demo``: the story of a good release and three bad ones, on the embedded sandbox.

One command, in-process, on the sandbox's virtual clock (a 10-minute rollout takes
milliseconds of wall time):

1. provision voj (the CloudFormation stack, ECR images, SSM parameters) and wait until steady;
2. deploy a good release;
3. deploy a release that needs a secret nobody created (preflight stops it: nothing written);
4. the same kind of release with the secret deleted right after preflight (someone cleaned up
   mid-deploy), so the failure only shows when tasks start;
5. deploy a release whose app crashes on start;
   (the real ``deploy`` verb detects and rolls back 4 and 5);
6. show ``status`` and ``history``;
7. replay the bad releases the way the official action leaves you (``UpdateService`` plus
   the ECS circuit breaker) and finish with how long each restore took, side by side.

The demo plays the operator: it pushes images, writes the release's template and sets the
sandbox's fault plan (the crashing app) before deploying. The tool under test never talks to
the sandbox except through AWS APIs. Only this verb and ``sandbox`` start a sandbox.

The stage and the deploy-and-measure helpers (:func:`staged`, :func:`measure_ours`,
:func:`measure_breaker_only`) are shared with ``bench/restore.py``; what counts as restored,
the definitive signal and the other moments are ``rollout.sandbox.measure``'s, the one place
both read them from.
"""

from __future__ import annotations

import copy
import json
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from rollout.config import load_config
from rollout.context import Context
from rollout.engine.outcome import Outcome
from rollout.errors import ConfigError
from rollout.events import Event, EventSink, Level
from rollout.gateways.ecs import EcsGateway
from rollout.gateways.r53 import Route53Gateway
from rollout.report.result import build_result
from rollout.sandbox import FaultRule, Sandbox, measure
from rollout.sandbox.provisioning.stack import ProvisionResult, fake_manifest
from rollout.verbs import demo_progressive, deploy, history, status

#: The parameter the "missing secret" release reads and nobody created.
MISSING_SECRET = "PAYMENT_API_KEY"  # noqa: S105 - a parameter name, not a value
#: What the official action's waiter does between DescribeServices calls (aws-actions default).
WAITER_DELAY = 15.0


@dataclass(frozen=True)
class Release:
    """One release the demo (or the bench) ships: an image tag, and how it is broken."""

    name: str
    tag: str
    #: The app's misbehaviour: a fault rule *without* an image matcher; the operator pins it
    #: to the release's image digest (deploys run images by digest).
    fault: FaultRule | None = None
    missing_secret: bool = False
    #: The secret exists at preflight and is deleted right after RegisterTaskDefinition
    #: (someone cleaned up mid-deploy): the failure only shows once tasks start.
    secret_vanishes: bool = False
    #: What is broken; releases with the same breakage share one breaker-only replay.
    breakage: str = "none"

    @property
    def bad(self) -> bool:
        return self.fault is not None or self.missing_secret


GOOD = Release("good", "sha-0000002")
MISSING = Release(
    "secret never created",
    "sha-0000003",
    missing_secret=True,
    breakage="missing secret",
)
MISSING_LATE = Release(
    "secret deleted mid-deploy",
    "sha-0000005",
    missing_secret=True,
    secret_vanishes=True,
    breakage="missing secret",
)
CRASH = Release(
    "crash on start",
    "sha-0000004",
    fault=FaultRule(effect="crash", after=3.0, exit_code=3),
    breakage="crash on start",
)


@dataclass(frozen=True)
class DemoOptions:
    #: Wall seconds to pause between acts, for readability (0 for none).
    pace: float = 0.5
    #: Replay the bad releases through the breaker-only path for the comparison.
    compare: bool = True
    #: Act 8: one bad release rolling vs canary, failed requests side by side.
    progressive: bool = True
    #: Act 9: the real service (process runtime) serving a bad release to real requests.
    workload: bool = True


@dataclass(frozen=True)
class Measured:
    """What one bad or good deploy did, in simulated seconds from its UpdateService call."""

    release: str
    path: str  # "rollout" | "breaker-only"
    verdict: str
    verdict_after: float | None  # UpdateService -> verdict (or breaker trip)
    restored_after: float | None  # UpdateService -> service back, steady, on the old revision
    signal_after: float | None = None  # UpdateService -> first definitive failure signal
    rollback_call_after: float | None = None  # UpdateService -> our rollback call
    api_calls: int = 0
    rolled_back: bool = False
    wall_seconds: float = 0.0
    #: The breakage (pairs a rollout row with its breaker-only replay).
    group: str = ""
    #: UpdateService -> traffic restored: the good revision has its desired healthy targets
    #: and the bad one none (``rollout.sandbox.measure``); None if never.
    traffic_restored_after: float | None = None
    #: Seconds after UpdateService with no healthy target at all (in some target group).
    zero_healthy_seconds: float | None = None

    @property
    def signal_to_rollback(self) -> float | None:
        if self.signal_after is None or self.rollback_call_after is None:
            return None
        return self.rollback_call_after - self.signal_after

    def to_json(self) -> dict[str, Any]:
        return {
            "release": self.release,
            "path": self.path,
            "verdict": self.verdict,
            "verdict_after": self.verdict_after,
            "restored_after": self.restored_after,
            "signal_after": self.signal_after,
            "rollback_call_after": self.rollback_call_after,
            "signal_to_rollback": self.signal_to_rollback,
            "api_calls": self.api_calls,
            "rolled_back": self.rolled_back,
            "group": self.group,
            "traffic_restored_after": self.traffic_restored_after,
            "zero_healthy_seconds": self.zero_healthy_seconds,
        }


# -- setting the stage (the operator's part) ---------------------------------------------------


@dataclass
class Stage:
    """A provisioned sandbox and what the operator prepared on it."""

    sb: Sandbox
    prov: ProvisionResult
    config_path: Path
    workdir: Path
    #: The task-definition template the config names.
    template: Path
    environ: dict[str, str] = field(default_factory=dict)
    faults: set[FaultRule] = field(default_factory=set)
    pushed: set[str] = field(default_factory=set)
    #: Simulated time the sandbox started at (before provisioning).
    started_at: float = 0.0

    def add_fault(self, rule: FaultRule | None, digest: str) -> None:
        """Make the image ``digest`` misbehave as ``rule`` says, once (the operator's doing)."""
        if rule is None:
            return
        pinned = replace(rule, image=digest)
        if pinned not in self.faults:
            self.faults.add(pinned)
            self.sb.faults.add(pinned)

    def cut_over(self, emit: EventSink) -> None:
        """The operator sends voj's traffic to the new ALB (Route 53: new path 100, legacy 0)."""
        weights = {"ecs": 100, "legacy": 0}
        Route53Gateway(self.sb.client_factory()).set_weights(
            self.prov.hosted_zone_id, self.prov.record_name, weights, "CNAME"
        )
        _say(
            emit,
            self.sb.clock.now(),
            f"the operator cuts traffic over to the new ALB: {self.prov.record_name} "
            "weights ecs 100, legacy 0",
        )

    def factory_context(self, emit: EventSink, environ: Mapping[str, str]) -> Context:
        return Context(
            factory=self.sb.client_factory(),
            clock=self.sb.clock,
            emit=emit,
            config_path=self.config_path,
            environ=dict(environ),
        )


def push_image(stage: Stage, tag: str) -> tuple[str, str]:
    """Push ``tag`` to the voj ECR repository (what CI's build step does), once.

    Returns the image URI and its digest.
    """
    sb, prov = stage.sb, stage.prov
    ecr = sb.client_factory().client("ecr")
    if tag not in prov.images and tag not in stage.pushed:
        ecr.put_image(
            repositoryName=prov.repository, imageTag=tag, imageManifest=fake_manifest(tag)
        )
    stage.pushed.add(tag)
    found = ecr.describe_images(repositoryName=prov.repository, imageIds=[{"imageTag": tag}])
    return f"{prov.repository_uri}:{tag}", str(found["imageDetails"][0]["imageDigest"])


def template_with_secret(template: Path, out: Path, *, secret: str, container: str) -> Path:
    """A copy of ``template`` whose ``container`` also reads SSM parameter ``secret``."""
    doc = json.loads(template.read_text(encoding="utf-8"))
    for cdef in doc.get("containerDefinitions", []):
        if cdef.get("name") == container:
            secrets = list(cdef.get("secrets") or [])
            region_account = "arn:aws:ssm:ap-northeast-2:<account>"
            if secrets:
                region_account = str(secrets[0]["valueFrom"]).split(":parameter/", 1)[0]
            secrets.append(
                {"name": secret, "valueFrom": f"{region_account}:parameter/voj/prod/{secret}"}
            )
            cdef["secrets"] = secrets
    out.write_text(json.dumps(doc, indent=2), encoding="utf-8")
    return out


def template_of(config: Path, env: str = "prod") -> Path:
    """The task-definition template ``config``'s ``env`` names, as a path one can open."""
    template = load_config(config, env, environ={}).template
    return template if template.is_absolute() else config.parent / template


def base_environ() -> dict[str, str]:
    """What the demo's deploys see in their environment.

    ``rollout.toml``'s prod environment as it is (Route 53 traffic split included), except the
    smoke probe (the sandbox's ALB has no public DNS name); the commit and actor CI would
    export.
    """
    return {
        "ROLLOUT_SMOKE_URL": "",
        "GITHUB_SHA": "0" * 40,
        "GITHUB_ACTOR": "demo",
    }


# -- deploying through the real verb -----------------------------------------------------------


def deploy_release(
    stage: Stage,
    release: Release,
    emit: EventSink,
    *,
    env: str = "prod",
) -> tuple[Outcome, list[Event]]:
    """Deploy ``release`` with the real ``deploy`` verb; returns its outcome and its events."""
    image, digest = push_image(stage, release.tag)
    stage.add_fault(release.fault, digest)
    environ = dict(stage.environ)
    if release.missing_secret:
        template = template_with_secret(
            stage.template,
            stage.workdir / f"taskdef-{release.tag}.json",
            secret=MISSING_SECRET,
            container=stage.prov.container,
        )
        environ["ROLLOUT_TEMPLATE"] = str(template)
    events: list[Event] = []

    def tee(event: Event) -> None:
        events.append(event)
        emit(event)

    ctx = stage.factory_context(tee, environ)
    if release.secret_vanishes:
        ssm = stage.sb.client_factory().client("ssm")  # the operator's client, not rollout's
        name = f"/voj/prod/{MISSING_SECRET}"
        ssm.put_parameter(Name=name, Value="created for preflight", Type="String", Overwrite=True)

        def vanish(**_: Any) -> None:
            ssm.delete_parameter(Name=name)

        ctx.factory.session.events.register_first(
            "after-call.ecs.RegisterTaskDefinition", vanish, unique_id="demo-vanish"
        )
    outcome = deploy.run(deploy.DeployOptions(image=image, env=env), ctx)
    return outcome, events


# -- the breaker-only path (what the official action leaves you) -------------------------------


def breaker_only(
    stage: Stage, release: Release, *, timeout: float = 3600.0
) -> tuple[str, float, float, int]:
    """Register and ``UpdateService`` like aws-actions, then poll every 15 s like its waiter.

    Returns (the new task-definition ARN, the UpdateService time, the time the waiter would
    have returned, the API calls made). The waiter returns when the deployment fails (the
    breaker tripped; aws-actions >= 2.6 then fails the job) or completes.
    """
    sb, prov = stage.sb, stage.prov
    _, digest = push_image(stage, release.tag)
    stage.add_fault(release.fault, digest)
    image = f"{prov.repository_uri}@{digest}"  # pinned, as rollout deploys it
    # The document is what the render action would produce from the repo's file: read it with
    # the operator's client, so only the action's own calls are counted.
    operator = EcsGateway(sb.client_factory())
    current = operator.describe_service(prov.cluster, prov.service)
    doc: dict[str, Any] = copy.deepcopy(
        dict(operator.describe_task_definition(current.task_definition).document)
    )
    for cdef in doc.get("containerDefinitions", []):
        if cdef.get("name") == prov.container:
            cdef["image"] = image
            if release.missing_secret:
                secrets = list(cdef.get("secrets") or [])
                prefix = str(secrets[0]["valueFrom"]).split(":parameter/", 1)[0]
                secrets.append(
                    {
                        "name": MISSING_SECRET,
                        "valueFrom": f"{prefix}:parameter/voj/prod/{MISSING_SECRET}",
                    }
                )
                cdef["secrets"] = secrets
    factory = sb.client_factory()
    ecs = EcsGateway(factory)
    td = ecs.register_task_definition(doc)
    after = ecs.update_service(prov.cluster, prov.service, task_definition=td.arn)
    started = sb.clock.now()
    ours = after.primary.id if after.primary is not None else None
    deadline = started + timeout
    while sb.clock.now() < deadline:
        sb.clock.sleep(WAITER_DELAY)
        svc = ecs.describe_service(prov.cluster, prov.service)
        mine = svc.deployment(ours) if ours else None
        if mine is not None and mine.rollout_state in ("FAILED", "COMPLETED"):
            break
        if mine is None or mine.status == "INACTIVE":
            break
    return td.arn, started, sb.clock.now(), factory.api_call_total


# -- measuring from the sandbox's own record (rollout.sandbox.measure) -------------------------


def measure_ours(
    stage: Stage, release: Release, emit: EventSink, *, k: int = 2
) -> tuple[Measured, Outcome]:
    """Deploy ``release`` with rollout and measure it from the sandbox's record."""
    sb = stage.sb
    t0 = sb.clock.now()
    calls_before = len(sb.calls())
    wall = time.perf_counter()
    outcome, events = deploy_release(stage, release, emit)
    wall = time.perf_counter() - wall
    result = build_result(events)
    update = measure.first_update_call(sb.calls("ecs"), t0)
    # rollout's own count (its client factory, retries included); the sandbox's as a fallback
    counted = result.get("api_calls")
    api_calls = int(counted) if isinstance(counted, int) else len(sb.calls()) - calls_before
    if update is None:  # stopped before any write (preflight)
        return (
            Measured(
                release.name,
                "rollout",
                outcome.verdict,
                None,
                None,
                api_calls=api_calls,
                wall_seconds=wall,
                group=release.breakage,
            ),
            outcome,
        )
    verdict_at = next((e.at for e in events if e.kind == "verdict"), sb.clock.now())
    new_td = outcome.task_definition_arn or result.get("task_definition_arn")
    prov = stage.prov
    signal = (
        measure.definitive_signal(sb, prov.cluster, prov.service, str(new_td), k=k)
        if release.bad and new_td
        else None
    )
    rb = measure.rollback_call(sb.calls("ecs"), update)
    bad = measure.deployment_of(sb.timeline("deployment.created"), str(new_td), update)
    restored = None
    if release.bad and bad is not None and outcome.verdict != "SUCCEEDED":
        # rollout waits until the restore is verified; ECS may mark it COMPLETED a bit later.
        # (If ECS's breaker rolled back first, rollout sends no rollback call of its own.)
        restored = measure.steady_at(
            sb.timeline("deployment.state"), bad, update
        ) or measure.advance_until_steady(sb, bad, update)
    moment = measure.restore(sb, prov.cluster, prov.service, update)
    return (
        Measured(
            release=release.name,
            path="rollout",
            verdict=outcome.verdict,
            verdict_after=verdict_at - update,
            restored_after=restored - update if restored is not None else None,
            signal_after=signal - update if signal is not None else None,
            rollback_call_after=rb - update if rb is not None else None,
            api_calls=api_calls,
            rolled_back=rb is not None or restored is not None,
            wall_seconds=wall,
            group=release.breakage,
            **_traffic(moment, release),
        ),
        outcome,
    )


def _traffic(moment: measure.Restore | None, release: Release) -> dict[str, float | None]:
    """Measured's traffic fields from one restore measure."""
    if moment is None:
        return {}
    return {
        "traffic_restored_after": moment.restored_after if release.bad else None,
        "zero_healthy_seconds": moment.zero_healthy_seconds,
    }


def measure_breaker_only(stage: Stage, release: Release, *, k: int = 2) -> Measured:
    """Ship ``release`` the breaker-only way and measure it the same way."""
    sb, prov = stage.sb, stage.prov
    sb.wait_steady(prov.cluster, prov.service)  # start from a settled service, like ours
    wall = time.perf_counter()
    new_td, update, waiter_done, api_calls = breaker_only(stage, release)
    trips = [e.time for e in sb.timeline("breaker.trip") if e.time >= update]
    # ECS's deployment alarms (the sandbox evaluates voj's CloudWatch alarms) may fail it first
    alarms = [e.time for e in sb.timeline("alarm.trip") if e.time >= update]
    if trips and (not alarms or trips[0] <= alarms[0]):
        verdict = "FAILED (breaker)"
    elif alarms:
        verdict, trips = "FAILED (alarm)", alarms
    else:
        verdict = "SUCCEEDED"
    bad = measure.deployment_of(sb.timeline("deployment.created"), new_td, update)
    restored = None
    if release.bad and bad is not None:
        restored = measure.advance_until_steady(sb, bad, update)
    signal = (
        measure.definitive_signal(sb, prov.cluster, prov.service, new_td, k=k)
        if release.bad
        else None
    )
    moment = measure.restore(sb, prov.cluster, prov.service, update)
    return Measured(
        release=release.name,
        path="breaker-only",
        verdict=verdict,
        verdict_after=(trips[0] if trips else waiter_done) - update,
        restored_after=restored - update if restored is not None else None,
        signal_after=signal - update if signal is not None else None,
        api_calls=api_calls,
        rolled_back=bool(trips),
        wall_seconds=time.perf_counter() - wall,
        group=release.breakage,
        **_traffic(moment, release),
    )


# -- the story --------------------------------------------------------------------------------


@contextmanager
def staged(config_path: Path, *, announce: EventSink | None = None) -> Iterator[Stage]:
    """A fresh sandbox with voj provisioned, and a scratch directory for the operator."""
    with tempfile.TemporaryDirectory(prefix="rollout-demo-") as tmp, Sandbox() as sb:
        started_at = sb.clock.now()
        if announce is not None:
            announce(
                Event(
                    "run.started",
                    sb.clock.now(),
                    "rollout demo on the embedded sandbox",
                    level="debug",
                    data={"verb": "demo", "env": "prod", "dry_run": False},
                )
            )
            _say(
                announce,
                sb.clock.now(),
                "Act 1: provision voj on the embedded sandbox",
                level="success",
            )
        prov = sb.provision_voj()
        sb.clear_calls()
        config = config_path.resolve()
        yield Stage(
            sb,
            prov,
            config,
            Path(tmp),
            template_of(config),
            base_environ(),
            started_at=started_at,
        )


def _say(emit: EventSink, sb_now: float, message: str, level: Level = "info", **data: Any) -> None:
    emit(Event("demo.act", sb_now, message, level=level, data=data))


def story(
    stage: Stage,
    emit: EventSink,
    *,
    pace: Callable[[], None] = lambda: None,
    compare: bool = True,
) -> list[Measured]:
    """Acts 2-7 on a provisioned stage; returns what was measured (rollout, then breaker-only)."""
    sb = stage.sb
    measured: list[Measured] = []
    releases: Sequence[tuple[str, Release]] = (
        ("Act 2: deploy a good release", GOOD),
        ("Act 3: deploy a release that needs a secret nobody created", MISSING),
        (
            "Act 4: the same kind of release, but the secret exists at preflight and is deleted "
            "right after (someone cleaned up mid-deploy)",
            MISSING_LATE,
        ),
        ("Act 5: deploy a release whose app crashes on start", CRASH),
    )
    for title, release in releases:
        pace()
        _say(emit, sb.clock.now(), f"{title} ({release.tag})", level="success")
        if release in (MISSING_LATE, CRASH):
            stage.cut_over(emit)  # so the rollback has traffic to move back to the legacy path
        m, _ = measure_ours(stage, release, emit)
        measured.append(m)
    pace()
    _say(emit, sb.clock.now(), "Act 6: rollout status and rollout history", level="success")
    ctx = stage.factory_context(emit, stage.environ)
    status.run(status.StatusOptions(env="prod", events=6), ctx)
    history.run(history.HistoryOptions(env="prod", limit=10), ctx)
    if compare:
        pace()
        _say(
            emit,
            sb.clock.now(),
            "Act 7: the same bad releases, the way the official action leaves you "
            "(UpdateService + ECS circuit breaker, waiter polling every 15 s)",
            level="success",
        )
        for release in (MISSING_LATE, CRASH):
            m = measure_breaker_only(stage, release)
            measured.append(m)
            _say(
                emit,
                sb.clock.now(),
                f"breaker-only, {release.breakage}: {m.verdict} after {m.verdict_after:.0f}s, "
                "service back on the old revision after "
                + (f"{m.restored_after:.0f}s" if m.restored_after is not None else "never"),
                level="warning",
            )
    return measured


def summary_data(measured: Sequence[Measured]) -> dict[str, Any]:
    ours = [m for m in measured if m.path == "rollout"]
    theirs = {m.group or m.release: m for m in measured if m.path == "breaker-only"}
    rows = []
    for m in ours:
        other = theirs.get(m.group or m.release)
        ratio = None
        if m.restored_after and other is not None and other.restored_after:
            ratio = round(other.restored_after / m.restored_after, 1)
        rows.append(
            {
                **m.to_json(),
                "breaker_only_verdict_after": other.verdict_after if other else None,
                "breaker_only_restored_after": other.restored_after if other else None,
                "breaker_only_traffic_restored_after": (
                    other.traffic_restored_after if other else None
                ),
                "breaker_only_zero_healthy_seconds": other.zero_healthy_seconds if other else None,
                "speedup": ratio,
            }
        )
    return {"rows": rows}


#: The verdict each release must get for the story to hold.
EXPECTED = {
    GOOD.name: "SUCCEEDED",
    MISSING.name: "PREFLIGHT_FAILED",
    MISSING_LATE.name: "FAILED_ROLLED_BACK",
    CRASH.name: "FAILED_ROLLED_BACK",
}


def run(options: DemoOptions, ctx: Context) -> Outcome:
    """Tell the story; ``ctx.emit`` is the reporter (the rest of ``ctx`` is replaced).

    A KeyboardInterrupt anywhere (the CLI turns SIGINT and SIGTERM into one) stops it at once:
    the sandbox and the scratch directory are closed on the way out, and the verdict is
    INTERRUPTED (exit 40, as for the other verbs), saying which act was cut short and what that
    leaves. Everything the demo touches lives in this process, so stopping in the middle of a
    write harms nothing.
    """
    acts: list[str] = []
    last = [0.0]

    def emit(event: Event) -> None:
        last[0] = event.at
        if event.kind == "demo.act" and event.message.startswith("Act "):
            acts.append(event.message)
        ctx.emit(event)

    try:
        return _run(options, replace(ctx, emit=emit))
    except KeyboardInterrupt:
        where = f"during {acts[-1]}" if acts else "before Act 1"
        reason = (
            f"interrupted {where}: the embedded sandbox lived in this process and is closed, "
            "its scratch directory removed; nothing outside this process was changed. Run "
            "`rollout demo` again to see it from the start (--pace 0: no pauses)."
        )
        data = {"verdict": "INTERRUPTED", "exit_code": 40, "reason": reason}
        ctx.emit(Event("verdict", last[0], f"demo INTERRUPTED: {reason}", level="error", data=data))
        ctx.emit(Event("run.finished", last[0], "demo interrupted", level="debug", data=data))
        return Outcome(verdict="INTERRUPTED", exit_code=40, reason=reason)


def _run(options: DemoOptions, ctx: Context) -> Outcome:
    wall = time.perf_counter()

    def pace() -> None:
        if options.pace > 0:
            time.sleep(options.pace)

    config_path = ctx.config_path or Path("rollout.toml")
    # A config the story cannot use fails now, not after provisioning the whole sandbox.
    template = template_of(config_path.resolve())
    if not template.is_file():
        raise ConfigError(
            f"failed to start the demo: the template {template} that {config_path} names "
            "does not exist.",
            hint="Run from the repository root, or pass --config with the repository's "
            "rollout.toml.",
        )
    with staged(config_path, announce=ctx.emit) as stage:
        _say(
            ctx.emit,
            stage.sb.clock.now(),
            f"voj is up: {stage.prov.cluster}/{stage.prov.service} on "
            f"{stage.prov.family}:1 behind {stage.prov.load_balancer_name}",
        )
        measured = story(stage, ctx.emit, pace=pace, compare=options.compare)
        data = summary_data(measured)
        now = stage.sb.clock.now()
        started_at = stage.started_at
    # Acts 8 and 9 need sandboxes of their own (moto's state is process-global: one sandbox at
    # a time), after the story's is closed; their events continue the story's timeline
    progressive: list[dict[str, Any]] = []
    if options.progressive:
        pace()
        ended_at = now
        _say(
            ctx.emit,
            ended_at,
            "Act 8: one bad release (it answers 500 to 20 % of its requests) shipped rolling, "
            "then as a canary, under 50 req/s: failed requests side by side",
            level="success",
        )
        progressive = [
            r.to_json() for r in demo_progressive.act(config_path, ctx.emit, lambda: ended_at)
        ]
    data["progressive"] = progressive
    wrong = [
        f"{m.release}: {m.verdict} (expected {EXPECTED[m.release]})"
        for m in measured
        if m.path == "rollout" and EXPECTED.get(m.release, m.verdict) != m.verdict
    ]
    if len(progressive) == 2 and not (
        progressive[1]["failed_requests"] < progressive[0]["failed_requests"]
    ):
        wrong.append("the canary failed no fewer requests than rolling")
    if options.workload:
        # after the first sandbox closed: moto's state is process-global, one sandbox at a time
        pace()
        from rollout.verbs import demo_workload

        real = demo_workload.act(
            config_path, ctx.emit, base_environ=base_environ(), continue_at=now
        )
        if real is not None:
            now += real.wall_seconds  # its events continued the timeline at wall speed
            data["workload"] = real.to_json()
            if real.verdict != "FAILED_ROLLED_BACK":
                wrong.append(f"{real.release}: {real.verdict} (expected FAILED_ROLLED_BACK)")
    data["wall_seconds"] = round(time.perf_counter() - wall, 1)
    ctx.emit(Event("demo.summary", now, "what happened", data=data))
    verdict, code = ("UNEXPECTED", 1) if wrong else ("OK", 0)
    reason = "; ".join(wrong) or "every release got the verdict the story expects"
    ctx.emit(
        Event(
            "verdict",
            now,
            f"demo {verdict}: {reason}",
            level="error" if wrong else "success",
            data={"verdict": verdict, "exit_code": code, "reason": reason},
        )
    )
    ctx.emit(
        Event(
            "run.finished",
            now,
            f"demo finished in {time.perf_counter() - wall:.1f}s wall",
            level="debug",
            data={
                "verdict": verdict,
                "exit_code": code,
                "seconds": round(now - started_at, 3),
            },
        )
    )
    return Outcome(verdict=verdict, exit_code=code, reason=reason)
