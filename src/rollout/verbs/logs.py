"""``rollout logs [--follow] [--revision N] [--task ID] [--since 10m]``: the service's container
logs from CloudWatch Logs, by revision and task, stopped tasks included.

Reads like a script: read the service (and, for ``--revision``, the tasks ECS still lists),
choose the streams (:func:`rollout.decisions.logsel.select_streams`), read them with
FilterLogEvents (every page), emit one ``log`` event per line; with ``--follow`` poll again every
``watch.poll_interval`` from the newest line seen until SIGINT/SIGTERM (exit 0: that is how a
follow ends). Read-only.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from rollout.context import Context
from rollout.decisions import ledger
from rollout.decisions.logsel import Selection, parse_since, select_streams
from rollout.engine.interrupt import Interrupt
from rollout.engine.outcome import Outcome
from rollout.errors import ConfigError, UsageError
from rollout.events import Event
from rollout.gateways.ecs import EcsGateway
from rollout.gateways.logs import LogsGateway
from rollout.model import LogEvent, Task
from rollout.verbs._ops import finish, revision_of_family, start


@dataclass(frozen=True)
class LogsOptions:
    env: str = "prod"
    follow: bool = False
    revision: int | None = None
    task: str | None = None  # a task id (or ARN)
    since: str = "1h"
    container: str | None = None  # default: the first essential container


def run(options: LogsOptions, ctx: Context, *, interrupt: Interrupt | None = None) -> Outcome:
    cfg = ctx.load_env(options.env)
    interrupt = interrupt or Interrupt()
    started = start(ctx, "logs", cfg)
    if options.task is not None and options.revision is not None:
        raise UsageError("failed to read logs: pass either --task or --revision, not both.")
    try:
        since = parse_since(options.since, ctx.clock.now())
    except ValueError as exc:
        raise UsageError(f"failed to read logs: {exc}.") from exc
    ecs = EcsGateway(ctx.factory)
    logs = LogsGateway(ctx.factory)
    svc = ecs.describe_service(cfg.cluster, cfg.service)
    current = svc.primary.task_definition if svc.primary is not None else svc.task_definition
    if options.revision is not None:
        td = revision_of_family(ecs, current, options.revision, "read logs")
        revision_arn: str | None = td.arn
    else:
        td = ecs.describe_task_definition(current)
        revision_arn = None
    task_id = options.task.rsplit("/", 1)[-1] if options.task else None

    def selection() -> Selection:
        tasks = _service_tasks(ecs, cfg.cluster, cfg.service, ledger.family_of(td.arn))
        try:
            chosen = select_streams(
                td.document,
                options.container,
                task_id=task_id,
                tasks=tasks if revision_arn else None,
                revision_arn=revision_arn,
            )
        except ValueError as exc:
            raise ConfigError(f"failed to read logs: {exc}.") from exc
        if chosen is None:
            raise ConfigError(
                f"failed to read logs: {td.family_revision} does not log with the awslogs driver "
                "and an awslogs-stream-prefix, so its streams cannot be found.",
                hint="Set logConfiguration.options.awslogs-stream-prefix in the template.",
            )
        return chosen

    chosen = selection()
    what = (
        f"task {task_id}"
        if task_id
        else f"revision {options.revision} ({len(chosen.streams)} tasks)"
        if revision_arn
        else "every task"
    )
    ctx.emit(
        Event(
            "logs.selected",
            ctx.clock.now(),
            f"logs of {what} in {chosen.group} since {options.since}"
            + (" (following; Ctrl-C ends)" if options.follow else ""),
            data={
                "group": chosen.group,
                "streams": list(chosen.streams),
                "prefix": chosen.prefix,
                "since": since,
            },
        )
    )
    seen: dict[str, float] = {}  # event key → timestamp, for the lines at the newest time
    lines = 0
    newest = since
    while True:
        for e in _read(logs, chosen, newest):
            key = e.event_id or f"{e.stream}|{e.at}|{e.message}"
            if key in seen:
                continue
            seen[key] = e.at
            newest = max(newest, e.at)
            lines += 1
            tid = e.stream.rsplit("/", 1)[-1]
            # the event is when rollout read the line (so offsets stay in order); the line's own
            # time leads the message and is ``timestamp`` in the data
            ctx.emit(
                Event(
                    "log",
                    ctx.clock.now(),
                    f"{_utc(e.at)} [{tid[:12]}] {e.message}",
                    data={"task": tid, "stream": e.stream, "timestamp": e.at, "line": e.message},
                )
            )
        if not options.follow or interrupt.is_set():
            break
        # the next read starts at the newest timestamp (inclusive): only its lines can repeat
        seen = {k: at for k, at in seen.items() if at >= newest}
        interrupt.sleep(ctx.clock, cfg.watch.poll_interval)
        if interrupt.is_set():
            break
        if revision_arn:  # new tasks of the revision start writing: look again
            chosen = selection()
    return finish(ctx, started, message=f"{lines} log lines")


def _utc(at: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(at)) + f".{int(at * 1000) % 1000:03d}Z"


def _read(logs: LogsGateway, chosen: Selection, start: float) -> list[LogEvent]:
    if not chosen.streams and chosen.prefix is None:
        return []  # --revision with no task ECS still knows: nothing to read
    return sorted(
        logs.filter_events(
            chosen.group,
            streams=chosen.streams,
            stream_prefix=chosen.prefix,
            start=start,
            region=chosen.region,
        ),
        key=lambda e: (e.at, e.stream),
    )


def _service_tasks(ecs: EcsGateway, cluster: str, service: str, family: str) -> list[Task]:
    """The service's tasks ECS still lists: running, and stopped (kept at least an hour)."""
    arns: list[str] = []
    for status in ("RUNNING", "STOPPED"):
        arns.extend(ecs.list_tasks(cluster, service=service, desired_status=status))
    tasks = ecs.describe_tasks(cluster, arns) if arns else []
    return [t for t in tasks if ledger.family_of(t.task_definition) == family]
