"""What every verb receives: how to reach AWS, what time it is, and where events go."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from rollout.aws import ClientFactory
from rollout.clock import Clock, SystemClock
from rollout.events import EventLog, EventSink


@dataclass
class Context:
    factory: ClientFactory
    clock: Clock = field(default_factory=SystemClock)
    emit: EventSink = field(default_factory=EventLog)
    config_path: Path | None = None
    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
