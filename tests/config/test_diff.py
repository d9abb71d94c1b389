"""diff against the live service: no change, image change, environment change with masking."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from rollout.cli import _register, app
from rollout.config import load_config
from rollout.context import Context
from rollout.gateways.ecs import EcsGateway
from rollout.verbs.diff import DiffResult, diff
from rollout.verbs.render import Rendered, render_task_definition

from .conftest import edit_template

IMAGE = "sha-0000002"


def context(stack: Any) -> Context:
    return Context(stack.client_factory(), clock=stack.clock, environ={})


def rendered_for(stack: Any, workdir: Path, image: str = IMAGE) -> Rendered:
    cfg = load_config(workdir / "rollout.toml", "prod", environ={})
    return render_task_definition(cfg, image, context(stack))


def run_diff(
    stack: Any, workdir: Path, image: str = IMAGE, show_values: bool = False
) -> DiffResult:
    cfg = load_config(workdir / "rollout.toml", "prod", environ={})
    rendered = render_task_definition(cfg, image, context(stack))
    return diff(cfg, rendered, context(stack), show_values=show_values)


@pytest.fixture(scope="module")
def deployed(stack: Any, tmp_path_factory: pytest.TempPathFactory) -> str:
    """Register the rendered IMAGE definition and point the service at it (as a deploy would)."""
    from .conftest import CONFIG, TASKDEF

    work = tmp_path_factory.mktemp("deployed")
    (work / "taskdef.json").write_text(TASKDEF.read_text())
    (work / "rollout.toml").write_text(CONFIG)
    rendered = rendered_for(stack, work)
    ecs = EcsGateway(stack.client_factory())
    td = ecs.register_task_definition(rendered.document, rendered.tags)
    p = stack.provisioned
    ecs.update_service(p.cluster, p.service, task_definition=td.arn)
    return str(td.arn)


def test_no_change_exits_0(stack: Any, workdir: Path, deployed: str) -> None:
    """Rendering what is already live gives no diff and exit code 0, with reads only."""
    before = len(stack.calls())
    result = run_diff(stack, workdir)
    assert result.live_task_definition == deployed
    assert result.task_definition_diff == ""
    assert result.service_diff == ""
    assert result.exit_code == 0
    assert "no difference" in result.text()
    assert [c for c in stack.calls()[before:] if c.mutating] == []


def test_image_change_shows_only_image_lines(stack: Any, workdir: Path, deployed: str) -> None:
    """A new image changes the image, its labels and tags, and the service's task definition."""
    result = run_diff(stack, workdir, image="sha-0000003")
    assert result.exit_code == 1
    changed = [
        line
        for line in result.task_definition_diff.splitlines()
        if line[:1] in "+-" and not line.startswith(("+++", "---"))
    ]
    digest = stack.provisioned.digests["sha-0000003"]
    assert any(line.startswith("+") and digest in line for line in changed)
    assert all("image" in line for line in changed), changed
    assert '+  "taskDefinition": "voj-backend-prod:(new revision)"' in result.service_diff


def test_environment_change_is_masked(stack: Any, workdir: Path, deployed: str) -> None:
    """A changed environment value shows as changed but masked; --show-values reveals it."""

    def change(doc: dict[str, Any]) -> None:
        for entry in doc["containerDefinitions"][0]["environment"]:
            if entry["name"] == "ENVIRONMENT":
                entry["value"] = "staging-secretish"

    edit_template(workdir, change)
    masked = run_diff(stack, workdir)
    assert masked.exit_code == 1
    assert "staging-secretish" not in masked.text()
    assert "production" not in masked.text()
    assert '"value": "*** (changed)"' in masked.task_definition_diff
    shown = run_diff(stack, workdir, show_values=True)
    assert '+          "value": "staging-secretish"' in shown.task_definition_diff
    assert '-          "value": "production"' in shown.task_definition_diff


def test_secret_arns_are_shown(stack: Any, workdir: Path, deployed: str) -> None:
    """A changed secret valueFrom is shown in full (ARNs are not secret)."""

    def change(doc: dict[str, Any]) -> None:
        doc["containerDefinitions"][0]["secrets"][0]["valueFrom"] = (
            "arn:aws:ssm:ap-northeast-2:<account>:parameter/voj/prod/OTHER"
        )

    edit_template(workdir, change)
    result = run_diff(stack, workdir)
    assert "parameter/voj/prod/OTHER" in result.task_definition_diff


def test_cli_diff_exit_codes(stack: Any, workdir: Path, deployed: str) -> None:
    """`rollout diff` exits 0 with no difference and 1 with one, printing the unified diff;
    environment values show only with --show-values."""
    _register()
    environ = stack.env()
    try:
        config = str(workdir / "rollout.toml")
        runner = CliRunner()
        same = runner.invoke(app, ["diff", "--config", config, "--image", IMAGE], env=environ)
        assert same.exit_code == 0, same.output
        other = runner.invoke(
            app, ["diff", "--config", config, "--image", "sha-0000003"], env=environ
        )
        assert other.exit_code == 1, other.output
        assert other.stdout.startswith("--- live voj-backend-prod:")
        (workdir / "taskdef.json").write_text(
            (workdir / "taskdef.json").read_text().replace('"${APP_ENVIRONMENT}"', '"prod-2"')
        )
        masked = runner.invoke(app, ["diff", "--config", config, "--image", IMAGE], env=environ)
        assert masked.exit_code == 1
        assert "prod-2" not in masked.stdout
        shown = runner.invoke(
            app, ["diff", "--config", config, "--image", IMAGE, "--show-values"], env=environ
        )
        assert '+          "value": "prod-2"' in shown.stdout
    finally:
        stack.stop()
