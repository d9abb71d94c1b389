"""The deploy and rollback jobs install rollout alone (`uv sync --no-dev --package rollout`: no
sandbox extra, no dev tools), so the CLI must start without moto, PyYAML or any test tool."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from .workflows import load_workflow, run_steps

ROOT = Path(__file__).resolve().parents[2]

# Top-level modules that only the `sandbox` extra or the dev group bring in.
NOT_INSTALLED_IN_CI = ("moto", "yaml", "werkzeug", "flask", "httpx", "hypothesis", "pytest", "app")

BLOCKER = f"""
import importlib.abc, sys
BLOCKED = {NOT_INSTALLED_IN_CI!r}
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ImportError(f"{{name}} is not installed in the deploy job")
        return None
sys.meta_path.insert(0, Block())
for name in list(sys.modules):
    if name.split(".")[0] in BLOCKED:
        del sys.modules[name]
sys.argv = ["rollout", *sys.argv[1:]]
from rollout.cli import main
main()
"""


def test_deploy_jobs_install_rollout_without_extras() -> None:
    """The workflows install exactly the rollout package, without dev tools or extras."""
    for name in ("backend-deploy.yml", "backend-rollback.yml"):
        installs = [
            step.run
            for step in run_steps(load_workflow(ROOT / ".github" / "workflows" / name))
            if step.run.startswith("uv sync")
        ]
        assert installs == ["uv sync --frozen --no-dev --package rollout"], name


@pytest.mark.parametrize(
    "args",
    [["deploy", "--help"], ["undo", "--help"], ["render", "--help"], ["verify", "--help"]],
    ids=lambda a: a[0],
)
def test_cli_starts_without_sandbox_or_dev_dependencies(args: list[str]) -> None:
    """`rollout deploy/undo/render/verify --help` work with moto, PyYAML and the dev tools
    unimportable, as in the deploy job."""
    result = subprocess.run(
        [sys.executable, "-c", BLOCKER, *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Usage" in result.stdout
