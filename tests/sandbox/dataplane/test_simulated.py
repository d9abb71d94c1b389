"""The ALB listener in front of simulated tasks: the simulation answers for them, and nothing is
ever sent to a non-loopback address."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
from tests.sandbox.dataplane.conftest import Alb

from rollout.sandbox import Sandbox


def test_simulated_voj_tasks_answer_through_the_listener(voj: Sandbox) -> None:
    """voj's ALB listener reaches the simulated tasks: /version names revision 1's image and the
    answering task, and the request counts as a target 2xx in the ALB metrics."""
    result = voj.provisioned
    assert result is not None
    url = voj.alb_url(result.load_balancer_name)
    assert url is not None
    version = httpx.get(url + "/version", timeout=10)
    assert version.status_code == 200
    assert version.json()["image"] == result.image("sha-0000001")
    assert version.headers["X-Sandbox-Task"].startswith("arn:aws:ecs:")
    voj.advance(60)
    cw = voj.client_factory().client("cloudwatch")
    now = datetime.fromtimestamp(voj.clock.now(), UTC)
    points = cw.get_metric_statistics(
        Namespace="AWS/ApplicationELB",
        MetricName="HTTPCode_Target_2XX_Count",
        Dimensions=[
            {"Name": "LoadBalancer", "Value": result.load_balancer_arn.split(":loadbalancer/")[1]}
        ],
        StartTime=now - timedelta(minutes=5),
        EndTime=now,
        Period=60,
        Statistics=["Sum"],
    )["Datapoints"]
    assert sum(p["Sum"] for p in points) == 1


def test_unreachable_target_is_a_502_without_traffic(alb: Alb) -> None:
    """A target registered with a non-loopback IP nobody simulates is answered 502 by the ALB
    (as a refused connection); no request leaves the machine."""
    alb.elbv2.register_targets(
        TargetGroupArn=alb.tg_arns[0], Targets=[{"Id": "10.9.9.9", "Port": 8000}]
    )
    response = httpx.get(alb.url + "/", timeout=10)
    assert (response.status_code, response.headers["Server"]) == (502, "awselb/2.0")
