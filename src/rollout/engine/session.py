"""What every engine step shares: gateways, settings, the clock, events, writes and interrupts.

Every mutating AWS call goes through :meth:`Session.write`: it emits a ``write`` event after the
call, or, in a dry run, a ``write.dry_run`` event with the exact request and does not send it.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from rollout.clock import jittered
from rollout.context import Context
from rollout.engine.gateways import Gateways
from rollout.engine.interrupt import Interrupt
from rollout.engine.probe import Prober, http_probe
from rollout.engine.settings import EngineSettings
from rollout.events import Event, Level

T = TypeVar("T")


@dataclass
class Session:
    ctx: Context
    gw: Gateways
    settings: EngineSettings
    interrupt: Interrupt = field(default_factory=Interrupt)
    prober: Prober = http_probe
    dry_run: bool = False
    rng: random.Random = field(default_factory=lambda: random.Random(0))

    @classmethod
    def from_context(
        cls,
        ctx: Context,
        settings: EngineSettings,
        *,
        interrupt: Interrupt | None = None,
        prober: Prober = http_probe,
        dry_run: bool = False,
    ) -> Session:
        """A verb's session: the gateways on ``ctx``'s client factory; without ``interrupt``, a
        flag that nothing sets."""
        return cls(
            ctx,
            Gateways.from_factory(ctx.factory),
            settings,
            interrupt or Interrupt(),
            prober,
            dry_run,
        )

    def now(self) -> float:
        return self.ctx.clock.now()

    def emit(self, kind: str, message: str, level: Level = "info", **data: Any) -> None:
        self.ctx.emit(Event(kind, self.now(), message, level, data))

    def emit_started(self, verb: str, message: str, **data: Any) -> None:
        """The ``run.started`` event: ``message`` (`` (dry run)`` added in a dry run), the verb,
        the environment, cluster and service, and ``data``."""
        st = self.settings
        self.emit(
            "run.started",
            message + (" (dry run)" if self.dry_run else ""),
            verb=verb,
            env=st.env,
            cluster=st.cluster,
            service=st.service,
            dry_run=self.dry_run,
            **data,
        )

    def emit_phase(
        self, phase: str, seconds: float, *, label: str | None = None, suffix: str = ""
    ) -> None:
        """A ``phase`` event: ``phase`` (shown as ``label``) reached after ``seconds``."""
        self.emit(
            "phase",
            f"{label or phase} in {seconds:.0f}s{suffix}",
            level="success",
            phase=phase,
            seconds=round(seconds, 3),
        )

    def emit_finished(self, verdict: str, exit_code: int, started: float) -> None:
        """The ``run.finished`` event (debug): the verdict, exit code, seconds since ``started``
        and the AWS calls made."""
        seconds = self.now() - started
        self.emit(
            "run.finished",
            f"{verdict} (exit {exit_code}) after {seconds:.0f}s",
            level="debug",
            verdict=verdict,
            exit_code=exit_code,
            seconds=round(seconds, 3),
            api_calls=self.ctx.factory.api_call_total,
        )

    def sleep(self, seconds: float) -> None:
        self.interrupt.sleep(self.ctx.clock, seconds)

    def poll_pause(self) -> None:
        """One jittered poll interval (constant interval, never the SDK waiter's backoff)."""
        self.sleep(jittered(self.settings.poll_interval, self.settings.jitter, self.rng))

    def write(
        self,
        service: str,
        operation: str,
        request: Mapping[str, Any],
        summary: str,
        send: Callable[[], T],
    ) -> T | None:
        """Send one mutating call (or, in a dry run, print it and return None)."""
        if self.dry_run:
            self.emit(
                "write.dry_run",
                f"would call {service}:{operation}: {summary}",
                service=service,
                operation=operation,
                request=_json_safe(request),
            )
            return None
        result = send()
        self.emit(
            "write",
            f"{service}:{operation}: {summary}",
            service=service,
            operation=operation,
            summary=summary,
        )
        return result


def _json_safe(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)
