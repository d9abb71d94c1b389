"""Reading CloudWatch metric data out of moto the way CloudWatch answers it.

moto 5.2.5 stores every datum (``PutMetricData`` with ``Values``/``Counts`` is expanded into one
datum per sample) but its queries differ from CloudWatch in two ways that matter here:

- a query's dimensions match any metric that *contains* them; CloudWatch identifies a metric by
  its exact dimension set, so ``LoadBalancer`` alone does not also sum the ``TargetGroup,
  LoadBalancer`` series (traffic-shifting.md §3.1);
- ``ExtendedStatistics`` (``p99``...) are ignored by ``GetMetricStatistics`` and ``pNN`` answers
  nothing in ``GetMetricData``; CloudWatch computes percentiles from raw values (§3.3).

:func:`datapoints` is the one query the sandbox uses (alarm evaluation and the patched
``GetMetricStatistics``). :func:`install` patches moto once per process: ``GetMetricStatistics``
answers from :func:`datapoints` (exact dimensions, ``Statistics`` and ``ExtendedStatistics``),
and ``GetMetricData`` learns ``pNN`` statistics (its dimension matching stays moto's).
"""

from __future__ import annotations

import math
import re
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

_PERCENTILE = re.compile(r"^p(\d{1,2}(?:\.\d{1,2})?|100)$")
SIMPLE_STATISTICS = ("SampleCount", "Average", "Sum", "Minimum", "Maximum")

_install_lock = threading.Lock()
_installed = False


def naive_utc(when: float | datetime) -> datetime:
    """An epoch time (or datetime) as the naive UTC datetime moto stores."""
    if isinstance(when, datetime):
        return when.astimezone(UTC).replace(tzinfo=None) if when.tzinfo else when
    return datetime.fromtimestamp(when, UTC).replace(tzinfo=None)


def percentile_of(statistic: str) -> float | None:
    """``"p99"`` -> 99.0, ``"p99.9"`` -> 99.9; None for anything else."""
    m = _PERCENTILE.match(statistic)
    return float(m.group(1)) if m else None


def percentile(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile of ``values`` (non-empty): the smallest value with at least
    ``p`` % of the samples at or below it."""
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100.0 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


@dataclass(frozen=True)
class Datapoint:
    """One period's statistics (``values`` is every statistic asked for that could be computed)."""

    start: datetime  # naive UTC, period start
    sample_count: float
    values: Mapping[str, float]

    def value(self, statistic: str) -> float | None:
        return self.values.get(statistic)


def _dims_key(dims: Iterable[Any]) -> frozenset[tuple[str, str]]:
    out = set()
    for d in dims:
        if isinstance(d, Mapping):
            out.add((str(d["Name"]), str(d.get("Value"))))
        else:  # moto's Dimension(name, value)
            out.add((str(d.name), str(d.value)))
    return frozenset(out)


def _statistic(samples: list[float], aggregated: list[Any], statistic: str) -> float | None:
    count = len(samples) + sum(a.sample_count for a in aggregated)
    if count == 0:
        return None
    if statistic == "SampleCount":
        return float(count)
    total = sum(samples) + sum(a.sum for a in aggregated)
    if statistic == "Sum":
        return float(total)
    if statistic == "Average":
        return float(total) / float(count)
    if statistic == "Minimum":
        return float(min([*samples, *(a.min for a in aggregated)]))
    if statistic == "Maximum":
        return float(max([*samples, *(a.max for a in aggregated)]))
    p = percentile_of(statistic)
    if p is not None:
        # CloudWatch needs raw values for percentiles; a statistic set only counts when it is a
        # single repeated value (Min == Max) (traffic-shifting.md §3.3).
        raw = list(samples)
        for a in aggregated:
            if a.min == a.max:
                raw.extend([float(a.min)] * int(a.sample_count))
        return float(percentile(raw, p)) if raw else None
    return None


def datapoints(
    backend: Any,
    namespace: str,
    metric_name: str,
    dimensions: Iterable[Any],
    start: datetime,
    end: datetime,
    period: int,
    statistics: Sequence[str],
    unit: str | None = None,
) -> list[Datapoint]:
    """Statistics per ``period`` in ``[start, end)`` for the metric with exactly ``dimensions``.

    Periods are aligned to ``start``; periods without data are left out (as CloudWatch does).
    ``backend`` is moto's ``CloudWatchBackend``; datetimes are naive UTC.
    """
    from moto.cloudwatch.models import MetricAggregatedDatum, MetricDatum

    want = _dims_key(dimensions)
    buckets: dict[int, tuple[list[float], list[Any]]] = {}
    step = float(period)
    for md in list(backend.metric_data):
        if md.namespace != namespace or md.name != metric_name:
            continue
        ts = md.timestamp
        if ts.tzinfo is not None:
            ts = naive_utc(ts)
        if not start <= ts < end:
            continue
        if unit and md.unit != unit:
            continue
        if _dims_key(md.dimensions) != want:
            continue
        index = int((ts - start).total_seconds() // step)
        samples, aggregated = buckets.setdefault(index, ([], []))
        if isinstance(md, MetricDatum):
            samples.append(float(md.value))
        elif isinstance(md, MetricAggregatedDatum):
            aggregated.append(md)
    out = []
    for index in sorted(buckets):
        samples, aggregated = buckets[index]
        values = {}
        for stat in statistics:
            v = _statistic(samples, aggregated, stat)
            if v is not None:
                values[stat] = v
        count = _statistic(samples, aggregated, "SampleCount") or 0.0
        out.append(Datapoint(start + timedelta(seconds=index * step), count, values))
    return out


# -- moto patch ---------------------------------------------------------------------------------
class _Datapoint:
    """What moto's serializer reads for one ``GetMetricStatistics`` datapoint."""

    def __init__(self, point: Datapoint, unit: str | None) -> None:
        self.timestamp = point.start
        self.unit = unit or "None"
        self.sample_count = point.value("SampleCount")
        self.sum = point.value("Sum")
        self.average = point.value("Average")
        self.minimum = point.value("Minimum")
        self.maximum = point.value("Maximum")
        extended = {k: v for k, v in point.values.items() if percentile_of(k) is not None}
        self.extended_statistics = extended or None


def install() -> None:
    """Patch moto's CloudWatch queries (idempotent; see the module docstring)."""
    global _installed
    with _install_lock:
        if _installed:
            return
        from moto.cloudwatch.models import Statistics
        from moto.cloudwatch.responses import CloudWatchResponse
        from moto.core.responses import ActionResult

        original_for_type = Statistics.get_statistics_for_type

        def get_statistics_for_type(self: Statistics, stat: str) -> Any:
            if percentile_of(stat) is None:
                return original_for_type(self, stat)
            samples = list(self.metric_single_values_list)
            return _statistic(samples, list(self.metric_aggregated_list), stat)

        def get_metric_statistics(self: CloudWatchResponse) -> ActionResult:
            from moto.cloudwatch.exceptions import InvalidParameterCombination

            namespace = self._get_param("Namespace")
            metric_name = self._get_param("MetricName")
            start = naive_utc(self._get_param("StartTime"))
            end = naive_utc(self._get_param("EndTime"))
            period = self._get_int_param("Period")
            statistics = list(self._get_param("Statistics", []) or [])
            extended = list(self._get_param("ExtendedStatistics", []) or [])
            dimensions = self._get_param("Dimensions", []) or []
            unit = self._get_param("Unit")
            if not statistics and not extended:
                raise InvalidParameterCombination(
                    "Must specify either Statistics or ExtendedStatistics"
                )
            points = datapoints(
                self.cloudwatch_backend,
                namespace,
                metric_name,
                dimensions,
                start.replace(microsecond=0),
                end.replace(microsecond=0),
                period,
                [*statistics, *extended],
                unit,
            )
            units = {
                md.unit
                for md in self.cloudwatch_backend.metric_data
                if md.namespace == namespace and md.name == metric_name
            }
            data_unit = unit or (next(iter(units)) if len(units) == 1 else None)
            result = {
                "Label": metric_name,
                "Datapoints": [_Datapoint(p, data_unit) for p in points],
            }
            return ActionResult(result)

        Statistics.get_statistics_for_type = get_statistics_for_type  # type: ignore[method-assign]
        CloudWatchResponse.get_metric_statistics = get_metric_statistics  # type: ignore[method-assign]
        _installed = True
