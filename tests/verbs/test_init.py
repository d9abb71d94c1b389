"""``rollout init`` on the sandbox's voj service, and its round trip through render."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from engine.scenario import World
from rollout.config import load_config
from rollout.decisions.scaffold import RELEASE_LABELS, scaffold
from rollout.decisions.taskdef import strip_read_only
from rollout.errors import ConfigError
from rollout.verbs import init
from rollout.verbs.render import render_task_definition


def _init(world: World, directory: Path, **kw: Any):  # type: ignore[no-untyped-def]
    ctx, log = world.context()
    options = init.InitOptions(
        cluster=world.prov.cluster,
        service=world.prov.service,
        region=world.prov.region,
        config=directory / "rollout.toml",
        **kw,
    )
    return init.run(options, ctx), log.events


def _comparable(document: dict[str, Any]) -> dict[str, Any]:
    """A task definition without what a deploy changes: images and release labels."""
    doc = strip_read_only(document)
    doc.pop("tags", None)
    out = []
    for c in doc.get("containerDefinitions", []):
        c = {k: v for k, v in c.items() if k != "image"}
        labels = {k: v for k, v in (c.get("dockerLabels") or {}).items() if k not in RELEASE_LABELS}
        c.pop("dockerLabels", None)
        if labels:
            c["dockerLabels"] = labels
        out.append(c)
    doc["containerDefinitions"] = out
    return doc


def test_init_round_trip_renders_the_live_task_definition(world: World, tmp_path: Path) -> None:
    """init from the live service, then render: the live task definition again (modulo the
    image), with <account> placeholders and secrets left as references in the template."""
    outcome, events = _init(world, tmp_path)
    assert outcome.exit_code == 0
    template = (tmp_path / "ecs" / "taskdef.json").read_text()
    assert world.prov.account not in template
    assert "<account>" in template
    doc = json.loads(template)
    secrets = [s for c in doc["containerDefinitions"] for s in c.get("secrets", [])]
    assert secrets
    assert all("valueFrom" in s and "value" not in s for s in secrets)
    cfg = load_config(tmp_path / "rollout.toml", "prod", environ={})
    assert (cfg.cluster, cfg.service, cfg.region) == (
        world.prov.cluster,
        world.prov.service,
        world.prov.region,
    )
    assert cfg.containers == (world.prov.container,)
    ctx, _ = world.context()
    rendered = render_task_definition(cfg, None, ctx)
    svc = world.ecs.describe_service(world.prov.cluster, world.prov.service)
    live = world.ecs.describe_task_definition(svc.task_definition)
    assert _comparable(rendered.document) == _comparable(dict(live.document))
    assert [e.kind for e in events].count("write") == 2


def test_init_never_overwrites_without_force(world: World, tmp_path: Path) -> None:
    """An existing rollout.toml is not touched (config error, nothing written); --force does."""
    (tmp_path / "rollout.toml").write_text("# mine\n")
    with pytest.raises(ConfigError, match="already exist"):
        _init(world, tmp_path)
    assert (tmp_path / "rollout.toml").read_text() == "# mine\n"
    assert not (tmp_path / "ecs").exists()
    outcome, _ = _init(world, tmp_path, force=True)
    assert outcome.exit_code == 0
    assert "[env.prod]" in (tmp_path / "rollout.toml").read_text()


def test_init_dry_run_prints_both_files_and_writes_nothing(world: World, tmp_path: Path) -> None:
    """--dry-run prints the two files' contents as dry-run writes and creates nothing."""
    outcome, events = _init(world, tmp_path, dry_run=True)
    assert outcome.exit_code == 0
    dry = [e for e in events if e.kind == "write.dry_run"]
    assert {Path(e.data["path"]).name for e in dry} == {"rollout.toml", "taskdef.json"}
    assert list(tmp_path.iterdir()) == []


def test_scaffold_escapes_dollar_braces_strips_ledger_and_picks_main_containers() -> None:
    """A live ${X} stays literal ($${X}), ledger tags and release labels go, sidecars from other
    repositories are not swapped, and the account id becomes <account> everywhere."""
    acct = "123456789012"
    repo = f"{acct}.dkr.ecr.eu-west-1.amazonaws.com/app"
    doc = {
        "taskDefinitionArn": f"arn:aws:ecs:eu-west-1:{acct}:task-definition/app:7",
        "revision": 7,
        "family": "app",
        "executionRoleArn": f"arn:aws:iam::{acct}:role/exec",
        "containerDefinitions": [
            {
                "name": "web",
                "image": f"{repo}@sha256:" + "a" * 64,
                "command": ["sh", "-c", "echo ${HOME}"],
                "dockerLabels": {"rollout.image": "x", "team": "books"},
                "secrets": [
                    {"name": "DB", "valueFrom": f"arn:aws:ssm:eu-west-1:{acct}:parameter/db"}
                ],
            },
            {"name": "worker", "image": f"{repo}:sha-1"},
            {"name": "datadog", "image": "public.ecr.aws/datadog/agent:7"},
            {"name": "init", "image": f"{repo}:sha-1", "essential": False},
        ],
    }
    made = scaffold(doc, {"rollout:outcome": "succeeded", "team": "books", "aws:x": "y"}, acct)
    assert made.containers == ("web", "worker")
    assert made.ecr_repository == "app"
    t = made.template
    assert "revision" not in t
    assert "taskDefinitionArn" not in t
    assert t["executionRoleArn"] == "arn:aws:iam::<account>:role/exec"
    web = t["containerDefinitions"][0]
    assert web["command"] == ["sh", "-c", "echo $${HOME}"]
    assert web["dockerLabels"] == {"team": "books"}
    assert web["secrets"][0]["valueFrom"] == "arn:aws:ssm:eu-west-1:<account>:parameter/db"
    assert t["tags"] == [{"key": "team", "value": "books"}]


def test_init_into_an_unwritable_place_says_so_and_writes_nothing(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The second file failing (disk full, permissions) leaves neither file nor the folders
    made for them; the error names the path (it was a traceback, after writing the template)."""
    real_write = Path.write_text

    def full_disk(self: Path, *args: Any, **kwargs: Any) -> int:
        if "rollout.toml" in self.name:
            raise OSError(28, "No space left on device")
        return real_write(self, *args, **kwargs)

    monkeypatch.setattr(Path, "write_text", full_disk)
    target = tmp_path / "new" / "folder"
    with pytest.raises(ConfigError, match=r"cannot write .*rollout.toml: No space left") as info:
        _init(world, target)
    assert "nothing was written" in str(info.value)
    assert list(tmp_path.iterdir()) == []


def test_init_cli_with_a_config_path_that_cannot_exist_exits_2(world: World) -> None:
    """`init --config /proc/rollout.toml` (a folder nobody can create in) was a traceback."""
    from typer.testing import CliRunner

    from rollout.cli import _register, app

    _register()
    try:
        result = CliRunner().invoke(
            app,
            [
                *("init", "--cluster", world.prov.cluster, "--service", world.prov.service),
                *("--region", world.prov.region, "--config", "/proc/rollout.toml"),
            ],
            env=world.sb.env(),
        )
    finally:
        world.sb.stop()
    assert result.exit_code == 2, result.output
    assert "failed to init: cannot write /proc/ecs/taskdef.json" in result.stderr
    assert "Traceback" not in result.output
