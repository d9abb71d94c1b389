"""The walls of docs/architecture.md, checked by reading every module's imports."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"
BACKEND = ROOT / "backend"


def _module_name(path: Path, base: Path) -> str:
    parts = list(path.relative_to(base).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path, module: str) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            found.add(target)
            found.update(f"{target}.{alias.name}" for alias in node.names)
    return found


def _modules(base: Path, top: str) -> dict[str, set[str]]:
    return {
        _module_name(p, base): _imports(p, _module_name(p, base))
        for p in sorted((base / top).rglob("*.py"))
    }


ROLLOUT = _modules(SRC, "rollout")
APP = _modules(BACKEND, "app")


def _violations(prefixes: tuple[str, ...], forbidden: tuple[str, ...]) -> list[str]:
    out = []
    for module, imports in ROLLOUT.items():
        if not module.startswith(prefixes):
            continue
        for name in sorted(imports):
            if name.startswith(forbidden):
                out.append(f"{module} imports {name}")
    return out


def test_the_tree_was_read() -> None:
    """The wall checks below see the real package (a broken path would make them vacuous)."""
    assert "rollout.engine.deploy" in ROLLOUT
    assert "rollout.decisions.verdict" in ROLLOUT
    assert "app.main" in APP


def test_decisions_are_pure() -> None:
    """Decisions import no gateway, engine, report, CLI, sandbox, boto3 or clock module."""
    forbidden = (
        "rollout.gateways",
        "rollout.engine",
        "rollout.report",
        "rollout.cli",
        "rollout.verbs",
        "rollout.sandbox",
        "rollout.aws",
        "rollout.clock",
        "boto3",
        "botocore",
        "time",
    )
    assert _violations(("rollout.decisions",), forbidden) == []


@pytest.mark.parametrize("room", ["rollout.engine", "rollout.decisions", "rollout.gateways"])
def test_production_code_never_imports_the_sandbox(room: str) -> None:
    """Engine, decisions and gateways cannot depend on the test bed."""
    assert _violations((room,), ("rollout.sandbox", "moto")) == []


def test_only_sandbox_and_demo_verbs_start_a_sandbox() -> None:
    """Verbs other than sandbox and demo never import the sandbox."""
    allowed = ("rollout.verbs.demo", "rollout.cli.sandbox", "rollout.cli.demo")
    prefixes = ("rollout.verbs", "rollout.cli", "rollout.report", "rollout.config")
    bad = [v for v in _violations(prefixes, ("rollout.sandbox",)) if not v.startswith(allowed)]
    assert bad == []


def test_sandbox_never_imports_the_tool_under_test() -> None:
    """The sandbox is an AWS server: it knows nothing of the engine, verbs or decisions."""
    forbidden = ("rollout.engine", "rollout.verbs", "rollout.decisions", "rollout.report")
    assert _violations(("rollout.sandbox",), forbidden) == []


def test_only_aws_module_creates_boto3_clients() -> None:
    """Exactly one module (rollout.aws) imports boto3 to build clients; gateways use it."""
    importers = sorted(
        m
        for m, imports in ROLLOUT.items()
        if any(i == "boto3" or i.startswith("boto3.") for i in imports)
    )
    assert importers == ["rollout.aws"]


def test_backend_and_rollout_are_strangers() -> None:
    """The service never imports rollout, and rollout never imports the service."""
    assert [m for m, imps in APP.items() if any(i.startswith("rollout") for i in imps)] == []
    assert [m for m, imps in ROLLOUT.items() if any(i.split(".")[0] == "app" for i in imps)] == []
