"""Time, injected. Production uses the system clock; tests pass the sandbox's virtual clock.

Every wait in rollout goes through :func:`poll`, so a 10-minute deploy on a virtual clock runs
in milliseconds and is exactly repeatable.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, TypeVar

T = TypeVar("T")


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


def poll(
    check: Callable[[], T | None],
    *,
    timeout: float,
    interval: float,
    clock: Clock,
    jitter: float = 0.1,
    rng: random.Random | None = None,
) -> T | None:
    """Call ``check`` every ``interval`` seconds until it returns a value or ``timeout`` passes.

    Returns the first non-None value, or None at the deadline.
    """
    rng = rng or random.Random(0)
    deadline = clock.now() + timeout
    while True:
        result = check()
        if result is not None:
            return result
        remaining = deadline - clock.now()
        if remaining <= 0:
            return None
        clock.sleep(min(remaining, jittered(interval, jitter, rng)))
