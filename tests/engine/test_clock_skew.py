"""A client clock that disagrees with AWS's must not turn old service events into news."""

from __future__ import annotations

from dataclasses import dataclass

from rollout.clock import Clock
from rollout.config import load_config
from rollout.engine.deploy import DeployRequest, DeployRun
from rollout.engine.interrupt import Interrupt
from rollout.events import Event
from rollout.verbs import deploy as deploy_verb

from .scenario import CONFIG, World


@dataclass
class SkewedClock:
    """The sandbox's clock seen from a machine whose clock is ``offset`` seconds off."""

    inner: Clock
    offset: float

    def now(self) -> float:
        return self.inner.now() + self.offset

    def sleep(self, seconds: float) -> None:
        self.inner.sleep(seconds)


def test_events_from_before_the_deploy_are_not_shown_when_the_client_clock_lags(
    world: World,
) -> None:
    """With the runner 15 minutes behind AWS, only events of our deployment are emitted."""
    history = {
        e["id"]
        for e in world.sb.client_factory()
        .client("ecs")
        .describe_services(cluster=world.prov.cluster, services=[world.prov.service])["services"][
            0
        ]["events"]
    }
    assert history, "the provisioned service has events from before this deploy"
    ctx, log = world.context()
    ctx.clock = SkewedClock(world.sb.clock, -900.0)
    cfg = load_config(CONFIG, "prod", environ={})
    image = world.prov.images["sha-0000002"]
    request = DeployRequest(image=image, prepare=lambda: deploy_verb.prepare(cfg, image, ctx))
    outcome = DeployRun(world.session(ctx), request).run()
    assert outcome.verdict == "SUCCEEDED"
    shown = [e for e in log.events if e.kind == "ecs.event"]
    assert shown, "our deployment's own events are shown"
    assert not [e for e in shown if e.data["id"] in history]


def _skewed_deploy(world: World, tag: str, offset: float, **kw: object) -> tuple[object, list]:  # type: ignore[type-arg]
    ctx, log = world.context()
    ctx.clock = SkewedClock(world.sb.clock, offset)
    cfg = load_config(CONFIG, "prod", environ={})
    image = world.prov.images[tag]
    request = DeployRequest(image=image, prepare=lambda: deploy_verb.prepare(cfg, image, ctx))
    outcome = DeployRun(world.session(ctx, **kw), request).run()  # type: ignore[arg-type]
    return outcome, log.events


def test_resumed_watch_with_a_skewed_client_clock_shows_no_negative_duration(
    world: World,
) -> None:
    """`rollout watch` on a runner 15 minutes behind AWS: every duration shown is >= 0 and the
    timeouts count on one clock (issue 11: "new tasks healthy in -879s")."""
    interrupt = Interrupt()

    def stop_early(event: Event) -> None:
        if event.kind == "observation":
            interrupt.set("SIGTERM")

    first = world.deploy("sha-0000002", interrupt=interrupt, sink=stop_early)
    assert first.outcome.exit_code == 40
    for offset in (-900.0,):
        ctx, log = world.context()
        ctx.clock = SkewedClock(world.sb.clock, offset)
        ctx.environ = {
            **ctx.environ,
            "ROLLOUT_SMOKE_URL": "",
            "ROLLOUT_TRAFFIC": "off",
            "ROLLOUT_BAKE__SECONDS": "0",
        }
        outcome = deploy_verb.run_watch(deploy_verb.WatchOptions(env="prod"), ctx)
        assert outcome.verdict == "SUCCEEDED"
        phases = [e for e in log.events if e.kind == "phase"]
        assert phases
        assert all(e.data["seconds"] >= 0 for e in phases), [e.message for e in phases]
        assert "since watching began" in phases[0].message


def test_slow_start_inside_grace_is_not_failed_when_the_client_clock_runs_ahead(
    world: World,
) -> None:
    """The grace period is measured on one clock: a runner 15 minutes ahead of AWS must not
    count a task inside its grace period as failing its health check."""
    world.break_next("slow_start", after=20)
    outcome, _ = _skewed_deploy(world, "sha-0000002", 900.0)
    assert outcome.verdict == "SUCCEEDED"  # type: ignore[attr-defined]
