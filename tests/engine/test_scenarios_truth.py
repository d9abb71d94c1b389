"""Scenarios from issue 11: verdicts and writes that must say only what is true.

Each test reproduces a case tried by hand on the sandbox that rollout got wrong: a service at
desiredCount 0, a re-run after an interrupt, a rollback over someone else's deploy, ECS unable
to place tasks, a restore that cannot start, "restored" declared too early, and smaller ones.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import pytest

from rollout.decisions import ledger
from rollout.engine.interrupt import Interrupt
from rollout.events import Event
from rollout.verbs import deploy as deploy_verb

from .scenario import World, conflict_response


def _ecs(world: World) -> Any:
    return world.sb.client_factory().client("ecs")


@pytest.fixture
def scaled_to_zero(world: World) -> Iterator[World]:
    """The voj service at desiredCount 0 (put back afterwards)."""
    svc = _ecs(world).describe_services(cluster=world.prov.cluster, services=[world.prov.service])[
        "services"
    ][0]
    desired = svc["desiredCount"]
    _ecs(world).update_service(
        cluster=world.prov.cluster, service=world.prov.service, desiredCount=0
    )
    world.reset()
    try:
        yield world
    finally:
        _ecs(world).update_service(
            cluster=world.prov.cluster, service=world.prov.service, desiredCount=desired
        )
        world.reset()


# -- 1. desiredCount 0 ---------------------------------------------------------------------------


def test_deploy_at_desired_zero_claims_no_healthy_tasks_and_is_not_good(
    scaled_to_zero: World,
) -> None:
    """At desiredCount 0 nothing runs: the verdict says so, and the revision is never good."""
    world = scaled_to_zero
    world.break_next("crash", after=1)
    run = world.deploy("sha-0000002")
    assert run.outcome.verdict == "NO_TASKS"
    assert run.outcome.exit_code == 60
    assert "runs no tasks" in (run.outcome.reason or "")
    assert not any("healthy in" in e.message for e in run.kinds("phase"))
    entry = ledger.parse(world.ecs.describe_task_definition(run.outcome.task_definition_arn or ""))
    assert not entry.good
    assert entry.outcome == "no-tasks"


def test_undo_at_desired_zero_is_no_tasks_not_verified_healthy(world: World) -> None:
    """An undo on a service scaled to 0 points it back but verifies nothing: NO_TASKS (60)."""
    good = world.deploy("sha-0000002")  # a good revision to undo to, then one to undo
    assert good.outcome.exit_code == 0
    world.reset()
    assert world.deploy("sha-0000003").outcome.exit_code == 0
    world.reset()
    desired = _ecs(world).describe_services(
        cluster=world.prov.cluster, services=[world.prov.service]
    )["services"][0]["desiredCount"]
    _ecs(world).update_service(
        cluster=world.prov.cluster, service=world.prov.service, desiredCount=0
    )
    world.reset()
    try:
        run = world.undo()
        assert (run.outcome.verdict, run.outcome.exit_code) == ("NO_TASKS", 60)
        assert not run.kinds("restore.verified")
        assert "runs no tasks" in (run.outcome.reason or "")
    finally:
        _ecs(world).update_service(
            cluster=world.prov.cluster, service=world.prov.service, desiredCount=desired
        )
        world.reset()


def test_watch_at_desired_zero_with_nothing_in_flight_writes_nothing(
    scaled_to_zero: World,
) -> None:
    ctx, _ = _watch_ctx(scaled_to_zero)
    outcome = deploy_verb.run_watch(deploy_verb.WatchOptions(env="prod"), ctx)
    assert outcome.verdict == "NOTHING_TO_WATCH"
    assert scaled_to_zero.writes() == []


def test_undo_rerun_after_an_interrupt_verifies_the_restore_in_flight(world: World) -> None:
    """Same cause as item 2, in undo: an undo interrupted while verifying, run again, adopts the
    restore in flight instead of undoing one revision further."""
    from rollout.engine.undo import UndoRequest, run_undo

    assert world.deploy("sha-0000002").outcome.exit_code == 0
    world.reset()
    assert world.deploy("sha-0000003").outcome.exit_code == 0
    world.reset()
    interrupt = Interrupt()

    def stop_while_verifying(event: Event) -> None:
        if event.kind == "observation" and event.data.get("phase") == "restore":
            interrupt.set("SIGTERM")

    ctx, _ = world.context(stop_while_verifying)
    first = run_undo(world.session(ctx, interrupt=interrupt), UndoRequest())
    assert first.exit_code == 40
    updates = world.ops("UpdateService")
    again = world.undo()
    assert world.ops("UpdateService") == updates  # no second undo
    assert again.outcome.verdict == "SUCCEEDED"
    assert again.outcome.rollback_target_arn == first.rollback_target_arn
    assert again.kinds("deployment.adopted")
    assert again.kinds("restore.verified")


# -- 3. rollback over someone else's deploy -----------------------------------------------------


def test_rollback_call_refused_because_someone_deployed_is_superseded_with_no_write(
    world: World,
) -> None:
    """StopServiceDeployment answers ConflictException because another client just deployed:
    rollout re-reads the service, sees the newer deployment, and writes nothing more."""
    world.break_next("crash", after=5)
    theirs = world.ecs.describe_service(world.prov.cluster, world.prov.service).task_definition

    attempts: list[str] = []

    def someone_deploys_first(request: Any = None, **_: Any) -> Any:
        attempts.append("StopServiceDeployment")
        _ecs(world).update_service(
            cluster=world.prov.cluster,
            service=world.prov.service,
            taskDefinition=theirs,
            forceNewDeployment=True,
        )
        return conflict_response()

    factory = world.factory
    factory.session.events.register_first(
        "before-send.ecs.StopServiceDeployment", someone_deploys_first
    )
    try:
        run = world.deploy("sha-0000002")
    finally:
        factory.session.events.unregister(
            "before-send.ecs.StopServiceDeployment", someone_deploys_first
        )
    assert attempts, "the case needs the StopServiceDeployment path"
    assert run.outcome.verdict == "SUPERSEDED"
    assert run.outcome.exit_code == 30
    assert world.ops("UpdateService") == 2  # ours and theirs: no fallback over theirs
    svc = world.ecs.describe_service(world.prov.cluster, world.prov.service)
    assert svc.primary is not None
    assert svc.primary.id != run.outcome.deployment_id


def test_rollback_call_refused_while_ours_is_still_in_flight_falls_back(world: World) -> None:
    """A refused StopServiceDeployment with no newer deployment falls back to UpdateService."""
    world.break_next("crash", after=5)

    def refuse(request: Any = None, **_: Any) -> Any:
        return conflict_response()

    factory = world.factory
    factory.session.events.register_first("before-send.ecs.StopServiceDeployment", refuse)
    try:
        run = world.deploy("sha-0000002")
    finally:
        factory.session.events.unregister("before-send.ecs.StopServiceDeployment", refuse)
    assert run.outcome.verdict == "FAILED_ROLLED_BACK"
    assert run.outcome.details.get("rollback_via") == "UpdateService"
    assert run.kinds("rollback.fallback")


# -- 2. re-running a deploy after an interrupt --------------------------------------------------


def test_rerun_after_interrupt_adopts_the_deployment_in_flight(world: World) -> None:
    """The same deploy run again after SIGTERM adopts the deployment in flight: no second
    revision, no second deployment, and it says so."""
    interrupt = Interrupt()

    def stop_early(event: Event) -> None:
        if event.kind == "observation":
            interrupt.set("SIGTERM")

    first = world.deploy("sha-0000002", interrupt=interrupt, sink=stop_early)
    assert first.outcome.exit_code == 40
    registers, updates = world.ops("RegisterTaskDefinition"), world.ops("UpdateService")
    again = world.deploy("sha-0000002")
    assert world.ops("RegisterTaskDefinition") == registers  # no identical revision registered
    assert world.ops("UpdateService") == updates  # no second deployment
    assert again.outcome.verdict == "SUCCEEDED"
    assert again.outcome.deployment_id == first.outcome.deployment_id
    assert again.outcome.task_definition_arn == first.outcome.task_definition_arn
    adopted = again.kinds("deployment.adopted")
    assert adopted
    assert first.outcome.deployment_id in adopted[0].message


def test_rerun_with_another_image_while_one_is_in_flight_deploys_it(world: World) -> None:
    """A different image is a new deploy (ECS replaces the one in flight), not an adoption."""
    interrupt = Interrupt()

    def stop_early(event: Event) -> None:
        if event.kind == "observation":
            interrupt.set("SIGTERM")

    first = world.deploy("sha-0000002", interrupt=interrupt, sink=stop_early)
    assert first.outcome.exit_code == 40
    registers = world.ops("RegisterTaskDefinition")
    again = world.deploy("sha-0000003")
    assert world.ops("RegisterTaskDefinition") == registers + 1
    assert not again.kinds("deployment.adopted")
    assert again.outcome.deployment_id != first.outcome.deployment_id


# -- 8. smaller ones ------------------------------------------------------------------------------


def test_first_ever_deploy_failing_is_not_tagged_rollback_failed(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Nothing to roll back to: no rollback is tried, so the ledger says `failed`, not
    `rollback-failed`; the verdict (21) and its reason say why."""
    from rollout.decisions.target import NoTarget
    from rollout.engine import deploy as engine_deploy

    monkeypatch.setattr(
        engine_deploy, "deploy_rollback_target", lambda svc, entries: NoTarget("first deploy")
    )
    world.break_next("crash", after=5)
    run = world.deploy("sha-0000002")
    assert (run.outcome.verdict, run.outcome.exit_code) == ("FAILED_ROLLBACK_FAILED", 21)
    assert "nothing to roll back to" in (run.outcome.reason or "")
    assert not run.kinds("rollback.started")
    entry = ledger.parse(world.ecs.describe_task_definition(run.outcome.task_definition_arn or ""))
    assert entry.outcome == "failed"
    world.reset()


def test_no_rollback_flag_is_recorded_as_failed_not_rollback_failed(world: World) -> None:
    world.break_next("crash", after=5)
    run = world.deploy("sha-0000002", no_rollback=True)
    assert run.outcome.exit_code == 21
    entry = ledger.parse(world.ecs.describe_task_definition(run.outcome.task_definition_arn or ""))
    assert entry.outcome == "failed"


def _watch_ctx(world: World) -> tuple[Any, Any]:
    ctx, log = world.context()
    ctx.environ = {
        **ctx.environ,
        "ROLLOUT_SMOKE_URL": "",
        "ROLLOUT_TRAFFIC": "off",
        "ROLLOUT_BAKE__SECONDS": "0",
    }
    return ctx, log


def test_watch_with_nothing_in_flight_says_so_and_writes_nothing(world: World) -> None:
    """`rollout watch` on a steady service: no bake, no SUCCEEDED, no lock, no ledger rewrite."""
    ctx, log = _watch_ctx(world)
    ctx.environ["ROLLOUT_BAKE__SECONDS"] = "60"
    outcome = deploy_verb.run_watch(deploy_verb.WatchOptions(env="prod"), ctx)
    assert (outcome.verdict, outcome.exit_code) == ("NOTHING_TO_WATCH", 61)
    assert "nothing to watch" in (outcome.reason or "")
    assert world.writes() == []
    assert not log.of("bake")


def test_missing_image_is_looked_up_in_ecr_once(world: World) -> None:
    """Render already asked ECR and found nothing: verify reports it without asking again."""
    run = world.deploy(f"{world.prov.repository_uri}:sha-doesnotexist")
    assert (run.outcome.verdict, run.outcome.exit_code) == ("PREFLIGHT_FAILED", 10)
    assert world.ops("DescribeImages") == 1
    assert "is not in ECR" in (run.outcome.reason or "")
    assert world.writes() == []


def test_a_hand_registered_revision_that_served_becomes_the_undo_target(world: World) -> None:
    """docs/operations.md: a revision registered by hand (like voj's revision 1) is tagged good
    once a deploy records it as the COMPLETED PRIMARY, and `undo` may then go back to it."""
    ecs = _ecs(world)
    current = world.ecs.describe_task_definition(
        world.ecs.describe_service(world.prov.cluster, world.prov.service).task_definition
    )
    doc = {
        k: v
        for k, v in current.document.items()
        if k
        in (
            "family",
            "containerDefinitions",
            "cpu",
            "memory",
            "networkMode",
            "requiresCompatibilities",
            "executionRoleArn",
            "taskRoleArn",
        )
    }
    by_hand = ecs.register_task_definition(**doc)["taskDefinition"]["taskDefinitionArn"]
    ecs.update_service(
        cluster=world.prov.cluster, service=world.prov.service, taskDefinition=by_hand
    )
    world.reset()
    entry = ledger.parse(world.ecs.describe_task_definition(by_hand))
    assert not entry.good  # rollout has not seen it serve yet
    run = world.deploy("sha-0000002")
    assert run.outcome.verdict == "SUCCEEDED"
    assert run.outcome.rollback_target_arn == by_hand
    assert ledger.parse(world.ecs.describe_task_definition(by_hand)).good
    world.reset()
    undo = world.undo(dry_run=True)
    assert undo.outcome.rollback_target_arn == by_hand


# -- 4. ECS says it cannot place tasks ----------------------------------------------------------


@pytest.fixture
def squeezed(world: World) -> Iterator[World]:
    """A hook that sets maximumPercent 100 / minimumHealthyPercent 100 right after preflight;
    the deployment configuration is put back afterwards."""
    svc = _ecs(world).describe_services(cluster=world.prov.cluster, services=[world.prov.service])[
        "services"
    ][0]
    config = svc["deploymentConfiguration"]

    def squeeze(event: Event) -> None:
        if event.kind == "step.started" and event.data.get("step") == "take the service lock":
            _ecs(world).update_service(
                cluster=world.prov.cluster,
                service=world.prov.service,
                deploymentConfiguration={
                    **config,
                    "maximumPercent": 100,
                    "minimumHealthyPercent": 100,
                },
            )

    world.hooks.append(squeeze)
    try:
        yield world
    finally:
        world.hooks.clear()
        _ecs(world).update_service(
            cluster=world.prov.cluster, service=world.prov.service, deploymentConfiguration=config
        )
        world.reset()


def test_ecs_unable_to_place_tasks_is_a_definitive_failure_with_its_own_reason(
    squeezed: World,
) -> None:
    """min 100 / max 100: ECS's "unable to stop or start tasks" event fails the deploy within a
    poll, naming the configuration, instead of waiting the whole timeout."""
    world = squeezed
    run = world.deploy("sha-0000002")
    stuck = [e for e in run.kinds("ecs.event") if "unable to stop or start tasks" in e.message]
    assert stuck
    signal = next(e for e in run.kinds("signal") if e.data.get("signal") == "verdict")
    assert signal.at - stuck[0].at <= world.settings().poll_interval * 1.5
    assert "minimumHealthyPercent 100 %" in (run.outcome.reason or "")
    assert "maximumPercent 100 %" in (run.outcome.reason or "")
    assert run.outcome.verdict == "FAILED_ROLLED_BACK"


def test_a_timeout_says_what_the_deployment_was_waiting_on(world: World) -> None:
    """TIMED_OUT names what was missing (here: no new task ever healthy), not "still
    progressing"."""
    from dataclasses import replace

    from rollout.decisions.verdict import Timeouts

    world.break_next("slow_start", after=3000)
    st = replace(world.settings(), timeouts=Timeouts(deploy=1800, healthy=25, drain=900))
    run = world.deploy("sha-0000002", settings=st)
    assert run.outcome.verdict == "TIMED_OUT"
    reason = run.outcome.reason or ""
    assert "new tasks healthy" in reason
    assert "of 2 new tasks healthy" in reason
    assert "still progressing" not in reason
    world.sb.faults.clear()


# -- 5. a rollback that cannot start -------------------------------------------------------------


@pytest.fixture
def current_image_gone(world: World) -> Iterator[World]:
    """A hook that deletes the current revision's image from ECR once the new tasks are healthy
    (so the rollback cannot start its tasks); the image is put back afterwards."""
    ecr = world.sb.client_factory().client("ecr")
    current = world.ecs.describe_task_definition(
        world.ecs.describe_service(world.prov.cluster, world.prov.service).task_definition
    )
    image = current.document["containerDefinitions"][0]["image"]
    image_id = (
        {"imageDigest": image.split("@", 1)[1]}
        if "@" in image
        else {"imageTag": image.rsplit(":", 1)[1]}
    )
    saved = ecr.batch_get_image(repositoryName=world.prov.repository, imageIds=[image_id])[
        "images"
    ][0]

    def delete(event: Event) -> None:
        if event.kind == "phase" and event.data.get("phase") == "new tasks healthy":
            ecr.batch_delete_image(repositoryName=world.prov.repository, imageIds=[image_id])

    world.hooks.append(delete)
    try:
        yield world
    finally:
        world.hooks.clear()
        put: dict[str, Any] = {"imageManifest": saved["imageManifest"]}
        if "imageTag" in saved["imageId"]:
            put["imageTag"] = saved["imageId"]["imageTag"]
        with contextlib.suppress(ecr.exceptions.ImageAlreadyExistsException):
            ecr.put_image(repositoryName=world.prov.repository, **put)
        world.sb.faults.clear()
        world.reset()


def test_restore_that_cannot_start_exits_21_within_a_poll_naming_cause_and_state(
    current_image_gone: World,
) -> None:
    """The previous revision's image is gone: the restore's first CannotPullContainerError ends
    the run (21) within a poll, not after the 900 s restore timeout, and says why and where the
    service is left."""
    from dataclasses import replace

    world = current_image_gone
    world.break_next("crash", after=40)  # healthy first (old tasks stopped), then crashes
    run = world.deploy("sha-0000002", settings=replace(world.settings(), bake_seconds=120.0))
    assert (run.outcome.verdict, run.outcome.exit_code) == ("FAILED_ROLLBACK_FAILED", 21)
    started = run.kinds("rollback.started")[0].at
    pull = [e for e in run.kinds("signal") if e.data.get("signal") == "image-pull"]
    assert pull, "the restore's tasks failed to pull the image"
    verdict = run.kinds("verdict")[0]
    assert verdict.at - pull[0].at <= world.settings().poll_interval * 1.5
    assert verdict.at - started < world.settings().timeouts.healthy / 2
    reason = run.outcome.reason or ""
    assert "CannotPullContainerError" in reason
    assert "Service left:" in reason
    assert "NO task is serving" in reason  # the bad tasks crashed, the old ones cannot start
    assert not run.kinds("restore.verified")


def test_restore_state_says_when_the_breaker_put_the_bad_revision_back() -> None:
    """The state left behind names a breaker that rolled the restore back to the bad revision."""
    from rollout.decisions.verdict import RestoreObservation
    from rollout.engine.rollback import service_state

    from .builders import dep, svc, td

    service = svc(
        dep(
            "ecs-svc/2",
            2,
            state="IN_PROGRESS",
            reason="ECS deployment circuit breaker: rolling back to deploymentId ecs-svc/2.",
        ),
        dep("ecs-svc/3", 1, status="ACTIVE", state="FAILED", running=0),
    )
    text = service_state(service, td(1), td(2), RestoreObservation(service, td(1), 0, 2))
    assert text.startswith("ECS's circuit breaker put voj:2 (the bad revision) back")
    assert "2 task(s) of other revisions serving" in text


# -- 6. "restored" only when it is --------------------------------------------------------------


def _serving_by_revision(world: World) -> dict[str, int]:
    """Tasks per task definition that the target groups would route to (not draining)."""
    ecs, elb = _ecs(world), world.sb.client_factory().client("elbv2")
    svc = ecs.describe_services(cluster=world.prov.cluster, services=[world.prov.service])[
        "services"
    ][0]
    arns = ecs.list_tasks(cluster=world.prov.cluster, desiredStatus="RUNNING")["taskArns"]
    tasks = ecs.describe_tasks(cluster=world.prov.cluster, tasks=arns)["tasks"] if arns else []
    ips = {
        d["value"]: t["taskDefinitionArn"]
        for t in tasks
        for a in t.get("attachments", [])
        for d in a.get("details", [])
        if d.get("name") == "privateIPv4Address"
    }
    out: dict[str, int] = {}
    for lb in svc["loadBalancers"]:
        for th in elb.describe_target_health(TargetGroupArn=lb["targetGroupArn"])[
            "TargetHealthDescriptions"
        ]:
            state = th["TargetHealth"]["State"]
            td = ips.get(th["Target"]["Id"])
            if td is not None and state in ("healthy", "unhealthy", "initial"):
                out[td] = out.get(td, 0) + 1
    return out


def test_restored_is_declared_only_when_no_bad_task_serves(world: World) -> None:
    """A release whose tasks never pass health checks is rolled back while its tasks are still
    registered: "restored" (and FAILED_ROLLED_BACK) wait until none of them serves."""
    world.break_next("never_healthy")
    seen: list[dict[str, int]] = []

    def at_verified(event: Event) -> None:
        if event.kind == "restore.verified":
            seen.append(_serving_by_revision(world))

    run = world.deploy("sha-0000002", sink=at_verified)
    assert run.outcome.verdict == "FAILED_ROLLED_BACK"
    assert seen, "the restore was verified"
    bad = run.outcome.task_definition_arn
    assert seen[0].get(bad or "", 0) == 0, seen[0]
    target = run.outcome.rollback_target_arn or ""
    assert seen[0].get(target, 0) >= 2
    assert run.kinds("restore.waiting")  # "rolling back" was said until then
