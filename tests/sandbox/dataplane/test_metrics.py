"""AWS/ApplicationELB metrics: written with AWS's names and dimensions, read back through the
CloudWatch API (GetMetricStatistics with percentiles, GetMetricData)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from rollout.sandbox import Sandbox
from rollout.sandbox.observability import RequestOutcome, write_outcomes
from rollout.sandbox.observability.metrics import metric_data

LB = (
    "arn:aws:elasticloadbalancing:ap-northeast-2:123456789012:loadbalancer/app/web/50dc6c495c0c9188"
)
TG = "arn:aws:elasticloadbalancing:ap-northeast-2:123456789012:targetgroup/blue/73e2d6bc24d8a067"
LB_DIM = {"Name": "LoadBalancer", "Value": "app/web/50dc6c495c0c9188"}
TG_DIM = {"Name": "TargetGroup", "Value": "targetgroup/blue/73e2d6bc24d8a067"}


@pytest.fixture
def sb() -> Iterator[Sandbox]:
    with Sandbox() as sandbox:
        yield sandbox


def stat(
    sb: Sandbox, name: str, dims: list[dict[str, str]], statistic: str = "Sum"
) -> list[dict[str, Any]]:
    cw = sb.client_factory().client("cloudwatch")
    now = datetime.fromtimestamp(sb.clock.now(), UTC)
    extended = statistic.startswith("p")
    answer = cw.get_metric_statistics(
        Namespace="AWS/ApplicationELB",
        MetricName=name,
        Dimensions=dims,
        StartTime=now - timedelta(minutes=10),
        EndTime=now + timedelta(minutes=10),
        Period=60,
        **({"ExtendedStatistics": [statistic]} if extended else {"Statistics": [statistic]}),
    )
    points: list[dict[str, Any]] = answer["Datapoints"]
    return points


def value(points: list[dict[str, Any]], statistic: str = "Sum") -> float:
    [point] = points
    if statistic.startswith("p"):
        return float(point["ExtendedStatistics"][statistic])
    return float(point[statistic])


def outcomes(at: float) -> list[RequestOutcome]:
    ok = [RequestOutcome(at, LB, 200, "target", TG, latency=0.01 * (i + 1)) for i in range(98)]
    return [
        *ok,
        RequestOutcome(at, LB, 500, "target", TG, latency=0.5),
        RequestOutcome(at, LB, 500, "target", TG, latency=2.0),
        RequestOutcome(at, LB, 503, "elb", None),  # empty group: no target chosen
        RequestOutcome(at, LB, 502, "elb", TG, connection_error=True),
    ]


def test_counts_by_dimension_set(sb: Sandbox) -> None:
    """Per-LB and per-TG series are separate metrics (no double counting); RequestCount counts
    requests with a chosen target; ELB codes exist per load balancer only."""
    write_outcomes(outcomes(sb.clock.now()), account=sb.account, region=sb.region)
    assert value(stat(sb, "RequestCount", [TG_DIM, LB_DIM])) == 101
    assert value(stat(sb, "RequestCount", [LB_DIM])) == 101
    assert value(stat(sb, "HTTPCode_Target_2XX_Count", [TG_DIM, LB_DIM])) == 98
    assert value(stat(sb, "HTTPCode_Target_5XX_Count", [TG_DIM, LB_DIM])) == 2
    assert value(stat(sb, "HTTPCode_Target_5XX_Count", [LB_DIM])) == 2
    assert value(stat(sb, "HTTPCode_ELB_5XX_Count", [LB_DIM])) == 2
    assert value(stat(sb, "HTTPCode_ELB_503_Count", [LB_DIM])) == 1
    assert value(stat(sb, "HTTPCode_ELB_502_Count", [LB_DIM])) == 1
    assert stat(sb, "HTTPCode_ELB_502_Count", [TG_DIM, LB_DIM]) == []
    assert value(stat(sb, "TargetConnectionErrorCount", [LB_DIM])) == 1
    assert stat(sb, "HTTPCode_Target_4XX_Count", [LB_DIM]) == []  # absent, not 0
    assert stat(sb, "RequestCount", [TG_DIM]) == []  # TargetGroup alone is no metric


def test_target_response_time_percentiles(sb: Sandbox) -> None:
    """TargetResponseTime is raw values: p50/p99 and Average come back from the API."""
    write_outcomes(outcomes(sb.clock.now()), account=sb.account, region=sb.region)
    dims = [TG_DIM, LB_DIM]
    assert value(stat(sb, "TargetResponseTime", dims, "p50"), "p50") == pytest.approx(0.5)
    assert value(stat(sb, "TargetResponseTime", dims, "p99"), "p99") == pytest.approx(0.98)
    assert value(stat(sb, "TargetResponseTime", dims, "Maximum"), "Maximum") == 2.0
    [point] = stat(sb, "TargetResponseTime", dims, "Average")
    assert point["Unit"] == "Seconds"
    cw = sb.client_factory().client("cloudwatch")
    now = datetime.fromtimestamp(sb.clock.now(), UTC)
    answer = cw.get_metric_data(
        MetricDataQueries=[
            {
                "Id": "p99",
                "MetricStat": {
                    "Metric": {
                        "Namespace": "AWS/ApplicationELB",
                        "MetricName": "TargetResponseTime",
                        "Dimensions": dims,
                    },
                    "Period": 60,
                    "Stat": "p99",
                },
            }
        ],
        StartTime=now - timedelta(minutes=5),
        EndTime=now + timedelta(minutes=5),
    )
    assert answer["MetricDataResults"][0]["Values"] == [pytest.approx(0.98)]


def test_high_resolution_period_marks_storage_resolution() -> None:
    """A 10 s period writes high-resolution data (StorageResolution 1), stamped per period."""
    data = metric_data([RequestOutcome(1_767_225_615.0, LB, 200, "target", TG, 0.1)], period=10)
    assert {d["StorageResolution"] for d in data} == {1}
    assert {d["Timestamp"] for d in data} == {datetime(2026, 1, 1, 0, 0, 10)}


def test_recorded_outcomes_are_written_when_the_period_ends(sb: Sandbox) -> None:
    """The sandbox clock drives publication: nothing until the minute is over, then the data
    and the healthy/unhealthy host counts."""
    sb.observability.metrics.record(RequestOutcome(sb.clock.now() + 1, LB, 200, "target", TG))
    assert stat(sb, "RequestCount", [LB_DIM]) == []
    sb.advance(61)
    assert value(stat(sb, "RequestCount", [LB_DIM])) == 1


def test_host_counts_come_from_target_health(sb: Sandbox) -> None:
    """HealthyHostCount/UnHealthyHostCount per target group come from the health overlay."""
    from rollout.sandbox.ecs.rules import HealthChange

    factory = sb.client_factory()
    ec2, elbv2 = factory.client("ec2"), factory.client("elbv2")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{i}.0/24", AvailabilityZone=az)["Subnet"][
            "SubnetId"
        ]
        for i, az in enumerate(("ap-northeast-2a", "ap-northeast-2c"))
    ]
    lb = elbv2.create_load_balancer(Name="web", Subnets=subnets)["LoadBalancers"][0]
    tg = elbv2.create_target_group(
        Name="blue", Protocol="HTTP", Port=8000, VpcId=vpc, TargetType="ip"
    )["TargetGroups"][0]
    elbv2.create_listener(
        LoadBalancerArn=lb["LoadBalancerArn"],
        Protocol="HTTP",
        Port=80,
        DefaultActions=[{"Type": "forward", "TargetGroupArn": tg["TargetGroupArn"]}],
    )
    sick = [HealthChange(0.0, "unhealthy", "Target.Timeout", "Request timed out")]
    with sb.lock:
        sb.sim.elb.register(sb.account, sb.region, tg["TargetGroupArn"], "10.0.0.9", 8000, sick)
    elbv2.register_targets(
        TargetGroupArn=tg["TargetGroupArn"], Targets=[{"Id": "10.0.0.8", "Port": 8000}]
    )
    sb.advance(60)
    dims = [
        {"Name": "TargetGroup", "Value": tg["TargetGroupArn"].split(":", 5)[5]},
        {"Name": "LoadBalancer", "Value": lb["LoadBalancerArn"].split(":loadbalancer/")[1]},
    ]
    assert value(stat(sb, "HealthyHostCount", dims, "Maximum"), "Maximum") == 1
    assert value(stat(sb, "UnHealthyHostCount", dims, "Maximum"), "Maximum") == 1


def test_response_times_stay_bounded_and_percentiles_close(sb: Sandbox) -> None:
    """10,000 requests in a minute become at most 900 TargetResponseTime entries per decade of
    latency per series, however many requests there are (moto would keep one object per
    sample), and p99 stays within 0.5 %."""
    import random

    rng = random.Random(7)
    at = sb.clock.now()
    latencies = [rng.uniform(0.001, 0.2) for _ in range(10_000)]
    outs = [RequestOutcome(at, LB, 200, "target", TG, latency=v) for v in latencies]
    data = metric_data(outs)
    trt = [d for d in data if d["MetricName"] == "TargetResponseTime"]
    assert len(trt) <= 2 * (900 + 900 + 101)  # two series; 1-10 ms, 10-100 ms, 100-200 ms
    write_outcomes(outs, account=sb.account, region=sb.region)
    exact = sorted(latencies)[9899]
    got = value(stat(sb, "TargetResponseTime", [TG_DIM, LB_DIM], "p99"), "p99")
    assert got == pytest.approx(exact, rel=0.005)
    assert value(stat(sb, "TargetResponseTime", [LB_DIM], "SampleCount"), "SampleCount") == 10_000


def test_an_alarm_it_cannot_read_is_skipped(sb: Sandbox) -> None:
    """Alarms it cannot evaluate (an anomaly band, no threshold) are left alone and the clock
    keeps going."""
    cw = sb.client_factory().client("cloudwatch")
    cw.put_metric_alarm(
        AlarmName="band",
        ComparisonOperator="LessThanLowerOrGreaterThanUpperThreshold",
        EvaluationPeriods=1,
        ThresholdMetricId="ad1",
        Metrics=[
            {
                "Id": "m1",
                "MetricStat": {
                    "Metric": {"Namespace": "AWS/ApplicationELB", "MetricName": "RequestCount"},
                    "Period": 60,
                    "Stat": "Sum",
                },
            },
            {"Id": "ad1", "Expression": "ANOMALY_DETECTION_BAND(m1, 2)"},
        ],
    )
    cw.put_metric_alarm(  # no Threshold: moto stores None; the evaluator must not choke
        AlarmName="no-threshold",
        Namespace="AWS/ApplicationELB",
        MetricName="RequestCount",
        Statistic="Sum",
        Period=60,
        EvaluationPeriods=1,
        ComparisonOperator="GreaterThanThreshold",
    )
    sb.advance(120)
    alarms = cw.describe_alarms(AlarmNames=["band", "no-threshold"])["MetricAlarms"]
    assert [a["StateValue"] for a in alarms] == ["OK", "OK"]  # moto's initial state, untouched
