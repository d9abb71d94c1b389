"""The real workload end to end: voj tasks as real processes, requests through the ALB listener.

Issue 9's promises, measured with real requests: a task answers through the listener with its own
image tag; a release patched to answer 500 on part of ``/books`` raises the target group's 5xx
metric, the deployment alarm goes to ALARM and ECS rolls back on it (a plain UpdateService, no
rollout). A good ``rollout deploy`` under steady traffic failing no request, through the old
tasks' draining and stop, is ``test_rehearsal.py`` (the same deploy and traffic, through the
documented commands). The crash-at-import release and the no-orphans checks are in
``test_runtime_process.py``.

Every process is started by the module's sandbox and stopped when it closes.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator

import httpx
import pytest

from rollout.sandbox import DEMO_METRICS_PERIOD, Sandbox
from rollout.sandbox.dataplane.traffic import TrafficOptions, TrafficResult, run_traffic
from rollout.sandbox.runtime.patches import patch_text

from .conftest import register_revision

pytestmark = pytest.mark.slow

HOST = "api.voj.example.com"  # ALLOWED_HOSTS of the sandbox stack


@pytest.fixture(scope="module")
def sb() -> Iterator[Sandbox]:
    with Sandbox(runtime="process", preset="quick", metrics_period=DEMO_METRICS_PERIOD) as sandbox:
        sandbox.provision_voj()
        sandbox.start_alb()
        yield sandbox


def _url(sb: Sandbox) -> str:
    assert sb.provisioned is not None
    url = sb.alb_url(sb.provisioned.load_balancer_name)
    assert url is not None
    return url


class Traffic:
    """Steady traffic through the listener on a thread, until stopped (bounded by ``limit``)."""

    def __init__(self, url: str, *, rate: float = 20.0, limit: float = 240.0) -> None:
        self.stop = threading.Event()
        self.result: TrafficResult | None = None
        options = TrafficOptions(
            url,
            rate=rate,
            duration=limit,
            paths=("/health", "/books", "/version"),
            host=HOST,
            timeout=10.0,
        )

        def send() -> None:
            self.result = run_traffic(options, stop=self.stop)

        self._thread = threading.Thread(target=send, name="test-traffic", daemon=True)

    def __enter__(self) -> Traffic:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop.set()
        self._thread.join(timeout=30)


@pytest.mark.timeout(180)  # the module's sandbox is provisioned in this test's time
def test_a_task_answers_through_the_listener_with_its_image_tag(sb: Sandbox) -> None:
    """Through the ALB listener (round robin over both healthy tasks), /version is the image tag
    the task was started from; the listener forwards the Host header the app checks."""
    seen = set()
    for _ in range(6):
        answer = httpx.get(f"{_url(sb)}/version", headers={"Host": HOST}, timeout=10)
        assert answer.status_code == 200, answer.text
        seen.add(answer.json()["version"])
    assert seen == {"sha-0000001"}
    wrong_host = httpx.get(f"{_url(sb)}/version", headers={"Host": "evil.example"}, timeout=10)
    assert wrong_host.status_code == 400  # the app's own TrustedHost check saw the Host header


@pytest.mark.timeout(300)
def test_a_release_serving_500s_trips_the_alarm_and_ecs_rolls_back(sb: Sandbox) -> None:
    """An image patched (a real `git diff`) to answer 500 on every other /books: under traffic
    HTTPCode_Target_5XX_Count rises for the target group, voj-prod-target-5xx (AWS's 60 s
    period) goes to ALARM, and ECS (UpdateService alone, the breaker-only path) fails the
    deployment on it and rolls back to the revision before.

    The UpdateService sets a 2-minute bake (``bakeTimeInMinutes``, ecs-behaviour §2.2): ECS
    watches deployment alarms only while the deployment is IN_PROGRESS, and without a bake the
    sandbox completes it once the old tasks are drained, before a 60 s period can close."""
    result = sb.provisioned
    assert result is not None
    ecs = sb.client_factory().client("ecs")
    cw = sb.client_factory().client("cloudwatch")
    # ECS rolls back to the last COMPLETED deployment: let the one before finish completing
    sb.wait_steady(result.cluster, result.service, timeout=120, step=0.5)
    before = ecs.describe_services(cluster=result.cluster, services=[result.service])
    old_td = before["services"][0]["taskDefinition"]
    sb.build_image("books-500", patch=patch_text("books-500"))
    bad_td = register_revision(sb, f"{result.repository_uri}:books-500")
    [alarm] = cw.describe_alarms(AlarmNames=["voj-prod-target-5xx"])["MetricAlarms"]
    tg_dim = next(d["Value"] for d in alarm["Dimensions"] if d["Name"] == "TargetGroup")
    lb_dim = next(d["Value"] for d in alarm["Dimensions"] if d["Name"] == "LoadBalancer")
    started = sb.clock.now()
    with Traffic(_url(sb)) as traffic:
        config = dict(before["services"][0]["deploymentConfiguration"])
        config["bakeTimeInMinutes"] = 2
        ecs.update_service(
            cluster=result.cluster,
            service=result.service,
            taskDefinition=bad_td,
            deploymentConfiguration=config,
        )
        deadline = time.monotonic() + 200
        rolled_back = None
        while time.monotonic() < deadline and rolled_back is None:
            time.sleep(2)
            doc = ecs.describe_services(cluster=result.cluster, services=[result.service])
            svc = doc["services"][0]
            events = [e["message"] for e in svc["events"] if "alarm detected" in e["message"]]
            primary = next(d for d in svc["deployments"] if d["status"] == "PRIMARY")
            if events and primary["taskDefinition"] == old_td:
                rolled_back = svc
    if rolled_back is None:  # say what ECS and the alarms were doing
        svc = ecs.describe_services(cluster=result.cluster, services=[result.service])
        alarms = cw.describe_alarms()["MetricAlarms"]
        pytest.fail(
            "ECS did not roll back on the alarm within 200 s: "
            + json.dumps(
                {
                    "deployments": svc["services"][0]["deployments"],
                    "events": [e["message"] for e in svc["services"][0]["events"][:8]],
                    "alarms": {a["AlarmName"]: a["StateValue"] for a in alarms},
                    "changes": sb.observability.changes,
                    "failures": traffic.result.failures if traffic.result else None,
                },
                default=str,
            )
        )
    assert traffic.result is not None
    assert traffic.result.failures.get("target_5xx", 0) > 10, traffic.result.failures
    stats = cw.get_metric_statistics(
        Namespace="AWS/ApplicationELB",
        MetricName="HTTPCode_Target_5XX_Count",
        Dimensions=[
            {"Name": "LoadBalancer", "Value": lb_dim},
            {"Name": "TargetGroup", "Value": tg_dim},
        ],
        StartTime=started - 120,
        EndTime=sb.clock.now() + 60,
        Period=60,
        Statistics=["Sum"],
    )
    assert sum(p["Sum"] for p in stats["Datapoints"]) >= 10, stats["Datapoints"]
    # the alarm went to ALARM (moto has no DescribeAlarmHistory: the evaluator's own record)
    assert any(
        name == "voj-prod-target-5xx" and state == "ALARM"
        for _, name, state in sb.observability.changes
    ), sb.observability.changes
    failed = [d for d in rolled_back["deployments"] if d["taskDefinition"] == bad_td]
    assert all(d["rolloutState"] == "FAILED" for d in failed), failed
