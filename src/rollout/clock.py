"""Time, injected. Production uses the system clock; tests pass the sandbox's virtual clock.

Every wait in rollout sleeps on the injected clock, so a 10-minute deploy on a virtual clock
runs in milliseconds and is exactly repeatable.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from typing import Protocol


class Clock(Protocol):
    def now(self) -> float:
        """Seconds since the epoch."""
        ...

    def sleep(self, seconds: float) -> None: ...


@dataclass(frozen=True)
class SystemClock:
    def now(self) -> float:
        return time.time()

    def sleep(self, seconds: float) -> None:
        time.sleep(max(0.0, seconds))


def jittered(interval: float, jitter: float, rng: random.Random) -> float:
    """A constant interval with +/- ``jitter`` fraction of noise (never the SDK's backoff)."""
    return max(0.0, interval * (1.0 + rng.uniform(-jitter, jitter)))
