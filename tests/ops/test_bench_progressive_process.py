"""bench/progressive_process.py: its bad releases are real code changes that apply to backend/,
its targets are judged from the rows, and it rewrites only its own section of the doc."""

from __future__ import annotations

import importlib.util
import py_compile
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from .conftest import REPO


def _bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "bench_progressive_process", REPO / "bench" / "progressive_process.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("release", ["500 on 20 %", "crash 30 s after healthy", "p99 above 2 s"])
def test_each_bad_release_is_a_diff_that_applies_to_backend_and_compiles(
    tmp_path: Path, release: str
) -> None:
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    shutil.copytree(REPO / "backend" / "app", tmp_path / "backend" / "app")
    patch = _bench().PATCHES[release]()
    (tmp_path / "change.patch").write_text(patch)
    subprocess.run(["git", "apply", "change.patch"], cwd=tmp_path, check=True)
    changed = [tmp_path / "backend" / "app" / name for name in ("api.py", "edge.py")]
    for path in changed:
        py_compile.compile(str(path), doraise=True)
    assert any(p.read_text() != (REPO / "backend/app" / p.name).read_text() for p in changed)


def _row(bench: ModuleType, way: str, release: str, failed: int, **kw: object) -> object:
    base = {
        "verdict": "x",
        "requests": 1000,
        "failed_seconds": 1,
        "first_to_back": None,
        "during_rollback": None,
        "blue_back": None,
        "kinds": {},
        "wall": 0.0,
    }
    return bench.Row(way=way, release=release, failed=failed, **(base | kw))


def test_targets_compare_the_best_rollout_way_and_flag_misses() -> None:
    bench = _bench()
    rows = [
        _row(bench, way, "500 on 20 %", failed)
        for way, failed in zip(bench.WAYS, (1000, 800, 10, 400), strict=True)
    ]
    rows.append(_row(bench, "rollout blue-green", "good", 3, blue_back=1.5, during_rollback=2))
    text = bench.targets(rows)
    assert "best rollout canary 10 (ratio 0.01; target ≤ 0.05: met)" in text
    assert "good release, 0 failed requests: NOT met (rollout blue-green 3)" in text
    assert "worst 1.5 s (NOT met)" in text
    assert "crash 30 s after healthy: not measured" in text


def test_write_section_replaces_its_section_and_keeps_the_others(tmp_path: Path) -> None:
    doc = tmp_path / "benchmarks.md"
    title = "## Progressive delivery on the process runtime"
    doc.write_text(f"# B\n\n## Progressive delivery\np\n\n{title}\nold\n\n## Later\nkeep\n")
    _bench().write_section(f"{title}\nnew\n", doc)
    expected = f"# B\n\n## Progressive delivery\np\n\n{title}\nnew\n\n## Later\nkeep\n"
    assert doc.read_text() == expected
