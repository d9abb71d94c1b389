"""Taking and releasing the service lock (SSM ``PutParameter(Overwrite=false)``)."""

from __future__ import annotations

import os
import socket

from rollout.decisions.lock import (
    LockDecision,
    LockRecord,
    decide_lock,
    is_ours,
    lock_name,
    new_lock,
    parse_lock,
)
from rollout.engine.session import Session
from rollout.errors import LockHeld


def actor(environ: dict[str, str] | None = None) -> str:
    env = environ if environ is not None else dict(os.environ)
    return env.get("GITHUB_ACTOR") or env.get("USER") or env.get("USERNAME") or "unknown"


def run_url(environ: dict[str, str] | None = None) -> str | None:
    env = environ if environ is not None else dict(os.environ)
    if env.get("GITHUB_RUN_ID") and env.get("GITHUB_REPOSITORY"):
        server = env.get("GITHUB_SERVER_URL", "https://github.com")
        return f"{server}/{env['GITHUB_REPOSITORY']}/actions/runs/{env['GITHUB_RUN_ID']}"
    return None


class ServiceLock:
    def __init__(self, session: Session, verb: str) -> None:
        self.s = session
        self.verb = verb
        st = session.settings
        self.name = lock_name(st.lock_prefix, st.cluster, st.service)
        self.record: LockRecord | None = None

    def acquire(self) -> None:
        """Take the lock, or raise :class:`LockHeld` naming the holder. Dry run: check only."""
        s = self.s
        env = dict(s.ctx.environ)
        mine = new_lock(
            holder=f"{actor(env)} ({self.verb})",
            run_url=run_url(env),
            pid=os.getpid(),
            host=socket.gethostname(),
            now=s.now(),
            ttl=s.settings.lock_ttl,
            verb=self.verb,
        )
        raw = s.gw.ssm.get(self.name)
        try:
            existing = parse_lock(raw)
        except ValueError as exc:
            raise LockHeld(
                f"failed to take the service lock {self.name}: it holds a value that is not a "
                "rollout lock.",
                hint=f"Check it with `aws ssm get-parameter --name {self.name}`; delete it if "
                "nobody is deploying.",
            ) from exc
        decision = decide_lock(existing, s.now(), self.verb)
        if decision is LockDecision.REFUSE:
            assert existing is not None
            self._refuse(existing)
        request = {"Name": self.name, "Value": mine.to_json(), "Type": "String", "Overwrite": False}
        if decision in (LockDecision.TAKE_OVER, LockDecision.PREEMPT):
            assert existing is not None
            if decision is LockDecision.TAKE_OVER:
                s.emit(
                    "lock.stale",
                    f"taking over a stale lock held by {existing.describe()} "
                    f"(expired {s.now() - existing.expires_at:.0f}s ago)",
                    level="warning",
                    holder=existing.holder,
                )
            else:
                s.emit(
                    "lock.preempted",
                    f"{self.verb} takes the service lock over from {existing.describe()}: that "
                    "run ends SUPERSEDED before its next write and writes nothing more",
                    level="warning",
                    holder=existing.holder,
                )
            if s.gw.ssm.get(self.name) != raw:
                current = parse_lock(s.gw.ssm.get(self.name))
                if current is not None and (
                    decide_lock(current, s.now(), self.verb) is LockDecision.REFUSE
                ):
                    self._refuse(current)
            s.write(
                "ssm",
                "DeleteParameter",
                {"Name": self.name},
                "remove stale lock",
                lambda: s.gw.ssm.delete(self.name),
            )
        created = s.write(
            "ssm",
            "PutParameter",
            request,
            f"take lock {self.name}",
            lambda: s.gw.ssm.create(self.name, mine.to_json()),
        )
        if created is False:
            current = parse_lock(s.gw.ssm.get(self.name))
            if current is not None:
                self._refuse(current)
            raise LockHeld(f"failed to take the service lock {self.name}: lost a race for it.")
        self.record = None if s.dry_run else mine
        s.emit(
            "lock.acquired",
            f"lock {self.name} taken by {mine.holder}",
            level="debug",
            name=self.name,
            holder=mine.holder,
            expires_at=mine.expires_at,
        )

    def _refuse(self, existing: LockRecord) -> None:
        st = self.s.settings
        raise LockHeld(
            f"failed to {self.verb} {st.cluster}/{st.service}: another deploy or undo holds the "
            f"service lock ({existing.describe()}), until "
            f"{existing.expires_at - self.s.now():.0f}s from now.",
            hint="Wait for it to finish (see `rollout status`). A lock past its TTL is taken over "
            "automatically.",
        )

    def held(self) -> bool:
        """Whether the stored lock is still the one we wrote (an ``undo`` may have preempted
        us). True when we hold none (dry run, or before acquiring): nothing to lose."""
        if self.record is None:
            return True
        try:
            current = parse_lock(self.s.gw.ssm.get(self.name))
        except ValueError:
            return False
        return is_ours(current, self.record)

    def release(self) -> None:
        """Delete the lock if it is still ours (never someone else's)."""
        if self.record is None:
            return
        s = self.s
        try:
            current = parse_lock(s.gw.ssm.get(self.name))
        except ValueError:
            current = None
        if is_ours(current, self.record):
            s.write(
                "ssm",
                "DeleteParameter",
                {"Name": self.name},
                f"release lock {self.name}",
                lambda: s.gw.ssm.delete(self.name),
            )
            s.emit("lock.released", f"lock {self.name} released", level="debug", name=self.name)
        else:
            s.emit("lock.lost", f"lock {self.name} is no longer ours; left as is", level="warning")
        self.record = None
