"""Observability plane: ``AWS/ApplicationELB`` metrics, CloudWatch alarm evaluation, and
CloudWatch Logs queries as AWS answers them (:mod:`.logs`).

:class:`Observability` is what a sandbox world runs on its clock: every ``period`` simulated
seconds (60 by default, as AWS publishes ALB metrics; ``metrics_period=10`` for short demos) it
writes the period that just ended (:class:`~.metrics.AlbMetrics`) and then evaluates every
metric alarm (:class:`~.alarms.AlarmEvaluator`), so the ECS model's deployment-alarm poll sees
``ALARM`` when the metrics breach, as on AWS.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from rollout.sandbox.observability import cloudwatch, logs
from rollout.sandbox.observability.alarms import AlarmEvaluator
from rollout.sandbox.observability.metrics import (
    DEFAULT_PERIOD,
    DEMO_PERIOD,
    AlbMetrics,
    HostCounts,
    RequestOutcome,
    check_period,
    write_outcomes,
)

log = logging.getLogger(__name__)

__all__ = [
    "DEFAULT_PERIOD",
    "DEMO_PERIOD",
    "AlarmEvaluator",
    "AlbMetrics",
    "HostCounts",
    "Observability",
    "RequestOutcome",
    "write_outcomes",
]


class Observability:
    """Metrics writer and alarm evaluator of one account and region, driven by ``tick(now)``."""

    def __init__(
        self,
        *,
        account: str,
        region: str,
        period: int = DEFAULT_PERIOD,
        hosts: Callable[[], list[HostCounts]] | None = None,
    ) -> None:
        cloudwatch.install()
        logs.install()  # FilterLogEvents honours logStreamNamePrefix
        self.period = check_period(period)
        self.metrics = AlbMetrics(account=account, region=region, period=period, hosts=hosts)
        self.alarms = AlarmEvaluator(account, region)
        self.changes: list[tuple[float, str, str]] = []

    def next_tick(self, now: float) -> float:
        """The next period boundary after ``now``."""
        return now - (now % self.period) + self.period

    def tick(self, now: float) -> None:
        """Write the periods that ended by ``now``, then evaluate every alarm. A failure here is
        logged and never stops the simulation that drives it."""
        try:
            self.metrics.flush(now)
            for name, state in self.alarms.evaluate_all(now):
                self.changes.append((now, name, state))
        except Exception:
            log.exception("sandbox observability: tick at %s failed", now)

    def schedule_on(self, schedule: Callable[..., None], now: float) -> None:
        """Keep ticking on a discrete-event simulation's queue (``schedule(at, action)``)."""

        def run(at: float) -> None:
            self.tick(at)
            nxt = self.next_tick(at)
            schedule(nxt, lambda: run(nxt), late=True)

        first = self.next_tick(now)
        schedule(first, lambda: run(first), late=True)
