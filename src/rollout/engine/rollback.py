"""Rolling back, and proving the restore.

1. Before any write, re-read the service: if PRIMARY is a NEWER deployment than ours, someone
   else deployed: SUPERSEDED, write nothing. If ECS's breaker already rolled back, write nothing
   and only verify.
2. Where a traffic split is configured, send the new path's Route 53 weight to 0 (and the legacy
   path's up) and read the weights back; INSYNC is awaited in the restore's polls, after the
   ECS write, so it never delays the rollback call nor adds to the restore.
3. While ECS's deployment is still in flight and the recorded target is ECS's own last
   COMPLETED deployment, ``StopServiceDeployment(ROLLBACK)`` (restores the whole service
   revision); otherwise ``UpdateService`` back to the recorded task definition. Any failure of
   that call re-reads the service: a newer deployment in flight is SUPERSEDED, nothing more is
   written; only while ours is still the one to undo does it fall back to ``UpdateService``.
4. Watch the restore like a deploy (:func:`watch_restore`): restored when PRIMARY runs the
   target revision with the desired number of its tasks healthy in every target group and no
   task of another revision serving; a definitive failure of the restoring deployment ends it
   within a poll, naming the cause and the state the service is left in.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from rollout.decisions.exitcodes import Verdict
from rollout.decisions.failures import failing_check
from rollout.decisions.target import RollbackTarget
from rollout.decisions.verdict import (
    STUCK_EVENT,
    Failed,
    Observation,
    Policy,
    RestoreObservation,
    SupersededBy,
    Timeouts,
    judge,
    restore_waiting_on,
    restored,
    restored_empty,
)
from rollout.engine.observe import Observer, deployments_data
from rollout.engine.session import Session
from rollout.errors import AwsError, CredentialsError, RolloutError
from rollout.model import Deployment, Service


@dataclass(frozen=True)
class RollbackResult:
    verdict: Verdict
    reason: str
    via: str | None = None
    restore_seconds: float | None = None
    #: False when no rollback was tried (nothing to roll back to, or SUPERSEDED before it)
    attempted: bool = True


def _is_newer(svc: Service, deployment_id: str, ours_created_at: float | None) -> bool:
    """PRIMARY is someone else's deployment, created at or after ours (both ECS timestamps).

    Without our ``createdAt`` (never read), any PRIMARY that is neither ours nor ECS's breaker
    rolling back counts as newer: when in doubt, write nothing over it."""
    primary = svc.primary
    return (
        primary is not None
        and primary.id != deployment_id
        and (ours_created_at is None or primary.created_at >= ours_created_at)
        and "rolling back" not in (primary.rollout_state_reason or "")
    )


class _NewerDeployment(Exception):
    """A rollback call failed and the re-read service shows a newer deployment than ours."""

    def __init__(self, service: Service, code: str | None) -> None:
        super().__init__(code)
        self.service = service
        self.code = code


def _superseded(svc: Service, failure_reason: str, when: str) -> RollbackResult:
    primary = svc.primary
    assert primary is not None
    return RollbackResult(
        Verdict.SUPERSEDED,
        f"{failure_reason}; but {primary.id} ({primary.task_definition.rsplit('/', 1)[-1]}) "
        f"replaced our deployment {when}, so nothing was rolled back over it",
        attempted=False,
    )


def roll_back(
    s: Session,
    *,
    deployment_id: str | None,
    ours_created_at: float | None,
    target: RollbackTarget | None,
    ecs_rolling_back: bool,
    service_deployment_arn: str | None,
    failure_reason: str,
) -> RollbackResult:
    st = s.settings
    started = s.now()
    svc = s.gw.ecs.describe_service(st.cluster, st.service)
    if deployment_id is not None and _is_newer(svc, deployment_id, ours_created_at):
        return _superseded(svc, failure_reason, "before the rollback")
    primary = svc.primary
    # first move users off the new path (it helps even when ECS has nothing to go back to);
    # INSYNC is awaited after the ECS write so the rollback call is not delayed
    change: str | None = None
    traffic_note = ""
    if st.traffic is not None:
        try:
            change = start_traffic_shift(s)
        except CredentialsError:
            raise
        except RolloutError as exc:
            # DNS is the extra safety net; ECS's restore is what the verdict stands on
            traffic_note = f" (Route 53 weights NOT moved: {exc.message})"
            s.emit(
                "traffic.failed", f"could not move traffic off the new path: {exc}", level="error"
            )
        failure_reason += traffic_note
    ecs_took_over = ecs_rolling_back or (
        primary is not None
        and deployment_id is not None
        and primary.id != deployment_id
        and not _is_newer(svc, deployment_id, ours_created_at)
    )
    if ecs_took_over and primary is not None:
        restore_to = primary.task_definition
        via = "ecs-circuit-breaker"
        s.emit(
            "rollback.started",
            # who failed it (breaker or deployment alarms) is in the verdict's reason
            f"ECS is rolling back to {restore_to.rsplit('/', 1)[-1]}; verifying the restore",
            level="warning",
            to=restore_to,
            via=via,
        )
    else:
        if target is None:
            moved = " (traffic was moved to the legacy path)" if st.traffic is not None else ""
            return RollbackResult(
                Verdict.FAILED_ROLLBACK_FAILED,
                f"{failure_reason}; nothing to roll back to (no completed or known-good "
                f"revision), so no rollback was tried{moved}",
                attempted=False,
            )
        restore_to = target.arn
        try:
            via = _send_rollback(
                s, svc, deployment_id, ours_created_at, target, service_deployment_arn
            )
        except _NewerDeployment as newer:
            s.emit(
                "rollback.superseded",
                f"the rollback call failed ({newer.code}) and a newer deployment is PRIMARY: "
                "writing nothing over it",
                level="warning",
                code=newer.code,
            )
            return _superseded(newer.service, failure_reason, "while we were rolling back")
    if s.dry_run:
        return RollbackResult(Verdict.FAILED_ROLLED_BACK, failure_reason, via, 0.0)
    bad_arn = ours.task_definition if (ours := svc.deployment(deployment_id or "")) else None
    # Route 53's INSYNC is awaited in the same polls as the restore: the verdict comes when both
    # are done, not one after the other
    result = watch_restore(s, restore_to, since=started, bad_arn=bad_arn, traffic_change=change)
    seconds = s.now() - started
    rev = restore_to.rsplit("/", 1)[-1]
    match result.status:
        case "interrupted":
            return RollbackResult(
                Verdict.INTERRUPTED,
                f"{failure_reason}; interrupted while waiting for the restore (rolling back to "
                f"{rev}; ECS carries on)",
                via,
                seconds,
            )
        case "failed":
            return RollbackResult(
                Verdict.FAILED_ROLLBACK_FAILED,
                f"{failure_reason}; the restore to {rev} failed after {seconds:.0f}s: "
                f"{result.reason}. Service left: {result.state}",
                via,
                seconds,
            )
        case "timed-out":
            return RollbackResult(
                Verdict.FAILED_ROLLBACK_FAILED,
                f"{failure_reason}; the restore to {rev} was not verified within "
                f"{st.timeouts.healthy:.0f}s ({result.reason}). Service left: {result.state}",
                via,
                seconds,
            )
        case "no-tasks":
            return RollbackResult(
                Verdict.NO_TASKS,
                f"{failure_reason}; rolled back, but {result.reason}",
                via,
                seconds,
            )
        case "superseded":
            return RollbackResult(
                Verdict.SUPERSEDED,
                f"{failure_reason}; rolling back to {rev}, but {result.reason}; not watching it",
                via,
                seconds,
            )
    emit_restored(s, rev, restore_to, seconds)
    return RollbackResult(Verdict.FAILED_ROLLED_BACK, failure_reason, via, seconds)


def emit_restored(s: Session, rev: str, task_definition: str, seconds: float) -> None:
    """The ``phase`` (restore time) and ``restore.verified`` events of a verified restore to
    revision ``rev`` (``task_definition``), ``seconds`` after it was sent."""
    s.emit_phase("restore", seconds)
    s.emit(
        "restore.verified",
        f"service restored on {rev}: its desired tasks healthy in every target group, no task "
        "of another revision serving",
        level="success",
        task_definition=task_definition,
        seconds=seconds,
    )


def _send_rollback(
    s: Session,
    svc: Service,
    deployment_id: str | None,
    ours_created_at: float | None,
    target: RollbackTarget,
    service_deployment_arn: str | None,
) -> str:
    """Send the rollback call. Any failure of it re-reads the service first: a newer deployment
    than ours in flight raises :class:`_NewerDeployment` (nothing more is written); only while
    ours is still the one to undo does a refused ``StopServiceDeployment`` fall back to
    ``UpdateService``."""
    st = s.settings
    ours = svc.deployment(deployment_id) if deployment_id else None
    in_flight = (
        ours is not None and ours.status == "PRIMARY" and ours.rollout_state == "IN_PROGRESS"
    )

    def check_after(code: str | None) -> None:
        again = s.gw.ecs.describe_service(st.cluster, st.service)
        if deployment_id is not None and _is_newer(again, deployment_id, ours_created_at):
            raise _NewerDeployment(again, code)

    if in_flight and service_deployment_arn and target.source == "primary-completed":
        s.emit(
            "rollback.started",
            f"rolling back to {target.arn.rsplit('/', 1)[-1]} with StopServiceDeployment(ROLLBACK)",
            level="warning",
            to=target.arn,
            via="StopServiceDeployment",
        )
        try:
            sent = s.write(
                "ecs",
                "StopServiceDeployment",
                {"serviceDeploymentArn": service_deployment_arn, "stopType": "ROLLBACK"},
                f"roll back {service_deployment_arn.rsplit('/', 1)[-1]}",
                lambda: s.gw.ecs.stop_service_deployment_rollback(service_deployment_arn),
            )
        except CredentialsError:
            raise
        except AwsError as exc:
            sent, code = False, exc.code
        else:
            code = "unavailable"
        if sent is not False:
            return "StopServiceDeployment"
        check_after(code)
        s.emit(
            "rollback.fallback",
            f"StopServiceDeployment failed ({code}); our deployment is still the one to undo: "
            "falling back to UpdateService",
            level="warning",
        )
    s.emit(
        "rollback.started",
        f"rolling back to {target.arn.rsplit('/', 1)[-1]} with UpdateService",
        level="warning",
        to=target.arn,
        via="UpdateService",
    )
    try:
        s.write(
            "ecs",
            "UpdateService",
            {"cluster": st.cluster, "service": st.service, "taskDefinition": target.arn},
            f"point {st.service} back at {target.arn.rsplit('/', 1)[-1]}",
            lambda: s.gw.ecs.update_service(st.cluster, st.service, task_definition=target.arn),
        )
    except CredentialsError:
        raise
    except AwsError as exc:
        check_after(exc.code)
        raise
    return "UpdateService"


def start_traffic_shift(s: Session) -> str | None:
    """Send the weight change and read the weights back.

    Returns the change id; None when nothing was sent (dry run, or the new path already has
    weight 0 while the legacy path serves).
    """
    t = s.settings.traffic
    assert t is not None
    r53 = s.gw.r53
    zone = t.hosted_zone_id or (r53.zone_id(t.zone_name) if t.zone_name else None)
    if zone is None:
        raise AwsError(
            "failed to shift traffic: neither traffic.hosted_zone_id nor traffic.zone_name is set.",
            hint="Set one of them in rollout.toml.",
        )
    weights = {t.new_set_identifier: 0, t.legacy_set_identifier: 100}
    current = r53.weights(zone, t.record_name, t.record_type)
    if current.get(t.new_set_identifier) == 0 and current.get(t.legacy_set_identifier, 0) > 0:
        # already off the new path (it never got traffic, or someone moved it): no write,
        # no propagation to wait for
        s.emit(
            "traffic.unchanged",
            f"{t.record_name}: new path already at 0 %, legacy path serving; nothing to change",
            weights=current,
        )
        return None
    change = s.write(
        "route53",
        "ChangeResourceRecordSets",
        {"HostedZoneId": zone, "name": t.record_name, "weights": weights},
        f"weights of {t.record_name}: new 0, legacy 100",
        lambda: r53.set_weights(zone, t.record_name, weights, t.record_type),
    )
    if change is None:
        return None
    got = r53.weights(zone, t.record_name, t.record_type)
    if any(got.get(k) != v for k, v in weights.items()):
        raise AwsError(
            f"failed to shift traffic: read back weights {got}, expected {weights}.",
            hint="Someone changed the records meanwhile; check Route 53.",
        )
    s.emit(
        "traffic.set",
        f"{t.record_name}: new path 0 %, legacy path 100 % (change {change} sent)",
        change=change,
        weights=weights,
    )
    return change


#: the longest a rollback waits for a Route 53 change to be INSYNC
INSYNC_WAIT = 300.0


class _InSync:
    """Polls one Route 53 change (``GetChange``) until INSYNC or :data:`INSYNC_WAIT` passes."""

    def __init__(self, s: Session, change: str | None) -> None:
        self.s = s
        self.change = change if s.settings.traffic is not None else None
        self.started = s.now()

    @property
    def done(self) -> bool:
        return self.change is None

    def poll(self) -> None:
        s, change, t = self.s, self.change, self.s.settings.traffic
        if change is None or t is None:
            return
        if s.gw.r53.change_status(change) == "INSYNC":
            self.change = None
            s.emit(
                "traffic.shifted",
                f"{t.record_name}: new path 0 %, legacy path up; INSYNC after "
                f"{s.now() - self.started:.0f}s",
                level="success",
                change=change,
                weights={t.new_set_identifier: 0, t.legacy_set_identifier: 100},
            )
        elif s.now() - self.started > INSYNC_WAIT:
            self.change = None
            s.emit("traffic.pending", f"Route 53 change {change} not INSYNC yet", level="warning")


RestoreStatus = Literal["restored", "failed", "timed-out", "interrupted", "no-tasks", "superseded"]


@dataclass(frozen=True)
class RestoreResult:
    status: RestoreStatus
    reason: str = ""  # why it failed, or what it was still waiting on
    state: str = ""  # the service as the restore leaves it (failures and timeouts)


def watch_restore(
    s: Session,
    target_arn: str,
    *,
    since: float,
    bad_arn: str | None = None,
    traffic_change: str | None = None,
) -> RestoreResult:
    """Watch the restore to ``target_arn`` with the same early detection as a deploy.

    "restored" means PRIMARY runs the target revision with the service's desired number of its
    tasks healthy in every target group and no task of another revision still serving
    (:func:`~rollout.decisions.verdict.restored`); until then the service is "rolling back".
    The deployment restoring the target (the PRIMARY on it) is judged like a deploy's own
    (:func:`~rollout.decisions.verdict.judge`): a deterministic stop reason (its image gone
    from ECR, a missing secret), K consecutive failed tasks with none healthy, ECS unable to
    place tasks, or ECS's breaker failing it (and putting another revision back) ends the watch
    within a poll as "failed", naming the cause and the state the service is left in.

    With ``traffic_change`` (a Route 53 weight change sent just before), each poll also asks
    ``GetChange`` until it is INSYNC (at most :data:`INSYNC_WAIT` seconds): the restore is
    declared once both the service and DNS are back.
    """
    st = s.settings
    observer = Observer(s, since=since)
    deadline = s.now() + st.timeouts.healthy
    never = Timeouts(deploy=math.inf, healthy=math.inf, drain=math.inf)
    restoring: Deployment | None = None
    blocked: str | None = None
    last_healthy_at: float | None = None
    waiting: str | None = None
    dns = _InSync(s, traffic_change)
    while True:
        if s.interrupt.is_set():
            return RestoreResult("interrupted")
        dns.poll()
        svc = observer.service()
        # the restoring deployment may be an old one (StopServiceDeployment): its tasks stopped
        # before the restore (scaled in by the deploy) are not news
        observer.quiet_stops_before = observer.events_since
        blocked = blocked or next((m for m in observer.fresh_events if STUCK_EVENT.search(m)), None)
        primary = svc.primary
        if restoring is None and primary is not None and primary.task_definition == target_arn:
            restoring = primary
        grace = float(svc.health_check_grace_period)
        tasks = observer.running(refresh_all=not svc.load_balancers, svc=svc)
        if restoring is not None:
            # the restoring deployment's own stopped tasks (read when DescribeServices says so)
            observer.watch_tasks(svc, restoring.id, grace_period=grace)
        health = observer.health(svc, tasks)
        healthy_on_target = sum(
            1 for t in tasks if t.task_definition == target_arn and t.arn in health.healthy
        )
        others_serving = sum(
            1 for t in tasks if t.task_definition != target_arn and t.arn in health.serving
        )
        ecs_now = observer.ecs_now()
        if healthy_on_target:
            last_healthy_at = ecs_now
        ro = RestoreObservation(svc, target_arn, healthy_on_target, others_serving)
        s.emit(
            "observation",
            "verifying the restore",
            level="debug",
            deployments=deployments_data(svc),
            phase="restore",
            healthy_on_target=healthy_on_target,
            others_serving=others_serving,
            **health.counts,
        )
        if restored(ro) and dns.done:
            return RestoreResult("restored")
        if restored_empty(ro):
            return RestoreResult(
                "no-tasks",
                f"{target_arn.rsplit('/', 1)[-1]} is back as PRIMARY but the service runs no "
                "tasks (desiredCount 0), so nothing is verified",
            )
        now_waiting = restore_waiting_on(ro) if not restored(ro) else ""
        if not dns.done:
            now_waiting = ", ".join(
                p for p in (now_waiting, "Route 53 weight change not INSYNC yet") if p
            )
        if now_waiting != waiting:
            waiting = now_waiting
            s.emit(
                "restore.waiting",
                f"rolling back: {now_waiting}",
                level="info",
                healthy_on_target=healthy_on_target,
                others_serving=others_serving,
            )
        if restoring is not None:
            since_ecs = observer.events_since
            obs = Observation(
                at=s.now(),
                service=svc,
                deployment_id=restoring.id,
                started_at=since,
                deployment_created_at=restoring.created_at,
                new_tasks_healthy=healthy_on_target,
                stopped=tuple(
                    t
                    for t in observer.stopped.values()
                    if t.started_by == restoring.id and (t.stopped_at or since_ecs) >= since_ecs
                ),
                failing=tuple(
                    signal
                    for task, why, kind in health.failing
                    if task.task_definition == target_arn
                    and (
                        signal := failing_check(
                            task, why, kind=kind, now=ecs_now, grace_period=grace
                        )
                    )
                    is not None
                ),
                last_healthy_at=last_healthy_at,
                placement_blocked=blocked,
            )
            policy = Policy(
                consecutive_failures=st.consecutive_failures, grace_period=grace, timeouts=never
            )
            decision = judge(obs, policy)
            if isinstance(decision, SupersededBy):
                return RestoreResult(
                    "superseded",
                    f"deployment {decision.deployment_id} "
                    f"({decision.task_definition.rsplit('/', 1)[-1]}) replaced the restore",
                    service_state(svc, target_arn, bad_arn, ro),
                )
            if isinstance(decision, Failed):
                reason = decision.reason
                if primary is not None and primary.id != restoring.id:
                    put_back = primary.task_definition.rsplit("/", 1)[-1]
                    which = " (the bad revision)" if primary.task_definition == bad_arn else ""
                    reason = (
                        f"ECS's circuit breaker failed the restoring deployment {restoring.id} "
                        f"and put {put_back}{which} back as PRIMARY"
                    )
                return RestoreResult("failed", reason, service_state(svc, target_arn, bad_arn, ro))
        if s.now() >= deadline:
            return RestoreResult(
                "timed-out", now_waiting, service_state(svc, target_arn, bad_arn, ro)
            )
        s.poll_pause()


def service_state(
    svc: Service, target_arn: str, bad_arn: str | None, obs: RestoreObservation
) -> str:
    """One sentence on the state a restore leaves the service in (for the verdict's reason)."""

    def name(arn: str) -> str:
        label = arn.rsplit("/", 1)[-1]
        if arn == bad_arn:
            return f"{label} (the bad revision)"
        if arn == target_arn:
            return f"{label} (the restore target)"
        return label

    deployments = "; ".join(
        f"{d.status} {d.id} on {name(d.task_definition)} {d.rollout_state or ''} "
        f"{d.running}/{d.desired} running".replace("  ", " ")
        for d in svc.deployments
    )
    primary = svc.primary
    breaker = ""
    if (
        primary is not None
        and primary.task_definition != target_arn
        and "rolling back" in (primary.rollout_state_reason or "")
    ):
        breaker = f"ECS's circuit breaker put {name(primary.task_definition)} back; "
    serving = (
        "NO task is serving: the service is down"
        if obs.healthy_on_target == 0 and obs.others_serving == 0
        else f"{obs.healthy_on_target} task(s) of {target_arn.rsplit('/', 1)[-1]} healthy, "
        f"{obs.others_serving} task(s) of other revisions serving"
    )
    return f"{breaker}{deployments}; {serving}"
