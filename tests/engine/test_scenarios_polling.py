"""The watch's AWS call budget, and that reading less never delays the rollback call.

Measured from the sandbox's own record: its recorded API calls and its timeline, not from
rollout's report. A poll always reads DescribeServices; tasks, stopped tasks, target health and
service deployments are read only when that answer shows a change (rollout.engine.observe).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import pytest

from rollout.events import Event

from .scenario import Run, World

#: calls per watch poll, on average, for a healthy 2-task deploy (measured: about 1.8; listing
#: every task and target group every poll cost about 5.8)
BUDGET_PER_POLL = 2.5
#: a failing deploy reads more (stopped tasks, replacements): measured 2.0 (crash) and 2.3
#: (failing health check); listing everything every poll cost about 5.7
FAILING_BUDGET_PER_POLL = 3.0
STOPPING = frozenset({"DEACTIVATING", "STOPPING", "DEPROVISIONING", "STOPPED"})


@dataclass
class Watched:
    run: Run
    polls: list[float]  # sim time of each watch poll's observation
    calls: list[str]  # operations between the deploy's UpdateService and the last watch poll
    update_at: float  # sim time of the deploy's UpdateService


def deploy_and_count(world: World, tag: str = "sha-0000002") -> Watched:
    """Deploy ``tag`` and cut the sandbox's call record at the watch's polls."""
    marks: list[tuple[Event, int]] = []
    run = world.deploy(tag, sink=lambda e: marks.append((e, len(world.sb.calls()))))
    calls = world.sb.calls()
    update = next(
        i for i in range(run.calls_before, len(calls)) if calls[i].operation == "UpdateService"
    )
    polls = [(e, n) for e, n in marks if e.kind == "observation" and e.message.startswith("poll")]
    assert polls, "the deploy never watched"
    return Watched(
        run,
        [e.at for e, _ in polls],
        [c.operation for c in calls[update + 1 : polls[-1][1]]],
        calls[update].sim_time,
    )


def test_healthy_deploy_stays_within_the_call_budget(world: World) -> None:
    """A healthy 2-task deploy costs at most BUDGET_PER_POLL calls per poll, on average."""
    w = deploy_and_count(world)
    assert w.run.outcome.verdict == "SUCCEEDED"
    ops = Counter(w.calls)
    polls = len(w.polls)
    assert polls >= 5  # a real watch, not a one-poll shortcut
    assert len(w.calls) / polls <= BUDGET_PER_POLL, ops
    # one DescribeServices per poll (plus the deploy's own read right after UpdateService)
    assert ops["DescribeServices"] <= polls + 1
    # the service-deployment ARN is looked up once, not listed every poll
    assert ops["ListServiceDeployments"] == 1
    assert ops["DescribeServiceDeployments"] < polls
    # tasks are listed on change only: far fewer listings than polls
    assert ops["ListTasks"] <= polls // 2, ops


def test_no_target_health_read_before_a_task_of_ours_runs(world: World) -> None:
    """DescribeTargetHealth waits until one of the new deployment's tasks is RUNNING."""
    marks: list[tuple[float, int]] = []
    run = world.deploy(sink=lambda e: marks.append((e.at, len(world.sb.calls()))))
    assert run.outcome.verdict == "SUCCEEDED"
    deployment = run.outcome.deployment_id
    first_running = min(
        e.time
        for e in world.sb.timeline("task.state")
        if e.detail.get("deployment") == deployment and e.detail.get("state") == "RUNNING"
    )
    calls = world.sb.calls()[run.calls_before :]
    health_reads = [c.sim_time for c in calls if c.operation == "DescribeTargetHealth"]
    assert health_reads, "target health was never read"
    assert min(health_reads) >= first_running


@pytest.mark.parametrize(
    ("effect", "options"),
    [("crash", {"after": 5.0, "exit_code": 1}), ("never_healthy", {})],
)
def test_rollback_call_within_one_poll_of_the_definitive_signal(
    world: World, effect: str, options: dict[str, float]
) -> None:
    """Reading less never delays detection: the rollback call follows the K-th failed new task
    (from the sandbox's timeline: ECS stopping it, or its target unhealthy once the grace
    period is over) within one jittered poll interval."""
    world.break_next(effect, **options)
    w = deploy_and_count(world)
    assert w.run.outcome.verdict == "FAILED_ROLLED_BACK"
    settings = world.settings()
    grace = world.ecs.describe_service(
        world.prov.cluster, world.prov.service
    ).health_check_grace_period
    ours: set[str] = set()
    running_at: dict[str, float] = {}
    failed_at: dict[str, float] = {}  # task -> first evidence that it failed
    for e in world.sb.timeline("task.state"):
        if e.detail.get("deployment") != w.run.outcome.deployment_id:
            continue
        task = str(e.detail["task"])
        ours.add(task)
        if e.detail.get("state") == "RUNNING":
            running_at.setdefault(task, e.time)
        if e.detail.get("state") in STOPPING:
            failed_at[task] = min(failed_at.get(task, e.time), e.time)
    for e in world.sb.timeline("target.health"):
        task = str(e.detail.get("task"))
        if task in ours and e.detail.get("state") == "unhealthy" and task in running_at:
            seen = max(e.time, running_at[task] + grace)
            failed_at[task] = min(failed_at.get(task, seen), seen)
    assert len(failed_at) >= settings.consecutive_failures
    signal = sorted(failed_at.values())[settings.consecutive_failures - 1]
    rollback = [
        c.sim_time
        for c in world.sb.calls("ecs")
        if c.operation in ("StopServiceDeployment", "UpdateService") and c.sim_time > w.update_at
    ]
    assert rollback, "no rollback call was sent"
    assert signal <= rollback[0] <= signal + settings.poll_interval * (1 + settings.jitter)
    # and the failing watch kept to its budget as well
    assert len(w.calls) / len(w.polls) <= FAILING_BUDGET_PER_POLL, Counter(w.calls)
