"""End to end on the simulated runtime: 5xx outcomes -> ALB metrics -> voj's alarm -> ALARM ->
the ECS model's deployment-alarm check fails the deployment and rolls back (as on AWS)."""

from __future__ import annotations

from typing import Any

from rollout.sandbox import Sandbox
from rollout.sandbox.observability import RequestOutcome

from ..conftest import register_revision


def test_target_5xx_alarm_rolls_the_deployment_back(voj: Sandbox) -> None:
    """Target 5xx outcomes fed to the metrics writer drive voj-prod-target-5xx to ALARM within a
    minute of the bad period (and back to OK the quiet minute after); ECS then fails the
    deployment ("alarm detected") and rolls back."""
    result = voj.provisioned
    assert result is not None
    cw = voj.client_factory().client("cloudwatch")
    ecs = voj.client_factory().client("ecs")
    [alarm] = cw.describe_alarms(AlarmNames=["voj-prod-target-5xx"])["MetricAlarms"]
    assert alarm["StateValue"] == "OK"
    tg_dim = next(d["Value"] for d in alarm["Dimensions"] if d["Name"] == "TargetGroup")
    tg_arn = next(a for a in result.target_group_arns if a.endswith(tg_dim))
    old = voj.describe_service(result.cluster, result.service)
    assert old is not None
    new_td = register_revision(voj, result.image(sorted(result.images)[-1]))
    ecs.update_service(cluster=result.cluster, service=result.service, taskDefinition=new_td)

    def new_tasks_running() -> bool | None:
        tasks = ecs.list_tasks(cluster=result.cluster, desiredStatus="RUNNING")["taskArns"]
        described = ecs.describe_tasks(cluster=result.cluster, tasks=tasks)["tasks"]
        return (
            any(
                t["taskDefinitionArn"] == new_td and t["lastStatus"] == "RUNNING" for t in described
            )
            or None
        )

    voj.advance_until(new_tasks_running, timeout=900, step=5)
    now = voj.clock.now()
    for i in range(30):
        status = 500 if i % 2 else 200
        voj.observability.metrics.record(
            RequestOutcome(now, result.load_balancer_arn, status, "target", tg_arn, latency=0.02)
        )

    def alarm_fired() -> dict[str, Any] | None:
        [doc] = cw.describe_alarms(AlarmNames=["voj-prod-target-5xx"])["MetricAlarms"]
        return doc if doc["StateValue"] == "ALARM" else None

    alarm = voj.advance_until(alarm_fired, timeout=60, step=1)
    voj.advance(60)
    assert alarm["StateReason"].startswith("Threshold Crossed: 1 out of the last 1 datapoints [15")
    service = voj.describe_service(result.cluster, result.service)
    assert service is not None
    failed = [e["message"] for e in service["events"] if "alarm detected" in e["message"]]
    assert failed, [e["message"] for e in service["events"]][:5]
    [alarm] = cw.describe_alarms(AlarmNames=["voj-prod-target-5xx"])["MetricAlarms"]
    assert alarm["StateValue"] == "OK"  # notBreaching: the next, quiet minute is fine again
    primary = next(d for d in service["deployments"] if d["status"] == "PRIMARY")
    assert primary["taskDefinition"] == old["taskDefinition"]


def test_demo_resolution_fires_a_10_second_alarm_within_one_period() -> None:
    """With metrics_period=DEMO_METRICS_PERIOD (10 s) a Period=10 alarm on high-resolution data
    goes to ALARM at the first boundary after the bad 10 s, and back to OK after a quiet one."""
    from rollout.sandbox import DEMO_METRICS_PERIOD

    lb = (
        "arn:aws:elasticloadbalancing:ap-northeast-2:123456789012:"
        "loadbalancer/app/w/0123456789abcdef"
    )
    with Sandbox(metrics_period=DEMO_METRICS_PERIOD) as sb:
        cw = sb.client_factory().client("cloudwatch")
        cw.put_metric_alarm(
            AlarmName="elb-5xx-fast",
            Namespace="AWS/ApplicationELB",
            MetricName="HTTPCode_ELB_5XX_Count",
            Dimensions=[{"Name": "LoadBalancer", "Value": "app/w/0123456789abcdef"}],
            Statistic="Sum",
            Period=10,
            EvaluationPeriods=1,
            Threshold=5,
            ComparisonOperator="GreaterThanOrEqualToThreshold",
            TreatMissingData="notBreaching",
        )
        start = sb.clock.now()
        for _ in range(6):
            sb.observability.metrics.record(RequestOutcome(start + 1, lb, 503, "elb"))

        def state() -> str:
            doc = cw.describe_alarms(AlarmNames=["elb-5xx-fast"])["MetricAlarms"][0]
            return str(doc["StateValue"])

        sb.advance(9)
        assert state() == "OK"
        sb.advance(1)
        assert state() == "ALARM"
        sb.advance(10)
        assert state() == "OK"
