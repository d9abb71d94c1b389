"""Small wire types every part of the sandbox that answers HTTP shares (no sandbox imports)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

#: The credentials every sandbox client (and every task process) signs with: moto accepts any
#: key, so these only have to look like one. Never a real account's.
DUMMY_ACCESS_KEY = "AKIASANDBOXEXAMPLE00"
DUMMY_SECRET_KEY = "sandbox-secret-key-not-a-real-one"  # noqa: S105 - a dummy, by design


@dataclass(frozen=True)
class Reply:
    """An HTTP answer: status, headers and body."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes


def iso8601(t: float) -> str:
    """An AWS timestamp with milliseconds, e.g. ``2026-01-01T00:00:30.000Z`` (Route 53's format)."""
    dt = datetime.fromtimestamp(t, tz=UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"
