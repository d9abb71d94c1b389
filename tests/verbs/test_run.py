"""``rollout run`` and ``deploy --pre-run`` on the virtual-clock voj sandbox.

The sandbox's simulated runtime decides a task's exit from the fault plan (``crash`` with
``after`` and ``exit_code``, 0 included) and writes no container logs; until the process runtime
does, :func:`log_lines` plays the awslogs driver: when the task starts it writes lines to the
task's stream ``prefix/container/task-id`` in the sandbox's CloudWatch Logs (stamped with the
real time: moto rejects events more than 14 days older than the real clock).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from engine.scenario import CONFIG, World, passing_probe
from rollout.config import load_config
from rollout.decisions import ledger
from rollout.engine.deploy import DeployRequest, DeployRun
from rollout.engine.interrupt import Interrupt
from rollout.events import Event
from rollout.sandbox import FaultRule
from rollout.verbs import deploy as deploy_verb
from rollout.verbs import run as run_verb


def log_lines(world: World, *lines: str) -> Callable[[Event], None]:
    """An event hook that writes ``lines`` to a task's awslogs stream once RunTask started it."""
    logs = world.sb.client_factory().client("logs")

    def hook(event: Event) -> None:
        if event.kind != "task.started" or not event.data.get("log_stream"):
            return
        group, stream = event.data["log_group"], event.data["log_stream"]
        if not logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"]:
            logs.create_log_group(logGroupName=group)
        logs.create_log_stream(logGroupName=group, logStreamName=stream)
        # moto drops events more than 14 days older than the REAL clock, and the sandbox's
        # virtual clock starts on 2026-01-01: stamp them with the real time
        at = int(time.time() * 1000)
        logs.put_log_events(
            logGroupName=group,
            logStreamName=stream,
            logEvents=[{"timestamp": at + i, "message": line} for i, line in enumerate(lines)],
        )

    return hook


def _exit_with(world: World, code: int, after: float = 20.0) -> None:
    """One-off tasks of the revision in service exit ``code`` ``after`` s after RUNNING."""
    world.sb.faults.add(
        FaultRule(
            effect="crash",
            family=world.prov.family,
            revision=world.current_revision(),
            after=after,
            exit_code=code,
        )
    )


def _run(world: World, *command: str, hook: Callable[[Event], None] | None = None, **kw: object):  # type: ignore[no-untyped-def]
    ctx, log = world.context(sink=hook)
    outcome = run_verb.run(run_verb.RunOptions(command=command, env="prod", **kw), ctx)  # type: ignore[arg-type]
    return outcome, log.events


def test_run_streams_logs_and_exits_with_the_task_exit_code_zero(world: World) -> None:
    """A task that exits 0: SUCCEEDED, exit 0, its log lines streamed as ``log`` events, and the
    RunTask request carries the service's network configuration and the command override."""
    _exit_with(world, 0)
    outcome, events = _run(
        world, "python", "-m", "app.migrate", hook=log_lines(world, "migrating", "done: 3 steps")
    )
    assert (outcome.verdict, outcome.exit_code) == ("SUCCEEDED", 0)
    assert [e.message for e in events if e.kind == "log"] == ["migrating", "done: 3 steps"]
    calls = world.sb.calls(operation="RunTask")
    assert len(calls) == 1
    svc = (
        world.sb.client_factory()
        .client("ecs")
        .describe_services(cluster=world.prov.cluster, services=[world.prov.service])["services"][0]
    )
    started = next(e for e in events if e.kind == "task.started")
    task = (
        world.sb.client_factory()
        .client("ecs")
        .describe_tasks(cluster=world.prov.cluster, tasks=[started.data["task"]])["tasks"][0]
    )
    assert task["taskDefinitionArn"] == svc["taskDefinition"]
    assert task["overrides"]["containerOverrides"][0]["command"] == ["python", "-m", "app.migrate"]
    assert task["startedBy"] == "rollout-run"
    subnets = svc["networkConfiguration"]["awsvpcConfiguration"]["subnets"]
    assert any(
        d["value"] in subnets
        for a in task["attachments"]
        for d in a["details"]
        if d["name"] == "subnetId"
    )
    # the service itself was not touched, and no lock was taken
    assert [w for w in world.writes() if not w.startswith("logs.")] == ["ecs.RunTask"]


def test_run_exits_with_a_failing_task_exit_code(world: World) -> None:
    """A task whose container exits 3: TASK_FAILED and rollout exits 3."""
    _exit_with(world, 3)
    outcome, events = _run(world, "false", hook=log_lines(world, "error: relation exists"))
    assert (outcome.verdict, outcome.exit_code) == ("TASK_FAILED", 3)
    assert "error: relation exists" in [e.message for e in events if e.kind == "log"]


def test_run_of_a_task_that_cannot_start_exits_125(world: World) -> None:
    """A revision whose image is not in ECR never starts: TASK_NOT_STARTED, exit 125."""
    ecs = world.ecs
    svc = ecs.describe_service(world.prov.cluster, world.prov.service)
    doc = dict(ecs.describe_task_definition(svc.task_definition).document)
    doc["containerDefinitions"] = [
        {**c, "image": f"{world.prov.repository_uri}:sha-missing"}
        for c in doc["containerDefinitions"]
    ]
    bad = ecs.register_task_definition(doc)
    world.sb.clear_calls()
    outcome, events = _run(world, "true", revision=bad.revision)
    assert (outcome.verdict, outcome.exit_code) == ("TASK_NOT_STARTED", 125)
    stopped = next(e for e in events if e.kind == "task.stopped")
    assert "could not start" in stopped.message


def test_run_dry_run_prints_the_run_task_request(world: World) -> None:
    """--dry-run prints RunTask with its network configuration and override, and sends nothing."""
    outcome, events = _run(world, "echo", "hi", dry_run=True)
    assert (outcome.verdict, outcome.exit_code) == ("SUCCEEDED", 0)
    assert world.writes() == []
    dry = next(e for e in events if e.kind == "write.dry_run")
    assert dry.data["operation"] == "RunTask"
    assert dry.data["request"]["overrides"]["containerOverrides"][0]["command"] == ["echo", "hi"]
    assert "awsvpcConfiguration" in dry.data["request"]["networkConfiguration"]


def test_run_timeout_leaves_the_task_running_and_exits_50(world: World) -> None:
    """A task still running at --timeout is left running (never killed half-way): exit 50."""
    outcome, _ = _run(world, "sleep", "infinity", timeout=60.0)
    assert (outcome.verdict, outcome.exit_code) == ("TIMED_OUT", 50)
    assert "stop-task" in (outcome.reason or "")
    assert "ecs.StopTask" not in world.writes()
    task = outcome.details["task"]
    world.sb.client_factory().client("ecs").stop_task(cluster=world.prov.cluster, task=task)


def test_deploy_pre_run_failure_does_not_deploy(world: World) -> None:
    """deploy --pre-run: a failing one-off task on the new revision ends with PRE_RUN_FAILED
    (exit 11), the service still on its old revision and the new one tagged pre-run-failed."""
    before = world.current_revision()
    rev = world.next_revision()
    world.sb.faults.add(
        FaultRule(effect="crash", family=world.prov.family, revision=rev, after=10, exit_code=2)
    )
    run = _deploy_with_pre_run(world, "alembic upgrade head")
    assert (run.verdict, run.exit_code) == ("PRE_RUN_FAILED", 11)
    assert world.current_revision() == before
    assert "ecs.UpdateService" not in world.writes()
    arn = run.task_definition_arn or ""
    assert ledger.parse(world.ecs.describe_task_definition(arn)).outcome == "pre-run-failed"
    assert run.details["pre_run_exit_code"] == 2


def test_deploy_pre_run_success_then_deploys(world: World) -> None:
    """A pre-run task that exits 0 on the new revision is followed by the deploy itself."""
    before = world.current_revision()
    rev = world.next_revision()
    # the first task of the new revision (the pre-run's) exits 0 after 10 s; later ones are fine
    world.sb.faults.add(
        FaultRule(
            effect="flaky", family=world.prov.family, revision=rev, after=10, exit_code=0, count=1
        )
    )
    run = _deploy_with_pre_run(world, "alembic upgrade head")
    assert (run.verdict, run.exit_code) == ("SUCCEEDED", 0)
    assert world.current_revision() == rev > before
    writes = world.writes()
    assert writes.index("ecs.RunTask") < writes.index("ecs.UpdateService")


def _deploy_with_pre_run(world: World, command: str):  # type: ignore[no-untyped-def]
    ctx, _ = world.context()
    cfg = load_config(CONFIG, "prod", environ={})
    image = world.prov.images["sha-0000002"]
    session = world.session(ctx, prober=passing_probe)
    request = DeployRequest(
        image=image,
        prepare=lambda: deploy_verb.prepare(cfg, image, ctx),
        pre_run=deploy_verb.pre_run(command),
    )
    return DeployRun(session, request).run()


def test_deploy_pre_run_interrupted_leaves_the_service_untouched(world: World) -> None:
    """SIGINT while the pre-run task runs: INTERRUPTED (40), no UpdateService, the task left
    running (never killed half-way)."""
    before = world.current_revision()
    interrupt = Interrupt()
    ctx, _ = world.context(
        sink=lambda e: interrupt.set("SIGINT") if e.kind == "task.started" else None
    )
    cfg = load_config(CONFIG, "prod", environ={})
    image = world.prov.images["sha-0000002"]
    session = world.session(ctx, interrupt=interrupt, prober=passing_probe)
    outcome = DeployRun(
        session,
        DeployRequest(
            image=image,
            prepare=lambda: deploy_verb.prepare(cfg, image, ctx),
            pre_run=deploy_verb.pre_run("sleep 600"),
        ),
    ).run()
    assert (outcome.verdict, outcome.exit_code) == ("INTERRUPTED", 40)
    assert world.current_revision() == before
    assert "ecs.UpdateService" not in world.writes()
    assert "ecs.StopTask" not in world.writes()
    world.sb.client_factory().client("ecs").stop_task(
        cluster=world.prov.cluster, task=outcome.details["pre_run_task_arn"]
    )


def test_deploy_pre_run_dry_run_skips_the_task_and_prints_the_writes(world: World) -> None:
    """In a dry run nothing is registered, so the pre-run is reported skipped; DRY RUN OK."""
    ctx, log = world.context()
    cfg = load_config(CONFIG, "prod", environ={})
    image = world.prov.images["sha-0000002"]
    session = world.session(ctx, prober=passing_probe, dry_run=True)
    outcome = DeployRun(
        session,
        DeployRequest(
            image=image,
            prepare=lambda: deploy_verb.prepare(cfg, image, ctx),
            pre_run=deploy_verb.pre_run("alembic upgrade head"),
        ),
    ).run()
    assert (outcome.verdict, outcome.exit_code) == ("SUCCEEDED", 0)
    assert world.writes() == []
    assert any(e.kind == "pre_run.skipped" for e in log.events)


def test_run_interrupted_leaves_the_task_running_and_exits_40(world: World) -> None:
    """SIGINT while waiting: INTERRUPTED (40), the task is not stopped, and the message says how
    to stop or follow it."""
    interrupt = Interrupt()
    ctx, _ = world.context(
        sink=lambda e: interrupt.set("SIGINT") if e.kind == "task.started" else None
    )
    outcome = run_verb.run(
        run_verb.RunOptions(command=("sleep", "600"), env="prod"), ctx, interrupt=interrupt
    )
    assert (outcome.verdict, outcome.exit_code) == ("INTERRUPTED", 40)
    assert "ecs.StopTask" not in world.writes()
    assert "stop-task" in (outcome.reason or "")
    assert "rollout logs" in (outcome.reason or "")
    world.sb.client_factory().client("ecs").stop_task(
        cluster=world.prov.cluster, task=outcome.details["task"]
    )


def test_run_of_a_revision_that_does_not_exist_is_a_usage_error_and_runs_nothing(
    world: World,
) -> None:
    """`run --revision 99` names the revision and family (exit 2) and starts no task."""
    import pytest

    from rollout.errors import UsageError

    world.sb.clear_calls()
    with pytest.raises(UsageError, match=r"failed to run: revision 99 of voj-backend-prod"):
        _run(world, "true", revision=99)
    assert world.sb.calls("ecs", "RunTask") == []
