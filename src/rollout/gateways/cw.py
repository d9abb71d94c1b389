"""CloudWatch gateway: the state of named alarms (for the bake window) and one window of ALB
metrics per target group (for the analysis of a traffic-shifting deployment)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from rollout.aws import ClientFactory
from rollout.decisions.analysis import GroupStats
from rollout.gateways._base import aws_errors


class CloudWatchGateway:
    def __init__(self, factory: ClientFactory) -> None:
        self._factory = factory

    @property
    def _cw(self) -> Any:
        return self._factory.client("cloudwatch")

    def alarm_states(self, names: Sequence[str]) -> dict[str, str]:
        """``{alarm name: OK | ALARM | INSUFFICIENT_DATA}``; missing alarms are absent."""
        if not names:
            return {}
        states: dict[str, str] = {}
        with aws_errors("describe CloudWatch alarms"):
            pages = self._cw.get_paginator("describe_alarms").paginate(AlarmNames=list(names))
            for page in pages:
                for alarm in page.get("MetricAlarms", []) + page.get("CompositeAlarms", []):
                    states[alarm["AlarmName"]] = alarm["StateValue"]
        return states

    def alarm_definitions(self, names: Sequence[str]) -> dict[str, dict[str, Any]]:
        """``{name: {state, period, evaluation_periods, datapoints_to_alarm, metric}}`` of the
        named metric alarms (composite alarms: state only); missing alarms are absent."""
        if not names:
            return {}
        found: dict[str, dict[str, Any]] = {}
        with aws_errors("describe CloudWatch alarms"):
            pages = self._cw.get_paginator("describe_alarms").paginate(AlarmNames=list(names))
            for page in pages:
                for alarm in page.get("MetricAlarms", []):
                    evaluation = int(alarm.get("EvaluationPeriods", 1) or 1)
                    found[alarm["AlarmName"]] = {
                        "state": alarm.get("StateValue"),
                        "period": int(alarm.get("Period", 60) or 60),
                        "evaluation_periods": evaluation,
                        "datapoints_to_alarm": int(alarm.get("DatapointsToAlarm") or evaluation),
                        "metric": alarm.get("MetricName"),
                    }
                for alarm in page.get("CompositeAlarms", []):
                    found[alarm["AlarmName"]] = {"state": alarm.get("StateValue")}
        return found

    def group_stats(
        self, load_balancer: str, target_groups: Sequence[str], *, start: float, end: float
    ) -> dict[str, GroupStats]:
        """One window of ``AWS/ApplicationELB`` metrics per target group, in one GetMetricData:
        RequestCount (Sum), HTTPCode_Target_5XX_Count and TargetConnectionErrorCount (Sum: both
        count as the group's failed requests) and TargetResponseTime (p99).

        ``load_balancer`` and ``target_groups`` are dimension values (``app/<name>/<id>``,
        ``targetgroup/<name>/<id>``: rollout.decisions.progressive). The window is one period
        (``end - start`` seconds). The ALB publishes a count only when it is non-zero, so a
        missing count is 0; a missing p99 is None (no request)."""
        period = max(1, round(end - start))
        queries: list[dict[str, Any]] = []
        metrics = (
            ("req", "RequestCount", "Sum"),
            ("err", "HTTPCode_Target_5XX_Count", "Sum"),
            ("conn", "TargetConnectionErrorCount", "Sum"),
            ("p99", "TargetResponseTime", "p99"),
        )
        for i, tg in enumerate(target_groups):
            dims = [
                {"Name": "TargetGroup", "Value": tg},
                {"Name": "LoadBalancer", "Value": load_balancer},
            ]
            for prefix, metric, stat in metrics:
                queries.append(
                    {
                        "Id": f"{prefix}{i}",
                        "MetricStat": {
                            "Metric": {
                                "Namespace": "AWS/ApplicationELB",
                                "MetricName": metric,
                                "Dimensions": dims,
                            },
                            "Period": period,
                            "Stat": stat,
                        },
                        "ReturnData": True,
                    }
                )
        values: dict[str, list[float]] = {}
        with aws_errors("read ALB metrics (GetMetricData)"):
            kwargs: dict[str, Any] = {
                "MetricDataQueries": queries,
                "StartTime": datetime.fromtimestamp(start, UTC),
                "EndTime": datetime.fromtimestamp(end, UTC),
                "ScanBy": "TimestampAscending",
            }
            while True:
                resp = self._cw.get_metric_data(**kwargs)
                for result in resp.get("MetricDataResults", []):
                    values.setdefault(result["Id"], []).extend(
                        float(v) for v in result.get("Values", [])
                    )
                token = resp.get("NextToken")
                if not token:
                    break
                kwargs["NextToken"] = token
        out: dict[str, GroupStats] = {}
        for i, tg in enumerate(target_groups):
            p99s = values.get(f"p99{i}", [])
            out[tg] = GroupStats(
                requests=int(sum(values.get(f"req{i}", []))),
                # a request the ALB could not deliver to a chosen target of this group (it
                # answers 502) failed on this group's account too
                target_5xx=int(sum(values.get(f"err{i}", [])) + sum(values.get(f"conn{i}", []))),
                # seconds → ms; with more than one period in the window, the worst one
                p99_ms=max(p99s) * 1000.0 if p99s else None,
            )
        return out
