"""The CLI's conventions, checked on every command there is (so verbs added later are held to
them too): -o/--output is the output format, -q/-v everywhere, --region/--cluster/--service
wherever --env is, --dry-run on writers; plus what the conventions promise at run time."""

from __future__ import annotations

import ast
import io
import itertools
import json
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
import typer.main
from typer.testing import CliRunner

from rollout.cli import _register, app
from rollout.engine.interrupt import Interrupt
from rollout.events import Event
from rollout.report import OUTPUTS, open_reporter
from rollout.verbs import status
from rollout.verbs.demo_story import ACTS, SUMMARY

from .conftest import REPO, LedgerWorld

#: No endpoint, no credentials: any AWS call would fail, so exit 2 proves none was made.
ENV = {"AWS_ENDPOINT_URL": "http://127.0.0.1:9", "AWS_ACCESS_KEY_ID": "", "ROLLOUT_ENV": ""}
#: Verbs that write to AWS (when present): each must offer --dry-run.
WRITERS = {"deploy", "undo", "prune", "restart", "scale", "run"}
BOX = re.compile(r"[─│┃━┏┓┗┛┡┩╇┌┐└┘├┤┬┴┼╭╮╰╯═║]")


# typer vendors its own click: commands and parameters are matched by shape, not by class
def _commands() -> Iterator[tuple[str, Any]]:
    _register()
    root = typer.main.get_command(app)

    def walk(prefix: str, cmd: Any) -> Iterator[tuple[str, Any]]:
        if hasattr(cmd, "commands"):
            for name, sub in sorted(cmd.commands.items()):
                yield from walk(f"{prefix} {name}".strip(), sub)
        else:
            yield prefix, cmd

    yield from walk("", root)


COMMANDS = dict(_commands())


def _option(cmd: Any, name: str) -> Any:
    for param in cmd.params:
        if param.param_type_name == "option" and name in param.opts + param.secondary_opts:
            return param
    return None


def test_the_walk_sees_every_verb() -> None:
    """The walk finds the commands (a broken walk would make the checks below vacuous)."""
    assert {"deploy", "undo", "status", "render", "verify", "demo", "sandbox up"} <= set(COMMANDS)


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_output_is_the_format_everywhere(name: str) -> None:
    """-o/--output names the output format (a string, one of auto|console|plain|json), never a
    file: a file is --out-file."""
    cmd = COMMANDS[name]
    option = _option(cmd, "--output")
    assert option is not None, f"{name} has no --output"
    assert "-o" in option.opts, f"{name}: --output lacks -o"
    annotation = getattr(getattr(option, "type_descriptor", None), "annotation", str)
    assert annotation is str, f"{name}: --output is a {annotation}, not a format"
    assert option.default in OUTPUTS, f"{name}: --output defaults to {option.default!r}"


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_quiet_and_verbose_everywhere(name: str) -> None:
    """-q/--quiet and -v/--verbose are on every command."""
    cmd = COMMANDS[name]
    quiet, verbose = _option(cmd, "--quiet"), _option(cmd, "--verbose")
    assert quiet is not None, name
    assert "-q" in quiet.opts
    assert quiet.is_flag
    assert verbose is not None, name
    assert "-v" in verbose.opts
    assert verbose.count


@pytest.mark.parametrize(
    "name",
    sorted(n for n, c in COMMANDS.items() if _option(c, "--env") and not n.startswith("sandbox ")),
)
def test_every_service_verb_takes_region_cluster_service(name: str) -> None:
    """A command that takes --env talks to a service: it takes --region, --cluster, --service
    and --config too. (`sandbox provision --env E` builds environment E of rollout.toml on the
    sandbox: it names no existing service to override.)"""
    cmd = COMMANDS[name]
    for flag in ("--region", "--cluster", "--service", "--config"):
        assert _option(cmd, flag) is not None, f"{name} lacks {flag}"


@pytest.mark.parametrize("name", sorted(WRITERS & set(COMMANDS)))
def test_writers_have_dry_run(name: str) -> None:
    """Every verb that writes offers --dry-run."""
    assert _option(COMMANDS[name], "--dry-run") is not None


#: Numbers the sandbox checks itself before it starts anything (exit 2, tested in tests/sandbox):
#: a set of allowed values, or bounds owned by the traffic generator.
CHECKED_BY_THE_SANDBOX = {
    ("sandbox up", "--speed"),
    ("sandbox up", "--metrics-period"),
    ("sandbox traffic", "--rate"),
    ("sandbox traffic", "--duration"),
    ("sandbox traffic", "--timeout"),
}


def _numeric_params() -> Iterator[tuple[str, Any]]:
    for name, cmd in sorted(COMMANDS.items()):
        for param in cmd.params:
            annotation = getattr(getattr(param, "type_descriptor", None), "annotation", None)
            if annotation in (int, float) and not getattr(param, "count", False):
                yield name, param


def test_every_number_on_the_command_line_is_range_checked() -> None:
    """Each int/float flag or argument of every command has bounds checked while parsing (a
    ``bounded`` callback or a click range), so a new numeric flag cannot skip the check."""
    unchecked = [
        f"{name} {param.opts[0]}"
        for name, param in _numeric_params()
        if not hasattr(param.callback, "bounds")
        and param.min is None
        and param.max is None
        and (name, param.opts[0]) not in CHECKED_BY_THE_SANDBOX
    ]
    assert unchecked == []


@pytest.mark.parametrize(
    ("flag", "argv"),
    [
        ("--to-revision", "undo --to-revision -3"),
        ("--to-revision", "undo --to-revision 0 --dry-run"),
        ("--timeout", "undo --timeout 0"),
        ("--timeout", "deploy --image sha-1 --timeout inf --dry-run"),
        ("--timeout", "watch --timeout -5"),
        ("--timeout", "restart --timeout nan"),
        ("COUNT", "scale -- -1"),
        ("COUNT", "scale 5001 --dry-run"),
        ("--revision", "run --revision 0 -- true"),
        ("--revision", "logs --revision -1"),
        ("--events", "status --events -1"),
        ("--count", "status --watch --count 0"),
        ("--interval", "status --watch --interval 0"),
        ("--limit", "history --limit 0"),
        ("--keep", "prune --keep -1 --dry-run"),
        ("--pace", "demo --pace inf"),
        ("--timeout", "sandbox provision --timeout -1"),
    ],
)
def test_a_number_out_of_range_is_a_usage_error_before_any_call(flag: str, argv: str) -> None:
    """Out of range, nan or inf: exit 2 naming the flag and what it takes, nothing else runs
    (the endpoint is a closed port: any AWS call would make it an exit 1, and the message says
    which flag). `undo --to-revision -3` used to reach AWS."""
    _register()
    result = CliRunner().invoke(app, argv.split(), env=ENV)
    assert result.exit_code == 2, result.output
    assert f"error: failed to parse {flag}: it must be " in result.stderr
    assert "Traceback" not in result.output


@pytest.mark.parametrize("verb", ["deploy", "verify"])
@pytest.mark.parametrize("reason", ["", "   "])
def test_a_blank_image_policy_override_reason_is_a_usage_error(verb: str, reason: str) -> None:
    """An override is explicit and logged with its reason: a blank REASON is exit 2 before any
    call (an empty one was silently no override; spaces were an override saying nothing)."""
    _register()
    argv = [verb, "--image", "docker.io/library/nginx:latest", "--image-policy-override", reason]
    result = CliRunner().invoke(app, argv, env=ENV)
    assert result.exit_code == 2, result.output
    assert "failed to parse --image-policy-override: REASON is blank" in result.stderr


def test_undo_timeout_and_status_watch() -> None:
    """undo takes --timeout; status takes --watch."""
    assert _option(COMMANDS["undo"], "--timeout") is not None
    assert _option(COMMANDS["status"], "--watch") is not None


def _minimal_args(cmd: Any) -> list[str]:
    """Dummy values for a command's required parameters (they are never used: -o fails first)."""
    args: list[str] = []
    for param in cmd.params:
        if param.param_type_name == "option" and param.required:
            args += [param.opts[-1], "nginx:1"]
        elif param.param_type_name == "argument" and param.required:
            if param.nargs == -1:
                args += ["--", "true"]
            else:  # a value of the argument's type (e.g. scale's COUNT is an integer)
                kind = getattr(getattr(param, "type_descriptor", None), "annotation", str)
                args += ["1" if kind is int else "x"]
    return args


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_unknown_output_is_a_usage_error_before_any_call(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`-o yaml` exits 2 naming the formats, on every command, with no AWS reachable."""
    monkeypatch.chdir(REPO)
    cmd = COMMANDS[name]
    args = [*name.split(), "-o", "yaml", *_minimal_args(cmd)]
    result = CliRunner().invoke(app, args, env=ENV)
    assert result.exit_code == 2, (args, result.output)
    assert "unknown --output 'yaml'" in result.output, result.output


def test_verbs_load_config_through_the_context() -> None:
    """No verb calls load_config itself (demo excepted: it stages its own copy), so the
    --region/--cluster/--service flags, kept in Context.overrides, reach every verb."""
    offenders = []
    for path in sorted((REPO / "src/rollout/verbs").glob("*.py")):
        if path.stem in {"demo"}:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "load_config":
                offenders.append(f"{path.name}:{node.lineno}")
    assert offenders == []


# -- at run time ---------------------------------------------------------------------------------


def test_cluster_flag_reaches_the_verb(ledger_world: LedgerWorld) -> None:
    """`status --cluster C` reads cluster C (here: one that does not exist, so it says so)."""
    _register()
    env = ledger_world.sb.env()
    try:
        result = CliRunner().invoke(
            app,
            [
                "status",
                "--cluster",
                "voj-elsewhere",
                "-o",
                "plain",
                "--config",
                str(REPO / "rollout.toml"),
            ],
            env={**env, "ROLLOUT_ENV": None},
        )
    finally:
        ledger_world.sb.stop()
    assert result.exit_code != 0
    assert "voj-elsewhere" in result.output


def test_status_watch_refreshes_on_the_injected_clock(ledger_world: LedgerWorld) -> None:
    """status --watch looks every --interval seconds of the Context's clock until Ctrl-C (the
    interrupt flag); stopping is the normal end: exit 0."""
    ctx, reporter = ledger_world.context()
    interrupt = Interrupt()
    looks: list[float] = []

    def sink(event: Event) -> None:
        reporter(event)
        if event.kind == "status":
            looks.append(event.at)
            if len(looks) == 3:
                interrupt.set("SIGINT")  # Ctrl-C during the third look

    ctx.emit = sink
    outcome = status.run(
        status.StatusOptions(env="prod", watch=True, interval=7.0), ctx, interrupt=interrupt
    )
    assert outcome.exit_code == 0
    assert len(looks) == 3
    assert [round(b - a, 3) for a, b in itertools.pairwise(looks)] == [7.0, 7.0]


def test_status_watch_count_stops_by_itself(ledger_world: LedgerWorld) -> None:
    """With count, the watch stops after that many looks (no interrupt needed)."""
    ctx, reporter = ledger_world.context()
    status.run(status.StatusOptions(env="prod", watch=True, interval=1.0, count=2), ctx)
    assert sum(e.kind == "status" for e in reporter.events) == 2


def test_status_watch_json_prints_one_document_per_look(ledger_world: LedgerWorld) -> None:
    """`status --watch -o json` is JSON lines: one whole document per look, as it happens (it
    used to print only the last look, at the end)."""
    _register()
    env = ledger_world.sb.env()
    try:
        result = CliRunner().invoke(
            app,
            [
                *("status", "--watch", "--interval", "0.01", "--count", "3", "-o", "json"),
                *("--config", str(REPO / "rollout.toml")),
            ],
            env={**env, "ROLLOUT_ENV": None},
        )
    finally:
        ledger_world.sb.stop()
    assert result.exit_code == 0, result.output
    docs = [json.loads(line) for line in result.stdout.splitlines()]
    assert [d["status"]["look"] for d in docs] == [1, 2, 3]
    assert {d["verb"] for d in docs} == {"status"}
    assert all(d["status"]["cluster"] == "voj-prod" for d in docs)


def test_json_lines_end_with_the_error_that_stopped_them() -> None:
    """A watch that fails after a look: its last line is a whole document saying why."""
    out = io.StringIO()
    reporter = open_reporter("json", stream=out, environ={}, json_lines=frozenset({"status"}))
    reporter(Event("run.started", 1.0, "status", data={"verb": "status"}))
    reporter(Event("status", 2.0, "look", data={"look": 1}))
    reporter(Event("error", 3.0, "failed to describe", level="error", data={"error": "AwsError"}))
    reporter.close()
    docs = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [d["status"] for d in docs[:1]] == [{"look": 1}]
    assert docs[-1]["error"] == "AwsError"
    assert len(docs) == 2


def test_plain_output_has_no_box_tables(ledger_world: LedgerWorld) -> None:
    """--output plain prints status and history as text columns, with no box drawing."""
    from rollout.verbs import history

    out = io.StringIO()
    reporter = open_reporter("plain", stream=out, environ={})
    ctx, _ = ledger_world.context(reporter)
    status.run(status.StatusOptions(env="prod"), ctx)
    history.run(history.HistoryOptions(env="prod"), ctx)
    reporter.close()
    text = out.getvalue()
    assert "Deployments" in text
    assert "History of" in text
    assert BOX.search(text) is None, BOX.findall(text)[:5]


def _events() -> list[Event]:
    return [
        Event("run.started", 0.0, "deploy", level="debug"),
        Event("observation", 1.0, "poll 1", level="debug", data={"healthy": 0}),
        Event("observation", 2.0, "poll 2", level="debug", data={"healthy": 0}),
        Event("step.started", 3.0, "step 1/3: register"),
        Event("signal", 4.0, "task crashed", level="warning"),
        Event("verdict", 5.0, "SUCCEEDED", level="success", data={"verdict": "SUCCEEDED"}),
    ]


@pytest.mark.parametrize(
    ("verbosity", "shown", "hidden"),
    [
        (-1, ["task crashed", "SUCCEEDED"], ["register", "poll"]),
        (0, ["register", "task crashed", "SUCCEEDED", "poll 1"], ["poll 2", "DEBUG deploy"]),
        (1, ["register", "poll 1", "poll 2", "DEBUG deploy"], []),
    ],
    ids=["quiet", "normal", "verbose"],
)
def test_quiet_and_verbose_filter_plain_lines(
    verbosity: int, shown: list[str], hidden: list[str]
) -> None:
    """-q keeps warnings, errors and the verdict; -v adds debug events and every poll."""
    out = io.StringIO()
    reporter = open_reporter("plain", stream=out, environ={}, verbosity=verbosity)
    for event in _events():
        reporter(event)
    reporter.close()
    text = out.getvalue()
    for phrase in shown:
        assert phrase in text, (phrase, text)
    for phrase in hidden:
        assert phrase not in text, (phrase, text)


def test_shell_completion_is_on(monkeypatch: pytest.MonkeyPatch) -> None:
    """`rollout --install-completion` / `--show-completion` are typer's (completion enabled)."""
    import shellingham

    # typer detects the shell from the process tree (its value argument is ignored); a test run
    # under a daemon or a detached job has no shell above it, so name one.
    monkeypatch.setattr(shellingham, "detect_shell", lambda: ("bash", "/bin/bash"))
    _register()
    result = CliRunner().invoke(app, ["--help"])
    assert "--install-completion" in result.output
    shown = CliRunner().invoke(app, ["--show-completion", "bash"], prog_name="rollout")
    assert shown.exit_code == 0, shown.output
    assert "complete" in shown.output


def test_readme_and_demo_help_say_the_same() -> None:
    """The README's `make demo` line, `rollout demo --help` and `make help` all say
    demo_story.SUMMARY (make help said "a good and two bad releases" while the demo ships three
    bad ones), and the story names every release the demo ships, and counts its bad ones right."""
    from rollout.verbs import demo

    _register()
    help_text = " ".join(CliRunner().invoke(app, ["demo", "--help"]).output.split())
    assert " ".join(SUMMARY.split()) in help_text
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert f"make demo   # {SUMMARY}" in readme
    make = shutil.which("make")
    if make is not None:  # the Makefile's help, as a fresh clone runs it (no install needed)
        made = subprocess.run(
            [make, "-s", "help", f"PYTHON={sys.executable}"],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        assert f"make demo   {SUMMARY}\n" in made.stdout
    makefile = (REPO / "Makefile").read_text(encoding="utf-8")
    assert "src/rollout/verbs/demo_story.py" in makefile
    releases = [v for v in vars(demo).values() if isinstance(v, demo.Release)]
    assert releases
    for release in releases:
        assert f'"{release.name}"' in ACTS, release.name
    words = {1: "one", 2: "two", 3: "three", 4: "four", 5: "five", 6: "six"}
    bad = sum(r.bad for r in releases)
    assert f"{words[bad]} bad" in SUMMARY
