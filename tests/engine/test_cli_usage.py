"""The deploy/undo/watch CLI: usage errors exit 2 before touching AWS or the config."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

import rollout.cli.deploy_cmds  # noqa: F401 - registers the commands
from rollout.cli import app


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["deploy"], "--image"),
        (["deploy", "--image", "x:1", "--timeout", "0"], "--timeout"),
        (["undo", "--to-revision", "3", "--to-last-good"], "not both"),
        (["deploy", "--image", "x:1", "--output", "yaml"], "yaml"),
    ],
)
def test_usage_errors_exit_2(args: list[str], needle: str) -> None:
    """Bad flags exit 2 with a message naming the problem."""
    result = CliRunner().invoke(app, args, env={"AWS_ENDPOINT_URL": "http://127.0.0.1:9"})
    assert result.exit_code == 2, result.output
    assert needle in result.output


def test_missing_config_is_a_config_error() -> None:
    """A config file that does not exist exits 2 naming it."""
    result = CliRunner().invoke(
        app, ["deploy", "--image", "x:1", "--config", "/nonexistent/rollout.toml", "-o", "plain"]
    )
    assert result.exit_code == 2, result.output
    assert "rollout.toml" in result.output
