"""What every verb receives: how to reach AWS, what time it is, and where events go."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rollout.aws import ClientFactory
from rollout.clock import Clock, SystemClock
from rollout.config import EnvConfig, load_config
from rollout.events import EventLog, EventSink


@dataclass
class Context:
    factory: ClientFactory
    clock: Clock = field(default_factory=SystemClock)
    emit: EventSink = field(default_factory=EventLog)
    config_path: Path | None = None
    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    #: Config overrides from flags (``--region``, ``--cluster``, ``--service``); None: unset.
    overrides: Mapping[str, Any] = field(default_factory=dict)

    def load_env(self, env: str, extra: Mapping[str, Any] | None = None) -> EnvConfig:
        """``env``'s config: the file, ROLLOUT_* variables, then this Context's overrides (and
        ``extra`` on top). Every verb loads its config this way, so the flags always apply."""
        merged = {**self.overrides, **{k: v for k, v in (extra or {}).items() if v is not None}}
        return load_config(self.config_path, env, environ=self.environ, overrides=merged)
