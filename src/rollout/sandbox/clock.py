"""Simulated time for the sandbox.

``VirtualClock`` only moves when told to (``advance`` or ``sleep``), so tests are exact and a
10-minute deploy costs milliseconds. ``RealtimeClock`` runs ``speed`` times faster than the wall
clock, for clients in other processes talking to ``rollout sandbox up``.

Both satisfy :class:`rollout.clock.Clock` (``now`` and ``sleep``).
"""

from __future__ import annotations

import threading
import time

#: 2026-01-01T00:00:00Z: a fixed, readable start for virtual time.
DEFAULT_START = 1_767_225_600.0


class VirtualClock:
    """A clock that stands still until advanced; ``sleep`` is ``advance``."""

    def __init__(self, start: float = DEFAULT_START) -> None:
        self._now = float(start)
        self._lock = threading.Lock()

    def now(self) -> float:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> float:
        """Move time forward by ``seconds`` (never backwards) and return the new time."""
        if seconds < 0:
            raise ValueError(f"cannot advance a clock by a negative amount ({seconds} s)")
        with self._lock:
            self._now += seconds
            return self._now

    def sleep(self, seconds: float) -> None:
        self.advance(max(0.0, seconds))


class RealtimeClock:
    """Simulated time = ``start + (wall - wall0) * speed``; ``advance`` jumps ahead on top."""

    def __init__(self, speed: float = 1.0, start: float | None = None) -> None:
        if speed <= 0:
            raise ValueError(f"speed must be positive, got {speed}")
        self.speed = float(speed)
        self._wall0 = time.monotonic()
        self._start = time.time() if start is None else float(start)
        self._offset = 0.0
        self._lock = threading.Lock()

    def now(self) -> float:
        with self._lock:
            return self._start + (time.monotonic() - self._wall0) * self.speed + self._offset

    def advance(self, seconds: float) -> float:
        """Jump simulated time forward by ``seconds`` without waiting."""
        if seconds < 0:
            raise ValueError(f"cannot advance a clock by a negative amount ({seconds} s)")
        with self._lock:
            self._offset += seconds
        return self.now()

    def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` of simulated time (``seconds / speed`` of wall time)."""
        if seconds > 0:
            time.sleep(seconds / self.speed)
