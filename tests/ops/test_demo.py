"""The demo's story on the virtual clock: what it shows must be what happened in the sandbox."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from typing import Any

import pytest

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


def test_ctrl_c_stops_the_demo_with_exit_40_and_says_what_it_left(monkeypatch: Any) -> None:
    """Ctrl-C in the middle of an act (a KeyboardInterrupt, as the CLI's handler raises for
    SIGINT and SIGTERM): exit 40, a message naming the act and the state left, a JSON result
    that says so, the sandbox closed and no thread left behind (it used to end with exit 130
    and no word)."""
    from typer.testing import CliRunner

    from rollout.cli import _register, app
    from rollout.sandbox import Sandbox

    measure_ours = demo.measure_ours

    def interrupted(stage: Any, release: Any, emit: Any, **kwargs: Any) -> Any:
        if release is demo.MISSING:
            raise KeyboardInterrupt
        return measure_ours(stage, release, emit, **kwargs)

    monkeypatch.setattr(demo, "measure_ours", interrupted)
    opened: list[Sandbox] = []
    original_init = Sandbox.__init__

    def spy(self: Sandbox, *args: Any, **kwargs: Any) -> None:
        original_init(self, *args, **kwargs)
        opened.append(self)

    monkeypatch.setattr(Sandbox, "__init__", spy)
    threads = set(threading.enumerate())
    _register()
    result = CliRunner().invoke(
        app, ["demo", "--pace", "0", "--no-compare", "-o", "json", "--config", str(CONFIG)]
    )
    assert result.exit_code == 40, result.output
    doc = json.loads(result.stdout)
    assert (doc["verdict"], doc["exit_code"]) == ("INTERRUPTED", 40)
    assert doc["reason"].startswith("interrupted during Act 3: deploy a release that needs")
    assert "nothing outside this process was changed" in doc["reason"]
    assert [sb.is_open for sb in opened] == [False]
    assert set(threading.enumerate()) <= threads


@pytest.mark.slow
def test_sigint_stops_a_running_demo_promptly() -> None:
    """A real SIGINT to `rollout demo` once Act 2 is on screen: it exits 40 within seconds
    (bounded: the whole test gives up after 120 s)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "rollout", "demo", "--pace", "0", "-o", "plain"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        cwd=CONFIG.parent,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            if "Act 2" in line:
                break
        proc.send_signal(signal.SIGINT)
        sent = time.monotonic()
        out, err = proc.communicate(timeout=60)
        took = time.monotonic() - sent
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 40, err
    assert "demo INTERRUPTED: interrupted during Act 2" in out
    assert "Traceback" not in err
    assert took < 15


@pytest.mark.parametrize("text", [None, "[env.prod\n", "[env.staging]\ncluster = 'c'\n"])
def test_a_config_the_demo_cannot_use_fails_before_provisioning(
    tmp_path: Any, monkeypatch: Any, text: str | None
) -> None:
    """Missing, malformed, or without prod: exit 2 at once, naming the file; it used to
    provision the whole sandbox first (seconds of Act 1) and fail after."""
    from typer.testing import CliRunner

    from rollout.cli import _register, app
    from rollout.sandbox import Sandbox

    config = tmp_path / "rollout.toml"
    if text is not None:
        config.write_text(text)

    def no_sandbox(*_: Any, **__: Any) -> None:
        raise AssertionError("the demo started a sandbox")

    monkeypatch.setattr(Sandbox, "__init__", no_sandbox)
    _register()
    result = CliRunner().invoke(app, ["demo", "--pace", "0", "--config", str(config)])
    assert result.exit_code == 2, result.output
    assert str(config) in result.stderr
    assert "Act 1" not in result.stdout


def test_ctrl_c_while_the_demo_loads_exits_40_and_says_nothing_was_created(
    monkeypatch: Any,
) -> None:
    """Loading the sandbox takes seconds: SIGINT/SIGTERM then (a KeyboardInterrupt from the
    handler, installed before the load) is exit 40 with a word, not a silent 130 or -15."""
    from typer.testing import CliRunner

    import rollout.cli.demo as demo_cli
    from rollout.cli import _register, app

    def interrupted(*_: Any, **__: Any) -> Any:
        raise KeyboardInterrupt

    monkeypatch.setattr(demo_cli, "open_reporter", interrupted)
    _register()
    result = CliRunner().invoke(app, ["demo", "--pace", "0", "--config", str(CONFIG)])
    assert result.exit_code == 40, result.output
    assert "demo interrupted before it started: nothing was created" in result.stderr
