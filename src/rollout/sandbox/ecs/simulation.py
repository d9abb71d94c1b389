"""The ECS simulation: a deterministic discrete-event model evaluated lazily.

Every API call first runs the model up to ``clock.now()`` (:meth:`EcsSimulation.run_until`),
processing scheduled work in time order, then answers from the state. Nothing depends on how
often clients poll or on wall time, so the same calls at the same simulated times give the same
timeline. All mutation happens under :attr:`EcsSimulation.lock` (re-entrant; shared with the
ELBv2 overlay and the endpoint's handlers and ticker).

References (§n) are to ``shared/reference/ecs-behaviour.md``.
"""

from __future__ import annotations

import heapq
import random
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any, Protocol

from moto.backends import get_backend

from rollout.sandbox.dataplane.health_timeline import HealthChange, health_at, target_health_changes
from rollout.sandbox.dataplane.target_health import ElbOverlay
from rollout.sandbox.ecs import api
from rollout.sandbox.ecs.rules import (
    breaker_threshold,
    rolling_limits,
    rolling_pass,
    throttle_delay,
)
from rollout.sandbox.ecs.shifting import STAGES, Shifter
from rollout.sandbox.ecs.state import (
    PENDING_STATES,
    ContainerRecord,
    DeploymentRecord,
    RegionState,
    ServiceRecord,
    TargetBinding,
    TaskDefinitionRecord,
    TaskRecord,
    TimelineEntry,
)
from rollout.sandbox.ecs.timings import Behaviour, Timings
from rollout.sandbox.errors import ApiError
from rollout.sandbox.faults import FaultPlan
from rollout.sandbox.runtime import (
    ContainerSpec,
    Runtime,
    StartFailure,
    TaskSpec,
)

MS = 0.001


class SimClock(Protocol):
    def now(self) -> float: ...


@dataclass(frozen=True)
class ServingTarget:
    """One target the ALB data plane may route to (see :meth:`EcsSimulation.serving_targets`)."""

    task_arn: str
    ip: str
    port: int
    state: str
    status_code: int
    #: the task's container accepts connections (``TaskRecord.answering``); when not, a request
    #: the ALB sends to this target is a refused connection (502)
    answering: bool = True


class EcsSimulation:
    """The ECS API, in process. See the module docstring."""

    def __init__(
        self,
        clock: SimClock,
        *,
        faults: FaultPlan | None = None,
        timings: Timings | None = None,
        behaviour: Behaviour | None = None,
        seed: int = 0,
        runtime: Runtime,
    ) -> None:
        self.clock = clock
        self.faults = faults if faults is not None else FaultPlan()
        self.timings = timings or Timings()
        self.behaviour = behaviour or Behaviour()
        self.lock = threading.RLock()
        self.rng = random.Random(seed)
        self.now = clock.now()
        self._queue: list[tuple[float, int, int, Callable[[], None]]] = []
        self._seq = 0
        self._regions: dict[tuple[str, str], RegionState] = {}
        self._timeline: list[TimelineEntry] = []
        self._pending_registrations: dict[tuple[str, str], list[TaskRecord]] = {}
        self.elb = ElbOverlay(self.lock, clock.now)
        #: traffic-shifting deployments (BLUE_GREEN, LINEAR, CANARY): see ecs/shifting.py
        self.shifter = Shifter(self)
        #: what AWS_LAMBDA lifecycle hooks answer, and after how many seconds (sandbox setting)
        self.hook_answer: str = self.behaviour.hook_answer
        self.hook_delay: float = self.behaviour.hook_delay
        self.elb.set_sync(lambda: self.run_until(self.clock.now()))
        self.elb.set_scheduler(self.schedule)
        self.runtime: Runtime = runtime
        self.runtime.attach(
            lock=self.lock,
            now=lambda: self.now,
            scheduler=self,
            catch_up=lambda: self.run_until(self.clock.now()),
        )

    # ------------------------------------------------------------------ engine

    def dispatch(
        self, operation: str, params: dict[str, Any], *, region: str, account: str
    ) -> dict[str, Any]:
        """Answer one ECS API call (JSON 1.1 request dict → response dict) or raise ApiError."""
        handler = api.HANDLERS.get(operation)
        with self.lock:
            self.run_until(self.clock.now())
            if handler is None:
                raise ApiError(
                    "ClientException",
                    f"The rollout sandbox does not simulate the ECS operation {operation}.",
                )
            return handler(self, self.region(account, region), params)

    def region(self, account: str, region: str) -> RegionState:
        key = (account, region)
        if key not in self._regions:
            self._regions[key] = RegionState(account=account, region=region)
        return self._regions[key]

    def regions(self) -> list[RegionState]:
        return list(self._regions.values())

    def schedule(self, at: float, action: Callable[[], None], *, late: bool = False) -> None:
        """Run ``action`` at simulated time ``at`` (``late``: after same-time normal work)."""
        self._seq += 1
        heapq.heappush(self._queue, (max(at, self.now), 1 if late else 0, self._seq, action))

    def run_until(self, t: float) -> None:
        """Process everything scheduled up to and including ``t``; afterwards ``now == t``."""
        with self.lock:
            while self._queue and self._queue[0][0] <= t:
                at, _, _, action = heapq.heappop(self._queue)
                self.now = max(self.now, at)
                action()
            self.now = max(self.now, t)

    def tick(self) -> None:
        """Run up to the clock's present (for a real-time ticker)."""
        self.run_until(self.clock.now())

    def next_event_at(self) -> float | None:
        with self.lock:
            return self._queue[0][0] if self._queue else None

    def record(self, kind: str, **detail: Any) -> None:
        self._timeline.append(TimelineEntry(self.now, kind, detail))

    def timeline(self, kind: str | None = None) -> list[TimelineEntry]:
        """What the simulation did so far (run up to the present first), oldest first.

        ``kind`` filters by exact kind or by prefix ending in "." (e.g. ``"task."``).
        """
        with self.lock:
            self.run_until(self.clock.now())
            entries = list(self._timeline)
        if kind is None:
            return entries
        if kind.endswith("."):
            return [e for e in entries if e.kind.startswith(kind)]
        return [e for e in entries if e.kind == kind]

    # ------------------------------------------------------------------ ids

    def new_hex(self, n: int = 32) -> str:
        return "".join(self.rng.choice("0123456789abcdef") for _ in range(n))

    def new_uuid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def new_deployment_id(self) -> str:
        return f"ecs-svc/{self.rng.randrange(10**18, 10**19)}"

    def new_service_deployment_id(self) -> str:
        alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
        head = "".join(self.rng.choice(alphabet[:26] + alphabet[52:]) for _ in range(8))
        tail = "".join(self.rng.choice(alphabet + "_") for _ in range(11))
        return f"{head}-{tail}"

    # ------------------------------------------------------------------ events

    def service_event(self, service: ServiceRecord, message: str, *, offset: float = 0.0) -> None:
        """Add a service event (newest first, at most 100) at ``now + offset``."""
        event = {
            "id": self.new_uuid(),
            "createdAt": round(self.now + offset, 3),
            "message": message,
        }
        service.events.appendleft(event)
        self.record("service.event", service=service.name, message=message)

    # ------------------------------------------------------------------ deployments

    def start_deployment(self, rs: RegionState, service: ServiceRecord) -> DeploymentRecord:
        """A new PRIMARY deployment for the service's current settings (older ones ACTIVE)."""
        number = self.new_deployment_id()
        previous = service.visible_deployments()
        deployment = DeploymentRecord(
            id=number,
            task_definition=service.task_definition,
            created_at=self.now,
            updated_at=self.now,
            network_configuration=service.network_configuration,
            launch_type=service.launch_type,
            platform_version=service.platform_version,
            load_balancers=[dict(lb) for lb in service.load_balancers],
            service_deployment_id=self.new_service_deployment_id(),
            rollout_reason=f"ECS deployment {number} in progress.",
            sd_updated_at=self.now,
            source_revisions=[self.revision_arn(rs, service, d) for d in previous],
            deployment_configuration=dict(service.deployment_configuration),
        )
        breaker = service.deployment_configuration.get("deploymentCircuitBreaker", {})
        deployment.breaker_status = "MONITORING" if breaker.get("enable") else "DISABLED"
        alarms = service.deployment_configuration.get("alarms") or {}
        if alarms.get("enable"):
            deployment.alarm_status = "MONITORING"
            deployment.alarms_ignored = [
                name
                for name in alarms.get("alarmNames", [])
                if self._alarm_state(rs, name) == "ALARM"
            ]
            self.schedule(
                self.now + self.timings.alarm_poll,
                lambda: self._poll_alarms(rs, service, deployment),
            )
        for old in previous:
            old.status = "ACTIVE"
            old.updated_at = self.now
            if old.sd_status in ("PENDING", "IN_PROGRESS"):
                old.sd_status = "STOP_REQUESTED"
                old.sd_status_reason = "A newer service deployment started."
                old.sd_updated_at = self.now
        service.deployments.append(deployment)
        service.current_deployment = number
        self.shifter.begin(rs, service, deployment, active=len(previous))
        service.steady = False
        service.stuck_reported = False
        service.throttle_reported = False
        self.record(
            "deployment.created",
            service=service.name,
            deployment=number,
            task_definition=service.task_definition,
        )
        self.request_pass(rs, service, self.now + self.timings.deployment_start_delay)
        return deployment

    def revision_arn(self, rs: RegionState, service: ServiceRecord, d: DeploymentRecord) -> str:
        number = d.id.split("/", 1)[1]
        return rs.arn(f"service-revision/{service.cluster}/{service.name}/{number}")

    def service_deployment_arn(
        self, rs: RegionState, service: ServiceRecord, d: DeploymentRecord
    ) -> str:
        return rs.arn(
            f"service-deployment/{service.cluster}/{service.name}/{d.service_deployment_id}"
        )

    def set_rollout(
        self, service: ServiceRecord, d: DeploymentRecord, state: str, reason: str
    ) -> None:
        d.rollout_state = state
        d.rollout_reason = reason
        d.updated_at = self.now
        self.record(
            "deployment.state",
            service=service.name,
            deployment=d.id,
            status=d.status,
            rollout_state=state,
            reason=reason,
        )

    def set_sd_status(self, service: ServiceRecord, d: DeploymentRecord, status: str) -> None:
        if d.sd_status == status:
            return
        d.sd_status = status
        d.sd_updated_at = self.now
        if status in ("SUCCESSFUL", "ROLLBACK_SUCCESSFUL", "ROLLBACK_FAILED"):
            d.sd_finished_at = self.now
        if status == "STOPPED":
            d.sd_stopped_at = self.now
            d.sd_finished_at = self.now
        self.record(
            "service_deployment.status", service=service.name, deployment=d.id, status=status
        )

    def make_primary(self, service: ServiceRecord, target: DeploymentRecord, reason: str) -> None:
        """Roll back: ``target`` becomes PRIMARY again with its own id (§2.1)."""
        for d in service.deployments:
            if d is not target and d.status == "PRIMARY":
                d.status = "ACTIVE"
                d.desired = 0
                d.updated_at = self.now
        target.status = "PRIMARY"
        service.task_definition = target.task_definition
        service.steady = False
        service.stuck_reported = False
        self.set_rollout(service, target, "IN_PROGRESS", reason)

    def last_completed(
        self, service: ServiceRecord, exclude: DeploymentRecord
    ) -> DeploymentRecord | None:
        candidates = [
            d
            for d in service.deployments
            if d is not exclude and d.rollout_state == "COMPLETED" and d.completed_at is not None
        ]
        if not candidates:
            return None
        return max(candidates, key=lambda d: d.completed_at or 0.0)

    def fail_deployment(
        self,
        rs: RegionState,
        service: ServiceRecord,
        d: DeploymentRecord,
        *,
        cause: str,
        rollback: bool,
        reason: str,
    ) -> None:
        """Mark ``d`` FAILED and roll back (or stall). ``cause`` is the event's text after
        ``deployment failed:``; ``reason`` the rolloutStateReason."""
        self.set_rollout(service, d, "FAILED", reason)
        self.record(
            "breaker.trip" if cause.startswith("tasks") else "alarm.trip",
            service=service.name,
            deployment=d.id,
            failed_tasks=d.failed_tasks,
        )
        self.service_event(
            service, f"(service {service.name}) (deployment {d.id}) deployment failed: {cause}."
        )
        if d.breaker_status == "MONITORING" and cause.startswith("tasks"):
            d.breaker_status = "TRIGGERED"
        if cause.startswith("alarm"):
            d.alarm_status = "TRIGGERED"
        if not rollback:
            self.set_sd_status(service, d, "STOP_REQUESTED")
            self.schedule(self.now, lambda: self.set_sd_status(service, d, "STOPPED"))
            return
        target = self.last_completed(service, exclude=d)
        if target is None:
            self.record("deployment.stalled", service=service.name, deployment=d.id)
            self.set_sd_status(service, d, self.behaviour.stall_service_deployment_status)
            return
        if d.shift is not None:
            self.set_sd_status(service, d, "ROLLBACK_REQUESTED")
        self.start_rollback(rs, service, d, target, breaker=True)

    def start_rollback(
        self,
        rs: RegionState,
        service: ServiceRecord,
        failed: DeploymentRecord,
        target: DeploymentRecord,
        *,
        breaker: bool,
    ) -> None:
        self.service_event(
            service, f"(service {service.name}) rolling back to deployment {target.id}.", offset=MS
        )
        reason = (
            f"ECS deployment circuit breaker: rolling back to deploymentId {target.id}."
            if breaker
            # UNVERIFIED: no verbatim sample of a manual (StopServiceDeployment) rollback reason.
            else f"ECS deployment rolling back to deploymentId {target.id}."
        )
        if failed.shift is not None and not failed.shift.rolled_back:
            # traffic-shifting: every listener rule back on blue in this instant (§1.4)
            self.shifter.rollback_traffic(rs, service, failed)
        self.make_primary(service, target, reason)
        failed.rolled_back_to = target.id
        failed.rollback = {
            "reason": reason,
            "startedAt": self.now,
            "serviceRevisionArn": self.revision_arn(rs, service, target),
        }
        self.set_sd_status(service, failed, "ROLLBACK_IN_PROGRESS")
        self.request_pass(rs, service, self.now + self.timings.scheduler_reaction)

    def hook_failed(
        self,
        rs: RegionState,
        service: ServiceRecord,
        d: DeploymentRecord,
        stage: str,
        answer: str,
        *,
        what: str = "hook",
    ) -> None:
        """A lifecycle hook failed, timed out (timeout action ROLLBACK) or was continued with
        ROLLBACK, or a stage passed its 24 h (``what="stage"``): the deployment rolls back to
        blue (§1.4)."""
        target = self.last_completed(service, exclude=d)
        # UNVERIFIED: the exact reason and event texts of these rollbacks
        if what == "stage":
            reason = f"ECS deployment lifecycle stage {stage} exceeded 24 hours."
            cause = f"lifecycle stage {stage} timed out"
        else:
            reason = f"ECS deployment lifecycle hook at {stage} returned {answer}."
            cause = f"lifecycle hook at {stage} {answer.lower().replace('_', ' ')}"
        self.set_rollout(service, d, "FAILED", reason)
        self.service_event(
            service, f"(service {service.name}) (deployment {d.id}) deployment failed: {cause}."
        )
        if target is None:
            self.set_sd_status(service, d, self.behaviour.stall_service_deployment_status)
            return
        self.set_sd_status(service, d, "ROLLBACK_REQUESTED")
        self.start_rollback(rs, service, d, target, breaker=False)

    def count_failure(self, rs: RegionState, service: ServiceRecord, task: TaskRecord) -> None:
        """A task of an IN_PROGRESS deployment failed (§1.4, §2.1): count it, maybe trip."""
        d = service.deployment(task.deployment_id or "")
        if d is None or d.rollout_state != "IN_PROGRESS":
            return
        d.failed_tasks += 1
        d.updated_at = self.now
        self.record(
            "breaker.failure",
            service=service.name,
            deployment=d.id,
            failed_tasks=d.failed_tasks,
            task=task.id,
        )
        breaker = service.deployment_configuration.get("deploymentCircuitBreaker", {})
        if not breaker.get("enable") or d.status != "PRIMARY":
            return
        if d.shift is not None and not self.behaviour.breaker_with_traffic_shifting:
            return
        threshold = self.threshold(service)
        if d.failed_tasks >= threshold:
            self.fail_deployment(
                rs,
                service,
                d,
                cause="tasks failed to start",
                rollback=bool(breaker.get("rollback")),
                reason="ECS deployment circuit breaker: tasks failed to start.",
            )

    def threshold(self, service: ServiceRecord) -> int:
        breaker = service.deployment_configuration.get("deploymentCircuitBreaker", {})
        config = breaker.get("thresholdConfiguration") or {}
        return breaker_threshold(
            service.desired,
            kind=config.get("type", "BOUNDED_PERCENT"),
            value=int(config.get("value", 50)),
            minimum=self.behaviour.breaker_min_threshold,
            maximum=self.behaviour.breaker_max_threshold,
        )

    # ------------------------------------------------------------------ alarms (§2.2)

    def _alarm_state(self, rs: RegionState, name: str) -> str | None:
        try:
            backend = get_backend("cloudwatch")[rs.account][rs.region]
            alarm = backend.alarms.get(name)
        except Exception:  # pragma: no cover - moto internals
            return None
        return None if alarm is None else str(alarm.state_value)

    def _poll_alarms(self, rs: RegionState, service: ServiceRecord, d: DeploymentRecord) -> None:
        if d.rollout_state != "IN_PROGRESS" or service.status != "ACTIVE" or d.status != "PRIMARY":
            if d.alarm_status == "MONITORING" and d.rollout_state == "COMPLETED":
                d.alarm_status = "MONITORING_COMPLETE"
            return
        alarms = service.deployment_configuration.get("alarms") or {}
        running = any(
            t.last_status == "RUNNING"
            for t in self.service_tasks(rs, service)
            if t.deployment_id == d.id
        )
        fired = [
            name
            for name in alarms.get("alarmNames", [])
            if name not in d.alarms_ignored and self._alarm_state(rs, name) == "ALARM"
        ]
        if d.shift is not None:
            # traffic shifting: alarms count from a stage on (Behaviour.alarms_from_stage)
            window = STAGES.index(self.behaviour.alarms_from_stage)
            running = running and window <= STAGES.index(d.shift.stage) < STAGES.index("CLEAN_UP")
        if running and fired:
            d.alarms_triggered = fired
            self.fail_deployment(
                rs,
                service,
                d,
                cause="alarm detected",
                rollback=bool(alarms.get("rollback")),
                # UNVERIFIED: no verbatim rolloutStateReason for alarm failures is known (§1.3).
                reason=f"ECS deployment alarm(s) in ALARM state: {', '.join(fired)}.",
            )
            return
        self.schedule(self.now + self.timings.alarm_poll, lambda: self._poll_alarms(rs, service, d))

    # ------------------------------------------------------------------ scheduler

    def request_pass(self, rs: RegionState, service: ServiceRecord, at: float) -> None:
        at = max(at, self.now)
        if at in service.pass_times:
            return
        service.pass_times.add(at)

        def run() -> None:
            service.pass_times.discard(at)
            self.scheduler_pass(rs, service)

        self.schedule(at, run)

    def service_tasks(self, rs: RegionState, service: ServiceRecord) -> list[TaskRecord]:
        return [
            t
            for t in rs.tasks.values()
            if t.service == service.name and t.cluster == service.cluster
        ]

    def is_healthy(self, service: ServiceRecord, task: TaskRecord) -> bool:
        """Counts as healthy for minimumHealthyPercent (§1.1)."""
        if task.last_status != "RUNNING" or not task.live:
            return False
        if task.targets and not all(
            health_at(b.changes, self.now).state == "healthy" for b in task.targets
        ):
            return False
        if task.container_health is not None:
            return health_at(task.container_health, self.now).state == "HEALTHY"
        if not task.targets:
            return (
                task.started_at is not None
                and self.now >= task.started_at + self.timings.healthy_without_checks
            )
        return True

    def unhealthy_reason(self, service: ServiceRecord, task: TaskRecord) -> tuple[str, str] | None:
        """(stoppedReason, event message) if the task fails a health check now."""
        if task.last_status != "RUNNING" or not task.live:
            return None
        for binding in task.targets:
            change = health_at(binding.changes, self.now)
            if change.state == "unhealthy":
                return (
                    f"Task failed ELB health checks in (target-group {binding.target_group_arn})",
                    f"(service {service.name}) (task {task.id}) "
                    f"(port {binding.port}) is unhealthy in "
                    f"(target-group {binding.target_group_arn}) "
                    f"due to (reason {change.description}).",
                )
        if (
            task.container_health is not None
            and health_at(task.container_health, self.now).state == "UNHEALTHY"
        ):
            return (
                "Task failed container health checks",
                f"(service {service.name}) (task {task.id}) failed container health checks.",
            )
        return None

    def scheduler_pass(self, rs: RegionState, service: ServiceRecord) -> None:
        """One pass of the service scheduler (DERIVED per-pass rule, §1.1)."""
        if service.status == "INACTIVE":
            return
        tasks = self.service_tasks(rs, service)
        primary = service.primary
        if service.status == "DRAINING":
            doomed = [t for t in tasks if t.live]
            if doomed:
                self.stop_tasks(
                    rs,
                    service,
                    doomed,
                    code="ServiceSchedulerInitiated",
                    reason=f"Scaling activity initiated by (deployment {primary.id})",
                )
            self._drop_drained(rs, service)
            if not [t for t in self.service_tasks(rs, service) if t.last_status != "STOPPED"]:
                service.status = "INACTIVE"
                self.record("service.inactive", service=service.name)
            return
        begins = primary.created_at + self.timings.deployment_start_delay
        if self.now < begins:
            # a new deployment is picked up `deployment_start_delay` after UpdateService (§1.7)
            self.request_pass(rs, service, begins)
            return
        if not primary.started:
            primary.started = True
            primary.sd_started_at = self.now
            self.set_sd_status(service, primary, "IN_PROGRESS")
        shift = primary.shift
        if shift is not None and not shift.done and not shift.rolled_back:
            self.shifter.advance(rs, service, primary)
            self._drop_drained(rs, service)
            return
        for d in service.visible_deployments():
            want = service.desired if d is primary else 0
            if d.desired != want:
                d.desired = want
                d.updated_at = self.now
        config = service.deployment_configuration
        minimum = int(config.get("minimumHealthyPercent", 100))
        maximum = int(config.get("maximumPercent", 200))
        grace = service.grace_period or 0
        acted = False

        # 1. replace tasks failing health checks (after the grace period, §6.4), one by one:
        # the next once the previous has stopped (Behaviour.unhealthy_replacement).
        one_by_one = self.behaviour.unhealthy_replacement == "one_by_one"
        stopping = any(t.replaced_unhealthy and t.last_status != "STOPPED" for t in tasks)
        for task in [t for t in tasks if t.live]:
            verdict = self.unhealthy_reason(service, task)
            if verdict is None:
                continue
            grace_end = (task.started_at or self.now) + grace
            if self.now < grace_end:
                self.request_pass(rs, service, grace_end)
                continue
            if one_by_one and stopping:
                continue  # a pass follows when the one being stopped reaches STOPPED
            task.replaced_unhealthy = True
            stopping = True
            reason, message = verdict
            # §5.3: the health message and `has stopped` share the same instant
            self.service_event(service, message)
            self.stop_tasks(rs, service, [task], code="ServiceSchedulerInitiated", reason=reason)
            self.service_event(
                service, f"(service {service.name}) has stopped 1 running tasks: (task {task.id})."
            )
            owner = service.deployment(task.deployment_id or "")
            if owner is not None:
                owner.replaced_unhealthy += 1
                self._delay_replacement(rs, service, owner)
            self._stage2_failure(rs, service, task)
            acted = True
        primary = service.primary

        live = [t for t in self.service_tasks(rs, service) if t.live]
        primary_live = [t for t in live if t.deployment_id == primary.id]
        old_live = [t for t in live if t.deployment_id != primary.id]
        healthy = [t for t in live if self.is_healthy(service, t)]
        # membership by ARN: a list test compares TaskRecords field by field (O(N²) per pass)
        healthy_arns = {t.arn for t in healthy}
        old_healthy = [t for t in old_live if t.arn in healthy_arns]
        frozen = primary.rollout_state == "FAILED"
        throttled = self.now < primary.next_launch_at
        plan = rolling_pass(
            desired=service.desired,
            minimum_percent=minimum,
            maximum_percent=maximum,
            live=len(live),
            primary_live=len(primary_live),
            healthy=len(healthy),
            old_healthy=len(old_healthy),
            can_launch=not frozen and not throttled,
        )

        # 2. start PRIMARY tasks
        if plan.start > 0:
            replaced = primary.replaced_unhealthy
            started = [self.launch_task(rs, service, primary) for _ in range(plan.start)]
            names = " ".join(f"(task {t.id})" for t in started)
            message = f"(service {service.name}) has started {len(started)} tasks: {names}."
            if replaced:
                message += f" Amazon ECS replaced {replaced} tasks due to an unhealthy status."
                primary.replaced_unhealthy = 0
            self.service_event(service, message)
            acted = True
        elif throttled and not frozen and len(primary_live) < service.desired:
            self.request_pass(rs, service, primary.next_launch_at)

        # 3. stop old tasks: unhealthy/not-yet-running ones freely, healthy ones down to `lower`
        if not frozen:
            _, lower = rolling_limits(service.desired, minimum, maximum)
            # old tasks that do not count as healthy (starting, failing, not yet checked) give
            # nothing to the minimum: ECS scales their revision down without waiting
            doomed = [t for t in old_live if t.arn not in healthy_arns]
            doomed += sorted(old_healthy, key=lambda t: t.created_at)[: plan.stop_healthy_old]
            # scale-in within the primary (desiredCount lowered)
            extra = len(primary_live) - service.desired
            if extra > 0:
                spare_healthy = max(0, len(healthy) - len(doomed) - lower)
                candidates = sorted(
                    primary_live, key=lambda t: (t.arn in healthy_arns, -t.created_at)
                )
                for t in candidates[:extra]:
                    if t.arn in healthy_arns:
                        if spare_healthy <= 0:
                            continue
                        spare_healthy -= 1
                    doomed.append(t)
            if doomed:
                self.stop_tasks(
                    rs,
                    service,
                    doomed,
                    code="ServiceSchedulerInitiated",
                    reason=f"Scaling activity initiated by (deployment {primary.id})",
                )
                names = " ".join(f"(task {t.id})" for t in doomed)
                self.service_event(
                    service,
                    f"(service {service.name}) has stopped {len(doomed)} running tasks: {names}.",
                )
                acted = True
                # room was made under maximumPercent: look again soon
                self.request_pass(rs, service, self.now + self.timings.scheduler_reaction)

        self._drop_drained(rs, service)
        self._check_complete(rs, service)

        # 4. stuck: the settings themselves allow neither a start nor a stop (§1.1). Tasks that
        # are starting, in their grace period or not yet healthy only make the scheduler wait:
        # it is stuck when even with every live task healthy the pass could do nothing.
        if not acted and primary.rollout_state == "IN_PROGRESS" and not frozen and not throttled:
            best = rolling_pass(
                desired=service.desired,
                minimum_percent=minimum,
                maximum_percent=maximum,
                live=len(live),
                primary_live=len(primary_live),
                healthy=len(live),
                old_healthy=len(old_live),
            )
            if (
                best.start == 0
                and best.stop_healthy_old == 0
                and (len(primary_live) < service.desired or old_live)
                and not service.stuck_reported
            ):
                service.stuck_reported = True
                # The docs' heading reads "service (service-name) was unable ..."; every
                # observed event writes "(service S) ...", so this does too (DERIVED).
                self.service_event(
                    service,
                    f"(service {service.name}) was unable to stop or "
                    "start tasks during a deployment because of "
                    "the service deployment configuration. Update "
                    "the minimumHealthyPercent or maximumPercent "
                    "value and try again.",
                )

    def _drop_drained(self, rs: RegionState, service: ServiceRecord) -> None:
        """Non-PRIMARY deployments without unstopped tasks leave the list (§1.2)."""
        tasks = self.service_tasks(rs, service)
        for d in service.deployments:
            if d.status != "ACTIVE":
                continue
            if any(t.deployment_id == d.id and t.last_status != "STOPPED" for t in tasks):
                continue
            d.status = "INACTIVE"
            d.updated_at = self.now
            self.record("deployment.inactive", service=service.name, deployment=d.id)
            if d.sd_status == "STOP_REQUESTED":
                self.set_sd_status(service, d, "STOPPED")

    def _check_complete(self, rs: RegionState, service: ServiceRecord) -> None:
        primary = service.primary
        tasks = self.service_tasks(rs, service)
        others = [d for d in service.visible_deployments() if d is not primary]
        primary_live = [t for t in tasks if t.live and t.deployment_id == primary.id]
        ready = (
            not others
            and len(primary_live) == service.desired
            and all(self.is_healthy(service, t) for t in primary_live)
        )
        if not ready:
            if service.steady and primary.rollout_state == "COMPLETED":
                service.steady = False
            return
        if primary.rollout_state == "IN_PROGRESS":
            alarms = service.deployment_configuration.get("alarms") or {}
            bake = int(service.deployment_configuration.get("bakeTimeInMinutes", 0) or 0)
            rolling = service.deployment_configuration.get("strategy", "ROLLING") == "ROLLING"
            if alarms.get("enable") and bake > 0 and rolling:
                if primary.bake_until is None:
                    primary.bake_until = self.now + bake * 60
                    self.request_pass(rs, service, primary.bake_until)
                if self.now < primary.bake_until:
                    return
            primary.completed_at = self.now
            self.set_rollout(
                service, primary, "COMPLETED", f"ECS deployment {primary.id} completed."
            )
            if primary.breaker_status == "MONITORING":
                primary.breaker_status = "MONITORING_COMPLETE"
            if primary.alarm_status == "MONITORING":
                primary.alarm_status = "MONITORING_COMPLETE"
            for d in service.deployments:
                if d.rolled_back_to == primary.id and d.sd_status == "ROLLBACK_IN_PROGRESS":
                    self.set_sd_status(service, d, "ROLLBACK_SUCCESSFUL")
            if primary.sd_status in ("PENDING", "IN_PROGRESS"):
                self.set_sd_status(service, primary, "SUCCESSFUL")
            self.service_event(
                service, f"(service {service.name}) (deployment {primary.id}) deployment completed."
            )
            self._steady(service, offset=MS)
        elif primary.rollout_state == "COMPLETED" and not service.steady:
            self._steady(service)

    def _steady(self, service: ServiceRecord, offset: float = 0.0) -> None:
        service.steady = True
        service.steady_token += 1
        token = service.steady_token
        self.service_event(
            service, f"(service {service.name}) has reached a steady state.", offset=offset
        )

        def repeat() -> None:
            if service.steady and service.steady_token == token and service.status == "ACTIVE":
                self._steady(service)

        self.schedule(self.now + self.timings.steady_state_repeat, repeat)

    # ------------------------------------------------------------------ tasks

    def launch_task(
        self,
        rs: RegionState,
        service: ServiceRecord | None,
        deployment: DeploymentRecord | None,
        *,
        task_definition: TaskDefinitionRecord | None = None,
        cluster: str | None = None,
        started_by: str | None = None,
        group: str | None = None,
        network_configuration: dict[str, Any] | None = None,
        overrides: dict[str, Any] | None = None,
        tags: list[dict[str, str]] | None = None,
    ) -> TaskRecord:
        """Create a task in PROVISIONING and schedule its lifecycle (§4.1)."""
        if task_definition is None:
            assert deployment is not None
            task_definition = api.find_task_definition(rs, deployment.task_definition)
        cluster_name = cluster or (service.cluster if service else "default")
        task_id = self.new_hex()
        body = task_definition.body
        overrides = overrides or {}
        env_overrides = {
            o.get("name"): o.get("environment", []) for o in overrides.get("containerOverrides", [])
        }
        containers: list[ContainerRecord] = []
        environment: dict[str, str] = {}
        for cdef in body.get("containerDefinitions", []):
            for item in list(cdef.get("environment", [])) + list(
                env_overrides.get(cdef["name"], [])
            ):
                environment[str(item.get("name"))] = str(item.get("value", ""))
            containers.append(
                ContainerRecord(
                    name=cdef["name"],
                    arn=rs.arn(f"container/{cluster_name}/{task_id}/{self.new_uuid()}"),
                    image=cdef.get("image", ""),
                    essential=bool(cdef.get("essential", True)),
                    runtime_id=f"{task_id}-{self.rng.randrange(10**9, 10**10)}",
                    health_check=cdef.get("healthCheck"),
                )
            )
        faults = self.faults.decide(
            family=task_definition.family,
            revision=task_definition.revision,
            # a rule on a tag matches the image deployed by digest, and vice versa
            images=[ref for c in containers for ref in api.image_references(c.image)],
            environment=environment,
        )
        network = (
            network_configuration
            if network_configuration is not None
            else (deployment.network_configuration if deployment else None)
        )
        subnets = ((network or {}).get("awsvpcConfiguration") or {}).get("subnets") or [
            "subnet-sandbox"
        ]
        subnet = subnets[rs.ip_counter % len(subnets)]
        rs.ip_counter += 1
        ports = [
            int(pm.get("containerPort", 0))
            for cdef in body.get("containerDefinitions", [])
            for pm in cdef.get("portMappings", []) or []
            if pm.get("containerPort")
        ]
        ip = self.runtime.address(rs.ip_counter, ports)
        task = TaskRecord(
            arn=rs.arn(f"task/{cluster_name}/{task_id}"),
            id=task_id,
            cluster=cluster_name,
            task_definition_arn=task_definition.arn,
            family=task_definition.family,
            revision=task_definition.revision,
            group=group
            or (f"service:{service.name}" if service else f"family:{task_definition.family}"),
            started_by=started_by
            if started_by is not None
            else (deployment.id if deployment else None),
            service=service.name if service else None,
            deployment_id=deployment.id if deployment else None,
            created_at=self.now,
            containers=containers,
            cpu=str(body.get("cpu", "")),
            memory=str(body.get("memory", "")),
            ip=ip,
            eni_id=f"eni-{self.new_hex(17)}",
            mac=":".join(f"{self.rng.randrange(256):02x}" for _ in range(6)),
            subnet=subnet,
            availability_zone=self._subnet_az(rs, subnet),
            attachment_id=self.new_uuid(),
            faults=faults,
            tags=list(tags or []),
            overrides=overrides,
        )
        if service is not None:
            task.tags = self._service_task_tags(service, task_definition)
        rs.tasks[task.arn] = task
        self.record(
            "task.state",
            task=task.id,
            service=task.service,
            deployment=task.deployment_id,
            state="PROVISIONING",
        )
        self.schedule(self.now + self.timings.provisioning, lambda: self._to_pending(rs, task))
        return task

    def _service_task_tags(
        self, service: ServiceRecord, td: TaskDefinitionRecord
    ) -> list[dict[str, str]]:
        """Tags a service's tasks get: propagated (SERVICE or TASK_DEFINITION) plus ECS-managed."""
        tags: dict[str, str] = {}
        if service.propagate_tags == "SERVICE":
            tags.update({t["key"]: t["value"] for t in service.tags})
        elif service.propagate_tags == "TASK_DEFINITION":
            tags.update({t["key"]: t["value"] for t in td.tags})
        if service.enable_ecs_managed_tags:
            tags["aws:ecs:serviceName"] = service.name
            tags["aws:ecs:clusterName"] = service.cluster
        return [{"key": k, "value": v} for k, v in tags.items()]

    def _subnet_az(self, rs: RegionState, subnet: str) -> str:
        try:
            ec2 = get_backend("ec2")[rs.account][rs.region]
            return str(ec2.get_subnet(subnet).availability_zone)
        except Exception:
            return f"{rs.region}a"

    def set_task_state(self, task: TaskRecord, state: str) -> None:
        task.last_status = state
        task.version += 1
        self.record(
            "task.state",
            task=task.id,
            service=task.service,
            deployment=task.deployment_id,
            state=state,
        )

    def _to_pending(self, rs: RegionState, task: TaskRecord) -> None:
        if not task.live:
            return
        self.set_task_state(task, "PENDING")
        task.connectivity_at = self.now
        missing_secret = api.missing_secret(self, rs, task)
        if missing_secret is not None:
            self.schedule(
                self.now + self.timings.secrets_failure,
                lambda: self.fail_to_start(rs, task, missing_secret),
            )
            return
        task.pull_started_at = self.now
        pull_error = api.pull_error(self, rs, task)
        if pull_error is not None:
            self.schedule(
                self.now + self.timings.pull_failure,
                lambda: self.fail_to_start(rs, task, pull_error),
            )
            return
        self.schedule(self.now + self.timings.pending, lambda: self._to_activating(rs, task))

    def _to_activating(self, rs: RegionState, task: TaskRecord) -> None:
        if not task.live:
            return
        task.pull_stopped_at = self.now
        for container in task.containers:
            container.image_digest = api.image_digest(rs, container.image)
        self.set_task_state(task, "ACTIVATING")
        self.schedule(self.now + self.timings.activating, lambda: self._to_running(rs, task))

    def _to_running(self, rs: RegionState, task: TaskRecord) -> None:
        if not task.live:
            return
        try:
            readiness = self.runtime.start(self._task_spec(rs, task), _TaskEvents(self, rs, task))
        except StartFailure as failure:
            self.fail_to_start(rs, task, failure.reason)
            return
        task.started_at = self.now
        for container in task.containers:
            container.last_status = "RUNNING"
        self.set_task_state(task, "RUNNING")
        service = self._service_of(rs, task)
        deployment = service.deployment(task.deployment_id or "") if service else None
        if deployment is not None:
            deployment.ever_running = True
            deployment.consecutive_start_failures = 0
            deployment.updated_at = self.now
        # predicted (simulated runtime): health timelines computed now from `ready_at`;
        # observed: they start unknown and grow with the health checks' answers
        observed = not readiness.predicted
        ready_at = readiness.ready_at
        # container health checks (§4.1): checks every `interval` after start; UNHEALTHY after
        # startPeriod + retries × interval without a pass.
        checks = [c.health_check for c in task.containers if c.essential and c.health_check]
        if checks:
            hc = checks[0] or {}
            interval = float(hc.get("interval", 30))
            retries = int(hc.get("retries", 3))
            start_period = float(hc.get("startPeriod", 0))
            task.container_health = (
                [HealthChange(self.now, "UNKNOWN", None, None)]
                if observed
                else self._container_health(self.now, interval, retries, start_period, ready_at)
            )
            for change in task.container_health[1:]:
                self.schedule(
                    change.at, partial(self._health_changed, rs, task, "container", change)
                )
        # load balancer registration (§4.1 ACTIVATING registers; §6)
        if service is not None and deployment is not None and deployment.load_balancers:
            by_group: list[TargetBinding] = []
            for lb in deployment.load_balancers:
                tg_arn = lb.get("targetGroupArn")
                if not tg_arn:
                    continue
                binding = self._register_target(rs, task, tg_arn, lb, ready_at, observed=observed)
                if binding is not None:
                    by_group.append(binding)
            task.targets = by_group
            for binding in by_group:
                self._pending_registrations.setdefault(
                    (service.name, binding.target_group_arn), []
                ).append(task)
            self.schedule(self.now, lambda: self._flush_registrations(rs, service), late=True)
        elif service is not None and task.container_health is None:
            self.schedule(
                self.now + self.timings.healthy_without_checks,
                lambda: self._health_changed(rs, task, "running", None),
            )
        if service is not None:
            self.request_pass(rs, service, self.now + self.timings.scheduler_reaction)

    def _task_spec(self, rs: RegionState, task: TaskRecord) -> TaskSpec:
        """What the runtime needs to run ``task`` (task definition + overrides)."""
        td = api.find_task_definition(rs, task.task_definition_arn)
        overrides = {o.get("name"): o for o in (task.overrides.get("containerOverrides") or [])}
        containers = []
        for cdef, record in zip(
            td.body.get("containerDefinitions", []), task.containers, strict=False
        ):
            override = overrides.get(cdef["name"], {})
            environment = {
                str(e.get("name")): str(e.get("value", ""))
                for e in [*cdef.get("environment", []), *override.get("environment", [])]
            }
            command = override.get("command") or cdef.get("command")
            containers.append(
                ContainerSpec(
                    name=cdef["name"],
                    image=record.image,
                    image_digest=record.image_digest,
                    essential=record.essential,
                    command=tuple(command) if command else None,
                    entry_point=tuple(cdef["entryPoint"]) if cdef.get("entryPoint") else None,
                    environment=environment,
                    secrets=tuple(
                        (str(x.get("name")), str(x.get("valueFrom")))
                        for x in cdef.get("secrets", []) or []
                    ),
                    ports=tuple(
                        int(pm["containerPort"])
                        for pm in cdef.get("portMappings", []) or []
                        if pm.get("containerPort")
                    ),
                    health_check=cdef.get("healthCheck") or None,
                    stop_timeout=float(cdef.get("stopTimeout", self.timings.stop_timeout)),
                    log_configuration=cdef.get("logConfiguration") or None,
                    user=cdef.get("user"),
                    working_directory=cdef.get("workingDirectory"),
                )
            )
        return TaskSpec(
            task_id=task.id,
            task_arn=task.arn,
            cluster=task.cluster,
            family=task.family,
            revision=task.revision,
            account=rs.account,
            region=rs.region,
            ip=task.ip,
            containers=tuple(containers),
            faults=task.faults,
        )

    def _flush_registrations(self, rs: RegionState, service: ServiceRecord) -> None:
        for (name, tg_arn), tasks in list(self._pending_registrations.items()):
            if name != service.name:
                continue
            del self._pending_registrations[(name, tg_arn)]
            self.service_event(
                service,
                f"(service {service.name}) registered "
                f"{len(tasks)} targets in (target-group {tg_arn})",
            )

    def _container_health(
        self,
        running_at: float,
        interval: float,
        retries: int,
        start_period: float,
        ready_at: float | None,
    ) -> list[HealthChange]:
        changes = [HealthChange(running_at, "UNKNOWN", None, None)]
        unhealthy_at = running_at + start_period + retries * interval
        first_pass: float | None = None
        if ready_at is not None:
            k = 1
            while running_at + k * interval < ready_at - 1e-9:
                k += 1
            first_pass = running_at + k * interval
        if first_pass is None or first_pass > unhealthy_at:
            changes.append(HealthChange(unhealthy_at, "UNHEALTHY", None, None))
        if first_pass is not None:
            changes.append(HealthChange(first_pass, "HEALTHY", None, None))
        return changes

    def _register_target(
        self,
        rs: RegionState,
        task: TaskRecord,
        tg_arn: str,
        lb: dict[str, Any],
        ready_at: float | None,
        *,
        observed: bool = False,
    ) -> TargetBinding | None:
        group = self.elb.target_group(rs.account, rs.region, tg_arn)
        if group is None:
            return None
        port = int(lb.get("containerPort") or group.port or 80)
        interval = float(group.health_check_interval_seconds or 30)
        healthy_threshold = int(group.healthy_threshold_count or 5)
        unhealthy_threshold = int(group.unhealthy_threshold_count or 2)
        reason, description = (
            "Target.ResponseCodeMismatch",
            f"Health checks failed with these codes: [{task.faults.health_status_code}]",
        )
        if not observed and self._port_mismatch(rs, task, group, lb, port):
            ready_at = None
            reason = self.behaviour.port_mismatch_reason
            description = (
                "Request timed out" if reason == "Target.Timeout" else "Health checks failed"
            )
        changes = (
            [
                HealthChange(
                    self.now,
                    "initial",
                    "Elb.RegistrationInProgress",
                    "Target registration is in progress",
                )
            ]
            if observed
            else target_health_changes(
                registered_at=self.now,
                interval=interval,
                healthy_threshold=healthy_threshold,
                unhealthy_threshold=unhealthy_threshold,
                ready_at=ready_at,
                failure_reason=reason,
                failure_description=description,
                registration_seconds=self.timings.elb_registration,
                first_healthy=self.behaviour.first_healthy,
            )
        )
        binding = TargetBinding(tg_arn, str(lb.get("containerName", "")), port, self.now, changes)
        self.elb.register(
            rs.account,
            rs.region,
            tg_arn,
            task.ip,
            port,
            changes,
            on_change=partial(self._health_changed, rs, task, "target", binding=binding)
            if observed
            else None,
        )
        for change in changes[1:]:
            self.schedule(
                change.at,
                partial(self._health_changed, rs, task, "target", change, binding),
            )
        self.record(
            "target.health",
            task=task.id,
            target_group=tg_arn,
            ip=task.ip,
            port=port,
            state=changes[0].state,
            reason=changes[0].reason,
        )
        return binding

    def _port_mismatch(
        self, rs: RegionState, task: TaskRecord, group: Any, lb: dict[str, Any], port: int
    ) -> bool:
        td = api.find_task_definition(rs, task.task_definition_arn)
        listening: set[int] = set()
        for cdef in td.body.get("containerDefinitions", []):
            if cdef.get("name") == lb.get("containerName"):
                listening |= {
                    int(pm.get("containerPort", 0)) for pm in cdef.get("portMappings", [])
                }
        check_port = group.health_check_port
        probe = int(check_port) if check_port and str(check_port).isdigit() else port
        if probe not in listening:
            return True
        return bool(
            self.behaviour.require_target_group_port
            and group.port is not None
            and int(group.port) != port
        )

    def _health_changed(
        self,
        rs: RegionState,
        task: TaskRecord,
        source: str,
        change: HealthChange | None,
        binding: TargetBinding | None = None,
    ) -> None:
        if not task.live or task.last_status != "RUNNING":
            return
        if binding is not None and binding.state != "registered":
            return
        if change is not None:
            if source == "target":
                assert binding is not None
                self.record(
                    "target.health",
                    task=task.id,
                    target_group=binding.target_group_arn,
                    ip=task.ip,
                    port=binding.port,
                    state=change.state,
                    reason=change.reason,
                )
            else:
                self.record("task.health", task=task.id, state=change.state)
                task.version += 1
        service = self._service_of(rs, task)
        if service is None:
            return
        if self.is_healthy(service, task) and not task.counted_healthy:
            task.counted_healthy = True
            task.healthy_since = self.now
            self.record(
                "task.healthy", task=task.id, service=service.name, deployment=task.deployment_id
            )
            d = service.deployment(task.deployment_id or "")
            breaker = service.deployment_configuration.get("deploymentCircuitBreaker", {})
            reset = breaker.get("resetOnHealthyTask", self.behaviour.reset_on_healthy_task)
            if d is not None and reset and d.failed_tasks and d.rollout_state == "IN_PROGRESS":
                d.failed_tasks = 0
                d.updated_at = self.now
                self.record("breaker.reset", service=service.name, deployment=d.id)
        self.request_pass(rs, service, self.now + self.timings.scheduler_reaction)

    def _service_of(self, rs: RegionState, task: TaskRecord) -> ServiceRecord | None:
        if task.service is None:
            return None
        return rs.services.get((task.cluster, task.service))

    def fail_to_start(self, rs: RegionState, task: TaskRecord, reason: str) -> None:
        """Stage-1 failure (image pull, secrets): the task stops without RUNNING (§4.2)."""
        if not task.live:
            return
        task.desired_status = "STOPPED"
        task.stop_code = "TaskFailedToStart"
        task.stopped_reason = reason
        task.stopping_at = self.now
        task.execution_stopped_at = self.now
        for container in task.containers:
            container.last_status = "STOPPED"
            container.reason = reason
        self.set_task_state(task, "DEPROVISIONING")
        self.schedule(self.now + self.timings.deprovisioning, lambda: self._stopped(rs, task))
        service = self._service_of(rs, task)
        if service is None:
            return
        d = service.deployment(task.deployment_id or "")
        if d is not None:
            d.consecutive_start_failures += 1
            delay = throttle_delay(
                d.consecutive_start_failures,
                after=self.timings.throttle_after,
                base=self.timings.throttle_base,
                cap=self.timings.throttle_cap,
            )
            if delay > 0:
                d.next_launch_at = self.now + delay
                self.record("service.throttled", service=service.name, deployment=d.id, delay=delay)
                if not service.throttle_reported:
                    service.throttle_reported = True
                    self.service_event(
                        service,
                        f"(service {service.name}) is unable to "
                        "consistently start tasks successfully.",
                    )
        self.count_failure(rs, service, task)
        self.request_pass(rs, service, self.now + self.timings.scheduler_reaction)

    def task_exited(self, rs: RegionState, task: TaskRecord, exit_code: int) -> None:
        """The runtime says the task's essential container exited with ``exit_code``."""
        if task.exited or task.last_status == "STOPPED":
            return
        task.exited = True
        essential = next((c for c in task.containers if c.essential), task.containers[0])
        essential.exit_code = exit_code
        if task.last_status == "STOPPING":
            self._finish_exit(rs, task)
        elif task.live and task.last_status == "RUNNING":
            self._crash(rs, task, exit_code)
        else:
            # exited while draining (DEACTIVATING): it stops when the drain ends, at once
            essential.last_status = "STOPPED"

    def container_health_reported(self, rs: RegionState, task: TaskRecord, status: str) -> None:
        """The runtime's container health check answer (observed readiness)."""
        if task.container_health is None or task.last_status != "RUNNING" or not task.live:
            return
        if task.container_health[-1].state == status:
            return
        change = HealthChange(self.now, status, None, None)
        task.container_health.append(change)
        self._health_changed(rs, task, "container", change)

    def _finish_exit(self, rs: RegionState, task: TaskRecord) -> None:
        task.execution_stopped_at = self.now
        for container in task.containers:
            if container.exit_code is None:
                container.exit_code = 0
            container.last_status = "STOPPED"
        self.set_task_state(task, "DEPROVISIONING")
        self.schedule(self.now + self.timings.deprovisioning, lambda: self._stopped(rs, task))

    def _crash(self, rs: RegionState, task: TaskRecord, exit_code: int) -> None:
        essential = next((c for c in task.containers if c.essential), task.containers[0])
        essential.exit_code = exit_code
        essential.last_status = "STOPPED"
        task.desired_status = "STOPPED"
        task.stop_code = "EssentialContainerExited"
        task.stopped_reason = "Essential container in task exited"
        task.stopping_at = self.now
        task.execution_stopped_at = self.now
        for container in task.containers:
            if container.last_status != "STOPPED":
                container.last_status = "STOPPED"
                container.exit_code = 137
        service = self._service_of(rs, task)
        if self.behaviour.exited_tasks_drain and any(b.state == "registered" for b in task.targets):
            # §6.3: the target drains before the task stops (DERIVED for an exited task)
            self.set_task_state(task, "DEACTIVATING")
            self.schedule(
                self.now + self.timings.deregistration_start,
                lambda: self._deregister(rs, service, [task], wait=True),
            )
        else:
            self._deregister(rs, service, [task], wait=False)
            self.set_task_state(task, "DEPROVISIONING")
            self.schedule(self.now + self.timings.deprovisioning, lambda: self._stopped(rs, task))
        if service is not None:
            owner = service.deployment(task.deployment_id or "")
            if owner is not None:
                self._delay_replacement(rs, service, owner)
            self._stage2_failure(rs, service, task)
            self.request_pass(rs, service, self.now + self.timings.scheduler_reaction)

    def _delay_replacement(
        self, rs: RegionState, service: ServiceRecord, owner: DeploymentRecord
    ) -> None:
        """The replacement of a task that exited or was stopped as unhealthy is launched
        ``replacement_delay`` later (§4.3)."""
        at = self.now + self.timings.replacement_delay
        owner.next_launch_at = max(owner.next_launch_at, at)
        self.request_pass(rs, service, at)

    def _stage2_failure(self, rs: RegionState, service: ServiceRecord, task: TaskRecord) -> None:
        """Count a failure after RUNNING now or when the task reaches STOPPED (Behaviour)."""
        if self.behaviour.stage2_failure_counted == "stopped" and task.last_status != "STOPPED":
            task.failure_pending = True
            return
        self.count_failure(rs, service, task)

    def stop_tasks(
        self,
        rs: RegionState,
        service: ServiceRecord | None,
        tasks: list[TaskRecord],
        *,
        code: str,
        reason: str,
    ) -> None:
        """Scheduler- or user-initiated stop (§4.1, §6.3)."""
        with_targets: list[TaskRecord] = []
        for task in tasks:
            if not task.live:
                continue
            task.desired_status = "STOPPED"
            task.stop_code = code
            task.stopped_reason = reason
            task.stopping_at = self.now
            if task.last_status in PENDING_STATES:
                self.set_task_state(task, "DEPROVISIONING")
                for container in task.containers:
                    container.last_status = "STOPPED"
                self.schedule(
                    self.now + self.timings.deprovisioning, partial(self._stopped, rs, task)
                )
            elif task.targets:
                self.set_task_state(task, "DEACTIVATING")
                with_targets.append(task)
            else:
                self._sigterm(rs, task)
        if with_targets:
            self.schedule(
                self.now + self.timings.deregistration_start,
                lambda: self._deregister(rs, service, with_targets, wait=True),
            )

    def _deregister(
        self, rs: RegionState, service: ServiceRecord | None, tasks: list[TaskRecord], *, wait: bool
    ) -> None:
        """Deregister the tasks' targets; they drain for the group's deregistration delay."""
        groups: dict[str, list[TaskRecord]] = {}
        longest = 0.0
        for task in tasks:
            for binding in task.targets:
                if binding.state != "registered":
                    continue
                binding.state = "draining"
                # the path a public DeregisterTargets call takes too (dataplane.target_health)
                delay = self.elb.drain(
                    rs.account,
                    rs.region,
                    binding.target_group_arn,
                    task.ip,
                    self.now,
                    on_gone=partial(self._drained, rs, task, binding),
                )
                longest = max(longest, delay)
                groups.setdefault(binding.target_group_arn, []).append(task)
                self.record(
                    "target.health",
                    task=task.id,
                    target_group=binding.target_group_arn,
                    ip=task.ip,
                    port=binding.port,
                    state="draining",
                    reason="Target.DeregistrationInProgress",
                )
        if service is not None:
            for tg_arn, members in groups.items():
                self.service_event(
                    service,
                    f"(service {service.name}) deregistered "
                    f"{len(members)} targets in (target-group {tg_arn})",
                )
            by_deployment: dict[str, int] = {}
            for task in tasks:
                if task.targets:
                    by_deployment[task.deployment_id or ""] = (
                        by_deployment.get(task.deployment_id or "", 0) + 1
                    )
            for deployment_id, count in by_deployment.items():
                self.service_event(
                    service,
                    f"(service {service.name}, taskSet {deployment_id}) "
                    f"has begun draining connections on {count} tasks.",
                )
        if wait:
            for task in tasks:
                self.schedule(self.now + longest, partial(self._sigterm, rs, task))

    def _drained(self, rs: RegionState, task: TaskRecord, binding: TargetBinding) -> None:
        """The target's drain is over and the overlay removed it from moto's group."""
        binding.state = "gone"
        self.record(
            "target.health",
            task=task.id,
            target_group=binding.target_group_arn,
            ip=task.ip,
            port=binding.port,
            state="unused",
            reason="Target.NotRegistered",
        )

    def _sigterm(self, rs: RegionState, task: TaskRecord) -> None:
        if task.last_status in ("STOPPING", "DEPROVISIONING", "STOPPED"):
            return
        self.set_task_state(task, "STOPPING")
        if task.exited:
            # the container is gone already; the agent still spends STOPPING on the task (the
            # calibrated crash-loop timings of §2.1 include it)
            self.schedule(self.now + self.timings.sigterm_exit, lambda: self._finish_exit(rs, task))
            return
        td = api.find_task_definition(rs, task.task_definition_arn)
        timeouts = [
            float(c.get("stopTimeout", self.timings.stop_timeout))
            for c in td.body.get("containerDefinitions", [])
        ]
        self.runtime.stop(task.id, timeout=max(timeouts or [self.timings.stop_timeout]))

    def _stopped(self, rs: RegionState, task: TaskRecord) -> None:
        if task.last_status == "STOPPED":
            return
        task.stopped_at = self.now
        if task.execution_stopped_at is None:
            task.execution_stopped_at = self.now
        for container in task.containers:
            container.last_status = "STOPPED"
        self.set_task_state(task, "STOPPED")
        service = self._service_of(rs, task)
        if service is not None:
            if task.failure_pending:
                task.failure_pending = False
                self.count_failure(rs, service, task)
            self.request_pass(rs, service, self.now + self.timings.scheduler_reaction)
        self.schedule(
            self.now + self.timings.stopped_task_retention,
            partial(self._forget, rs, task),
            late=True,
        )

    def _forget(self, rs: RegionState, task: TaskRecord) -> None:
        rs.tasks.pop(task.arn, None)

    def close(self) -> None:
        """Stop the runtime's tasks; stop answering target health for this simulation's
        targets (moto's own then)."""
        self.runtime.close()
        self.elb.close()

    # ------------------------------------------------------------------ data plane view

    def serving_targets(self, target_group_arn: str) -> list[ServingTarget]:
        """Targets of a target group with their state and the HTTP status the app answers now.

        The ALB data plane routes to ``healthy`` targets (all of them when none is healthy:
        fail-open, §6.1); a task with a ``serve_5xx`` fault answers ``status_code`` once due.
        """
        with self.lock:
            self.run_until(self.clock.now())
            found: list[ServingTarget] = []
            for rs in self._regions.values():
                for task in rs.tasks.values():
                    for binding in task.targets:
                        if binding.target_group_arn != target_group_arn or binding.state == "gone":
                            continue
                        state = self.elb.state(target_group_arn, task.ip, self.now)
                        status = 200
                        due = task.faults.serve_5xx_after
                        if (
                            due is not None
                            and task.started_at is not None
                            and self.now >= task.started_at + due
                        ):
                            status = task.faults.status_code
                        found.append(
                            ServingTarget(
                                task.arn,
                                task.ip,
                                binding.port,
                                state.state if state else "unused",
                                status,
                                task.answering,
                            )
                        )
            return found

    def serving_status(self, task_arn: str) -> int | None:
        """The HTTP status a task's application answers now (None: unknown, or its container
        does not accept connections: ``TaskRecord.answering``)."""
        with self.lock:
            self.run_until(self.clock.now())
            for rs in self._regions.values():
                task = rs.tasks.get(task_arn)
                if task is None or not task.answering:
                    continue
                due = task.faults.serve_5xx_after
                if (
                    due is not None
                    and task.started_at is not None
                    and self.now >= task.started_at + due
                ):
                    return task.faults.status_code
                return 200
            return None


class _TaskEvents:
    """The control plane's side of :class:`rollout.sandbox.runtime.TaskEvents` for one task."""

    def __init__(self, sim: EcsSimulation, rs: RegionState, task: TaskRecord) -> None:
        self._sim, self._rs, self._task = sim, rs, task

    def exited(self, exit_code: int) -> None:
        self._sim.task_exited(self._rs, self._task, exit_code)

    def container_health(self, status: str) -> None:
        self._sim.container_health_reported(self._rs, self._task, status)

    def failed_to_start(self, reason: str) -> None:
        self._sim.fail_to_start(self._rs, self._task, reason)
