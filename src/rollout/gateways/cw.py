"""CloudWatch gateway: the state of named alarms (for the bake window)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rollout.aws import ClientFactory
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
