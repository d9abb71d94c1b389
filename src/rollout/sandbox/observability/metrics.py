"""``AWS/ApplicationELB`` metrics, written to the sandbox's CloudWatch (moto).

What AWS publishes (traffic-shifting.md §3.1–3.2, cited as §n):

- every period (60 s on AWS) in which requests flowed, per load balancer (dimension
  ``LoadBalancer=app/<name>/<id>``) and per target group (``TargetGroup=targetgroup/<name>/<id>``
  *together with* ``LoadBalancer``);
- ``RequestCount`` counts requests for which a target was chosen (an ALB 503 for an empty target
  group is not counted); ``HTTPCode_Target_2XX/3XX/4XX/5XX_Count`` count answers of targets;
  ``HTTPCode_ELB_3XX/4XX/5XX_Count`` and ``HTTPCode_ELB_500/502/503/504_Count`` count answers
  the load balancer made itself, per load balancer only (§3.2: no ``TargetGroup`` dimension);
  counters are only written when nonzero (absent, not 0, §3.1);
- ``TargetResponseTime`` (seconds), so percentile statistics (``p99``) can be computed (§3.3:
  CloudWatch needs raw values, or statistic sets with ``Minimum == Maximum``): one statistic set
  per distinct latency, latencies rounded to 3 significant digits (moto stores a ``Values``/
  ``Counts`` entry as one object per sample, which grows without bound under steady traffic;
  this keeps a period to at most a few hundred entries);
- ``TargetConnectionErrorCount`` for connections to a target that could not be made;
- ``HealthyHostCount`` / ``UnHealthyHostCount`` per target group every period, traffic or not
  ("reported if health checks are enabled", §3.2); ``unhealthy`` targets count as unhealthy,
  ``healthy`` ones as healthy (``initial``, ``draining`` and ``unused`` count in neither:
  UNVERIFIED).

Each datapoint carries the start of its period as timestamp. With a period under 60 s (the
sandbox's ``metrics_period`` setting, for short demos) data is written as high-resolution
(``StorageResolution=1``), so alarms with ``Period`` 10/20/30 evaluate it as CloudWatch would.

:func:`write_outcomes` needs no HTTP listener: feed it :class:`RequestOutcome` records (real
ones from the ALB listener, or synthetic ones on a virtual clock) and it writes the metrics.
:class:`AlbMetrics` buffers outcomes as they happen and writes each period once it is over.
"""

from __future__ import annotations

import threading
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from rollout.sandbox.observability.cloudwatch import naive_utc

NAMESPACE = "AWS/ApplicationELB"
#: AWS's publication period for ALB metrics (§3.1).
DEFAULT_PERIOD = 60
#: The sandbox's high-resolution setting for demos (``metrics_period=DEMO_PERIOD``).
DEMO_PERIOD = 10
#: Periods the sandbox accepts (CloudWatch's high-resolution periods, and minutes).
HIGH_RESOLUTION_PERIODS = (1, 5, 10, 20, 30)


def round_latency(seconds: float) -> float:
    """``seconds`` to 3 significant digits (percentiles stay within 0.5 %)."""
    return float(f"{seconds:.3g}")


Kind = Literal["target", "elb"]


def check_period(period: int) -> int:
    """``period`` if CloudWatch accepts it for metric data (1, 5, 10, 20, 30 or 60·n)."""
    if period in HIGH_RESOLUTION_PERIODS or (period >= 60 and period % 60 == 0):
        return period
    raise ValueError(
        f"metrics period must be 1, 5, 10, 20, 30 or a multiple of 60 seconds, got {period}"
    )


def load_balancer_dimension(arn: str) -> str:
    """``arn:...:loadbalancer/app/web/50dc6c495c0c9188`` -> ``app/web/50dc6c495c0c9188``."""
    _, sep, tail = arn.partition(":loadbalancer/")
    if not sep:
        raise ValueError(f"not a load balancer ARN: {arn!r}")
    return tail


def target_group_dimension(arn: str) -> str:
    """``arn:...:targetgroup/blue/73e2d6bc24d8a067`` -> ``targetgroup/blue/73e2d6bc24d8a067``."""
    parts = arn.split(":", 5)
    if len(parts) != 6 or not parts[5].startswith("targetgroup/"):
        raise ValueError(f"not a target group ARN: {arn!r}")
    return parts[5]


@dataclass(frozen=True)
class RequestOutcome:
    """One request through a load balancer, as the metrics see it.

    ``kind`` is ``"target"`` when a target answered (its status counts as
    ``HTTPCode_Target_*``), ``"elb"`` when the load balancer answered itself (``HTTPCode_ELB_*``).
    ``target_group_arn`` is the group whose target was chosen (None when none could be: an
    empty group's 503, a fixed response). ``latency`` is the target's response time in seconds
    (None when no target answered). ``at`` is the sandbox clock's time of the answer.
    """

    at: float
    load_balancer_arn: str
    status: int
    kind: Kind = "target"
    target_group_arn: str | None = None
    latency: float | None = None
    connection_error: bool = False


@dataclass(frozen=True)
class HostCounts:
    """Healthy and unhealthy targets of one target group behind one load balancer."""

    load_balancer_arn: str
    target_group_arn: str
    healthy: int
    unhealthy: int


@dataclass
class _Bucket:
    counts: Counter[str] = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)


def _dims(lb_arn: str, tg_arn: str | None) -> list[dict[str, str]]:
    dims = [{"Name": "LoadBalancer", "Value": load_balancer_dimension(lb_arn)}]
    if tg_arn is not None:
        dims.insert(0, {"Name": "TargetGroup", "Value": target_group_dimension(tg_arn)})
    return dims


def _count_metrics(outcome: RequestOutcome) -> list[str]:
    """The counters one outcome adds 1 to."""
    names = []
    if outcome.target_group_arn is not None:
        names.append("RequestCount")
    klass = f"{outcome.status // 100}XX"
    if outcome.kind == "target":
        names.append(f"HTTPCode_Target_{klass}_Count")
    else:
        names.append(f"HTTPCode_ELB_{klass}_Count")
        if outcome.status in (500, 502, 503, 504):
            names.append(f"HTTPCode_ELB_{outcome.status}_Count")
    if outcome.connection_error:
        names.append("TargetConnectionErrorCount")
    return names


def metric_data(
    outcomes: Iterable[RequestOutcome],
    *,
    period: int = DEFAULT_PERIOD,
    hosts: Iterable[tuple[float, HostCounts]] = (),
) -> list[dict[str, Any]]:
    """PutMetricData ``MetricData`` entries for ``outcomes`` (and host-count samples taken at the
    given times), one datapoint per metric, dimension set and period. Pure."""
    check_period(period)
    buckets: dict[tuple[float, str, str | None], _Bucket] = defaultdict(_Bucket)
    lb_seen: set[tuple[float, str]] = set()
    for o in outcomes:
        start = o.at - (o.at % period)
        lb_seen.add((start, o.load_balancer_arn))
        names = _count_metrics(o)
        targets: list[str | None] = [None]
        if o.target_group_arn is not None:
            targets.append(o.target_group_arn)
        for tg in targets:
            bucket = buckets[(start, o.load_balancer_arn, tg)]
            for name in names:
                if tg is not None and name.startswith("HTTPCode_ELB_"):
                    continue  # ELB codes are per load balancer only (§3.2)
                bucket.counts[name] += 1
            if o.latency is not None:
                bucket.latencies.append(o.latency)
    for start, lb in lb_seen:  # RequestCount is "always reported" while traffic flows
        buckets[(start, lb, None)].counts.setdefault("RequestCount", 0)
    resolution = 1 if period < 60 else 60
    out: list[dict[str, Any]] = []
    for (start, lb, tg), bucket in sorted(buckets.items(), key=lambda kv: (kv[0][0], kv[0][1])):
        base = {"Dimensions": _dims(lb, tg), "Timestamp": naive_utc(start)}
        for name, count in sorted(bucket.counts.items()):
            if count == 0 and name != "RequestCount":
                continue
            out.append(
                {**base, "MetricName": name, "Value": float(count), "Unit": "Count"}
                | {"StorageResolution": resolution}
            )
        for v, c in sorted(Counter(round_latency(x) for x in bucket.latencies).items()):
            out.append(
                {
                    **base,
                    "MetricName": "TargetResponseTime",
                    "StatisticValues": {
                        "SampleCount": float(c),
                        "Sum": v * c,
                        "Minimum": v,
                        "Maximum": v,
                    },
                    "Unit": "Seconds",
                    "StorageResolution": resolution,
                }
            )
    for at, h in hosts:
        start = at - (at % period)
        base = {
            "Dimensions": _dims(h.load_balancer_arn, h.target_group_arn),
            "Timestamp": naive_utc(start),
            "Unit": "Count",
            "StorageResolution": resolution,
        }
        out.append({**base, "MetricName": "HealthyHostCount", "Value": float(h.healthy)})
        out.append({**base, "MetricName": "UnHealthyHostCount", "Value": float(h.unhealthy)})
    return out


def put_metric_data(account: str, region: str, data: list[dict[str, Any]]) -> None:
    """Write MetricData entries into moto's CloudWatch backend (in-process, no API call)."""
    from moto.backends import get_backend

    if not data:
        return
    backend = get_backend("cloudwatch")[account][region]
    for i in range(0, len(data), 1000):  # at most 1000 metrics per PutMetricData (§3.3)
        backend.put_metric_data(NAMESPACE, data[i : i + 1000])


def write_outcomes(
    outcomes: Iterable[RequestOutcome],
    *,
    account: str,
    region: str,
    period: int = DEFAULT_PERIOD,
    hosts: Iterable[tuple[float, HostCounts]] = (),
) -> int:
    """Write the ALB metrics for ``outcomes`` into the sandbox's CloudWatch; returns how many
    datapoints were written. Works without any listener (synthetic outcomes are fine)."""
    data = metric_data(outcomes, period=period, hosts=hosts)
    put_metric_data(account, region, data)
    return len(data)


class AlbMetrics:
    """Buffers request outcomes and writes each period's metrics once the period is over.

    ``record`` is thread-safe (the listener's event loop calls it); ``flush(now)`` writes every
    buffered period that ended at or before ``now``, plus one host-count sample per flush from
    ``hosts()`` (the sandbox calls it on its clock, every ``period``).
    """

    def __init__(
        self,
        *,
        account: str,
        region: str,
        period: int = DEFAULT_PERIOD,
        hosts: Callable[[], list[HostCounts]] | None = None,
    ) -> None:
        self.account = account
        self.region = region
        self.period = check_period(period)
        self._hosts = hosts
        self._pending: list[RequestOutcome] = []
        self._lock = threading.Lock()
        self.written = 0

    def record(self, outcome: RequestOutcome) -> None:
        with self._lock:
            self._pending.append(outcome)

    def flush(self, now: float) -> int:
        """Write the periods that are over at ``now``; returns the datapoints written."""
        boundary = now - (now % self.period)
        with self._lock:
            due = [o for o in self._pending if o.at < boundary]
            self._pending = [o for o in self._pending if o.at >= boundary]
        hosts: list[tuple[float, HostCounts]] = []
        if self._hosts is not None:
            sample_at = boundary - self.period  # the period that just ended
            hosts = [(sample_at, h) for h in self._hosts()]
        count = write_outcomes(
            due, account=self.account, region=self.region, period=self.period, hosts=hosts
        )
        self.written += count
        return count
