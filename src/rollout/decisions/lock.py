"""The service lock: who holds it, and whether we may take it.

The lock is an SSM parameter ``<prefix>/<cluster>/<service>`` created with
``PutParameter(Overwrite=false)`` (atomic: exactly one creator wins). Its value is JSON:
``{holder, run_url, pid, host, acquired_at, expires_at}``. A lock past ``expires_at`` is stale
(its holder died or was killed) and is taken over; any other lock refuses the run, naming the
holder.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any


@dataclass(frozen=True)
class LockRecord:
    holder: str
    run_url: str | None
    pid: int | None
    host: str | None
    acquired_at: float
    expires_at: float

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    def describe(self) -> str:
        where = f" on {self.host}" if self.host else ""
        pid = f" (pid {self.pid})" if self.pid else ""
        url = f", run {self.run_url}" if self.run_url else ""
        return f"{self.holder}{where}{pid}{url}"


class LockDecision(StrEnum):
    ACQUIRE = "acquire"  # nobody holds it: create it
    TAKE_OVER = "take-over"  # the holder is past its TTL: replace it
    REFUSE = "refuse"  # someone else holds it


def lock_name(prefix: str, cluster: str, service: str) -> str:
    """The SSM parameter name; SSM names must start with ``/`` when they contain one."""
    base = "/" + prefix.strip("/")
    return f"{base}/{cluster}/{service}"


def new_lock(
    *, holder: str, run_url: str | None, pid: int | None, host: str | None, now: float, ttl: float
) -> LockRecord:
    return LockRecord(
        holder=holder, run_url=run_url, pid=pid, host=host, acquired_at=now, expires_at=now + ttl
    )


def parse_lock(value: str | None) -> LockRecord | None:
    """The lock record in ``value``; None for no lock. Unreadable values raise ValueError."""
    if value is None:
        return None
    raw: Any = json.loads(value)
    if not isinstance(raw, dict) or "holder" not in raw or "expires_at" not in raw:
        raise ValueError("lock value is not a rollout lock record")
    return LockRecord(
        holder=str(raw["holder"]),
        run_url=raw.get("run_url"),
        pid=int(raw["pid"]) if raw.get("pid") is not None else None,
        host=raw.get("host"),
        acquired_at=float(raw.get("acquired_at", 0.0)),
        expires_at=float(raw["expires_at"]),
    )


def decide_lock(existing: LockRecord | None, now: float) -> LockDecision:
    """May we take the lock? Stale (``now`` at or past ``expires_at``) locks are taken over."""
    if existing is None:
        return LockDecision.ACQUIRE
    if now >= existing.expires_at:
        return LockDecision.TAKE_OVER
    return LockDecision.REFUSE


def is_ours(existing: LockRecord | None, ours: LockRecord) -> bool:
    """True when the stored lock is exactly the record we wrote (used before releasing)."""
    return existing is not None and existing == ours
