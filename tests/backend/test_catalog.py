"""The catalogue's pure parts (cursors) and its lazy, once-only client creation."""

from __future__ import annotations

import logging
import threading
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.catalog import Catalog, InvalidCursorError, decode_cursor, encode_cursor


@given(st.text(min_size=1, max_size=300))
def test_cursor_round_trip(book_id: str) -> None:
    """Any non-empty book id survives encode then decode."""
    assert decode_cursor(encode_cursor(book_id)) == book_id


@pytest.mark.parametrize(
    "cursor",
    [
        "",
        "!!!",
        "bm90IGpzb24",  # "not json"
        "WzFd",  # [1]
        "eyJhZnRlciI6IiJ9",  # {"after":""}
        "eyJhZnRlciI6MX0",  # {"after":1}
        "eyJhZnRlciI6IngiLCJ5IjoxfQ",  # {"after":"x","y":1}
    ],
)
def test_foreign_cursors_are_rejected(cursor: str) -> None:
    """Cursors this service could not have issued raise InvalidCursorError."""
    with pytest.raises(InvalidCursorError):
        decode_cursor(cursor)


def _catalog(connect: Any) -> Catalog:
    return Catalog(
        connect=connect, books_table="b", chapters_table="c", bucket="x", presign_expiry=60
    )


def test_clients_are_created_once_across_threads() -> None:
    """Concurrent first uses create the clients exactly once."""
    calls: list[int] = []
    barrier = threading.Barrier(8)

    def connect() -> tuple[object, object]:
        calls.append(1)
        return object(), object()

    catalog = _catalog(connect)

    def use() -> None:
        barrier.wait()
        assert catalog.dynamodb is not None

    threads = [threading.Thread(target=use) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert calls == [1]


def test_no_clients_until_first_use() -> None:
    """Building a catalogue creates no clients (nothing at import or construction time)."""
    calls: list[int] = []
    _catalog(lambda: calls.append(1) or (object(), object()))
    assert calls == []


def test_warm_logs_instead_of_raising(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A failure while warming up is logged, and the next use tries again."""
    attempts: list[int] = []

    def connect() -> tuple[object, object]:
        attempts.append(1)
        if len(attempts) == 1:
            raise RuntimeError("no region")
        return object(), object()

    catalog = _catalog(connect)
    monkeypatch.setattr(logging.getLogger("app"), "propagate", True)  # let caplog see it
    with caplog.at_level(logging.ERROR, logger="app.catalog"):
        catalog.warm()
    assert "could not create AWS clients" in caplog.text
    assert catalog.s3 is not None
    assert len(attempts) == 2
