"""Reading the world once per poll: the service, our tasks, target health, service deployments.

Calls per poll: DescribeServices, ListTasks (our RUNNING tasks), ListTasks (our STOPPED tasks),
DescribeTargetHealth per target group, DescribeServiceDeployments where the API exists.
DescribeTasks is only called for task ARNs not seen before (or still missing their IP), so a
steady poll costs no DescribeTasks at all.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from rollout.decisions.failures import classify_stop
from rollout.engine.session import Session
from rollout.errors import AwsError, CredentialsError
from rollout.model import Service, ServiceDeploymentInfo, TargetHealth, Task


@dataclass(frozen=True)
class HealthCount:
    healthy: frozenset[str]  # task ARNs passing every check
    counts: dict[str, int]  # target states of these tasks: healthy/unhealthy/initial/draining


class Observer:
    def __init__(self, session: Session, *, since: float) -> None:
        self.s = session
        self.since = since
        self._seen_events: set[str] = set()
        self._first_read = True
        self.tasks: dict[str, Task] = {}
        self.stopped: dict[str, Task] = {}
        self._target_state: dict[tuple[str, str], str] = {}
        self._sd_arn: str | None = None
        self._sd_api = True
        self._sd_misses = 0

    # -- service ---------------------------------------------------------------------------

    def service(self) -> Service:
        st = self.s.settings
        svc = self.s.gw.ecs.describe_service(st.cluster, st.service)
        fresh = [e for e in reversed(svc.events) if e.id not in self._seen_events]
        for e in fresh:
            self._seen_events.add(e.id)
            if self._first_read and e.created_at < self.since:
                continue
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

    def running(
        self,
        *,
        started_by: str | None = None,
        task_definition: str | None = None,
        refresh_all: bool = False,
    ) -> list[Task]:
        st = self.s.settings
        arns = self.s.gw.ecs.list_tasks(
            st.cluster,
            service=None if started_by else st.service,
            started_by=started_by,
            desired_status="RUNNING",
        )
        self._describe(arns, refresh_all=refresh_all)
        tasks = [self.tasks[a] for a in arns if a in self.tasks]
        if task_definition is not None:
            tasks = [t for t in tasks if t.task_definition == task_definition]
        return tasks

    def new_stopped(self, started_by: str, *, grace_period: float) -> list[Task]:
        """Stopped tasks of deployment ``started_by`` not reported before (emits events)."""
        st = self.s.settings
        arns = self.s.gw.ecs.list_tasks(st.cluster, started_by=started_by, desired_status="STOPPED")
        fresh = [a for a in arns if a not in self.stopped]
        if not fresh:
            return []
        described = self.s.gw.ecs.describe_tasks(st.cluster, fresh)
        out = []
        for task in described:
            if not task.stopped_reason and task.stop_code is None:
                continue  # not stopped far enough to say why; look again next poll
            self.stopped[task.arn] = task
            out.append(task)
            codes = [c.exit_code for c in task.containers if c.exit_code is not None]
            self.s.emit(
                "task.stopped",
                f"task {task.id} stopped: {task.stopped_reason or task.stop_code}",
                level="warning",
                task=task.arn,
                stop_code=task.stop_code,
                stopped_reason=task.stopped_reason,
                exit_codes=codes,
            )
            signal = classify_stop(task, grace_period=grace_period)
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
        """Which of ``tasks`` pass every health check (all target groups + container health)."""
        by_tg: dict[str, dict[str, TargetHealth]] = {}
        for lb in svc.load_balancers:
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
        counts: dict[str, int] = {}
        for task in tasks:
            if task.last_status != "RUNNING" or task.health_status == "UNHEALTHY":
                if task.last_status != "RUNNING":
                    counts["initial"] = counts.get("initial", 0) + 1
                else:
                    counts["unhealthy"] = counts.get("unhealthy", 0) + 1
                continue
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
        return HealthCount(frozenset(healthy), counts)

    # -- service deployments API ---------------------------------------------------------------

    def service_deployment(self, deployment_id: str) -> ServiceDeploymentInfo | None:
        """Our ServiceDeployment where the API exists (None otherwise, or not found yet).

        The API is an extra signal, not a requirement: if it is denied or fails, watching goes
        on with DescribeServices alone (one warning)."""
        if not self._sd_api:
            return None
        try:
            return self._service_deployment(deployment_id)
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
            arns = ecs.list_service_deployments(
                st.cluster, st.service, created_after=self.since - 60
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
