"""The ops commands refuse bad input with exit 2 before touching AWS."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from rollout.cli import _register, app

from .conftest import REPO

#: No endpoint, no credentials: any AWS call would fail, so exit 2 proves none was made.
ENV = {"AWS_ENDPOINT_URL": "http://127.0.0.1:9", "AWS_ACCESS_KEY_ID": "", "ROLLOUT_ENV": ""}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["prune", "--keep", "0"], "failed to parse --keep: it must be a whole number, 1 or more"),
        (
            ["history", "--limit", "0"],
            "failed to parse --limit: it must be a whole number, 1 or more",
        ),
        (["status", "--output", "yaml"], "unknown --output 'yaml'"),
        (["status", "--env", "nope"], "nope"),
    ],
    ids=["keep-0", "limit-0", "bad-output", "unknown-env"],
)
def test_bad_input_exits_2_with_a_clear_message(
    args: list[str], message: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Usage and config errors exit 2 and say what is wrong, on stderr."""
    monkeypatch.chdir(REPO)
    _register()
    result = CliRunner().invoke(app, args, env=ENV)
    assert result.exit_code == 2, result.output
    assert message in result.stderr


@pytest.mark.parametrize("output", ["plain", "console", "json"])
@pytest.mark.parametrize("verb", [["status"], ["history"], ["logs"], ["doctor"]])
def test_an_error_is_printed_once_on_stderr(
    verb: list[str], output: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The message of an error that ends a run is printed once, as `error:` on stderr; it used
    to be printed a second time on stdout as an ERROR line. The JSON result still carries it."""
    monkeypatch.chdir(REPO)
    _register()
    result = CliRunner().invoke(app, [*verb, "--env", "qa", "-o", output], env=ENV)
    assert result.exit_code == 2, result.output
    needle = "environment 'qa' is not defined"
    assert result.stderr.count(needle) == 1
    if output == "json":
        assert json.loads(result.stdout)["error"] == "ConfigError"
    else:
        assert needle not in result.stdout
