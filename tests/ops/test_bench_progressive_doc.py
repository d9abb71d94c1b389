"""bench/progressive.py rewrites only its own section of docs/benchmarks.md."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

from .conftest import REPO


def _bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "bench_progressive", REPO / "bench" / "progressive.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_write_section_replaces_its_section_and_keeps_the_others(tmp_path: Path) -> None:
    doc = tmp_path / "benchmarks.md"
    doc.write_text("# B\n\n## Restore\nr\n\n## Progressive delivery\nold\n\n## Later\nkeep\n")
    _bench().write_section("## Progressive delivery\nnew\n", doc)
    expected = "# B\n\n## Restore\nr\n\n## Progressive delivery\nnew\n\n## Later\nkeep\n"
    assert doc.read_text() == expected


def test_the_ratios_compare_the_best_rollout_way_with_breaker_only() -> None:
    bench = _bench()
    rows = [
        bench.Row(way, "500 on 20 %", "x", failed, 1, 1.0, 100, 0.0)
        for way, failed in zip(bench.WAYS, (1000, 800, 10, 400), strict=True)
    ]
    assert "best rollout canary 10 (ratio 0.010" in bench.ratios(rows)
