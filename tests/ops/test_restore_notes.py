"""The demo's final table never shows "restored" and "verdict" apart without saying why."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from rollout.report.tables import demo_summary_renderable, restore_note


@pytest.mark.parametrize(
    ("row", "needle"),
    [
        (
            {"verdict": "FAILED_ROLLED_BACK", "verdict_after": 81, "restored_after": 95},
            "before ECS marked the restore steady",
        ),
        (
            {"verdict": "FAILED_ROLLED_BACK", "verdict_after": 99, "restored_after": 76},
            "INSYNC",
        ),
        ({"verdict": "FAILED_ROLLED_BACK", "verdict_after": 81, "restored_after": 81.5}, None),
        ({"verdict": "SUCCEEDED", "verdict_after": 120, "restored_after": None}, None),
    ],
)
def test_restore_note(row: dict[str, object], needle: str | None) -> None:
    note = restore_note(row)
    if needle is None:
        assert note is None
    else:
        assert note is not None
        assert needle in note


def test_the_table_footnotes_every_gap() -> None:
    data = {
        "rows": [
            {
                "release": "crash",
                "verdict": "FAILED_ROLLED_BACK",
                "verdict_after": 81,
                "restored_after": 95,
            },
        ]
    }
    out = io.StringIO()
    Console(file=out, width=200, no_color=True).print(demo_summary_renderable(data))
    text = out.getvalue()
    assert "81s [1]" in text
    assert "95s [1]" in text
    assert "[1] verdict 14s before ECS marked the restore steady" in text
