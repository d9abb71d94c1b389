"""The runtime wall (docs/sandbox.md, "The process runtime"), read from the modules' imports:
runtimes never reach into the ECS model, and the ECS model knows only the Runtime protocol."""

from __future__ import annotations

import ast
from pathlib import Path

SANDBOX = Path(__file__).resolve().parents[2] / "src" / "rollout" / "sandbox"


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


def test_runtimes_never_import_the_ecs_model() -> None:
    """Nothing under sandbox/runtime/ imports rollout.sandbox.ecs (state, simulation, api)."""
    offenders = {
        path.name: sorted(i for i in _imports(path) if i.startswith("rollout.sandbox.ecs"))
        for path in (SANDBOX / "runtime").glob("*.py")
    }
    assert {name: found for name, found in offenders.items() if found} == {}


def test_the_ecs_model_knows_no_process() -> None:
    """sandbox/ecs/ imports the runtime protocol (and the default simulated runtime), never the
    process runtime, the image store or subprocess."""
    for path in (SANDBOX / "ecs").glob("*.py"):
        imports = _imports(path)
        assert "rollout.sandbox.runtime.process" not in imports, path.name
        assert "rollout.sandbox.images" not in imports, path.name
        assert "subprocess" not in imports, path.name
