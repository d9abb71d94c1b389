"""Act 9 of the demo on real processes: what it counts must be what the requests got."""

from __future__ import annotations

from pathlib import Path

import pytest

from rollout.events import Event
from rollout.verbs import demo, demo_workload

CONFIG = Path(__file__).resolve().parents[2] / "rollout.toml"


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_a_release_serving_errors_is_rolled_back_and_its_failures_counted() -> None:
    """The books-500 release is rolled back; the only failed requests are its own 500s, none
    before the deploy, none after the restore, none for want of a healthy target; the phases add
    up to the whole run."""
    events: list[Event] = []
    m = demo_workload.act(CONFIG, events.append, base_environ=demo.base_environ())
    assert m is not None
    assert m.verdict == "FAILED_ROLLED_BACK"
    assert m.restored_after is not None
    assert m.failures == {"target_5xx": m.failed}
    assert m.failed > 0
    phases = m.by_phase
    assert phases["before"]["failed"] == 0
    assert phases["before"]["requests"] > 0
    assert phases["after_restored"]["failed"] == 0
    assert phases["zero_healthy"]["requests"] == 0
    assert phases["until_restored"]["failed"] == m.failed
    counted = sum(phases[p]["requests"] for p in ("before", "until_restored", "after_restored"))
    assert counted == m.requests
    acts = [e.message for e in events if e.kind == "demo.act"]
    assert acts[0].startswith("Act 9")
    assert f"users saw {m.failed} failed requests of {m.requests}" in acts[-1]
