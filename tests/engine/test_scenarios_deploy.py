"""Engine scenarios on the virtual-clock voj sandbox: verdicts, detection and rollback."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from rollout.config import load_config
from rollout.decisions import ledger
from rollout.decisions.verdict import Timeouts
from rollout.engine.deploy import DeployRequest, DeployRun
from rollout.engine.interrupt import Interrupt
from rollout.engine.probe import ProbeResult
from rollout.engine.rollback import roll_back
from rollout.engine.settings import settings_from_config
from rollout.gateways.r53 import Route53Gateway
from rollout.verbs import deploy as deploy_verb

from .scenario import CONFIG, World

ROLLBACK_CALLS = ("StopServiceDeployment",)


def test_healthy_deploy_succeeds_and_records_the_ledger(world: World) -> None:
    """A good image deploys to SUCCEEDED (exit 0), tagged good in the ledger, lock released."""
    before = world.current_revision()
    run = world.deploy("sha-0000002")
    assert run.outcome.verdict == "SUCCEEDED"
    assert run.outcome.exit_code == 0
    assert world.current_revision() == before + 1
    entry = ledger.parse(world.ecs.describe_task_definition(run.outcome.task_definition_arn or ""))
    assert entry.outcome == "succeeded"
    assert entry.good
    assert entry.git_sha == "abc1234"
    assert entry.deployment_id == run.outcome.deployment_id
    assert world.ops("UpdateService") == 1
    assert world.ops("StopServiceDeployment") == 0
    phases = {e.data["phase"] for e in run.kinds("phase")}
    assert phases == {"new tasks healthy", "old tasks drained"}
    assert (
        world.sb.client_factory()
        .client("ssm")
        .get_parameters_by_path(Path="/rollout/lock/")["Parameters"]
        == []
    )
    # minutes of simulated rollout in well under a few wall seconds
    assert run.sim_seconds >= 30
    assert run.wall < 10


def test_missing_image_stops_in_preflight_with_zero_writes(world: World) -> None:
    """An image not in ECR fails verify: PREFLIGHT_FAILED (exit 10) and not one write call."""
    repo = world.prov.repository_uri
    run = world.deploy(f"{repo}:sha-doesnotexist")
    assert run.outcome.verdict == "PREFLIGHT_FAILED"
    assert run.outcome.exit_code == 10
    assert world.writes() == []
    assert any(e.data.get("status") == "fail" for e in run.kinds("check"))


def test_missing_secret_in_preflight_writes_nothing(world: World) -> None:
    """A secret the task definition references but SSM lacks fails verify with zero writes."""
    ssm = world.sb.client_factory().client("ssm")
    name = "/voj/prod/CORS_ORIGINS"
    value = ssm.get_parameter(Name=name)["Parameter"]["Value"]
    ssm.delete_parameter(Name=name)
    world.sb.clear_calls()
    try:
        run = world.deploy("sha-0000002")
        writes = world.writes()
    finally:
        ssm.put_parameter(Name=name, Value=value, Type="String")
    assert run.outcome.exit_code == 10
    assert writes == []
    assert any(
        e.data.get("status") == "fail" and "CORS_ORIGINS" in e.message for e in run.kinds("check")
    )


def test_secret_deleted_after_verify_fails_at_first_task_and_rolls_back(world: World) -> None:
    """A secret that vanishes after verify fails at the first ResourceInitializationError."""
    ssm = world.sb.client_factory().client("ssm")
    name = "/voj/prod/CORS_ORIGINS"
    value = ssm.get_parameter(Name=name)["Parameter"]["Value"]

    def prepare_then_delete(ctx):  # type: ignore[no-untyped-def]
        cfg = load_config(CONFIG, "prod", environ={})
        prepared = deploy_verb.prepare(cfg, world.prov.images["sha-0000002"], ctx)
        ssm.delete_parameter(Name=name)
        return prepared

    try:
        run = world.deploy("sha-0000002", prepare=prepare_then_delete)
    finally:
        ssm.put_parameter(Name=name, Value=value, Type="String")
    assert run.outcome.verdict == "FAILED_ROLLED_BACK"
    assert run.outcome.exit_code == 20
    signals = [e for e in run.kinds("signal") if e.data.get("definitive")]
    assert signals[0].data["signal"] == "resource-initialization"
    assert "ResourceInitializationError" in (run.outcome.reason or "")
    bad = ledger.parse(world.ecs.describe_task_definition(run.outcome.task_definition_arn or ""))
    assert bad.outcome == "rolled-back"
    assert not bad.good


def test_crash_on_start_is_rolled_back_before_the_breaker(world: World) -> None:
    """An app that crashes on start fails after K=2 crashes and is rolled back and verified."""
    before = world.current_revision()
    world.break_next("crash", after=5, exit_code=3)
    run = world.deploy("sha-0000002")
    assert run.outcome.verdict == "FAILED_ROLLED_BACK"
    assert run.outcome.exit_code == 20
    assert "exit code 3" in (run.outcome.reason or "")
    assert world.current_revision() == before
    assert run.kinds("restore.verified")
    # we acted, not the breaker: our rollback call went out
    started = run.kinds("rollback.started")
    assert started[-1].data["via"] in ("StopServiceDeployment", "UpdateService")
    assert world.sb.timeline("breaker") == [] or all(
        "trip" not in str(t.detail).lower() for t in world.sb.timeline("breaker")
    )


def test_failing_health_check_is_rolled_back(world: World) -> None:
    """New tasks that never pass the ALB health check are detected and rolled back."""
    before = world.current_revision()
    world.break_next("never_healthy")
    run = world.deploy("sha-0000002")
    assert run.outcome.verdict == "FAILED_ROLLED_BACK"
    assert world.current_revision() == before
    kinds = {e.data.get("signal") for e in run.kinds("signal")}
    assert "elb-health-check" in kinds


def test_timeout_leaves_ecs_to_carry_on_by_default(world: World) -> None:
    """A healthy phase longer than its timeout is TIMED_OUT (exit 50) with no rollback write."""
    st = world.settings(timeouts=Timeouts(deploy=1800, healthy=20, drain=900))
    run = world.deploy("sha-0000002", settings=st)
    assert (run.outcome.verdict, run.outcome.exit_code) == ("TIMED_OUT", 50)
    assert world.ops("StopServiceDeployment") == 0
    assert world.ops("UpdateService") == 1


def test_rollback_on_timeout_restores_the_previous_revision(world: World) -> None:
    """With --rollback-on-timeout the same timeout rolls back and verifies the restore."""
    before = world.current_revision()
    st = world.settings(timeouts=Timeouts(deploy=1800, healthy=20, drain=900))
    ctx, _log = world.context()
    cfg = load_config(CONFIG, "prod", environ={})
    image = world.prov.images["sha-0000002"]
    request = DeployRequest(
        image=image,
        prepare=lambda: deploy_verb.prepare(cfg, image, ctx),
        rollback_on_timeout=True,
    )
    outcome = DeployRun(world.session(ctx, st), request).run()
    assert (outcome.verdict, outcome.exit_code) == ("FAILED_ROLLED_BACK", 20)
    assert "timed out" in (outcome.reason or "")
    assert world.current_revision() == before


def test_slow_start_inside_grace_period_is_not_rolled_back(world: World) -> None:
    """Tasks healthy only 20 s after start, inside the 30 s grace period, are not failures."""
    world.break_next("slow_start", after=20)
    run = world.deploy("sha-0000002")
    assert run.outcome.verdict == "SUCCEEDED"
    assert world.ops("StopServiceDeployment") == 0
    assert world.ops("UpdateService") == 1


def test_flaky_first_task_with_k2_is_not_rolled_back(world: World) -> None:
    """One crashing first task with the other healthy is below K=2: the deploy succeeds."""
    world.break_next("flaky", count=1, after=5)
    run = world.deploy("sha-0000002")
    assert run.outcome.verdict == "SUCCEEDED"
    assert len(run.kinds("task.stopped")) >= 1
    assert world.ops("StopServiceDeployment") == 0


def test_breaker_tripping_first_is_a_verified_failure_without_our_rollback(world: World) -> None:
    """When ECS's breaker rolls back first, we write nothing more and verify its restore."""
    before = world.current_revision()
    world.break_next("crash", after=5)
    run = world.deploy("sha-0000002", settings=world.settings(consecutive_failures=50))
    assert run.outcome.verdict == "FAILED_ROLLED_BACK"
    assert run.outcome.details.get("rollback_via") == "ecs-circuit-breaker"
    assert world.ops("StopServiceDeployment") == 0
    assert world.ops("UpdateService") == 1
    assert world.current_revision() == before
    assert run.sim_seconds > 60  # minutes of breaker time...
    assert run.wall < 20  # ...in seconds of wall time


def test_smoke_probe_fail_rolls_back_but_error_does_not(world: World) -> None:
    """A failing smoke probe rolls back; a probe that cannot run does not."""
    st = world.settings(smoke_url="http://voj.invalid/health")
    run = world.deploy(
        "sha-0000002",
        settings=st,
        prober=lambda url: ProbeResult("error", None, "connection refused"),
    )
    assert run.outcome.verdict == "SUCCEEDED"
    world.reset()
    before = world.current_revision()
    run = world.deploy(
        "sha-0000003",
        settings=st,
        prober=lambda url: ProbeResult("fail", 500, f"GET {url} -> 500"),
    )
    assert run.outcome.verdict == "FAILED_ROLLED_BACK"
    assert "smoke" in (run.outcome.reason or "")
    assert world.current_revision() == before


def test_superseded_mid_watch_issues_no_rollback(world: World) -> None:
    """A concurrent UpdateService mid-watch makes us SUPERSEDED (30) with no rollback call."""
    world.break_next("crash", after=5)
    other = world.ecs.describe_service(world.prov.cluster, world.prov.service).task_definition
    fired: list[bool] = []

    def someone_else_deploys(event):  # type: ignore[no-untyped-def]
        if event.kind == "observation" and not fired:
            fired.append(True)
            world.sb.client_factory().client("ecs").update_service(
                cluster=world.prov.cluster,
                service=world.prov.service,
                taskDefinition=other,
                forceNewDeployment=True,
            )

    run = world.deploy("sha-0000002", sink=someone_else_deploys)
    assert run.outcome.verdict == "SUPERSEDED"
    assert run.outcome.exit_code == 30
    assert world.ops("UpdateService") == 2  # ours and theirs, no rollback
    assert world.ops("StopServiceDeployment") == 0
    entry = ledger.parse(world.ecs.describe_task_definition(run.outcome.task_definition_arn or ""))
    assert entry.outcome == "superseded"


def test_no_rollback_flag_leaves_the_service_and_reports_21(world: World) -> None:
    """With --no-rollback a detected failure writes nothing more and exits 21 (degraded)."""
    world.break_next("crash", after=5)
    run = world.deploy("sha-0000002", no_rollback=True)
    assert run.outcome.exit_code == 21
    assert world.ops("StopServiceDeployment") == 0
    assert world.ops("UpdateService") == 1


def test_dry_run_walks_the_path_and_sends_no_write(world: World) -> None:
    """Dry run prints every write it would send and ends DRY RUN OK with nothing written."""
    run = world.deploy("sha-0000002", dry_run=True)
    assert run.outcome.exit_code == 0
    assert world.writes() == []
    ops = [e.data["operation"] for e in run.kinds("write.dry_run")]
    assert ops[:1] == ["PutParameter"]
    assert "RegisterTaskDefinition" in ops
    assert "UpdateService" in ops
    req = next(e for e in run.kinds("write.dry_run") if e.data["operation"] == "UpdateService")
    assert req.data["request"]["service"] == world.prov.service
    assert run.kinds("verdict")[-1].message == "DRY RUN OK"


def test_bake_alarm_in_alarm_rolls_back(world: World) -> None:
    """An alarm that goes to ALARM during the bake window fails the deploy and rolls back."""
    cw = world.sb.client_factory().client("cloudwatch")
    cw.put_metric_alarm(
        AlarmName="engine-test-5xx",
        MetricName="HTTPCode_Target_5XX_Count",
        Namespace="AWS/ApplicationELB",
        Statistic="Sum",
        Period=60,
        EvaluationPeriods=1,
        Threshold=1,
        ComparisonOperator="GreaterThanOrEqualToThreshold",
    )
    cw.set_alarm_state(AlarmName="engine-test-5xx", StateValue="OK", StateReason="init")
    fired: list[bool] = []

    def alarm_fires(event):  # type: ignore[no-untyped-def]
        if event.kind == "bake" and not fired:
            fired.append(True)
            # 5xx answers, as metric data: the sandbox evaluates alarms each period (as
            # CloudWatch does), so a bare SetAlarmState would be undone by the next evaluation
            cw.put_metric_data(
                Namespace="AWS/ApplicationELB",
                MetricData=[
                    {
                        "MetricName": "HTTPCode_Target_5XX_Count",
                        "Timestamp": datetime.fromtimestamp(world.sb.clock.now(), UTC),
                        "Value": 5.0,
                    }
                ],
            )
            cw.set_alarm_state(AlarmName="engine-test-5xx", StateValue="ALARM", StateReason="5xx")

    before = world.current_revision()
    st = replace(world.settings(), bake_seconds=120, bake_alarms=("engine-test-5xx",))
    run = world.deploy("sha-0000002", settings=st, sink=alarm_fires)
    assert run.outcome.verdict == "FAILED_ROLLED_BACK"
    assert "engine-test-5xx" in (run.outcome.reason or "")
    assert world.current_revision() == before


def test_rollback_moves_route53_weight_off_the_new_path_and_waits_insync(world: World) -> None:
    """With a traffic split configured, rollback sets the new path to 0 and waits for INSYNC."""
    full = settings_from_config(load_config(CONFIG, "prod", environ={}))
    assert full.traffic is not None
    st = replace(world.settings(), traffic=full.traffic)
    r53 = Route53Gateway(world.factory)
    zone = r53.zone_id(full.traffic.zone_name or "")
    # the cut-over is done: the new path serves everything
    r53.set_weights(zone, full.traffic.record_name, {"ecs": 100, "legacy": 0}, "CNAME")
    world.break_next("crash", after=5)
    run = world.deploy("sha-0000002", settings=st)
    assert run.outcome.verdict == "FAILED_ROLLED_BACK"
    shifted = run.kinds("traffic.shifted")
    assert shifted
    assert shifted[0].data["weights"] == {"ecs": 0, "legacy": 100}
    weights = r53.weights(zone, full.traffic.record_name, full.traffic.record_type)
    assert weights == {"ecs": 0, "legacy": 100}
    assert r53.change_status(shifted[0].data["change"]) == "INSYNC"
    assert world.ops("GetChange") >= 1


def test_rollback_leaves_route53_alone_when_the_new_path_has_no_traffic(world: World) -> None:
    """New path already at weight 0: rollback sends no Route 53 change and waits for none."""
    full = settings_from_config(load_config(CONFIG, "prod", environ={}))
    assert full.traffic is not None
    r53 = Route53Gateway(world.factory)
    zone = r53.zone_id(full.traffic.zone_name or "")
    r53.set_weights(zone, full.traffic.record_name, {"ecs": 0, "legacy": 100}, "CNAME")
    world.sb.clear_calls()
    world.break_next("crash", after=5)
    run = world.deploy("sha-0000002", settings=replace(world.settings(), traffic=full.traffic))
    assert run.outcome.verdict == "FAILED_ROLLED_BACK"
    assert run.kinds("traffic.unchanged")
    assert world.ops("ChangeResourceRecordSets") == 0
    assert world.ops("GetChange") == 0


def test_retention_runs_after_success_only(world: World) -> None:
    """With prune_after_deploy, retention runs once after a success, never after a failure."""
    pruned: list[str] = []
    st = replace(world.settings(), prune_after_deploy=True)
    ok = world.deploy("sha-0000002", settings=st, retention=lambda: pruned.append("ok"))
    assert ok.outcome.exit_code == 0
    assert pruned == ["ok"]
    world.reset()
    world.break_next("crash", after=5)
    bad = world.deploy("sha-0000003", settings=st, retention=lambda: pruned.append("bad"))
    assert bad.outcome.exit_code == 20
    assert pruned == ["ok"]


def test_deploy_over_us_between_verdict_and_rollback_writes_nothing(world: World) -> None:
    """PRIMARY is re-read before the rollback write: a deploy that just replaced ours wins."""
    world.break_next("crash", after=5)
    other = world.ecs.describe_service(world.prov.cluster, world.prov.service).task_definition

    def deploy_over_us(event):  # type: ignore[no-untyped-def]
        if event.kind == "signal" and event.data.get("signal") == "verdict":
            world.sb.client_factory().client("ecs").update_service(
                cluster=world.prov.cluster,
                service=world.prov.service,
                taskDefinition=other,
                forceNewDeployment=True,
            )

    run = world.deploy("sha-0000002", sink=deploy_over_us)
    assert run.outcome.verdict == "SUPERSEDED"
    assert run.outcome.exit_code == 30
    assert "nothing was rolled back" in (run.outcome.reason or "")
    assert world.ops("UpdateService") == 2  # ours and theirs
    assert world.ops("StopServiceDeployment") == 0
    assert not run.kinds("rollback.started")


def test_failure_with_nothing_to_roll_back_to_is_21_and_writes_nothing(world: World) -> None:
    """With no rollback target (first-ever deploy), a failure is FAILED_ROLLBACK_FAILED."""
    world.break_next("crash", after=5)
    interrupt = Interrupt()

    def stop_at_first_poll(event):  # type: ignore[no-untyped-def]
        if event.kind == "observation":
            interrupt.set()

    first = world.deploy("sha-0000002", interrupt=interrupt, sink=stop_at_first_poll)
    assert first.outcome.exit_code == 40
    ctx, _ = world.context()
    mark = len(world.sb.calls(mutating=True))
    result = roll_back(
        world.session(ctx),
        deployment_id=first.outcome.deployment_id,
        ours_created_at=world.sb.clock.now() - 1,
        target=None,
        ecs_rolling_back=False,
        service_deployment_arn=None,
        failure_reason="crash",
    )
    assert result.verdict == "FAILED_ROLLBACK_FAILED"
    assert "nothing to roll back to" in result.reason
    assert world.writes(mark) == []


def test_route53_failure_does_not_turn_a_verified_restore_into_21(world: World) -> None:
    """If the weights cannot be moved, ECS still rolls back: exit 20, the reason says so."""
    full = settings_from_config(load_config(CONFIG, "prod", environ={}))
    assert full.traffic is not None
    broken = replace(full.traffic, new_set_identifier="no-such-path")
    world.break_next("crash", after=5)
    run = world.deploy("sha-0000002", settings=replace(world.settings(), traffic=broken))
    assert run.outcome.verdict == "FAILED_ROLLED_BACK"
    assert run.kinds("traffic.failed")
    assert "Route 53 weights NOT moved" in (run.outcome.reason or "")
    assert run.kinds("restore.verified")
