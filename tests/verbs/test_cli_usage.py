"""The everyday verbs' CLI: usage errors exit 2 before touching AWS."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

import rollout.cli.deploy_cmds  # registers the commands
import rollout.cli.service_cmds  # noqa: F401
from rollout.cli import app


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["scale", "--", "-1"], "a task count from 0 to 5000"),
        (["scale", "2", "--timeout", "0"], "--timeout"),
        (["restart", "--timeout", "-5"], "--timeout"),
        (["run", "--timeout", "0", "--", "true"], "--timeout"),
        (["run", "--revision", "0", "--", "true"], "--revision"),
        (["logs", "--task", "abc", "--revision", "3"], "not both"),
        (["init", "--cluster", "c", "--service", "s"], "--region"),
        (["deploy", "--image", "x:1", "--pre-run", "alembic 'upgrade"], "--pre-run"),
        (["deploy", "--image", "x:1", "--pre-run", "  "], "--pre-run"),
        (["doctor", "--output", "yaml"], "yaml"),
    ],
)
def test_usage_errors_exit_2(args: list[str], needle: str) -> None:
    """Bad flags exit 2 with a message naming the problem."""
    env = {"AWS_ENDPOINT_URL": "http://127.0.0.1:9", "AWS_REGION": "", "AWS_DEFAULT_REGION": ""}
    result = CliRunner().invoke(app, args, env=env)
    assert result.exit_code == 2, result.output
    assert needle in result.output


def test_run_passes_everything_after_the_double_dash_as_the_command() -> None:
    """`rollout run -- cmd --flag` keeps --flag for the container, not for rollout."""
    result = CliRunner().invoke(app, ["run", "--help"])
    assert result.exit_code == 0
    assert "exit code" in result.output
