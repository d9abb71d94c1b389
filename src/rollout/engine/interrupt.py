"""SIGINT/SIGTERM handling: a flag the engine checks, and a sleep that wakes up for it.

Signal handlers only set the flag; the engine checks it between steps and while waiting, so an
in-flight AWS call always completes (never a half-done write) and the run stops within one
short sleep slice (:data:`WALL_SLICE` seconds of wall time with the system clock, :data:`SLICE`
on other clocks).

The flag is a plain attribute, not a ``threading.Event``: a handler runs in the main thread
between two bytecodes, possibly while that thread holds the Event's internal lock inside
``Event.wait``; ``Event.set`` from the handler would then wait for that lock forever (a SIGINT
that hung ``rollout deploy`` instead of stopping it).
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

from rollout.clock import Clock, SystemClock

SLICE = 0.5
WALL_SLICE = 0.1


class Interrupt:
    def __init__(self) -> None:
        self._set = False  # a plain flag: safe to set from a signal handler (no lock)
        self.signal_name: str | None = None

    def set(self, name: str = "interrupt") -> None:
        self.signal_name = self.signal_name or name
        self._set = True

    def is_set(self) -> bool:
        return self._set

    def sleep(self, clock: Clock, seconds: float) -> None:
        """Sleep ``seconds`` on ``clock`` in short slices, returning early once the flag is set."""
        if seconds <= 0 or self.is_set():
            return
        step = WALL_SLICE if isinstance(clock, SystemClock) else SLICE
        end = clock.now() + seconds
        while not self.is_set():
            remaining = end - clock.now()
            if remaining <= 0:
                return
            clock.sleep(min(remaining, step))

    @contextmanager
    def handle_signals(self) -> Iterator[Interrupt]:
        """Route SIGINT and SIGTERM to this flag while the block runs (main thread only).

        A second signal raises KeyboardInterrupt at once (the user insists)."""
        if threading.current_thread() is not threading.main_thread():
            yield self
            return

        def handler(signum: int, _frame: FrameType | None) -> None:
            if self.is_set():  # a second signal: the user insists, stop now
                raise KeyboardInterrupt
            self.set(signal.Signals(signum).name)

        old = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield self
        finally:
            for s, h in old.items():
                signal.signal(s, h)
