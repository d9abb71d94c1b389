"""The demo's story on the virtual clock: what it shows must be what happened in the sandbox."""

from __future__ import annotations

from rollout.events import Event
from rollout.verbs import demo

from .conftest import CONFIG


def test_demo_story_detects_both_bad_releases_and_compares_with_the_breaker() -> None:
    """Good ships; missing secret writes nothing; crash rolls back; breaker-only is slower."""
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
    crash = ours[demo.CRASH.name]
    assert crash.verdict == "FAILED_ROLLED_BACK"
    assert crash.rolled_back is True
    assert crash.restored_after is not None
    # two of ours (good, crash) and two breaker-only registrations; none for the missing secret
    assert len(calls) == 4
    for name in (demo.MISSING.name, demo.CRASH.name):
        other = theirs[name]
        assert other.verdict == "FAILED (breaker)"
        assert other.restored_after is not None
    assert theirs[demo.CRASH.name].restored_after > crash.restored_after
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
