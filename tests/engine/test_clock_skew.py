"""A client clock that disagrees with AWS's must not turn old service events into news."""

from __future__ import annotations

from dataclasses import dataclass

from rollout.clock import Clock
from rollout.config import load_config
from rollout.engine.deploy import DeployRequest, DeployRun
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
