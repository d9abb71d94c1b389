"""Engine scenarios on the voj sandbox: lock, interrupts, throttling, failed rollback, undo."""

from __future__ import annotations

import json
from typing import Any

import pytest

from rollout.decisions import ledger
from rollout.engine.interrupt import Interrupt
from rollout.errors import CredentialsError, LockHeld, UsageError
from rollout.events import Event
from rollout.verbs import deploy as deploy_verb

from .scenario import World, denied_response, expired_response, throttle_response

LOCK = "/rollout/lock/voj-prod/voj-backend-api"


def test_two_deploys_at_once_one_is_refused_naming_the_holder(world: World) -> None:
    """A deploy started while another one watches is refused (LockHeld) and writes nothing."""
    refused: list[LockHeld] = []
    writes_of_second: list[list[str]] = []

    def second_deploy(event: Event) -> None:
        if event.kind == "observation" and not refused:
            mark = len(world.sb.calls(mutating=True))
            with pytest.raises(LockHeld) as info:
                world.deploy("sha-0000003")
            refused.append(info.value)
            writes_of_second.append(world.writes(mark))

    run = world.deploy("sha-0000002", sink=second_deploy)
    assert run.outcome.verdict == "SUCCEEDED"
    assert refused
    assert "tester (deploy)" in str(refused[0])
    assert refused[0].exit_code == 31  # LockHeld: distinct from SUPERSEDED (30)
    assert writes_of_second == [[]]  # PutParameter(Overwrite=false) refused: nothing written
    assert world.ops("RegisterTaskDefinition") == 1


def test_stale_lock_past_its_ttl_is_taken_over(world: World) -> None:
    """A lock whose holder vanished past its TTL is taken over and the deploy proceeds."""
    ssm = world.sb.client_factory().client("ssm")
    now = world.sb.clock.now()
    stale = {"holder": "ghost (deploy)", "acquired_at": now - 7200, "expires_at": now - 3600}
    ssm.put_parameter(Name=LOCK, Value=json.dumps(stale), Type="String")
    run = world.deploy("sha-0000002")
    assert run.outcome.verdict == "SUCCEEDED"
    assert run.kinds("lock.stale")
    assert "ghost" in run.kinds("lock.stale")[0].message


def test_live_lock_refuses_without_writes(world: World) -> None:
    """A live lock held by someone else refuses the deploy, naming the holder, with no write."""
    ssm = world.sb.client_factory().client("ssm")
    now = world.sb.clock.now()
    live = {"holder": "bob (undo)", "acquired_at": now, "expires_at": now + 3600}
    ssm.put_parameter(Name=LOCK, Value=json.dumps(live), Type="String")
    world.sb.clear_calls()
    with pytest.raises(LockHeld, match="bob"):
        world.deploy("sha-0000002")
    assert world.writes() == []
    assert json.loads(ssm.get_parameter(Name=LOCK)["Parameter"]["Value"])["holder"] == "bob (undo)"


STEPS = [
    ("render and verify", 0),
    ("take the service lock", 0),
    ("record the rollback target", 0),
    ("register the new revision", 0),  # interrupted between register and update
    ("update the service", 1),  # signal arrives during UpdateService: it completes, then we stop
    ("watch", 1),
]


@pytest.mark.parametrize(("step", "updates"), STEPS)
def test_interrupt_at_each_step(world: World, step: str, updates: int) -> None:
    """An interrupt at any step exits 40 quickly, releases the lock and never half-writes."""
    interrupt = Interrupt()
    polls: list[float] = []
    at: list[float] = []

    def trigger(event: Event) -> None:
        if step == "watch":
            if event.kind == "observation":
                polls.append(event.at)
                if len(polls) == 3 and not at:
                    interrupt.set("SIGINT")
                    at.append(event.at)
        elif event.kind == "step.started" and event.data.get("step") == step and not at:
            interrupt.set("SIGTERM")
            at.append(event.at)

    before = world.current_revision()
    run = world.deploy("sha-0000002", interrupt=interrupt, sink=trigger)
    assert run.outcome.verdict == "INTERRUPTED"
    assert run.outcome.exit_code == 40
    assert world.ops("UpdateService") == updates
    assert world.ops("StopServiceDeployment") == 0
    finished = run.kinds("run.finished")[-1]
    assert finished.at - at[0] <= 5.0  # stopped within 5 s (simulated)
    ssm = world.sb.client_factory().client("ssm")
    assert ssm.get_parameters_by_path(Path="/rollout/lock/")["Parameters"] == []
    notice = run.kinds("interrupted")[-1]
    assert "rollout undo --env prod" in notice.data["undo"]
    assert "rollout watch --env prod" in notice.data["resume"]
    if updates == 0:
        assert world.current_revision() == before  # the service is untouched
        assert "untouched" in notice.message or "nothing was changed" in notice.message
    else:
        assert "circuit breaker stays armed" in notice.message
        assert notice.data["deployments"]
    if step == "register the new revision":
        registered = run.kinds("registered")
        assert registered
        entry = ledger.parse(
            world.ecs.describe_task_definition(registered[0].data["task_definition_arn"])
        )
        assert entry.outcome == "interrupted"


def test_throttled_update_service_is_retried_into_exactly_one_deployment(world: World) -> None:
    """UpdateService throttled twice by a before-send hook is retried; one deployment results.

    The in-process sandbox still executes requests an earlier before-send hook answered, so this
    is the harsher case of a response lost after AWS processed it: the retries repeat the same
    taskDefinition (never forceNewDeployment), which starts no second deployment.
    """
    attempts: list[str] = []

    def throttle(request: Any = None, **_: Any) -> Any:
        attempts.append("UpdateService")
        return throttle_response() if len(attempts) <= 2 else None

    since = world.sb.clock.now()
    factory = world.factory
    factory.session.events.register_first("before-send.ecs.UpdateService", throttle)
    try:
        run = world.deploy("sha-0000002")
    finally:
        factory.session.events.unregister("before-send.ecs.UpdateService", throttle)
    assert run.outcome.verdict == "SUCCEEDED"
    assert len(attempts) == 3  # two throttled, the third answered
    created = [t for t in world.sb.timeline("deployment.created") if t.time >= since]
    assert [t.detail["deployment"] for t in created] == [run.outcome.deployment_id]
    svc = world.ecs.describe_service(world.prov.cluster, world.prov.service)
    assert svc.primary is not None
    assert svc.primary.id == run.outcome.deployment_id


def test_rollback_call_failing_exits_21(world: World) -> None:
    """When the rollback write itself is refused, the verdict is FAILED_ROLLBACK_FAILED (21)."""
    world.break_next("crash", after=5)
    sent: list[str] = []

    def deny_rollbacks(request: Any = None, event_name: str = "", **_: Any) -> Any:
        op = event_name.rsplit(".", 1)[-1]
        sent.append(op)
        if op == "StopServiceDeployment" or sent.count("UpdateService") > 1:
            return denied_response()
        return None

    factory = world.factory
    for op in ("UpdateService", "StopServiceDeployment"):
        factory.session.events.register_first(f"before-send.ecs.{op}", deny_rollbacks)
    try:
        run = world.deploy("sha-0000002")
    finally:
        for op in ("UpdateService", "StopServiceDeployment"):
            factory.session.events.unregister(f"before-send.ecs.{op}", deny_rollbacks)
    assert run.outcome.verdict == "FAILED_ROLLBACK_FAILED"
    assert run.outcome.exit_code == 21
    assert "breaker is still armed" in (run.outcome.reason or "")
    assert run.kinds("rollback.failed")
    entry = ledger.parse(world.ecs.describe_task_definition(run.outcome.task_definition_arn or ""))
    assert entry.outcome == "rollback-failed"


def test_undo_goes_back_to_the_last_good_revision(world: World) -> None:
    """Undo after a good deploy restores the previous good revision and verifies it healthy."""
    first = world.deploy("sha-0000002")
    assert first.outcome.exit_code == 0
    world.reset()
    good_before = world.current_revision()
    second = world.deploy("sha-0000003")
    assert second.outcome.exit_code == 0
    world.reset()
    run = world.undo()
    assert run.outcome.verdict == "SUCCEEDED"
    assert run.outcome.exit_code == 0
    assert world.current_revision() == good_before
    assert run.kinds("restore.verified")
    undone = ledger.parse(
        world.ecs.describe_task_definition(second.outcome.task_definition_arn or "")
    )
    assert undone.outcome == "rolled-back"
    assert not undone.good


def test_undo_dry_run_writes_nothing(world: World) -> None:
    """Undo in dry run names its target and the UpdateService it would send, sending nothing."""
    world.deploy("sha-0000002")
    world.reset()
    run = world.undo(dry_run=True)
    assert run.outcome.exit_code == 0
    assert world.writes() == []
    assert [e.data["operation"] for e in run.kinds("write.dry_run")] == [
        "PutParameter",
        "UpdateService",
    ]


def test_undo_refuses_a_revision_that_never_ran_healthy(world: World) -> None:
    """Undo to a revision registered by hand (never healthy) is refused and writes nothing."""
    current = world.ecs.describe_task_definition(
        world.ecs.describe_service(world.prov.cluster, world.prov.service).task_definition
    )
    hand = world.ecs.register_task_definition(current.document)  # registered by hand, no tags
    world.sb.clear_calls()
    with pytest.raises(UsageError, match="never ran healthy"):
        world.undo(to_revision=hand.revision)
    writes = world.writes()
    assert "ecs.UpdateService" not in writes
    assert writes in ([], ["ssm.PutParameter", "ssm.DeleteParameter"])


def test_resume_after_interrupt_finishes_the_job(world: World) -> None:
    """After an interrupt mid-watch, `rollout watch` adopts the deployment and rolls it back."""
    before = world.current_revision()
    world.break_next("crash", after=5)
    interrupt = Interrupt()

    def stop_early(event: Event) -> None:
        if event.kind == "observation":
            interrupt.set("SIGINT")

    first = world.deploy("sha-0000002", interrupt=interrupt, sink=stop_early)
    assert first.outcome.exit_code == 40
    # the verb behind `rollout watch`, reading rollout.toml (probe, bake and traffic off)
    ctx, log = world.context()
    ctx.environ = {
        **ctx.environ,
        "ROLLOUT_SMOKE_URL": "",
        "ROLLOUT_TRAFFIC": "off",
        "ROLLOUT_BAKE__SECONDS": "0",
    }
    resumed = deploy_verb.run_watch(deploy_verb.WatchOptions(env="prod"), ctx)
    assert resumed.verdict == "FAILED_ROLLED_BACK"
    assert resumed.deployment_id == first.outcome.deployment_id
    assert world.current_revision() == before
    assert log.of("restore.verified")


def test_expired_credentials_mid_watch_say_the_breaker_is_still_armed(world: World) -> None:
    """Credentials expiring mid-watch end the run with one clear message; the lock is released."""
    calls: list[int] = []

    def expire(request: Any = None, **_: Any) -> Any:
        calls.append(1)
        return expired_response() if len(calls) > 3 else None

    world.factory.session.events.register_first("before-send.ecs.DescribeServices", expire)
    try:
        with pytest.raises(CredentialsError) as info:
            world.deploy("sha-0000002")
    finally:
        world.factory.session.events.unregister("before-send.ecs.DescribeServices", expire)
    assert "circuit breaker is still armed" in str(info.value)
    ssm = world.sb.client_factory().client("ssm")
    assert ssm.get_parameters_by_path(Path="/rollout/lock/")["Parameters"] == []
    assert len(calls) == 4  # the expired-token answer is not retried


def test_denied_service_deployments_api_degrades_to_describe_services(world: World) -> None:
    """A role without the service-deployments API still deploys and detects, with one warning."""

    def deny(request: Any = None, **_: Any) -> Any:
        return denied_response()

    world.factory.session.events.register_first("before-send.ecs.ListServiceDeployments", deny)
    try:
        world.break_next("crash", after=5)
        run = world.deploy("sha-0000002")
    finally:
        world.factory.session.events.unregister("before-send.ecs.ListServiceDeployments", deny)
    assert run.outcome.verdict == "FAILED_ROLLED_BACK"
    assert len(run.kinds("deployments_api.unavailable")) == 1
    assert run.outcome.details.get("rollback_via") == "UpdateService"  # no SD ARN: UpdateService
