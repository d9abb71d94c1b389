"""CloudWatch metric-alarm evaluation (moto stores alarms and never evaluates them).

:func:`evaluate` is the pure rule; :class:`AlarmEvaluator` applies it to every metric alarm in
the sandbox's CloudWatch on the sandbox clock. The rules (traffic-shifting.md §3.5, citing the
CloudWatch User Guide):

- the alarm looks at the last ``EvaluationPeriods`` (N) complete periods of ``Period`` seconds,
  each reduced with ``Statistic`` or ``ExtendedStatistic`` (``p99``...); it goes to ``ALARM`` when
  at least ``DatapointsToAlarm`` (M, default N) of them breach the threshold
  (``ComparisonOperator``), to ``OK`` otherwise;
- ``TreatMissingData``: ``breaching`` / ``notBreaching`` fill the missing periods with a breaching
  / non-breaching point; ``missing`` (the default) and ``ignore`` use only the real points. With
  no point at all, ``missing`` gives ``INSUFFICIENT_DATA``, ``ignore`` keeps the state. With fewer
  real points than M, the alarm goes to ``ALARM`` if all of them breach (``missing``; ``ignore``
  keeps the state), else to ``OK`` (the CW-UG table rows ``- - X - -`` and ``- - - - 0``);
- a percentile over fewer than ``10 / (1 - p)`` samples with
  ``EvaluateLowSampleCountPercentile=ignore`` keeps the state.

Simplification: AWS may look back further than N periods to find real points when data is
missing (its "evaluation range"); here the range is exactly N periods. Alarms on metric math
(``Metrics``), anomaly-detection bands and composite alarms are not evaluated (their state stays
whatever ``SetAlarmState`` last set).

The ``StateReason`` follows AWS's wording ("Threshold Crossed: 1 out of the last 1 datapoints
[12.0 (07/12/26 09:31:00)] was greater than or equal to the threshold (10.0) (minimum 1
datapoint for OK -> ALARM transition)."); the exact text is UNVERIFIED.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from rollout.sandbox.observability.cloudwatch import datapoints, naive_utc, percentile_of

log = logging.getLogger(__name__)

OK, ALARM, INSUFFICIENT = "OK", "ALARM", "INSUFFICIENT_DATA"

_OPERATORS: dict[str, tuple[str, Callable[[float, float], bool]]] = {
    "GreaterThanOrEqualToThreshold": ("greater than or equal to", lambda v, t: v >= t),
    "GreaterThanThreshold": ("greater than", lambda v, t: v > t),
    "LessThanThreshold": ("less than", lambda v, t: v < t),
    "LessThanOrEqualToThreshold": ("less than or equal to", lambda v, t: v <= t),
}


@dataclass(frozen=True)
class AlarmSpec:
    """What evaluation needs from a ``PutMetricAlarm`` (single metric, static threshold)."""

    name: str
    statistic: str  # "Sum", "Average"... or an extended statistic ("p99")
    period: int
    evaluation_periods: int
    threshold: float
    comparison: str
    datapoints_to_alarm: int | None = None
    treat_missing_data: str = "missing"
    evaluate_low_sample_count_percentile: str = "evaluate"

    @property
    def m(self) -> int:
        return self.datapoints_to_alarm or self.evaluation_periods


@dataclass(frozen=True)
class Point:
    """One evaluated period: its start, value (None: missing) and sample count."""

    start: datetime
    value: float | None
    samples: float = 0.0


@dataclass(frozen=True)
class Evaluation:
    state: str
    reason: str
    reason_data: dict[str, Any]


def _stamp(when: datetime) -> str:
    return when.strftime("%d/%m/%y %H:%M:%S")


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def evaluate(spec: AlarmSpec, points: Sequence[Point], current: str) -> Evaluation:
    """The alarm's state after looking at ``points`` (the last N periods, oldest first)."""
    if spec.comparison not in _OPERATORS:
        raise ValueError(f"unsupported ComparisonOperator {spec.comparison!r}")
    words, breaches = _OPERATORS[spec.comparison]
    n, m = spec.evaluation_periods, spec.m
    window = list(points)[-n:]
    real = [p for p in window if p.value is not None]
    data = {
        "version": "1.0",
        "statistic" if percentile_of(spec.statistic) is None else "extendedStatistic": (
            spec.statistic
        ),
        "period": spec.period,
        "recentDatapoints": [p.value for p in real],
        "threshold": spec.threshold,
        "evaluatedDatapoints": [
            {"timestamp": p.start.isoformat() + "Z", "sampleCount": p.samples, "value": p.value}
            for p in reversed(real)
        ],
    }
    p = percentile_of(spec.statistic)
    if p is not None and p < 100 and spec.evaluate_low_sample_count_percentile == "ignore":
        needed = 10.0 / (1.0 - p / 100.0)
        if any(pt.samples < needed for pt in real):
            return Evaluation(current, "Insufficient samples for the percentile", data)
    missing = n - len(real)
    policy = spec.treat_missing_data or "missing"
    shown = " ".join(f"{pt.value:g} ({_stamp(pt.start)})" for pt in reversed(real))
    breaching = [pt for pt in real if breaches(float(pt.value or 0.0), spec.threshold)]
    if policy == "breaching":
        count = len(breaching) + missing
        state = ALARM if count >= m else OK
    elif policy == "notBreaching":
        count = len(breaching)
        state = ALARM if count >= m else OK
    elif not real:
        if policy == "ignore":
            return Evaluation(current, "Missing data is ignored: the state is kept", data)
        reason = (
            f"Insufficient Data: {_plural(n, 'datapoint')} {'was' if n == 1 else 'were'} unknown."
        )
        return Evaluation(INSUFFICIENT, reason, data)
    elif len(real) < m:
        count = len(breaching)
        if count == len(real):
            if policy == "ignore":
                return Evaluation(current, "Too few datapoints: the state is kept", data)
            state = ALARM
        else:
            state = OK
    else:
        count = len(breaching)
        state = ALARM if count >= m else OK
    if state == ALARM:
        reason = (
            f"Threshold Crossed: {count} out of the last {n} datapoints [{shown}] "
            f"{'was' if count == 1 else 'were'} {words} the threshold ({spec.threshold:g}) "
            f"(minimum {_plural(m, 'datapoint')} for OK -> ALARM transition)."
        )
    else:
        reason = (
            f"Threshold Crossed: {_plural(len(real), 'datapoint')} [{shown}] "
            f"{'was' if len(real) == 1 else 'were'} not {words} the threshold "
            f"({spec.threshold:g}) (minimum {_plural(m, 'datapoint')} for ALARM -> OK transition)."
        )
    return Evaluation(state, reason, data)


def spec_of(alarm: Any) -> AlarmSpec | None:
    """An :class:`AlarmSpec` for a moto ``Alarm``, or None when it is not evaluated here."""
    if alarm.metric_data_queries or getattr(alarm, "rule", None):
        return None
    if not alarm.metric_name or not alarm.period or alarm.comparison_operator not in _OPERATORS:
        return None
    statistic = alarm.extended_statistic or alarm.statistic
    if not statistic:
        return None
    return AlarmSpec(
        name=alarm.name,
        statistic=str(statistic),
        period=int(alarm.period),
        evaluation_periods=int(alarm.evaluation_periods or 1),
        threshold=float(alarm.threshold),
        comparison=str(alarm.comparison_operator),
        datapoints_to_alarm=int(alarm.datapoints_to_alarm) if alarm.datapoints_to_alarm else None,
        treat_missing_data=str(alarm.treat_missing_data or "missing"),
        evaluate_low_sample_count_percentile=str(
            alarm.evaluate_low_sample_count_percentile or "evaluate"
        ),
    )


def points_for(backend: Any, alarm: Any, spec: AlarmSpec, now: float) -> list[Point]:
    """The last N complete periods of the alarm's metric at ``now`` (oldest first)."""
    end_epoch = now - (now % spec.period)
    end = naive_utc(end_epoch)
    start = end - timedelta(seconds=spec.period * spec.evaluation_periods)
    dims = [{"Name": d.name, "Value": d.value} for d in alarm.dimensions]
    found = datapoints(
        backend,
        alarm.namespace,
        alarm.metric_name,
        dims,
        start,
        end,
        spec.period,
        [spec.statistic],
        alarm.unit,
    )
    by_start = {p.start: p for p in found}
    out = []
    for i in range(spec.evaluation_periods):
        at = start + timedelta(seconds=i * spec.period)
        p = by_start.get(at)
        out.append(Point(at, p.value(spec.statistic) if p else None, p.sample_count if p else 0.0))
    return out


class AlarmEvaluator:
    """Evaluates every metric alarm of one account and region at a given time."""

    def __init__(self, account: str, region: str) -> None:
        self.account = account
        self.region = region

    def evaluate_all(self, now: float) -> list[tuple[str, str]]:
        """Evaluate every alarm at ``now``; returns (alarm name, new state) for those that
        changed. A state change is written with its reason, as CloudWatch records it."""
        from moto.backends import get_backend

        backend = get_backend("cloudwatch")[self.account][self.region]
        changed = []
        for alarm in list(backend.alarms.values()):
            try:
                spec = spec_of(alarm)
                if spec is None:
                    continue
                result = evaluate(spec, points_for(backend, alarm, spec, now), alarm.state_value)
            except (TypeError, ValueError) as exc:  # an alarm this evaluator cannot read
                log.warning("alarm %s is not evaluated: %s", alarm.name, exc)
                continue
            if result.state == alarm.state_value:
                continue
            data = dict(result.reason_data)
            data["queryDate"] = naive_utc(now).isoformat() + "Z"
            alarm.update_state(result.reason, json.dumps(data), result.state)
            alarm.state_updated_timestamp = naive_utc(now)
            changed.append((alarm.name, result.state))
            log.debug("alarm %s -> %s: %s", alarm.name, result.state, result.reason)
        return changed
