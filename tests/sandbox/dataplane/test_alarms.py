"""CloudWatch alarm evaluation: the pure rule, table-tested."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from rollout.sandbox.observability.alarms import (
    ALARM,
    INSUFFICIENT,
    OK,
    AlarmSpec,
    Point,
    evaluate,
)

T0 = datetime(2026, 1, 1)


def points(*values: float | None, samples: float = 100.0) -> list[Point]:
    return [
        Point(T0 + timedelta(minutes=i), v, samples if v is not None else 0.0)
        for i, v in enumerate(values)
    ]


def spec(**kw: object) -> AlarmSpec:
    base: dict[str, object] = {
        "name": "a",
        "statistic": "Sum",
        "period": 60,
        "evaluation_periods": 3,
        "threshold": 10.0,
        "comparison": "GreaterThanOrEqualToThreshold",
    }
    base.update(kw)
    return AlarmSpec(**base)  # type: ignore[arg-type]


X: float = 12.0  # breaching
O_: float = 1.0  # not breaching
_: float | None = None  # missing

CASES = [
    # M = N = 3, all real
    ("3 of 3 breach", spec(), points(X, X, X), OK, ALARM),
    ("2 of 3 breach, M=3", spec(), points(O_, X, X), ALARM, OK),
    ("2 of 3 breach, M=2", spec(datapoints_to_alarm=2), points(X, O_, X), OK, ALARM),
    ("at threshold counts for >=", spec(evaluation_periods=1), points(10.0), OK, ALARM),
    (
        "at threshold: > does not",
        spec(evaluation_periods=1, comparison="GreaterThanThreshold"),
        points(10.0),
        OK,
        OK,
    ),
    (
        "less than",
        spec(evaluation_periods=1, comparison="LessThanThreshold"),
        points(O_),
        OK,
        ALARM,
    ),
    (
        "less or equal",
        spec(evaluation_periods=1, comparison="LessThanOrEqualToThreshold"),
        points(10.0),
        OK,
        ALARM,
    ),
    # TreatMissingData (CW-UG table, M = N = 3)
    ("all missing, missing", spec(), points(_, _, _), OK, INSUFFICIENT),
    (
        "all missing, ignore keeps ALARM",
        spec(treat_missing_data="ignore"),
        points(_, _, _),
        ALARM,
        ALARM,
    ),
    ("all missing, breaching", spec(treat_missing_data="breaching"), points(_, _, _), OK, ALARM),
    (
        "all missing, notBreaching",
        spec(treat_missing_data="notBreaching"),
        points(_, _, _),
        ALARM,
        OK,
    ),
    ("- X -, missing", spec(), points(_, X, _), OK, ALARM),
    ("- X -, ignore keeps OK", spec(treat_missing_data="ignore"), points(_, X, _), OK, OK),
    ("- X -, breaching", spec(treat_missing_data="breaching"), points(_, X, _), OK, ALARM),
    ("- X -, notBreaching", spec(treat_missing_data="notBreaching"), points(_, X, _), ALARM, OK),
    ("- - 0, missing", spec(), points(_, _, O_), ALARM, OK),
    ("- - 0, ignore", spec(treat_missing_data="ignore"), points(_, _, O_), ALARM, OK),
    ("X X -, breaching fills", spec(treat_missing_data="breaching"), points(X, X, _), OK, ALARM),
    ("X X -, notBreaching", spec(treat_missing_data="notBreaching"), points(X, X, _), OK, OK),
    # the voj target-5xx alarm: 1 of 1, notBreaching
    (
        "voj 5xx: quiet minute",
        spec(evaluation_periods=1, treat_missing_data="notBreaching"),
        points(_),
        ALARM,
        OK,
    ),
    # percentiles with a low sample count
    (
        "p99, few samples, ignore keeps state",
        spec(
            statistic="p99",
            evaluation_periods=1,
            threshold=0.5,
            evaluate_low_sample_count_percentile="ignore",
        ),
        points(0.9, samples=20),
        OK,
        OK,
    ),
    (
        "p99, few samples, evaluate",
        spec(statistic="p99", evaluation_periods=1, threshold=0.5),
        points(0.9, samples=20),
        OK,
        ALARM,
    ),
]


@pytest.mark.parametrize(
    ("alarm", "window", "current", "expected"),
    [c[1:] for c in CASES],
    ids=[c[0] for c in CASES],
)
def test_evaluate(alarm: AlarmSpec, window: list[Point], current: str, expected: str) -> None:
    """Each row: the state CloudWatch's rules give for that window and policy."""
    assert evaluate(alarm, window, current).state == expected


def test_reason_reads_like_cloudwatch() -> None:
    """The StateReason names the breaching count, the datapoints and the threshold."""
    result = evaluate(spec(evaluation_periods=1), points(12.0), OK)
    assert result.reason == (
        "Threshold Crossed: 1 out of the last 1 datapoints [12 (01/01/26 00:00:00)] was greater "
        "than or equal to the threshold (10) (minimum 1 datapoint for OK -> ALARM transition)."
    )
    assert result.reason_data["recentDatapoints"] == [12.0]
    assert result.reason_data["statistic"] == "Sum"


def test_unknown_operator_is_refused() -> None:
    """Anomaly-band operators are not evaluated here; asking is an error, not a silent OK."""
    with pytest.raises(ValueError, match="ComparisonOperator"):
        evaluate(spec(comparison="LessThanLowerThreshold"), points(1.0), OK)
