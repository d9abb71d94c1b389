"""The service lock: who holds it, and whether we may take it.

The lock is an SSM parameter ``<prefix>/<cluster>/<service>`` created with
``PutParameter(Overwrite=false)`` (atomic: exactly one creator wins). Its value is JSON:
``{holder, verb, run_url, pid, host, acquired_at, expires_at}``. A lock past ``expires_at`` is
stale (its holder died or was killed) and is taken over. A live lock refuses the run, naming the
holder, with one exception: an ``undo`` preempts a ``deploy`` (or ``watch``) in flight, so a
rollback never waits behind a release; the preempted deploy notices before its next write, ends
SUPERSEDED and writes nothing more.
"""

from __future__ import annotations

import json
import re
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
    #: The verb that holds it (deploy, watch, undo); None for a record that does not say.
    verb: str | None = None

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
    PREEMPT = "preempt"  # an undo takes it from a deploy in flight: replace it
    REFUSE = "refuse"  # someone else holds it


#: Verbs an ``undo`` preempts: runs that watch a deployment of their own.
PREEMPTIBLE = frozenset({"deploy", "watch"})
_VERB_IN_HOLDER = re.compile(r"\((deploy|watch|undo)\)$")


def lock_name(prefix: str, cluster: str, service: str) -> str:
    """The SSM parameter name; SSM names must start with ``/`` when they contain one."""
    base = "/" + prefix.strip("/")
    return f"{base}/{cluster}/{service}"


def new_lock(
    *,
    holder: str,
    run_url: str | None,
    pid: int | None,
    host: str | None,
    now: float,
    ttl: float,
    verb: str | None = None,
) -> LockRecord:
    return LockRecord(
        holder=holder,
        run_url=run_url,
        pid=pid,
        host=host,
        acquired_at=now,
        expires_at=now + ttl,
        verb=verb,
    )


def parse_lock(value: str | None) -> LockRecord | None:
    """The lock record in ``value``; None for no lock. Unreadable values raise ValueError."""
    if value is None:
        return None
    raw: Any = json.loads(value)
    if not isinstance(raw, dict) or "holder" not in raw or "expires_at" not in raw:
        raise ValueError("lock value is not a rollout lock record")
    holder = str(raw["holder"])
    verb = raw.get("verb")
    if verb is None:  # a record written before the verb was stored: "<actor> (<verb>)"
        found = _VERB_IN_HOLDER.search(holder)
        verb = found.group(1) if found else None
    return LockRecord(
        holder=holder,
        verb=str(verb) if verb is not None else None,
        run_url=raw.get("run_url"),
        pid=int(raw["pid"]) if raw.get("pid") is not None else None,
        host=raw.get("host"),
        acquired_at=float(raw.get("acquired_at", 0.0)),
        expires_at=float(raw["expires_at"]),
    )


def decide_lock(existing: LockRecord | None, now: float, verb: str = "deploy") -> LockDecision:
    """May ``verb`` take the lock? Stale (``now`` at or past ``expires_at``) locks are taken
    over; an ``undo`` preempts a live deploy or watch; anything else live refuses."""
    if existing is None:
        return LockDecision.ACQUIRE
    if now >= existing.expires_at:
        return LockDecision.TAKE_OVER
    if verb == "undo" and existing.verb in PREEMPTIBLE:
        return LockDecision.PREEMPT
    return LockDecision.REFUSE


def is_ours(existing: LockRecord | None, ours: LockRecord) -> bool:
    """True when the stored lock is exactly the record we wrote (used before releasing)."""
    return existing is not None and existing == ours
