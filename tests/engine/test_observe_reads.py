"""Which task listings a poll makes, decided from the poll's DescribeServices answer."""

from __future__ import annotations

from dataclasses import replace

import pytest

from rollout.engine.observe import STOPPED_SAFETY_NET, TaskReads, plan_task_reads
from rollout.model import Deployment

from .builders import dep

OURS = dep("ecs-svc/2", 2, state="IN_PROGRESS", running=0, pending=0)
PENDING = replace(OURS, pending=2)
ONE_UP = replace(OURS, pending=1, running=1)
RUNNING = replace(OURS, running=2)
FAILED_ONE = replace(OURS, pending=2, failed_tasks=1)  # a task failed and was replaced
OLD_TASK = "(service voj-api) has stopped 1 running tasks: (task 0ld0000000000000)."
OUR_TASK = "(service voj-api) has stopped 1 running tasks: (task 0ur0000000000000)."
UNHEALTHY = (
    "(service voj-api) (task 0ur0000000000000) (port 8000) is unhealthy in "
    "(target-group arn:aws:elasticloadbalancing:tg/voj) due to (reason Health checks failed)."
)
STARTED = "(service voj-api) has started 1 tasks: (task n3w0000000000000)."
DRAINING = "(service voj-api, taskSet ecs-svc/1) has begun draining connections on 1 tasks."
NONE = TaskReads(running=False, stopped=False)
RUNNING_ONLY = TaskReads(running=True, stopped=False)
BOTH = TaskReads(running=True, stopped=True)
STOPPED_ONLY = TaskReads(running=False, stopped=True)


@pytest.mark.parametrize(
    ("before", "now", "kw", "expected"),
    [
        # first poll: our tasks are listed once; nothing can have stopped without a failure
        (None, OURS, {"first": True}, RUNNING_ONLY),
        (None, FAILED_ONE, {"first": True}, BOTH),
        # nothing changed in DescribeServices: no task call at all
        (RUNNING, RUNNING, {}, NONE),
        (PENDING, PENDING, {"events": [DRAINING, OLD_TASK]}, NONE),
        # growth: list the running tasks, no reason to look at stopped ones
        (OURS, PENDING, {}, RUNNING_ONLY),
        (PENDING, ONE_UP, {}, RUNNING_ONLY),
        (PENDING, PENDING, {"events": [STARTED]}, RUNNING_ONLY),
        (RUNNING, RUNNING, {"layout_changed": True}, RUNNING_ONLY),
        # a stop shows as fewer running + pending, or a failure counted, or an event about ours
        (RUNNING, replace(RUNNING, running=1), {}, BOTH),
        (PENDING, FAILED_ONE, {}, BOTH),
        (RUNNING, RUNNING, {"events": [OUR_TASK], "known": {"0ur0000000000000"}}, BOTH),
        (RUNNING, RUNNING, {"events": [UNHEALTHY]}, BOTH),
        # a breaker reset (failedTasks back to 0) is a change, not a stop
        (FAILED_ONE, replace(FAILED_ONE, failed_tasks=0), {}, RUNNING_ONLY),
        # our deployment left the list: look at everything
        (RUNNING, None, {}, BOTH),
        # a stopped task with no reason yet is looked at again; the safety net bounds the gap
        (RUNNING, RUNNING, {"stops_unresolved": True}, STOPPED_ONLY),
        (RUNNING, RUNNING, {"stopped_read_ago": STOPPED_SAFETY_NET}, STOPPED_ONLY),
        (RUNNING, RUNNING, {"stopped_read_ago": STOPPED_SAFETY_NET - 1}, NONE),
    ],
)
def test_plan_task_reads(
    before: Deployment | None, now: Deployment | None, kw: dict[str, object], expected: TaskReads
) -> None:
    """Tasks are listed only on a DescribeServices change; STOPPED ones only on a possible stop."""
    args: dict[str, object] = {
        "first": False,
        "layout_changed": False,
        "events": [],
        "known": set(),
        "stopped_read_ago": 5.0,
    } | kw
    assert plan_task_reads(before, now, **args) == expected
