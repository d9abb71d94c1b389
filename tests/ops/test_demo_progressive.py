"""The demo's act 8: one bad release rolling vs canary, failed requests side by side."""

from __future__ import annotations

from rollout.events import Event
from rollout.verbs import demo_progressive

from .conftest import REPO


def test_the_canary_fails_far_fewer_requests_than_rolling() -> None:
    events: list[Event] = []
    rolling, canary = demo_progressive.act(REPO / "rollout.toml", events.append, lambda: 0.0)
    assert (rolling.strategy, canary.strategy) == ("rolling", "canary")
    assert canary.verdict == "FAILED_ROLLED_BACK"
    assert rolling.failed > 0
    assert canary.failed * 5 < rolling.failed
    assert [e.kind for e in events] == ["demo.act", "demo.act"]
