"""A CLI error is printed once (issue 11: every error came out as `error:` and as an ERROR line)."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

import rollout.cli.deploy_cmds  # noqa: F401 - registers the commands
from rollout.cli import app

MESSAGE = "failed to load config"


@pytest.mark.parametrize("output", ["plain", "console"])
def test_an_error_is_printed_once(output: str) -> None:
    result = CliRunner().invoke(
        app, ["deploy", "--image", "x:1", "--config", "/nonexistent/rollout.toml", "-o", output]
    )
    assert result.exit_code == 2, result.output
    assert result.output.count(MESSAGE) == 1, result.output


def test_json_output_keeps_stdout_data_and_says_it_once_on_stderr() -> None:
    result = CliRunner().invoke(
        app, ["deploy", "--image", "x:1", "--config", "/nonexistent/rollout.toml", "-o", "json"]
    )
    assert result.exit_code == 2
    assert result.stderr.count(MESSAGE) == 1
    assert '"error": "ConfigError"' in result.stdout
