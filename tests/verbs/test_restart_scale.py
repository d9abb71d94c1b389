"""``rollout restart`` and ``rollout scale`` on the virtual-clock voj sandbox."""

from __future__ import annotations

from engine.scenario import World
from rollout.decisions import ledger
from rollout.engine.interrupt import Interrupt
from rollout.verbs import restart, scale


def _restart(world: World, **kw: object) -> tuple[object, list]:
    ctx, log = world.context()
    options = restart.RestartOptions(env="prod", **kw)  # type: ignore[arg-type]
    outcome = restart.run(options, ctx, prober=lambda url: _pass(url))
    return outcome, log.events


def _pass(url: str):  # type: ignore[no-untyped-def]
    from engine.scenario import passing_probe

    return passing_probe(url)


def test_restart_replaces_every_task_on_the_same_revision(world: World) -> None:
    """restart forces a new deployment of the revision in service, watches it to SUCCEEDED
    (exit 0), registers nothing and leaves the revision's ledger entry as it was."""
    svc = world.ecs.describe_service(world.prov.cluster, world.prov.service)
    arn = svc.task_definition
    tags_before = world.ecs.tags(arn)
    old_tasks = set(world.ecs.list_tasks(world.prov.cluster, service=world.prov.service))
    ctx, log = world.context()
    outcome = restart.run(restart.RestartOptions(env="prod"), ctx, prober=_pass)
    assert (outcome.verdict, outcome.exit_code) == ("SUCCEEDED", 0)
    after = world.ecs.describe_service(world.prov.cluster, world.prov.service)
    assert after.task_definition == arn
    assert len(after.deployments) == 1
    assert after.primary is not None
    assert after.primary.id != svc.primary.id  # type: ignore[union-attr]
    new_tasks = set(world.ecs.list_tasks(world.prov.cluster, service=world.prov.service))
    assert new_tasks
    assert not (new_tasks & old_tasks)
    assert world.ops("RegisterTaskDefinition") == 0
    update = world.sb.calls(operation="UpdateService")
    assert len(update) == 1
    # the outcome of the deploy that registered it stays; only "ran healthy" may be added
    tags_after = world.ecs.tags(arn)
    assert tags_after.get("rollout:outcome") == tags_before.get("rollout:outcome")
    assert {k: v for k, v in tags_after.items() if k != "rollout:good"} == {
        k: v for k, v in tags_before.items() if k != "rollout:good"
    }
    assert outcome.task_definition_arn == arn
    assert any(e.kind == "phase" for e in log.events)


def test_restart_dry_run_prints_the_forced_update_and_writes_nothing(world: World) -> None:
    """--dry-run walks the same path and prints UpdateService(forceNewDeployment) unsent."""
    ctx, log = world.context()
    outcome = restart.run(restart.RestartOptions(env="prod", dry_run=True), ctx, prober=_pass)
    assert (outcome.verdict, outcome.exit_code) == ("SUCCEEDED", 0)
    assert world.writes() == []
    dry = [e for e in log.events if e.kind == "write.dry_run" and e.data["service"] == "ecs"]
    assert [e.data["operation"] for e in dry] == ["UpdateService"]
    assert dry[0].data["request"]["forceNewDeployment"] is True
    assert "taskDefinition" not in dry[0].data["request"]


def test_restart_whose_new_tasks_crash_is_rolled_back_to_the_running_tasks(world: World) -> None:
    """When the restarted tasks crash (say a secret changed underneath), the restart fails and
    rolls back like a deploy (exit 20), and the revision stays marked good."""
    from rollout.sandbox import FaultRule

    rev = world.current_revision()
    arn = world.ecs.describe_service(world.prov.cluster, world.prov.service).task_definition
    good_before = ledger.parse(world.ecs.describe_task_definition(arn)).good
    # only tasks launched from now on crash: the running ones were decided at launch
    world.sb.faults.add(
        FaultRule(effect="crash", family=world.prov.family, revision=rev, after=5, exit_code=3)
    )
    ctx, _log = world.context()
    outcome = restart.run(restart.RestartOptions(env="prod"), ctx, prober=_pass)
    assert (outcome.verdict, outcome.exit_code) == ("FAILED_ROLLED_BACK", 20)
    assert ledger.parse(world.ecs.describe_task_definition(arn)).good == good_before
    world.sb.faults.clear()


def test_restart_refuses_while_a_deployment_is_in_flight(world: World) -> None:
    """A restart over a deployment in flight would replace it: PREFLIGHT_FAILED (10), no write."""
    world.ecs.update_service(world.prov.cluster, world.prov.service, force_new_deployment=True)
    world.sb.clear_calls()
    ctx, _ = world.context()
    outcome = restart.run(restart.RestartOptions(env="prod"), ctx, prober=_pass)
    assert (outcome.verdict, outcome.exit_code) == ("PREFLIGHT_FAILED", 10)
    assert world.writes() == []


def _scale(world: World, n: int, **kw: object):  # type: ignore[no-untyped-def]
    ctx, log = world.context()
    outcome = scale.run(scale.ScaleOptions(desired=n, env="prod", **kw), ctx)  # type: ignore[arg-type]
    return outcome, log.events


def test_scale_up_waits_until_the_new_tasks_are_healthy(world: World) -> None:
    """scale N sets desiredCount and returns SUCCEEDED only once N tasks run healthy."""
    before = world.ecs.describe_service(world.prov.cluster, world.prov.service).desired
    outcome, events = _scale(world, before + 2)
    assert (outcome.verdict, outcome.exit_code) == ("SUCCEEDED", 0)
    svc = world.ecs.describe_service(world.prov.cluster, world.prov.service)
    assert svc.desired == svc.running == before + 2
    healthy = [
        t
        for tg in world.prov.target_group_arns[:1]
        for t in world.sb.client_factory()
        .client("elbv2")
        .describe_target_health(TargetGroupArn=tg)["TargetHealthDescriptions"]
        if t["TargetHealth"]["State"] == "healthy"
    ]
    assert len(healthy) >= before + 2
    assert [c.operation for c in world.sb.calls(mutating=True) if c.service == "ecs"] == [
        "UpdateService"
    ]
    assert any(e.kind == "phase" and e.data["phase"] == "settled" for e in events)
    assert outcome.details["desired_before"] == before


def test_scale_down_settles_and_scale_to_same_count_writes_nothing(world: World) -> None:
    """Scaling down settles on the lower count; asking for the current count changes nothing."""
    outcome, _ = _scale(world, 1)
    assert (outcome.verdict, outcome.exit_code) == ("SUCCEEDED", 0)
    assert world.ecs.describe_service(world.prov.cluster, world.prov.service).running == 1
    world.sb.clear_calls()
    outcome, _ = _scale(world, 1)
    assert outcome.exit_code == 0
    assert world.writes() == [] or all("ssm" in w for w in world.writes())


def test_scale_in_stops_are_not_warnings_but_crashes_are(world: World) -> None:
    """The tasks ECS stops to scale in ("Scaling activity initiated by ...", exit 0) are what
    was asked for: reported as info, so `scale -q` prints no warning; a crashed task is still
    a warning (the test below)."""
    before = world.ecs.describe_service(world.prov.cluster, world.prov.service).desired
    _scale(world, before + 1)
    outcome, events = _scale(world, before)
    assert outcome.exit_code == 0
    stops = [e for e in events if e.kind == "task.stopped"]
    assert stops, "the scale-in stopped no task"
    assert all("Scaling activity" in e.message for e in stops)
    assert {e.level for e in stops} == {"info"}


def test_scale_dry_run_prints_the_update(world: World) -> None:
    """--dry-run prints UpdateService(desiredCount) and sends nothing."""
    before = world.ecs.describe_service(world.prov.cluster, world.prov.service).desired
    outcome, events = _scale(world, before + 3, dry_run=True)
    assert outcome.exit_code == 0
    assert world.writes() == []
    dry = [e for e in events if e.kind == "write.dry_run" and e.data["service"] == "ecs"]
    assert dry[0].data["request"]["desiredCount"] == before + 3
    assert any(e.message == "DRY RUN OK" for e in events)


def test_scale_up_whose_tasks_crash_scales_back(world: World) -> None:
    """New tasks that keep crashing fail the scale; the previous count is put back (exit 20)."""
    from rollout.sandbox import FaultRule

    before = world.ecs.describe_service(world.prov.cluster, world.prov.service).desired
    world.sb.faults.add(FaultRule(effect="crash", family=world.prov.family, after=3, exit_code=1))
    outcome, events = _scale(world, before + 2)
    assert (outcome.verdict, outcome.exit_code) == ("FAILED_ROLLED_BACK", 20)
    crashed = [e for e in events if e.kind == "task.stopped" and "exited" in e.message]
    assert crashed
    assert {e.level for e in crashed} == {"warning"}
    assert world.ecs.describe_service(world.prov.cluster, world.prov.service).desired == before
    world.sb.faults.clear()


def test_scale_interrupted_leaves_ecs_to_carry_on(world: World) -> None:
    """SIGINT while settling ends with INTERRUPTED (exit 40) and the new count stays set."""
    before = world.ecs.describe_service(world.prov.cluster, world.prov.service).desired
    interrupt = Interrupt()
    ctx, _log = world.context(
        sink=lambda e: interrupt.set("SIGINT") if e.kind == "observation" else None
    )
    outcome = scale.run(
        scale.ScaleOptions(desired=before + 1, env="prod"), ctx, interrupt=interrupt
    )
    assert (outcome.verdict, outcome.exit_code) == ("INTERRUPTED", 40)
    assert world.ecs.describe_service(world.prov.cluster, world.prov.service).desired == before + 1
