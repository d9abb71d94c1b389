"""``rollout traffic shift``: Route 53 weights moved in gated steps (issue 10), on the sandbox's
virtual clock; the new path's ALB carries synthetic traffic."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import pytest

from rollout.config import load_config
from rollout.decisions.analysis import Thresholds
from rollout.decisions.traffic import parse_steps, share, step_weights
from rollout.engine.settings import EngineSettings, settings_from_config
from rollout.engine.traffic import read_weights, shift_traffic

from .scenario import CONFIG, World


@pytest.fixture
def traffic_world(world: World) -> Iterator[World]:
    """The engine's voj sandbox; each test starts the synthetic traffic (10 req/s)."""
    try:
        yield world
    finally:
        world.sb.stop_synthetic_traffic()
        s = world.session(world.context()[0], _settings())
        t = s.settings.traffic
        assert t is not None
        zone = s.gw.r53.zone_id(t.zone_name or "")
        s.gw.r53.set_weights(
            zone,
            t.record_name,
            step_weights(0, t.new_set_identifier, t.legacy_set_identifier),
            t.record_type,
        )


def _settings() -> EngineSettings:
    cfg = load_config(CONFIG, "prod", environ={})
    return replace(
        settings_from_config(cfg), thresholds=Thresholds(min_requests=50), analysis_window=60
    )


def test_each_step_waits_insync_and_the_ttl_then_passes_on_the_new_paths_metrics(
    traffic_world: World,
) -> None:
    world = traffic_world
    world.sb.start_synthetic_traffic(rate=10.0)
    ctx, log = world.context()
    s = world.session(ctx, _settings())
    result = shift_traffic(s, (10, 50, 100))
    assert result.outcome == "shifted", result.reason
    assert result.reached == 100
    kinds = [e.kind for e in log.events if e.kind.startswith(("traffic.", "analysis"))]
    assert kinds == ["traffic.step", "traffic.insync", "traffic.ttl", "analysis"] * 3
    weights = read_weights(s)["weights"]
    assert weights == {"ecs": 100, "legacy": 0}


def test_a_failing_step_returns_the_new_path_to_0_and_waits_for_insync(
    traffic_world: World,
) -> None:
    world = traffic_world
    # the new path runs a release that starts answering 500 to 30 % of its requests 15 min after
    # its tasks started: after its own deploy (and ECS's deployment alarms) were done with it
    world.break_next("serve_5xx", share=0.3, after=900)
    deployed = world.deploy("sha-0000003")
    assert deployed.outcome.verdict == "SUCCEEDED", deployed.outcome
    world.sb.start_synthetic_traffic(rate=10.0)  # after the deploy: no ECS alarm rollback
    world.sb.advance(900)
    svc = world.ecs.describe_service(world.prov.cluster, world.prov.service)
    ctx, log = world.context()
    s = world.session(ctx, _settings())
    result = shift_traffic(s, (10, 50, 100))
    assert result.outcome == "rolled-back", result.reason
    assert result.reached == 0
    assert "5xx rate" in result.reason
    kinds = [e.kind for e in log.events if e.kind.startswith("traffic.")]
    # the failing step's write, then back to 0 and INSYNC awaited before the verdict
    assert kinds[-2:] == ["traffic.insync", "traffic.restored"]
    assert read_weights(s)["weights"] == {"ecs": 0, "legacy": 100}
    assert svc.task_definition  # the service itself is untouched


def test_a_dry_run_prints_each_write_and_waits_for_nothing(traffic_world: World) -> None:
    world = traffic_world
    world.sb.start_synthetic_traffic(rate=10.0)
    ctx, log = world.context()
    s = world.session(ctx, _settings(), dry_run=True)
    before = world.sb.clock.now()
    result = shift_traffic(s, (10, 100))
    assert result.outcome == "dry-run"
    writes = [e for e in log.events if e.kind == "write.dry_run"]
    assert [w.data["request"]["weights"] for w in writes] == [
        {"ecs": 10, "legacy": 90},
        {"ecs": 100, "legacy": 0},
    ]
    assert world.sb.clock.now() - before < 1
    assert read_weights(s)["weights"] == {"ecs": 0, "legacy": 100}


@pytest.mark.parametrize(
    ("text", "steps"),
    [("10,50,100", (10, 50, 100)), (" 5 , 100 ", (5, 100)), ("100", (100,))],
)
def test_parse_steps(text: str, steps: tuple[int, ...]) -> None:
    assert parse_steps(text) == steps


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("", "empty"),
        ("10,ten", "not a whole percentage"),
        ("0,100", "outside 1..100"),
        ("50,10", "must increase"),
        ("10,10", "must increase"),
        ("101", "outside"),
    ],
)
def test_parse_steps_refuses(text: str, words: str) -> None:
    with pytest.raises(ValueError, match=words):
        parse_steps(text)


@pytest.mark.parametrize(
    ("weights", "share_of_new"),
    [({"ecs": 10, "legacy": 90}, 10.0), ({"ecs": 0, "legacy": 0}, None), ({"ecs": 1}, 100.0)],
)
def test_share(weights: dict[str, int], share_of_new: float | None) -> None:
    assert share(weights, "ecs") == share_of_new
