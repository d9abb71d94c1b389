"""The demo's story on the virtual clock: what it shows must be what happened in the sandbox."""

from __future__ import annotations

from rollout.events import Event
from rollout.verbs import demo

from .conftest import CONFIG


def test_demo_story_detects_both_bad_releases_and_compares_with_the_breaker() -> None:
    """Good ships; missing secrets write nothing or roll back; crashes roll back; breaker slower."""
    events: list[Event] = []
    with demo.staged(CONFIG, announce=events.append) as stage:
        measured = demo.story(stage, events.append)
        calls = stage.sb.calls("ecs", "RegisterTaskDefinition")
    ours = {m.release: m for m in measured if m.path == "rollout"}
    theirs = {m.release: m for m in measured if m.path == "breaker-only"}
    assert ours[demo.GOOD.name].verdict == "SUCCEEDED"
    assert ours[demo.GOOD.name].rolled_back is False
    assert ours[demo.MISSING.name].verdict == "PREFLIGHT_FAILED"
    assert ours[demo.MISSING.name].verdict_after is None  # no UpdateService was sent
    for release in (demo.MISSING_LATE, demo.CRASH):
        mine = ours[release.name]
        assert mine.verdict == "FAILED_ROLLED_BACK"
        assert mine.rolled_back is True
        assert mine.restored_after is not None
        assert mine.signal_to_rollback is not None
        assert 0 <= mine.signal_to_rollback <= 6.0  # one jittered 5 s poll
        other = theirs[release.name]
        assert other.verdict == "FAILED (breaker)"
        assert other.restored_after is not None
        assert other.restored_after > mine.restored_after
        # traffic restored (rollout.sandbox.measure): the good revision healthy again
        assert mine.traffic_restored_after is not None
        assert other.traffic_restored_after is not None
        assert mine.traffic_restored_after < other.traffic_restored_after
        assert mine.zero_healthy_seconds is not None
    # good, deleted-secret and crash by rollout, two by the breaker-only replay; none for the
    # release preflight stopped
    assert len(calls) == 5
    kinds = [e.kind for e in events]
    assert "status" in kinds
    assert "history" in kinds
    acts = [e.message for e in events if e.kind == "demo.act"]
    assert [a.split(":")[0] for a in acts if a.startswith("Act")] == [
        "Act 1",
        "Act 2",
        "Act 3",
        "Act 4",
        "Act 5",
        "Act 6",
        "Act 7",
    ]


def test_summary_rows_pair_each_release_with_its_breaker_only_replay() -> None:
    """The summary puts the breaker-only restore beside ours and computes the speed-up."""
    measured = [
        demo.Measured("crash", "rollout", "FAILED_ROLLED_BACK", 50.0, 60.0),
        demo.Measured("crash", "breaker-only", "FAILED (breaker)", 90.0, 300.0),
        demo.Measured("good", "rollout", "SUCCEEDED", 100.0, None),
    ]
    rows = {r["release"]: r for r in demo.summary_data(measured)["rows"]}
    assert rows["crash"]["breaker_only_restored_after"] == 300.0
    assert rows["crash"]["speedup"] == 5.0
    assert rows["good"]["speedup"] is None
    assert rows["good"]["breaker_only_verdict_after"] is None
