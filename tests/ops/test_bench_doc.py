"""bench/restore.py rewrites only its own section of docs/benchmarks.md."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

from .conftest import REPO


def _bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_restore", REPO / "bench" / "restore.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while executing it
    spec.loader.exec_module(module)
    return module


def test_write_section_replaces_restore_and_keeps_other_sections(tmp_path: Path) -> None:
    """An existing Restore section is replaced in place; Backend before and after stay."""
    doc = tmp_path / "benchmarks.md"
    doc.write_text("# Benchmarks\n\n## Backend\nb1\n\n## Restore\nold\n\n## Later\nkeep\n")
    _bench().write_section("## Restore\nnew\n", doc)
    expected = "# Benchmarks\n\n## Backend\nb1\n\n## Restore\nnew\n\n## Later\nkeep\n"
    assert doc.read_text() == expected


def test_write_section_appends_when_missing(tmp_path: Path) -> None:
    """Without a Restore section the text is appended after what is there."""
    doc = tmp_path / "benchmarks.md"
    doc.write_text("# Benchmarks\n\n## Backend\nb1")
    _bench().write_section("## Restore\nnew\n", doc)
    assert doc.read_text() == "# Benchmarks\n\n## Backend\nb1\n\n## Restore\nnew\n"
