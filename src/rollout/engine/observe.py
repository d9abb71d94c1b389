"""Reading the world once per poll: the service, our tasks, target health, service deployments.

A poll always reads ``DescribeServices``; everything else is read only when that answer says it
could have changed (see :meth:`Observer.watch_tasks` and :meth:`Observer.service_deployment`):

- ``ListTasks`` (our deployment's RUNNING tasks) when our deployment's counts (running, pending,
  failedTasks), state or ``updatedAt`` changed, the deployment list changed, or a new service
  event says a task started; ``DescribeTasks`` only for task ARNs not seen before (or not yet
  RUNNING with an IP).
- ``ListTasks`` (our deployment's STOPPED tasks) when one of ours may have stopped: failedTasks
  went up, running + pending went down, a task we knew left the RUNNING list, a new event says a
  task of ours stopped or failed a health check, a stopped task had no reason yet, or 60 s passed
  without a look (a safety net); ``DescribeTasks`` only for stopped ARNs not seen before.
- ``DescribeTargetHealth`` per target group while at least one of the tasks we judge is RUNNING
  (before that there is nothing of ours in the target groups to judge).
- ``ListServiceDeployments`` once, to find our service deployment's ARN (kept for
  ``StopServiceDeployment``), then ``DescribeServiceDeployments`` only when our deployment's
  status or rollout state, or the deployment list, changes.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass

from rollout.decisions.failures import FailureKind, classify_stop
from rollout.engine.session import Session
from rollout.errors import AwsError, CredentialsError
from rollout.model import Deployment, Service, ServiceDeploymentInfo, TargetHealth, Task

#: the longest a watch goes without reading our deployment's STOPPED tasks (a safety net under
#: the DescribeServices-driven rules; they should already have caught every stop)
STOPPED_SAFETY_NET = 60.0
#: service events that say a task may have stopped (ids checked where the event names them)
_STOP_EVENT = re.compile(
    r"is unhealthy in|failed container health checks|unable to consistently start|"
    r"failed to start|has stopped"
)
_TASK_ID = re.compile(r"\(task ([0-9a-zA-Z-]+)\)")


def _structure_mark(svc: Service, deployment_id: str) -> tuple[object, ...]:
    """The deployment list and our deployment's status/state: what the breaker would change."""
    d = svc.deployment(deployment_id)
    return (
        tuple((x.id, x.status) for x in svc.deployments),
        (d.status, d.rollout_state) if d is not None else None,
    )


def _all_mark(svc: Service) -> tuple[object, ...]:
    return tuple(
        (d.id, d.status, d.rollout_state, d.running, d.pending, d.failed_tasks, d.updated_at)
        for d in svc.deployments
    )


@dataclass(frozen=True)
class HealthCount:
    healthy: frozenset[str]  # task ARNs passing every check
    counts: dict[str, int]  # target states of these tasks: healthy/unhealthy/initial/draining
    #: RUNNING tasks failing a check now: (task, why, which check)
    failing: tuple[tuple[Task, str, FailureKind], ...] = ()
    #: task ARNs that can receive traffic: registered in a target group and not draining
    #: (healthy, unhealthy or initial), or, without a load balancer, RUNNING
    serving: frozenset[str] = frozenset()


@dataclass(frozen=True)
class TaskReads:
    """What one poll reads about our deployment's tasks, beyond DescribeServices."""

    running: bool  # ListTasks(startedBy=ours, RUNNING) + DescribeTasks for new ARNs
    stopped: bool  # ListTasks(startedBy=ours, STOPPED) + DescribeTasks for new ARNs


def plan_task_reads(
    before: Deployment | None,
    now: Deployment | None,
    *,
    first: bool,
    layout_changed: bool,
    events: Sequence[str],
    known: Collection[str],
    stopped_read_ago: float,
    stops_unresolved: bool = False,
) -> TaskReads:
    """Which task listings this poll needs, from what DescribeServices just said.

    ``before``/``now``: our deployment in the previous and this poll's DescribeServices (None:
    not listed); ``first``: this is the watch's first poll; ``layout_changed``: the deployment
    list (ids, statuses) changed; ``events``: messages of the service events new this poll;
    ``known``: ids of our RUNNING-desired tasks at the last listing; ``stopped_read_ago``:
    seconds since the STOPPED tasks were last listed; ``stops_unresolved``: that listing found
    a stopped task without a reason yet.

    A task of ours that stops moves our deployment's counts (running or pending down), or is
    replaced within the poll (failedTasks up, a "has started" event), so these rules catch it
    in the poll where DescribeServices first shows it; :data:`STOPPED_SAFETY_NET` bounds the
    rest.
    """
    stop = now is None or any(_stop_event(m, known) for m in events)
    if now is not None:
        if before is None:
            stop = stop or now.failed_tasks > 0
        else:
            stop = stop or (
                now.failed_tasks > before.failed_tasks
                or now.running + now.pending < before.running + before.pending
            )
    running = (
        first or layout_changed or stop or now != before or any("has started" in m for m in events)
    )
    # a stopped task still without a reason, or the safety net: STOPPED tasks only
    stopped = stop or stops_unresolved or stopped_read_ago >= STOPPED_SAFETY_NET
    return TaskReads(running=running, stopped=stopped)


def _stop_event(message: str, known: Collection[str]) -> bool:
    """Does a new service event say that a task of ours may have stopped?"""
    if not _STOP_EVENT.search(message):
        return False
    if "has stopped" in message:
        # scale-in of the old deployment names tasks that are not ours
        return any(task_id in known for task_id in _TASK_ID.findall(message))
    return True


class Observer:
    def __init__(
        self, session: Session, *, since: float, events_since: float | None = None
    ) -> None:
        self.s = session
        self.since = since  # local clock
        #: service events older than this are history; ideally our deployment's ``createdAt``,
        #: which comes from AWS's clock like the events' own timestamps (no client clock skew).
        #: Without it, ``since`` moved onto ECS's clock at the first read (see :meth:`ecs_now`).
        self._events_since = events_since
        #: ECS's clock minus ours, a lower bound from the freshest ECS timestamp seen
        self._skew: float | None = None
        #: stopped tasks that stopped before this (ECS's clock) are kept but not reported
        self.quiet_stops_before: float | None = None
        self._seen_events: set[str] = set()
        self._first_read = True
        self.tasks: dict[str, Task] = {}
        self.stopped: dict[str, Task] = {}
        self._target_state: dict[tuple[str, str], str] = {}
        self._sd_arn: str | None = None
        self._sd_api = True
        self._sd_misses = 0
        self._sd_last: ServiceDeploymentInfo | None = None
        self._sd_mark: tuple[object, ...] | None = None
        self.fresh_events: list[str] = []  # messages of the events new in the last service()
        # change-driven task reads (watch_tasks)
        self._ours: list[Task] = []
        self._layout: tuple[tuple[str, str], ...] | None = None
        self._ours_deployment: Deployment | None = None
        self._stopped_read_at = since  # the safety net counts from the start of the watch
        self._stops_unresolved = False
        # running(): the last listing and what DescribeServices said when it was made
        self._listing: tuple[tuple[object, ...], list[str]] | None = None

    # -- service ---------------------------------------------------------------------------

    # -- the two clocks -----------------------------------------------------------------------

    def _saw(self, *ecs_times: float | None) -> None:
        """ECS timestamps just read: ECS's clock was at least this far ahead of ours."""
        local = self.s.now()
        for t in ecs_times:
            if t is not None and (self._skew is None or t - local > self._skew):
                self._skew = t - local

    def ecs_now(self) -> float:
        """Now on ECS's clock (estimated from the freshest ECS timestamp seen, never ahead of
        it): compare ECS timestamps (task start, stop, events) with this, never with the local
        clock, so a runner whose clock is off by minutes judges grace periods right."""
        now = self.s.now()
        return now if self._skew is None else now + self._skew

    @property
    def events_since(self) -> float:
        if self._events_since is not None:
            return self._events_since
        return self.since + (self._skew or 0.0)

    def service(self) -> Service:
        st = self.s.settings
        svc = self.s.gw.ecs.describe_service(st.cluster, st.service)
        self._saw(*(d.updated_at for d in svc.deployments), *(e.created_at for e in svc.events))
        if self._events_since is None and self._first_read:
            self._events_since = self.events_since
        fresh = [e for e in reversed(svc.events) if e.id not in self._seen_events]
        self.fresh_events = []
        for e in fresh:
            self._seen_events.add(e.id)
            if self._first_read and e.created_at < self.events_since:
                continue  # history from before this run: neither shown nor acted upon
            self.fresh_events.append(e.message)
            self.s.emit("ecs.event", e.message, id=e.id, created_at=e.created_at)
        self._first_read = False
        return svc

    # -- tasks -----------------------------------------------------------------------------

    def _describe(self, arns: Iterable[str], *, refresh_all: bool = False) -> None:
        """Describe tasks not seen before, or not yet RUNNING with an IP (state still moving)."""
        wanted = [
            a
            for a in arns
            if refresh_all
            or a not in self.tasks
            or self.tasks[a].private_ip is None
            or self.tasks[a].last_status != "RUNNING"
        ]
        if wanted:
            for task in self.s.gw.ecs.describe_tasks(self.s.settings.cluster, wanted):
                self.tasks[task.arn] = task
                self._saw(task.created_at, task.started_at, task.stopped_at)

    def running(
        self,
        *,
        started_by: str | None = None,
        task_definition: str | None = None,
        refresh_all: bool = False,
        svc: Service | None = None,
    ) -> list[Task]:
        """RUNNING-desired tasks of the service (or of deployment ``started_by``).

        With ``svc`` (this poll's DescribeServices), the previous listing is reused while every
        deployment's counts, state and ``updatedAt`` are unchanged (no ListTasks); with
        ``refresh_all`` the tasks are described again anyway (container health)."""
        st = self.s.settings
        mark = (started_by, _all_mark(svc)) if svc is not None else None
        if mark is not None and self._listing is not None and self._listing[0] == mark:
            arns = self._listing[1]
        else:
            arns = self.s.gw.ecs.list_tasks(
                st.cluster,
                service=None if started_by else st.service,
                started_by=started_by,
                desired_status="RUNNING",
            )
            self._listing = (mark, arns) if mark is not None else None
        self._describe(arns, refresh_all=refresh_all)
        tasks = [self.tasks[a] for a in arns if a in self.tasks]
        if task_definition is not None:
            tasks = [t for t in tasks if t.task_definition == task_definition]
        return tasks

    def watch_tasks(self, svc: Service, deployment_id: str, *, grace_period: float) -> list[Task]:
        """Our deployment's RUNNING-desired tasks, reading ECS only when ``svc`` says so.

        New stopped tasks of ours are read (and reported, see :meth:`new_stopped`) in the same
        poll as the DescribeServices answer that shows the change, so detection is as fast as
        listing every poll; :func:`plan_task_reads` has the rules."""
        ours = svc.deployment(deployment_id)
        layout = tuple((d.id, d.status) for d in svc.deployments)
        known = {t.id for t in self._ours}
        plan = plan_task_reads(
            self._ours_deployment,
            ours,
            first=self._layout is None,
            layout_changed=layout != self._layout,
            events=self.fresh_events,
            known=known,
            stopped_read_ago=self.s.now() - self._stopped_read_at,
            stops_unresolved=self._stops_unresolved,
        )
        self._layout = layout
        self._ours_deployment = ours
        no_lb = not svc.load_balancers
        # target health is matched by IP: a RUNNING task of ours without one is looked at again
        lost_ip = not no_lb and any(
            t.last_status == "RUNNING" and t.private_ip is None for t in self._ours
        )
        stopped = plan.stopped
        if plan.running or lost_ip:
            if ours is not None and ours.running + ours.pending == 0 and not self._ours:
                arns: list[str] = []  # nothing of ours is RUNNING-desired: no need to ask
            else:
                st = self.s.settings
                arns = self.s.gw.ecs.list_tasks(
                    st.cluster, started_by=deployment_id, desired_status="RUNNING"
                )
            if known - {a.rsplit("/", 1)[-1] for a in arns}:
                stopped = True  # a task we knew is no longer RUNNING-desired
            self._describe(arns, refresh_all=no_lb)
            self._ours = [self.tasks[a] for a in arns if a in self.tasks]
        elif no_lb and self._ours:
            # without a load balancer, container health is the only health signal: re-read it
            self._describe([t.arn for t in self._ours], refresh_all=True)
            self._ours = [self.tasks[t.arn] for t in self._ours if t.arn in self.tasks]
        if stopped:
            self.new_stopped(deployment_id, grace_period=grace_period)
        return list(self._ours)

    def new_stopped(self, started_by: str, *, grace_period: float) -> list[Task]:
        """Stopped tasks of deployment ``started_by`` not reported before (emits events)."""
        st = self.s.settings
        self._stopped_read_at = self.s.now()
        self._stops_unresolved = False
        arns = self.s.gw.ecs.list_tasks(st.cluster, started_by=started_by, desired_status="STOPPED")
        fresh = [a for a in arns if a not in self.stopped]
        if not fresh:
            return []
        described = self.s.gw.ecs.describe_tasks(st.cluster, fresh)
        for task in described:
            self._saw(task.created_at, task.started_at, task.stopped_at)
        out = []
        for task in described:
            if not task.stopped_reason and task.stop_code is None:
                self._stops_unresolved = True  # not stopped far enough to say why: look again
                continue
            self.stopped[task.arn] = task
            if (
                self.quiet_stops_before is not None
                and task.stopped_at is not None
                and task.stopped_at < self.quiet_stops_before
            ):
                continue  # stopped before this watch began (e.g. scaled in by the deploy)
            out.append(task)
            codes = [c.exit_code for c in task.containers if c.exit_code is not None]
            signal = classify_stop(task, grace_period=grace_period)
            self.s.emit(
                "task.stopped",
                f"task {task.id} stopped: {task.stopped_reason or task.stop_code}",
                # a stop that is no failure signal (ECS scaling in, replacing a task as asked)
                # is what was asked for: info, so -q shows only the stops that matter
                level="warning" if signal is not None else "info",
                task=task.arn,
                stop_code=task.stop_code,
                stopped_reason=task.stopped_reason,
                exit_codes=codes,
            )
            if signal is not None:
                self.s.emit(
                    "signal",
                    f"failure signal: {signal.kind} on task {signal.task_id}"
                    + (" (definitive)" if signal.definitive else ""),
                    level="warning",
                    signal=str(signal.kind),
                    definitive=signal.definitive,
                    task=signal.task_arn,
                    reason=signal.reason,
                )
        return out

    # -- target health -----------------------------------------------------------------------

    def health(self, svc: Service, tasks: list[Task]) -> HealthCount:
        """Which of ``tasks`` pass every health check (all target groups + container health).

        Target health is only read while one of ``tasks`` is RUNNING: before that none of them
        can be in a target group, and the answer would not change the count."""
        by_tg: dict[str, dict[str, TargetHealth]] = {}
        any_running = any(t.last_status == "RUNNING" for t in tasks)
        for lb in svc.load_balancers if any_running else ():
            if lb.target_group_arn in by_tg:
                continue
            targets = self.s.gw.elb.describe_target_health(lb.target_group_arn)
            by_tg[lb.target_group_arn] = {t.target_id: t for t in targets}
            for t in targets:
                key = (lb.target_group_arn, t.target_id)
                if self._target_state.get(key) != t.state:
                    self._target_state[key] = t.state
                    self.s.emit(
                        "target.health",
                        f"target {t.target_id} is {t.state}",
                        level="warning" if t.state == "unhealthy" else "debug",
                        target=t.target_id,
                        state=t.state,
                        reason=t.reason,
                        target_group=lb.target_group_arn,
                    )
        healthy: set[str] = set()
        serving: set[str] = set()
        counts: dict[str, int] = {}
        failing: list[tuple[Task, str, FailureKind]] = []
        for task in tasks:
            if task.last_status == "RUNNING" and (
                not svc.load_balancers
                or any(
                    group[task.private_ip].state in ("healthy", "unhealthy", "initial")
                    for group in by_tg.values()
                    if task.private_ip and task.private_ip in group
                )
            ):
                serving.add(task.arn)
            if task.last_status != "RUNNING" or task.health_status == "UNHEALTHY":
                if task.last_status != "RUNNING":
                    counts["initial"] = counts.get("initial", 0) + 1
                else:
                    counts["unhealthy"] = counts.get("unhealthy", 0) + 1
                    failing.append(
                        (task, "container health check UNHEALTHY", FailureKind.CONTAINER_HEALTH)
                    )
                continue
            for group_arn, group in by_tg.items():
                target = group.get(task.private_ip or "")
                if target is not None and target.state == "unhealthy":
                    why = ", ".join(p for p in (target.reason, target.description) if p)
                    failing.append(
                        (
                            task,
                            f"target {target.target_id} unhealthy in "
                            f"{group_arn.rsplit(':', 1)[-1]}: {why or 'health checks failed'}",
                            FailureKind.ELB_HEALTH,
                        )
                    )
                    break
            states = [
                group[task.private_ip].state
                if task.private_ip and task.private_ip in group
                else "initial"
                for group in by_tg.values()
            ]
            state = "healthy"
            for candidate in ("unhealthy", "draining", "initial"):
                if candidate in states:
                    state = candidate
                    break
            counts[state] = counts.get(state, 0) + 1
            if state == "healthy":
                healthy.add(task.arn)
        return HealthCount(frozenset(healthy), counts, tuple(failing), frozenset(serving))

    # -- service deployments API ---------------------------------------------------------------

    def service_deployment(
        self, deployment_id: str, svc: Service | None = None
    ) -> ServiceDeploymentInfo | None:
        """Our ServiceDeployment where the API exists (None otherwise, or not found yet).

        Once its ARN is known, it is read again only when ``svc`` (this poll's DescribeServices)
        shows our deployment's status or rollout state, or the deployment list, changed: a
        breaker trip or rollback changes those in the same instant, so between such changes
        the last answer stands. Without ``svc`` it is read every call.

        The API is an extra signal, not a requirement: if it is denied or fails, watching goes
        on with DescribeServices alone (one warning)."""
        if not self._sd_api:
            return None
        mark = _structure_mark(svc, deployment_id) if svc is not None else None
        if self._sd_arn is not None and mark is not None and mark == self._sd_mark:
            return self._sd_last
        try:
            self._sd_last = self._service_deployment(deployment_id)
            self._sd_mark = mark if self._sd_arn is not None else None
            return self._sd_last
        except CredentialsError:
            raise
        except AwsError as exc:
            self._sd_api = False
            self.s.emit(
                "deployments_api.unavailable",
                f"service-deployments API unavailable ({exc.code}); watching without it",
                level="warning",
                code=exc.code,
            )
            return None

    def _service_deployment(self, deployment_id: str) -> ServiceDeploymentInfo | None:
        st = self.s.settings
        ecs = self.s.gw.ecs
        if self._sd_arn is None:
            # a filter on ECS's clock (createdAt): never the local one
            arns = ecs.list_service_deployments(
                st.cluster, st.service, created_after=self.events_since - 60
            )
            if arns is None:
                self._sd_api = False
                return None
            infos = ecs.describe_service_deployments(arns[:20])
            number = deployment_id.rsplit("/", 1)[-1]
            mine = next(
                (i for i in infos if (i.target_revision_arn or "").rsplit("/", 1)[-1] == number),
                None,
            )
            if mine is None:
                self._sd_misses += 1
                if self._sd_misses >= 5:  # not listed: stop paying two calls per poll for it
                    self._sd_api = False
                return None
            self._sd_arn = mine.arn
            return mine
        infos = ecs.describe_service_deployments([self._sd_arn])
        return infos[0] if infos else None

    @property
    def service_deployment_arn(self) -> str | None:
        return self._sd_arn


def deployments_data(svc: Service) -> list[dict[str, object]]:
    return [
        {
            "id": d.id,
            "status": d.status,
            "task_definition": d.task_definition,
            "desired": d.desired,
            "running": d.running,
            "pending": d.pending,
            "failed_tasks": d.failed_tasks,
            "rollout_state": d.rollout_state,
        }
        for d in svc.deployments
    ]
