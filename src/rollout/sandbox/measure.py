"""Measurement: what a deploy did to users, read from the sandbox's own record.

The one place where timelines (and, later, traffic results) become the numbers the demo and
``bench/`` report. Read-only: it never changes the sandbox's state, and it knows nothing of the
tool under test (no engine, verbs or decisions), so a deploy by rollout and a deploy by any
other client are judged by the same rules.

Moments, in simulated seconds (the sandbox clock):

- **restored** (:func:`restore_of`): PRIMARY is a good revision again, the good revision has
  ``desired`` healthy targets in every target group of the service, and no task of the bad
  revision has a target that gets new requests (``healthy`` or ``initial``; draining targets
  get none). "Good" is any revision other than the bad deployment's task definition. The moment
  is the start of the last stretch where this holds (a restore that is lost again does not
  count). Without load balancers, healthy targets are read as RUNNING tasks.
- **zero healthy** (:attr:`Restore.zero_healthy_seconds`): the time, from the bad deployment's
  creation to the end of the window, during which some target group of the service had no
  healthy target at all (users then get the ALB's fail-open routing to unhealthy targets, or
  503s). It is reported beside the restore moment, never folded into it.
- **steady** (:func:`steady_at`): another deployment than the bad one COMPLETED as PRIMARY.
- **definitive signal** (:func:`definitive_signal`): when the bad release's failure became
  certain (a deterministic stop at once, otherwise the k-th failed task).

Traffic: :class:`SecondCount` is one second of a traffic run (requests, failures by kind), on
the sandbox clock; :func:`tally` and :func:`failures_by_phase` fold a run into the restore
moments, so a traffic generator's per-second results can be judged against the same record.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from rollout.errors import TimedOut

if TYPE_CHECKING:
    from rollout.sandbox import Sandbox
    from rollout.sandbox.recorder import RecordedCall

#: Target states the ALB sends new requests to (draining, unhealthy and unused get none).
SERVING_STATES = frozenset({"healthy", "initial"})
#: The stop codes that make a release's failure definitive at their first occurrence.
DETERMINISTIC_STOP_CODES = frozenset({"TaskFailedToStart"})
#: DescribeTasks takes at most this many ARNs per call (AWS's limit).
DESCRIBE_TASKS_BATCH = 100
#: Task states in which a task without load balancers serves (for target-less services).
_RUNNING = "RUNNING"


class Entry(Protocol):
    """A timeline entry (``rollout.sandbox.ecs.state.TimelineEntry`` has this shape)."""

    @property
    def time(self) -> float: ...

    @property
    def kind(self) -> str: ...

    @property
    def detail(self) -> Mapping[str, Any]: ...


# -- restore moments ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Restore:
    """How one bad (or good) deployment went for users; times are absolute sandbox seconds."""

    service: str
    deployment: str
    task_definition: str
    #: The deployment's creation (UpdateService, as the sandbox recorded it).
    update_at: float
    #: The window's end: what the measure saw (``until`` or the sandbox's now).
    end: float
    #: Start of the final stretch in which the service was restored (see the module docstring);
    #: None if it was not restored by ``end``.
    restored_at: float | None
    #: Spans [start, end) in which some target group of the service had no healthy target.
    zero_healthy: tuple[tuple[float, float], ...] = ()

    @property
    def restored_after(self) -> float | None:
        return None if self.restored_at is None else self.restored_at - self.update_at

    @property
    def zero_healthy_seconds(self) -> float:
        return sum(end - start for start, end in self.zero_healthy)


@dataclass
class _Replay:
    """The service as the timeline tells it, replayed entry by entry."""

    service: str
    bad_td: str
    td_of: dict[str, str]
    primary: str | None = None
    deployment_of_task: dict[str, str] = field(default_factory=dict)
    target: dict[tuple[str, str], str] = field(default_factory=dict)
    state: dict[str, str] = field(default_factory=dict)
    groups: set[str] = field(default_factory=set)

    def feed(self, entry: Entry) -> None:
        d = entry.detail
        kind = entry.kind
        if kind == "task.state":
            if d.get("service") != self.service:
                return
            task = str(d.get("task"))
            if d.get("deployment"):
                self.deployment_of_task[task] = str(d.get("deployment"))
            self.state[task] = str(d.get("state"))
        elif kind == "target.health":
            task = str(d.get("task"))
            if task not in self.deployment_of_task:
                return
            group = str(d.get("target_group"))
            self.groups.add(group)
            self.target[(task, group)] = str(d.get("state"))
        elif kind == "deployment.created":
            if d.get("service") == self.service:
                self.primary = str(d.get("deployment"))
        elif (
            kind == "deployment.state"
            and d.get("service") == self.service
            and d.get("status") == "PRIMARY"
        ):
            self.primary = str(d.get("deployment"))

    def is_bad(self, task: str) -> bool:
        deployment = self.deployment_of_task.get(task, "")
        return self.td_of.get(deployment) == self.bad_td

    def healthy_by_group(self) -> dict[str, tuple[int, int]]:
        """Per target group: (healthy targets of good tasks, healthy targets of all tasks)."""
        counts = {group: [0, 0] for group in self.groups}
        for (task, group), state in self.target.items():
            if state == "healthy":
                counts[group][1] += 1
                if not self.is_bad(task):
                    counts[group][0] += 1
        return {group: (good, total) for group, (good, total) in counts.items()}

    def restored(self, desired: int) -> bool:
        if self.primary is None or self.td_of.get(self.primary) == self.bad_td:
            return False
        if not self.groups:  # no load balancer: RUNNING tasks are what serves
            good = sum(1 for t, s in self.state.items() if s == _RUNNING and not self.is_bad(t))
            bad = any(s == _RUNNING and self.is_bad(t) for t, s in self.state.items())
            return good >= desired and not bad
        if any(
            state in SERVING_STATES and self.is_bad(task)
            for (task, _), state in self.target.items()
        ):
            return False
        return all(good >= desired for good, _ in self.healthy_by_group().values())

    def zero_healthy(self) -> bool:
        return any(total == 0 for _, total in self.healthy_by_group().values())


def restore_of(
    entries: Sequence[Entry],
    *,
    desired: int,
    since: float,
    until: float | None = None,
    end: float | None = None,
    service: str | None = None,
) -> Restore | None:
    """The first deployment created at or after ``since`` (of ``service`` if given), judged
    from ``entries`` up to ``until`` (exclusive): see the module docstring.

    ``end`` closes the window for the zero-healthy spans (default: ``until``, else the last
    entry's time). None when no deployment was created in the window.
    """
    stop = until if until is not None else float("inf")
    created = next(
        (
            e
            for e in entries
            if e.kind == "deployment.created"
            and since <= e.time < stop
            and (service is None or e.detail.get("service") == service)
        ),
        None,
    )
    if created is None:
        return None
    svc = str(created.detail.get("service"))
    bad = str(created.detail.get("deployment"))
    td_of = {
        str(e.detail.get("deployment")): str(e.detail.get("task_definition"))
        for e in entries
        if e.kind == "deployment.created" and e.detail.get("service") == svc
    }
    replay = _Replay(svc, td_of[bad], td_of)
    window_end = end if end is not None else until
    if window_end is None:
        window_end = max((e.time for e in entries), default=created.time)
    restored_at: float | None = None
    spans: list[tuple[float, float]] = []
    zero_since: float | None = None
    for at, batch in _instants(e for e in entries if e.time < stop):
        for entry in batch:
            replay.feed(entry)
        if at < created.time:
            continue
        # judge once per instant: same-time entries are one change (e.g. drain + register)
        if replay.restored(desired):
            restored_at = at if restored_at is None else restored_at
        else:
            restored_at = None
        zero = replay.zero_healthy()
        if zero and zero_since is None:
            zero_since = at
        elif not zero and zero_since is not None:
            spans.append((zero_since, at))
            zero_since = None
    if zero_since is not None and window_end > zero_since:
        spans.append((zero_since, window_end))
    return Restore(
        service=svc,
        deployment=bad,
        task_definition=td_of[bad],
        update_at=created.time,
        end=window_end,
        restored_at=restored_at,
        zero_healthy=tuple(spans),
    )


def _instants(entries: Iterable[Entry]) -> Iterator[tuple[float, list[Entry]]]:
    """Entries grouped by time, in order."""
    batch: list[Entry] = []
    at: float | None = None
    for entry in entries:
        if at is not None and entry.time != at:
            yield at, batch
            batch = []
        at = entry.time
        batch.append(entry)
    if at is not None:
        yield at, batch


def restore(
    sb: Sandbox,
    cluster: str,
    service: str,
    since: float,
    until: float | None = None,
) -> Restore | None:
    """:func:`restore_of` on ``sb``'s timeline, with the service's desired count read now
    (not an API call: not recorded) and the window ending at ``until`` or the sandbox's now."""
    doc = sb.describe_service(cluster, service)
    desired = int((doc or {}).get("desiredCount", 0))
    end = until if until is not None else sb.clock.now()
    return restore_of(
        sb.timeline(), desired=desired, since=since, until=until, end=end, service=service
    )


def steady_at(entries: Iterable[Entry], bad_deployment: str, since: float) -> float | None:
    """When another deployment than ``bad_deployment`` completed as PRIMARY after ``since``.

    That is the service back, steady, on a good revision: ECS's rollback (the old deployment
    made PRIMARY again) or a new deployment of the old revision both end this way.
    """
    for entry in entries:
        d = entry.detail
        if (
            entry.kind == "deployment.state"
            and entry.time > since
            and d.get("rollout_state") == "COMPLETED"
            and d.get("status") == "PRIMARY"
            and d.get("deployment") != bad_deployment
        ):
            return float(entry.time)
    return None


def advance_until_steady(
    sb: Sandbox, bad_deployment: str, since: float, *, timeout: float = 3600.0
) -> float | None:
    """Let the sandbox run (no API calls) until the service is back, steady; when it was."""
    try:
        return sb.advance_until(
            lambda: steady_at(sb.timeline("deployment.state"), bad_deployment, since),
            timeout=timeout,
            step=5.0,
        )
    except TimedOut:  # the service never came back: report "never"
        return None


def deployment_of(entries: Iterable[Entry], task_definition: str, since: float) -> str | None:
    """The id of the ECS deployment created for ``task_definition`` at or after ``since``."""
    return next(
        (
            str(e.detail.get("deployment"))
            for e in entries
            if e.kind == "deployment.created"
            and e.time >= since
            and e.detail.get("task_definition") == task_definition
        ),
        None,
    )


# -- recorded calls ------------------------------------------------------------------------------


def first_update_call(calls: Iterable[RecordedCall], since: float) -> float | None:
    """When the first ``UpdateService`` at or after ``since`` arrived."""
    return next(
        (
            c.sim_time
            for c in calls
            if c.service == "ecs" and c.operation == "UpdateService" and c.sim_time >= since
        ),
        None,
    )


def rollback_call(calls: Iterable[RecordedCall], after: float) -> float | None:
    """The first write that rolls back: StopServiceDeployment at or after ``after``, or an
    ``UpdateService`` after it (the deploy's own UpdateService is at ``after``)."""
    for c in calls:
        if c.service != "ecs" or c.sim_time < after:
            continue
        if c.operation == "StopServiceDeployment" or (
            c.operation == "UpdateService" and c.sim_time > after
        ):
            return c.sim_time
    return None


# -- the definitive failure signal ----------------------------------------------------------------


def task_documents(ecs: Any, cluster: str, family: str) -> list[dict[str, Any]]:
    """Every task of ``family`` in ``cluster``, stopped or not, as DescribeTasks shows them.

    ``ecs`` is a boto3 ECS client; ListTasks is read through its paginator (every page) and
    DescribeTasks is called with at most 100 ARNs at a time (AWS's limit).
    """
    arns: list[str] = []
    for desired in ("STOPPED", "RUNNING"):
        pages = ecs.get_paginator("list_tasks").paginate(
            cluster=cluster, family=family, desiredStatus=desired
        )
        for page in pages:
            arns += page.get("taskArns", [])
    tasks: list[dict[str, Any]] = []
    for start in range(0, len(arns), DESCRIBE_TASKS_BATCH):
        batch = arns[start : start + DESCRIBE_TASKS_BATCH]
        tasks += ecs.describe_tasks(cluster=cluster, tasks=batch).get("tasks", [])
    return tasks


def failure_signal(
    tasks: Iterable[Mapping[str, Any]],
    entries: Iterable[Entry],
    *,
    task_definition: str,
    grace: float,
    k: int = 2,
) -> float | None:
    """When the release's failure became definitive (pure: tasks as DescribeTasks shows them).

    A deterministic stop (``TaskFailedToStart``: image pull, secrets) is definitive at once;
    other failures at the ``k``-th failed task of the release. A task has failed when ECS
    begins stopping it for a failure (its ``stoppingAt``: an essential container exited, checks
    failed) or when its load-balancer target is ``unhealthy`` once the service's grace period
    is over (the target-health timeline), whichever comes first.
    """
    unhealthy: dict[str, float] = {}
    for entry in entries:
        if entry.kind == "target.health" and entry.detail.get("state") == "unhealthy":
            unhealthy.setdefault(str(entry.detail.get("task")), entry.time)
    deterministic: list[float] = []
    failed: list[float] = []
    for task in tasks:
        if task.get("taskDefinitionArn") != task_definition:
            continue
        task_id = str(task["taskArn"]).rsplit("/", 1)[-1]
        stopping = task.get("stoppingAt")
        if stopping is not None and task.get("stopCode") in DETERMINISTIC_STOP_CODES:
            deterministic.append(_seconds(stopping))
            continue
        evidence: list[float] = []
        reason = str(task.get("stoppedReason") or "")
        if (
            stopping is not None
            and task.get("stopCode") != "UserInitiated"
            and not reason.startswith("Scaling activity")
        ):
            evidence.append(_seconds(stopping))
        if task_id in unhealthy and task.get("startedAt") is not None:
            evidence.append(max(unhealthy[task_id], _seconds(task["startedAt"]) + grace))
        if evidence:
            failed.append(min(evidence))
    if deterministic:
        return min(deterministic)
    failed.sort()
    return failed[k - 1] if len(failed) >= k else None


def _seconds(value: Any) -> float:
    """A DescribeTasks timestamp (boto3 gives datetimes) as epoch seconds."""
    timestamp = getattr(value, "timestamp", None)
    return float(timestamp()) if callable(timestamp) else float(value)


def definitive_signal(
    sb: Sandbox, cluster: str, service: str, task_definition: str, *, k: int = 2
) -> float | None:
    """:func:`failure_signal` for ``task_definition`` on ``sb``, read through the ECS API
    (paged and batched: any number of tasks) and the sandbox's timeline."""
    family = task_definition.rsplit("/", 1)[-1].split(":")[0]
    ecs = sb.client_factory().client("ecs")
    tasks = task_documents(ecs, cluster, family)
    doc = sb.describe_service(cluster, service) or {}
    grace = float(doc.get("healthCheckGracePeriodSeconds", 0) or 0)
    return failure_signal(
        tasks, sb.timeline("target.health"), task_definition=task_definition, grace=grace, k=k
    )


# -- traffic ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SecondCount:
    """One second of a traffic run: requests sent in [at, at + 1) and failures by kind
    (``target_5xx``, ``elb_502``, ``elb_503``, ``elb_504``, ``connection``, ``timeout``...).
    ``at`` is on the sandbox clock: a caller with wall-clock results shifts them first."""

    at: float
    requests: int
    failures: Mapping[str, int] = field(default_factory=dict)

    @property
    def failed(self) -> int:
        return sum(self.failures.values())


@dataclass(frozen=True)
class Tally:
    """Requests and failures over some seconds of a traffic run."""

    requests: int = 0
    failed: int = 0
    failures: Mapping[str, int] = field(default_factory=dict)

    def __add__(self, other: Tally) -> Tally:
        kinds = dict(self.failures)
        for kind, n in other.failures.items():
            kinds[kind] = kinds.get(kind, 0) + n
        return Tally(self.requests + other.requests, self.failed + other.failed, kinds)


def tally(
    seconds: Iterable[SecondCount], start: float = float("-inf"), end: float = float("inf")
) -> Tally:
    """The seconds that began in [start, end), added up."""
    total = Tally()
    for s in seconds:
        if start <= s.at < end:
            total = total + Tally(s.requests, s.failed, dict(s.failures))
    return total


def failures_by_phase(seconds: Sequence[SecondCount], moment: Restore) -> dict[str, Tally]:
    """A traffic run folded into one deployment's moments:

    - ``before``: before the deployment was created;
    - ``until_restored``: from its creation to the restore (to the window's end if never);
    - ``after_restored``: from the restore on (empty if never restored);
    - ``zero_healthy``: inside the spans with no healthy target (overlaps the others).
    """
    restored = moment.restored_at if moment.restored_at is not None else float("inf")
    zero = Tally()
    for start, end in moment.zero_healthy:
        zero = zero + tally(seconds, start, end)
    return {
        "before": tally(seconds, end=moment.update_at),
        "until_restored": tally(seconds, moment.update_at, restored),
        "after_restored": tally(seconds, restored),
        "zero_healthy": zero,
    }


__all__ = [
    "DESCRIBE_TASKS_BATCH",
    "DETERMINISTIC_STOP_CODES",
    "SERVING_STATES",
    "Restore",
    "SecondCount",
    "Tally",
    "advance_until_steady",
    "definitive_signal",
    "deployment_of",
    "failure_signal",
    "failures_by_phase",
    "first_update_call",
    "restore",
    "restore_of",
    "rollback_call",
    "steady_at",
    "tally",
    "task_documents",
]
