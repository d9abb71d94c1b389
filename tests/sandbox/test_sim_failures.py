"""Failure modes of the simulation: breaker, rollback, stall, faults (reference §2, §4.2, §5)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from moto import mock_aws

from rollout.sandbox.faults import FaultRule
from rollout.sandbox.harness import CLUSTER, SERVICE, SimHarness


@pytest.fixture(autouse=True)
def _no_default_amis(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")


@pytest.fixture
def h() -> Iterator[SimHarness]:
    with mock_aws():
        yield SimHarness()


def _steady(h: SimHarness, desired: int = 1, **service: object) -> tuple[str, str]:
    td = h.register(h.image("v1"))
    h.create_service(td, desired=desired, **service)  # type: ignore[arg-type]
    h.settle()
    return td, h.service()["deployments"][0]["id"]


def _stopped(h: SimHarness) -> list[dict[str, object]]:
    return h.tasks("STOPPED")


def test_missing_image_trips_breaker_at_three_and_rolls_back_to_the_old_id(h: SimHarness) -> None:
    """An image absent from ECR fails every task with CannotPullContainerError; with desired 1 the
    breaker trips at failedTasks=3 and the old deployment becomes PRIMARY again (§2.1)."""
    td1, old_id = _steady(h)
    td2 = h.register(h.image("sha-404", push=False))
    began = h.clock.now()
    failed_id = h.update(taskDefinition=td2)["deployments"][0]["id"]
    failed_counts = []
    while True:
        h.advance(5)
        service = h.service()
        failed = next((d for d in service["deployments"] if d["id"] == failed_id), None)
        if failed is None or failed["rolloutState"] == "FAILED":
            break
        failed_counts.append(failed["failedTasks"])
    assert max(failed_counts) == 2
    assert failed is not None
    assert failed["failedTasks"] == 3
    assert failed["status"] == "ACTIVE"
    assert failed["rolloutStateReason"] == "ECS deployment circuit breaker: tasks failed to start."
    primary = service["deployments"][0]
    assert primary["id"] == old_id
    assert primary["status"] == "PRIMARY"
    assert primary["rolloutState"] == "IN_PROGRESS"
    assert primary["rolloutStateReason"] == (
        f"ECS deployment circuit breaker: rolling back to deploymentId {old_id}."
    )
    assert service["taskDefinition"] == td1
    events = h.events(since=began)
    (t_fail, failed_msg), (t_back, back_msg) = [
        e for e in events if "deployment failed" in e[1] or "rolling back" in e[1]
    ]
    assert failed_msg == (
        f"(service {SERVICE}) (deployment {failed_id}) deployment failed: tasks failed to start."
    )
    assert back_msg == f"(service {SERVICE}) rolling back to deployment {old_id}."
    assert t_back - t_fail == pytest.approx(0.001)
    assert any("is unable to consistently start tasks successfully." in m for _, m in events)
    h.settle()
    service = h.service()
    assert [d["id"] for d in service["deployments"]] == [old_id]
    assert service["deployments"][0]["rolloutState"] == "COMPLETED"
    stopped = _stopped(h)
    assert len(stopped) == 3
    for task in stopped:
        assert task["stopCode"] == "TaskFailedToStart"
        assert task["stoppedReason"] == (
            "CannotPullContainerError: pull image manifest has been retried 5 time(s): failed to "
            f"resolve ref {h.registry}/api:sha-404: {h.registry}/api:sha-404: not found"
        )
        assert "startedAt" not in task
    [sd] = [
        s
        for s in h.call("ListServiceDeployments", cluster=CLUSTER, service=SERVICE)[
            "serviceDeployments"
        ]
        if s["targetServiceRevisionArn"].endswith(failed_id[8:])
    ]
    assert sd["status"] == "ROLLBACK_SUCCESSFUL"
    [full] = h.call(
        "DescribeServiceDeployments", serviceDeploymentArns=[sd["serviceDeploymentArn"]]
    )["serviceDeployments"]
    assert full["deploymentCircuitBreaker"] == {
        "status": "TRIGGERED",
        "failureCount": 3,
        "threshold": 3,
    }
    assert full["rollback"]["serviceRevisionArn"].endswith(old_id[8:])
    assert h.service()["currentServiceDeployment"] == sd["serviceDeploymentArn"]


def test_missing_ssm_secret_fails_with_resource_initialization_error(h: SimHarness) -> None:
    """A secrets valueFrom missing from SSM stops tasks with ResourceInitializationError (§4.2)."""
    _, old_id = _steady(h)
    h.ssm.put_parameter(Name="/app/present", Value="x", Type="SecureString")
    td2 = h.register(
        h.image("v2"),
        secrets=[
            {"name": "A", "valueFrom": "/app/present"},
            {"name": "B", "valueFrom": "/app/missing"},
        ],
    )
    h.update(taskDefinition=td2)
    h.settle()
    assert h.service()["deployments"][0]["id"] == old_id
    task = _stopped(h)[0]
    assert task["stopCode"] == "TaskFailedToStart"
    assert task["stoppedReason"] == (
        "ResourceInitializationError: unable to pull secrets or registry auth: execution resource "
        "retrieval failed: unable to retrieve secrets from ssm: service call has been retried 1 "
        "time(s): invalid ssm parameters: /app/missing"
    )


def test_secrets_that_exist_in_ssm_and_secrets_manager_start_fine(h: SimHarness) -> None:
    """Existing SSM parameters (by name or ARN) and Secrets Manager ARNs let tasks start."""
    _steady(h)
    h.ssm.put_parameter(Name="/app/db", Value="x", Type="SecureString")
    arn = h.secretsmanager.create_secret(Name="app/key", SecretString="{}")["ARN"]
    td2 = h.register(
        h.image("v2"),
        secrets=[
            {"name": "A", "valueFrom": "arn:aws:ssm:ap-northeast-2:123456789012:parameter/app/db"},
            {"name": "B", "valueFrom": f"{arn}:password::"},
        ],
    )
    h.update(taskDefinition=td2)
    h.settle()
    assert h.service()["taskDefinition"] == td2
    assert _stopped(h)[0]["stopCode"] == "ServiceSchedulerInitiated"


def test_missing_secrets_manager_secret_names_asm(h: SimHarness) -> None:
    """A Secrets Manager ARN that does not exist gives the asm variant of the error (§4.2)."""
    _steady(h)
    ghost = "arn:aws:secretsmanager:ap-northeast-2:123456789012:secret:ghost-AbCdEf"
    h.update(taskDefinition=h.register(h.image("v2"), secrets=[{"name": "G", "valueFrom": ghost}]))
    h.settle()
    reason = str(_stopped(h)[0]["stoppedReason"])
    assert "unable to retrieve secret from asm" in reason
    assert ghost in reason


def test_crash_loop_trips_breaker_with_essential_container_exited(h: SimHarness) -> None:
    """A crash fault stops tasks with EssentialContainerExited and the exit code, and the
    breaker rolls back after three crashed tasks reached STOPPED, without service-throttle
    delays; the fourth start came before the trip, as in the observed trace (§2.1, §4.2)."""
    _, old_id = _steady(h)
    h.sim.faults.add(FaultRule(effect="crash", image="*:crash-*", after=5, exit_code=3))
    began = h.clock.now()
    h.update(taskDefinition=h.register(h.image("crash-1")))
    h.settle()
    assert h.service()["deployments"][0]["id"] == old_id
    crashed = [t for t in _stopped(h) if t["stopCode"] == "EssentialContainerExited"]
    assert len(crashed) == 4
    assert crashed[0]["stoppedReason"] == "Essential container in task exited"
    assert crashed[0]["containers"][0]["exitCode"] == 3  # type: ignore[index]
    trip = next(e for e in h.sim.timeline("breaker.trip"))
    assert trip.detail["failed_tasks"] == 3
    assert trip.time - began < 240  # crash loop: no throttle, trips within ~3-4 min (§2.1 timing)
    assert not any("unable to consistently" in m for _, m in h.events(since=began))


def test_port_mismatch_fails_elb_health_checks_in_stage_two(h: SimHarness) -> None:
    """A container port that differs from the target group's fails health checks: targets go
    unhealthy with Target.Timeout, tasks are replaced with AWS's texts, the breaker trips."""
    _, old_id = _steady(h)
    td2 = h.register(h.image("v2"), port=9000)
    h.update(
        taskDefinition=td2,
        loadBalancers=[{"targetGroupArn": h.tg_arn, "containerName": "app", "containerPort": 9000}],
    )
    seen_unhealthy = False
    for _ in range(200):
        h.advance(5)
        for desc in h.target_health():
            if desc["Target"]["Port"] == 9000 and desc["TargetHealth"]["State"] == "unhealthy":
                assert desc["TargetHealth"]["Reason"] == "Target.Timeout"
                assert desc["TargetHealth"]["Description"] == "Request timed out"
                seen_unhealthy = True
        if h.sim.timeline("breaker.trip"):
            break
    assert seen_unhealthy
    h.settle()
    assert h.service()["deployments"][0]["id"] == old_id
    replaced = [t for t in _stopped(h) if str(t["stoppedReason"]).startswith("Task failed ELB")]
    assert len(replaced) == 3
    assert (
        replaced[0]["stoppedReason"]
        == f"Task failed ELB health checks in (target-group {h.tg_arn})"
    )
    assert replaced[0]["stopCode"] == "ServiceSchedulerInitiated"
    messages = [m for _, m in h.events()]
    assert any(
        m.endswith(
            f"(port 9000) is unhealthy in (target-group {h.tg_arn}) "
            "due to (reason Request timed out)."
        )
        for m in messages
    )
    assert any("Amazon ECS replaced 1 tasks due to an unhealthy status." in m for m in messages)


def test_never_healthy_fault_reports_response_code_mismatch(h: SimHarness) -> None:
    """A never_healthy fault shows Target.ResponseCodeMismatch with the status code (§6.2)."""
    _steady(h)
    h.sim.faults.add(FaultRule(effect="never_healthy", image="v2", status_code=503))
    h.update(taskDefinition=h.register(h.image("v2")))
    h.advance(14 + 30 + 60 + 1)
    states = {d["TargetHealth"].get("Reason") for d in h.target_health()}
    assert "Target.ResponseCodeMismatch" in states
    descriptions = {d["TargetHealth"].get("Description") for d in h.target_health()}
    assert "Health checks failed with these codes: [503]" in descriptions


def test_slow_start_within_grace_period_counts_no_failures(h: SimHarness) -> None:
    """A task whose app is ready after 90 s goes unhealthy at 60 s (2 failed checks) and healthy
    at 210 s (5 passes from unhealthy, §6.1); inside a 300 s grace period it is never replaced
    and the deployment completes with failedTasks 0 (§6.4)."""
    _steady(h, grace=300)
    h.sim.faults.add(FaultRule(effect="slow_start", image="*:v2", after=90))
    td2 = h.register(h.image("v2"))
    h.update(taskDefinition=td2)
    h.settle()
    service = h.service()
    assert service["taskDefinition"] == td2
    assert service["deployments"][0]["failedTasks"] == 0
    assert not h.sim.timeline("breaker.failure")
    assert any(e.detail["state"] == "unhealthy" for e in h.sim.timeline("target.health"))


def test_slow_start_beyond_grace_period_is_replaced(h: SimHarness) -> None:
    """The same slow start with a 0 s grace period gets the task replaced as unhealthy."""
    _steady(h, grace=0)
    h.sim.faults.add(FaultRule(effect="slow_start", image="*:v2", after=90))
    h.update(taskDefinition=h.register(h.image("v2")))
    h.advance(200)
    assert h.sim.timeline("breaker.failure")


def test_flaky_first_task_fails_once_then_deployment_completes(h: SimHarness) -> None:
    """A flaky rule crashes only the first matching task; its replacement is healthy, the breaker
    resets on the healthy task and the deployment completes (§2.1 resetOnHealthyTask)."""
    _steady(h)
    h.sim.faults.add(FaultRule(effect="flaky", image="*:v2", count=1, after=2, exit_code=1))
    td2 = h.register(h.image("v2"))
    h.update(taskDefinition=td2)
    h.settle()
    service = h.service()
    assert service["taskDefinition"] == td2
    assert service["deployments"][0]["rolloutState"] == "COMPLETED"
    assert [e.detail["failed_tasks"] for e in h.sim.timeline("breaker.failure")] == [1]
    assert h.sim.timeline("breaker.reset")


def test_first_deployment_that_fails_stalls(h: SimHarness) -> None:
    """With nothing COMPLETED to roll back to, the breaker fails the deployment, which stays
    PRIMARY and launches no more tasks (§2.1 stall case)."""
    td = h.register(h.image("ghost", push=False))
    dep = h.create_service(td)["deployments"][0]["id"]
    h.advance(1800)
    service = h.service()
    [only] = service["deployments"]
    assert (only["id"], only["status"], only["rolloutState"]) == (dep, "PRIMARY", "FAILED")
    assert only["failedTasks"] == 3
    launched = len(h.sim.timeline("task.state"))
    h.advance(3600)
    assert (
        len([e for e in h.sim.timeline("task.state") if e.detail["state"] == "PROVISIONING"]) == 3
    )
    assert launched <= len(h.sim.timeline("task.state"))
    assert not any("rolling back" in m for _, m in h.events())
    [sd] = h.call("ListServiceDeployments", cluster=CLUSTER, service=SERVICE)["serviceDeployments"]
    assert sd["status"] == "ROLLBACK_FAILED"


def test_breaker_without_rollback_fails_and_keeps_old_tasks(h: SimHarness) -> None:
    """rollback=false: the deployment goes FAILED and stays PRIMARY, the old tasks keep serving,
    and the service deployment ends STOPPED (§2.1)."""
    _, old_id = _steady(h, rollback=False)
    new_id = h.update(taskDefinition=h.register(h.image("x", push=False)))["deployments"][0]["id"]
    h.advance(1800)
    service = h.service()
    assert [(d["id"], d["status"], d["rolloutState"]) for d in service["deployments"]] == [
        (new_id, "PRIMARY", "FAILED"),
        (old_id, "ACTIVE", "COMPLETED"),
    ]
    assert service["runningCount"] == 1
    statuses = {
        s["targetServiceRevisionArn"][-19:]: s["status"]
        for s in h.call("ListServiceDeployments", cluster=CLUSTER, service=SERVICE)[
            "serviceDeployments"
        ]
    }
    assert statuses[new_id[8:]] == "STOPPED"


def test_breaker_disabled_keeps_retrying_without_failing(h: SimHarness) -> None:
    """Without the breaker a bad deployment stays IN_PROGRESS and keeps trying (throttled)."""
    _steady(h, breaker=False, rollback=False)
    h.update(taskDefinition=h.register(h.image("x", push=False)))
    h.advance(3600)
    primary = h.service()["deployments"][0]
    assert primary["rolloutState"] == "IN_PROGRESS"
    assert primary["failedTasks"] > 3
    delays = [e.detail["delay"] for e in h.sim.timeline("service.throttled")]
    assert delays == sorted(delays)
    assert max(delays) <= 900


def test_threshold_scales_with_desired_count(h: SimHarness) -> None:
    """desired 8 needs 4 consecutive failures to trip (ceil(0.5 × 8))."""
    _steady(h, desired=8)
    h.update(taskDefinition=h.register(h.image("x", push=False)))
    h.advance(1200)
    [trip] = h.sim.timeline("breaker.trip")
    assert trip.detail["failed_tasks"] == 4


def test_stop_service_deployment_rollback(h: SimHarness) -> None:
    """StopServiceDeployment(ROLLBACK) on an in-progress deployment rolls back to the previous
    COMPLETED one (same id) and the stopped one ends ROLLBACK_SUCCESSFUL (§2.3)."""
    td1, old_id = _steady(h)
    h.update(taskDefinition=h.register(h.image("v2")))
    h.advance(30)
    arn = h.service()["currentServiceDeployment"]
    assert h.call("StopServiceDeployment", serviceDeploymentArn=arn, stopType="ROLLBACK") == {
        "serviceDeploymentArn": arn
    }
    [sd] = h.call("DescribeServiceDeployments", serviceDeploymentArns=[arn])["serviceDeployments"]
    assert sd["status"] == "ROLLBACK_IN_PROGRESS"
    h.settle()
    service = h.service()
    assert [d["id"] for d in service["deployments"]] == [old_id]
    assert service["taskDefinition"] == td1
    [sd] = h.call("DescribeServiceDeployments", serviceDeploymentArns=[arn])["serviceDeployments"]
    assert sd["status"] == "ROLLBACK_SUCCESSFUL"
    assert any(
        m == f"(service {SERVICE}) rolling back to deployment {old_id}." for _, m in h.events()
    )


def test_stop_service_deployment_rejects_finished_and_abort(h: SimHarness) -> None:
    """Stopping a finished deployment is a ConflictException; ABORT is not accepted."""
    from rollout.sandbox.errors import ApiError

    _steady(h)
    arn = h.service()["currentServiceDeployment"]
    with pytest.raises(ApiError) as conflict:
        h.call("StopServiceDeployment", serviceDeploymentArn=arn, stopType="ROLLBACK")
    assert conflict.value.code == "ConflictException"
    with pytest.raises(ApiError) as abort:
        h.call("StopServiceDeployment", serviceDeploymentArn=arn, stopType="ABORT")
    assert abort.value.code == "InvalidParameterException"


def test_alarm_in_alarm_state_fails_and_rolls_back(h: SimHarness) -> None:
    """A deploymentConfiguration alarm going to ALARM while new tasks run fails the deployment
    with `deployment failed: alarm detected.` and rolls back when alarms.rollback is on (§2.2)."""
    h.cloudwatch.put_metric_alarm(
        AlarmName="api-5xx",
        MetricName="HTTPCode_Target_5XX_Count",
        Namespace="AWS/ApplicationELB",
        Statistic="Sum",
        Period=60,
        EvaluationPeriods=1,
        Threshold=1,
        ComparisonOperator="GreaterThanOrEqualToThreshold",
    )
    alarms = {"alarmNames": ["api-5xx"], "enable": True, "rollback": True}
    _, old_id = _steady(h, alarms=alarms)
    new_id = h.update(taskDefinition=h.register(h.image("v2")))["deployments"][0]["id"]
    h.advance(60)
    h.cloudwatch.set_alarm_state(AlarmName="api-5xx", StateValue="ALARM", StateReason="5xx")
    h.advance(60)
    messages = [m for _, m in h.events()]
    assert (
        f"(service {SERVICE}) (deployment {new_id}) deployment failed: alarm detected." in messages
    )
    assert h.service()["deployments"][0]["id"] == old_id


def test_serve_5xx_fault_is_visible_to_the_data_plane_only(h: SimHarness) -> None:
    """serve_5xx makes serving_targets report the status after N s while health stays healthy."""
    h.sim.faults.add(FaultRule(effect="serve_5xx", image="*:v1", after=100, status_code=502))
    _steady(h)
    [target] = h.sim.serving_targets(h.tg_arn)
    assert target.state == "healthy"
    [task] = h.tasks()
    due = task["startedAt"] + 100 - h.clock.now()
    if due > 0:
        assert target.status_code == 200
        h.advance(due + 1)
    [target] = h.sim.serving_targets(h.tg_arn)
    assert (target.state, target.status_code) == ("healthy", 502)
    assert h.sim.serving_status(task["taskArn"]) == 502


def test_alarm_bake_time_delays_completion(h: SimHarness) -> None:
    """With alarms on and bakeTimeInMinutes=2, the deployment stays IN_PROGRESS for 2 min after
    the old tasks are gone, then completes (§2.2 bake time)."""
    alarms = {"alarmNames": [], "enable": True, "rollback": True}
    _steady(h, alarms=alarms)
    h.update(deploymentConfiguration={"bakeTimeInMinutes": 2})
    began = h.clock.now()
    h.update(taskDefinition=h.register(h.image("v2")))
    h.settle(step=1)
    drained = max(e.time for e in h.sim.timeline("task.state") if e.detail["state"] == "STOPPED")
    [done] = [
        e
        for e in h.sim.timeline("deployment.state")
        if e.time > began and e.detail["rollout_state"] == "COMPLETED"
    ]
    assert done.time - drained >= 120


def test_observed_image_pull_preset_reproduces_the_trace() -> None:
    """Timings.observed_image_pull() gives failedTasks 1/2/3 within 15 s of the observed
    2m34s / 4m46s / 11m00s (§2.1, desired 1), then the rollback."""
    from rollout.sandbox.ecs.timings import Timings

    with mock_aws():
        h = SimHarness(timings=Timings.observed_image_pull())
        _steady(h)
        began = h.clock.now()
        h.update(taskDefinition=h.register(h.image("gone", push=False)))
        h.advance(900)
        counts = [e.time - began for e in h.sim.timeline("breaker.failure")]
        assert counts == pytest.approx([154, 286, 660], abs=15)
        assert h.sim.timeline("breaker.trip")[0].time - began == pytest.approx(660, abs=15)
