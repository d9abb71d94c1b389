"""``rollout logs`` on the virtual-clock voj sandbox.

The simulated runtime writes no container logs, so each test writes lines to the awslogs streams
(``api/api/<task id>`` in the task definition's group) of tasks the sandbox really runs or ran,
stamped with the real time (moto rejects events more than 14 days older than the real clock).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest

from engine.scenario import World, passing_probe
from rollout.decisions.logsel import parse_since
from rollout.decisions.oneoff import awslogs_stream
from rollout.engine.interrupt import Interrupt
from rollout.errors import UsageError
from rollout.events import Event
from rollout.verbs import logs as logs_verb


def write(world: World, task_id: str, *lines: str, at: float | None = None) -> None:
    """Write ``lines`` where the awslogs driver would: the service's task definition's group,
    stream ``prefix/container/task-id``."""
    svc = world.ecs.describe_service(world.prov.cluster, world.prov.service)
    where = awslogs_stream(
        world.ecs.describe_task_definition(svc.task_definition).document,
        world.prov.container,
        task_id,
    )
    assert where is not None
    group, stream = where.group, where.stream
    logs = world.sb.client_factory().client("logs")
    if not logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"]:
        logs.create_log_group(logGroupName=group)
    if not logs.describe_log_streams(logGroupName=group, logStreamNamePrefix=stream)["logStreams"]:
        logs.create_log_stream(logGroupName=group, logStreamName=stream)
    ms = int((at if at is not None else time.time()) * 1000)
    logs.put_log_events(
        logGroupName=group,
        logStreamName=stream,
        logEvents=[{"timestamp": ms + i, "message": line} for i, line in enumerate(lines)],
    )


def running_ids(world: World) -> list[str]:
    arns = world.ecs.list_tasks(world.prov.cluster, service=world.prov.service)
    return [a.rsplit("/", 1)[-1] for a in arns]


def read(world: World, **kw: object) -> tuple[list[Event], int]:
    ctx, log = world.context()
    outcome = logs_verb.run(logs_verb.LogsOptions(env="prod", **kw), ctx)  # type: ignore[arg-type]
    return [e for e in log.events if e.kind == "log"], outcome.exit_code


def test_logs_of_every_task_and_of_one_task(world: World) -> None:
    """Without filters every task's lines come, oldest first; --task reads one task's stream."""
    a, b = running_ids(world)[:2]
    now = time.time()
    write(world, a, "a-1", at=now - 5)
    write(world, b, "b-1", at=now - 4)
    write(world, a, "a-2", at=now - 3)
    lines, code = read(world)
    assert code == 0
    mine = [e.data["line"] for e in lines if e.data["task"] in (a, b)]
    assert mine[-3:] == ["a-1", "b-1", "a-2"]
    lines, _ = read(world, task=a)
    assert [e.data["line"] for e in lines] == ["a-1", "a-2"]
    assert {e.data["task"] for e in lines} == {a}


def test_logs_by_revision_include_stopped_tasks(world: World) -> None:
    """--revision N shows the lines of N's tasks, including ones that stopped since (a deploy
    replaced them), and not those of other revisions."""
    old_rev = world.current_revision()
    old_ids = running_ids(world)
    write(world, old_ids[0], "old revision speaking")
    run = world.deploy("sha-0000002", prober=passing_probe)
    assert run.outcome.exit_code == 0
    new_ids = running_ids(world)
    assert not set(new_ids) & set(old_ids)
    write(world, new_ids[0], "new revision speaking")
    lines, _ = read(world, revision=old_rev)
    assert "old revision speaking" in [e.data["line"] for e in lines]
    assert "new revision speaking" not in [e.data["line"] for e in lines]
    lines, _ = read(world, revision=world.current_revision())
    assert [e.data["line"] for e in lines] == ["new revision speaking"]


def test_logs_since_leaves_out_older_lines(world: World) -> None:
    """--since (an ISO time here) leaves out older lines."""
    task = running_ids(world)[0]
    now = time.time()
    write(world, task, "two hours ago", at=now - 7200)
    write(world, task, "just now", at=now)
    since = datetime.fromtimestamp(now - 1800, UTC).isoformat()
    lines, _ = read(world, task=task, since=since)
    got = [e.data["line"] for e in lines]
    assert "just now" in got
    assert "two hours ago" not in got


def test_logs_follow_reads_new_lines_until_interrupted(world: World) -> None:
    """--follow picks up lines written after it started, each once, and ends with exit 0 on
    SIGINT."""
    task = running_ids(world)[0]
    write(world, task, "before follow")
    interrupt = Interrupt()
    written = []

    def hook(event: Event) -> None:
        if event.kind != "log":
            return
        if event.data["line"] == "before follow" and not written:
            written.append(1)
            write(world, task, "while following")
        elif event.data["line"] == "while following":
            interrupt.set("SIGINT")

    ctx, log = world.context(sink=hook)
    outcome = logs_verb.run(
        logs_verb.LogsOptions(env="prod", task=task, follow=True), ctx, interrupt=interrupt
    )
    assert outcome.exit_code == 0
    lines = [e.data["line"] for e in log.events if e.kind == "log"]
    assert [x for x in lines if "follow" in x] == ["before follow", "while following"]


def test_logs_rejects_task_and_revision_together(world: World) -> None:
    """--task and --revision together are a usage error before any read."""
    ctx, _ = world.context()
    with pytest.raises(UsageError):
        logs_verb.run(logs_verb.LogsOptions(env="prod", task="x", revision=1), ctx)


SINCE = [
    ("10m", 1000.0 - 600),
    ("90s", 1000.0 - 90),
    ("2h", 1000.0 - 7200),
    ("1d", 1000.0 - 86400),
    ("30", 1000.0 - 30),
    ("1970-01-01T00:10:00Z", 600.0),
    ("1970-01-01T00:10:00", 600.0),
    ("1970-01-01T01:10:00+01:00", 600.0),
]


@pytest.mark.parametrize(("text", "expected"), SINCE)
def test_parse_since(text: str, expected: float) -> None:
    """Durations count back from now; ISO times are absolute (UTC without a zone)."""
    assert parse_since(text, 1000.0) == pytest.approx(expected)


@pytest.mark.parametrize("text", ["ten minutes", "10x", "-5m", ""])
def test_parse_since_rejects_the_rest(text: str) -> None:
    """Anything else is an error naming the accepted forms."""
    with pytest.raises(ValueError, match="duration"):
        parse_since(text, 1000.0)


def test_logs_of_a_revision_that_does_not_exist_names_it(world: World) -> None:
    """`logs --revision 99`: a usage error naming the revision and family (it was ECS's
    "ClientException: Unable to describe task definition. Check the name, region...", exit 1).
    `run --revision 99` shared the cause (tests/verbs/test_run.py)."""
    with pytest.raises(UsageError, match=r"revision 99 of voj-backend-prod does not exist"):
        read(world, revision=99)
