"""The renderers: plain lines, the JSON result, GitHub summary and outputs, the live console."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pytest

from rollout.errors import UsageError
from rollout.events import Event
from rollout.report import open_reporter
from rollout.report.console import ConsoleRenderer
from rollout.report.github import format_output, mermaid_gantt
from rollout.report.result import build_result

from .streams import NEW_TD, OLD_TD, T0, failed_deploy


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def _run(output: str, environ: dict[str, str], stream: io.StringIO | None = None) -> str:
    out = stream if stream is not None else io.StringIO()
    reporter = open_reporter(output, stream=out, environ=environ)
    for event in failed_deploy():
        reporter(event)
    reporter.close()
    return out.getvalue()


def parse_github_output(text: str) -> dict[str, str]:
    """Parse $GITHUB_OUTPUT the way the runner does (both forms)."""
    values: dict[str, str] = {}
    lines = text.split("\n")
    i = 0
    while i < len(lines):
        line = lines[i]
        if "<<" in line:
            name, delim = line.split("<<", 1)
            body: list[str] = []
            i += 1
            while lines[i] != delim:
                body.append(lines[i])
                i += 1
            values[name] = "\n".join(body)
        elif "=" in line:
            name, value = line.split("=", 1)
            values[name] = value
        i += 1
    return values


def test_plain_lines_are_timestamped_and_offset_from_the_first_event() -> None:
    """Plain output prints one HH:MM:SSZ line per event with the offset since the run started."""
    lines = _run("plain", {}).splitlines()
    assert lines[0].startswith("08:00:00Z +   0.0s INFO  deploy voj-backend-api")
    verdict = next(line for line in lines if "FAILED_ROLLED_BACK" in line and "ERROR" in line)
    assert "+  82.0s" in verdict


def test_plain_prints_a_poll_only_when_what_it_shows_changes() -> None:
    """Two identical observations print one line, with the deployment counts in it."""
    lines = [line for line in _run("plain", {}).splitlines() if "poll" in line]
    assert len(lines) == 1
    assert "PRIMARY voj-backend:3 0/2 running, 2 pending [IN_PROGRESS]" in lines[0]


def test_plain_renders_unknown_kinds_by_message_and_level() -> None:
    """An event kind no renderer knows still prints its message at its level."""
    text = _run("plain", {})
    assert re.search(r"WARN\s+something new happened", text)


def test_plain_shows_stop_details_the_message_leaves_out() -> None:
    """A stopped task's line carries its stop code, reason and exit codes."""
    line = next(line for line in _run("plain", {}).splitlines() if "task 0a1b" in line)
    assert "EssentialContainerExited" in line
    assert "{'api': 3}" in line


def test_plain_adds_annotations_inside_github_actions() -> None:
    """With GITHUB_ACTIONS=true, errors become ::error annotations with newlines escaped."""
    out = io.StringIO()
    reporter = open_reporter("plain", stream=out, environ={"GITHUB_ACTIONS": "true"})
    reporter(Event("signal", T0, "bad\nthing 100%", level="error"))
    reporter.close()
    assert "::error title=rollout::bad%0Athing 100%25" in out.getvalue()


def test_dry_run_writes_print_the_request() -> None:
    """A write.dry_run line shows the exact request that was not sent."""
    out = io.StringIO()
    reporter = open_reporter("plain", stream=out, environ={})
    request = {"cluster": "c", "service": "s", "taskDefinition": "td:3"}
    reporter(
        Event(
            "write.dry_run",
            T0,
            "would call ecs.UpdateService",
            data={"service": "ecs", "operation": "UpdateService", "request": request},
        )
    )
    assert json.dumps(request, sort_keys=True) in out.getvalue()


def test_json_prints_one_result_document_only_at_close() -> None:
    """--output json prints nothing while running and one parseable document at close."""
    out = io.StringIO()
    reporter = open_reporter("json", stream=out, environ={})
    for event in failed_deploy():
        reporter(event)
    assert out.getvalue() == ""
    reporter.close()
    doc = json.loads(out.getvalue())
    assert doc["verdict"] == "FAILED_ROLLED_BACK"
    assert doc["exit_code"] == 20
    assert doc["deployment_ids"] == ["ecs-svc/222"]
    assert doc["task_definition_arns"] == [OLD_TD, NEW_TD]
    assert doc["task_definition_arn"] == NEW_TD
    assert doc["rollback_target_arn"] == OLD_TD
    assert doc["api_calls"] == 57
    assert doc["seconds"] == 82.0
    assert [(p["phase"], p["seconds"]) for p in doc["phases"]] == [
        ("new tasks healthy", 34.0),
        ("restore", 45.0),
    ]
    assert doc["stop_reasons"][0]["stop_code"] == "EssentialContainerExited"
    assert doc["rollback"]["via"] == "StopServiceDeployment"
    assert doc["ecs_events"][0]["message"] == "(service voj) has started 2 tasks"
    assert len(doc["events"]) == len(failed_deploy())
    assert doc["events"][-3]["kind"] == "mystery.kind"


def test_result_of_a_run_without_run_finished_still_has_its_duration() -> None:
    """An interrupted stream (no run.finished) reports seconds from first to last event."""
    doc = build_result(failed_deploy()[:-1])
    assert doc["seconds"] == 82.0
    assert doc["api_calls"] is None


def test_github_outputs_are_multiline_safe(tmp_path: Path) -> None:
    """$GITHUB_OUTPUT gets the three outputs in delimiter form, parseable by the runner."""
    out_file = tmp_path / "out"
    out_file.write_text("earlier=1\n")
    _run("plain", {"GITHUB_OUTPUT": str(out_file)})
    values = parse_github_output(out_file.read_text())
    assert values == {
        "earlier": "1",
        "task-definition-arn": NEW_TD,
        "deployment-id": "ecs-svc/222",
        "verdict": "FAILED_ROLLED_BACK",
    }


def test_an_output_value_cannot_inject_another_output() -> None:
    """A value holding newlines and name=value lines stays one value."""
    text = format_output("verdict", "x\nevil=1\nverdict<<EOF")
    assert parse_github_output(text) == {"verdict": "x\nevil=1\nverdict<<EOF"}


def test_step_summary_has_a_table_and_a_mermaid_gantt(tmp_path: Path) -> None:
    """$GITHUB_STEP_SUMMARY gets the verdict table, phases, stop reasons and a gantt."""
    summary = tmp_path / "summary.md"
    _run("json", {"GITHUB_STEP_SUMMARY": str(summary)})
    text = summary.read_text()
    assert "## rollout deploy: FAILED_ROLLED_BACK" in text
    assert f"| Task definition | {NEW_TD} |" in text
    assert "| AWS API calls | 57 |" in text
    assert "| new tasks healthy | 34.0 |" in text
    assert "| 0a1b | EssentialContainerExited |" in text
    gantt = text.split("```mermaid\n", 1)[1].split("```", 1)[0]
    assert gantt.startswith("gantt\n")
    assert "dateFormat X" in gantt
    assert "section steps\n    register 1s :s1, 0, 1\n" in gantt
    assert "crit" not in gantt.split("section phases")[0]
    assert "new tasks healthy 34s :s2, 1, 35" in gantt
    assert "restore 45s :s3, 35, 80" in gantt


def test_gantt_labels_cannot_break_mermaid() -> None:
    """Colons, hashes and semicolons in a phase name are removed from the gantt label."""
    doc = build_result(
        [
            Event("run.started", T0, "x", data={"verb": "deploy"}),
            Event("phase", T0 + 5, "p", data={"phase": "a:b#c;d", "seconds": 5.0}),
        ]
    )
    assert "    a b c d 5s :s1, 0, 5" in mermaid_gantt(doc)


def test_unknown_output_is_a_usage_error() -> None:
    """An unknown --output value is refused with the valid choices."""
    with pytest.raises(UsageError, match="console"):
        open_reporter("yaml", stream=io.StringIO(), environ={})


def test_auto_picks_plain_without_a_tty_and_console_with_one() -> None:
    """auto renders plain lines to a pipe and the rich console to a terminal."""
    piped = _run("auto", {})
    assert "INFO  deploy voj-backend-api" in piped
    tty = _run("auto", {"TERM": "xterm"}, stream=_Tty())
    assert "INFO  deploy" not in tty
    assert "FAILED_ROLLED_BACK" in tty
    assert "\x1b[" in tty  # styled


def test_console_panel_shows_deployments_targets_events_and_stops() -> None:
    """The live panel shows the step, deployment counts, target health, events and stops."""
    from rich.console import Console

    out = io.StringIO()
    renderer = ConsoleRenderer(out, live=False)
    for event in failed_deploy()[:12]:
        renderer(event)
    console = Console(file=io.StringIO(), width=140, no_color=True)
    with console.capture() as cap:
        console.print(renderer.panel())
    text = cap.get()
    assert "step 1/4: register" in text
    assert "voj-backend:3" in text
    assert "IN_PROGRESS" in text
    assert "10.0.1.5" in text
    assert "Target.Timeout" in text
    assert "has started 2 tasks" in text
    assert "EssentialContainerExited" in text


def test_plain_leaves_out_debug_events_other_than_polls() -> None:
    """Debug events are not printed in plain mode, while a changed poll is."""
    out = io.StringIO()
    reporter = open_reporter("plain", stream=out, environ={})
    reporter(Event("lock.detail", T0, "internal detail", level="debug"))
    reporter(Event("observation", T0 + 5, "poll 1", level="debug", data={"healthy": 1}))
    text = out.getvalue()
    assert "internal detail" not in text
    assert "INFO  poll 1 | targets: healthy 1" in text


def test_console_shows_no_live_panel_for_a_read_only_verb() -> None:
    """A status run (no steps, no polls) prints its table on a TTY without a live panel."""
    out = _Tty()
    reporter = open_reporter("console", stream=out, environ={"TERM": "xterm"})
    reporter(Event("run.started", T0, "status", level="debug", data={"verb": "status"}))
    reporter(Event("status", T0, "2/2 running", data={"cluster": "c", "service": "s"}))
    reporter(Event("run.finished", T0, "done", level="debug", data={"verdict": "OK"}))
    reporter.close()
    text = out.getvalue()
    assert "Deployments" in text
    assert "rollout status" not in text  # the live panel's title


def test_read_only_runs_write_no_github_summary_or_outputs(tmp_path: Path) -> None:
    """A run without a verdict (status, history) leaves the summary and outputs files alone."""
    summary, outputs = tmp_path / "summary.md", tmp_path / "out"
    environ = {"GITHUB_STEP_SUMMARY": str(summary), "GITHUB_OUTPUT": str(outputs)}
    reporter = open_reporter("json", stream=io.StringIO(), environ=environ)
    reporter(Event("run.started", T0, "status", data={"verb": "status"}))
    reporter(Event("status", T0, "2/2 running", data={"service": "s"}))
    reporter.close()
    assert not summary.exists()
    assert not outputs.exists()


def test_gantt_marks_steps_that_led_to_a_rollback_as_critical() -> None:
    """A step whose outcome is the rollback is drawn red (crit) in the gantt."""
    doc = build_result(
        [
            Event("run.started", T0, "x", data={"verb": "deploy"}),
            Event(
                "step.finished",
                T0 + 40,
                "watch",
                data={"step": "watch", "outcome": "RollBack", "seconds": 40.0},
            ),
        ]
    )
    assert "    watch 40s :crit, s1, 0, 40" in mermaid_gantt(doc)


def test_the_first_run_names_the_document_when_a_verb_runs_others() -> None:
    """A demo stream (demo, then deploy, then status) keeps verb 'demo' and its own verdict."""
    doc = build_result(
        [
            Event("run.started", T0, "demo", data={"verb": "demo", "env": "prod"}),
            *failed_deploy(),
            Event("run.started", T0 + 90, "status", data={"verb": "status"}),
            Event("verdict", T0 + 91, "demo OK", data={"verdict": "OK", "exit_code": 0}),
        ]
    )
    assert doc["verb"] == "demo"
    assert doc["started_at"] == T0
    assert doc["verdict"] == "OK"
    assert doc["deployment_ids"] == ["ecs-svc/222"]


@pytest.mark.parametrize("output", ["plain", "console"])
def test_a_malformed_event_is_shown_bare_and_the_run_goes_on(output: str) -> None:
    """An event a renderer cannot draw becomes one bare line; later events still render."""
    out = io.StringIO()
    reporter = open_reporter(output, stream=out, environ={})
    reporter(Event("status", T0, "broken status", data={"deployments": "not a list"}))
    reporter(Event("verdict", T0 + 1, "SUCCEEDED", level="success", data={"verdict": "SUCCEEDED"}))
    reporter.close()
    text = out.getvalue()
    assert "could not render status" in text
    assert "SUCCEEDED" in text
    assert len(reporter.events) == 2


def test_an_unwritable_step_summary_warns_and_close_still_finishes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """If $GITHUB_STEP_SUMMARY cannot be written, close warns on stderr and writes the outputs."""
    outputs = tmp_path / "out"
    environ = {
        "GITHUB_STEP_SUMMARY": str(tmp_path / "missing" / "s.md"),
        "GITHUB_OUTPUT": str(outputs),
    }
    _run("json", environ)
    assert "could not write" in capsys.readouterr().err
    assert parse_github_output(outputs.read_text())["verdict"] == "FAILED_ROLLED_BACK"


def test_json_result_says_why_a_run_ended_without_a_verdict() -> None:
    """An error event (e.g. the lock is held) fills the result's error, reason and exit code."""
    events = [
        Event("run.started", T0, "deploy", data={"verb": "deploy"}),
        Event(
            "error",
            T0 + 1,
            "failed to deploy voj-prod/voj-backend-api: another deploy holds the service lock",
            level="error",
            data={"error": "LockHeld", "exit_code": 31},
        ),
    ]
    doc = build_result(events)
    assert doc["verdict"] is None
    assert (doc["error"], doc["exit_code"]) == ("LockHeld", 31)
    assert "holds the service lock" in doc["reason"]
