"""Deploying through a native ECS strategy (blue-green, canary, linear) with analysis.

ECS moves the listener-rule weights; rollout watches and judges:

1. before the deploy, the production rule tells which target group is blue (it has the
   traffic) and which will be green (:func:`plan`);
2. each poll reads our ``ServiceDeployment``: every new ``lifecycleStage`` is a ``stage``
   event (with green's production and test weights);
3. once green takes test traffic, the smoke probe hits ``test_url`` with ``test_headers`` (the
   test listener rule; :func:`plan` refuses before any write when those headers cannot meet
   its http-header conditions) — before any production traffic: with ``set_on_deploy`` rollout
   adds a PAUSE hook at POST_TEST_TRAFFIC_SHIFT and continues the deployment only when the probe
   passed;
3b. every poll also reads green's tasks (and, while it serves production, its target health):
   a green task that stopped while green takes traffic, or a green target unhealthy or
   draining while it serves production, fails the run at that poll
   (:mod:`rollout.decisions.green`);
4. while green serves production traffic and through the bake, one window of ALB metrics per
   target group every ``analysis.window`` seconds, judged by
   :func:`rollout.decisions.analysis.judge` and folded by
   :func:`~rollout.decisions.analysis.advance`;
5. the first failing run → ``StopServiceDeployment(ROLLBACK)``: ECS puts production traffic
   back on blue (still running during the bake) and stops green; rollout waits for
   ``ROLLBACK_SUCCESSFUL`` with the production rule back on blue, and times the switch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from rollout.decisions.analysis import (
    GroupStats,
    Judgement,
    Outcome,
    RunState,
    advance,
    final_message,
    judge,
)
from rollout.decisions.green import TEST_STAGES, green_target_failure, green_task_failure
from rollout.decisions.progressive import (
    BEFORE_PRODUCTION,
    DONE_STATUSES,
    SERVING_STAGES,
    STAGES,
    describe_conditions,
    green_and_blue,
    green_and_blue_in_flight,
    headers_hint,
    load_balancer_dimension,
    stage_label,
    target_group_dimension,
    unmet_header_conditions,
)
from rollout.decisions.verdict import shift_rolled_back_reason
from rollout.engine.observe import Observer
from rollout.engine.session import Session
from rollout.errors import AwsError, CredentialsError, RolloutError
from rollout.events import Level
from rollout.model import Service, ServiceDeploymentInfo, Task

LEVELS: dict[str, Level] = {"pass": "success", "fail": "error"}
#: seconds between two reads of an analysis window in progress (fail fast); ALB metrics change
#: once a period (60 s on AWS), so more often would only cost GetMetricData calls
EARLY_READ_EVERY = 10.0


@dataclass(frozen=True)
class Plan:
    """The two target groups and the rules of a traffic-shifting service, before a deploy."""

    load_balancer: str  # LoadBalancer dimension, app/<name>/<id>
    green: str  # target group ARN that will receive the new release
    blue: str  # target group ARN serving now
    production_rule: str
    test_rule: str | None = None


class PlanError(RolloutError):
    """The service is not set up for a traffic-shifting strategy."""


def plan(s: Session, svc: Service) -> Plan:
    """Read the production rule: the group it sends traffic to is blue, the other green."""
    lb = next((lb for lb in svc.load_balancers if lb.alternate_target_group_arn), None)
    if lb is None or not lb.production_listener_rule:
        raise PlanError(
            f"cannot deploy {svc.name} as {s.settings.strategy}: its load balancer has no "
            "advancedConfiguration (alternate target group and production listener rule).",
            hint="Provision the service for the strategy (infra/voj.yaml DeploymentStrategy), "
            'or set strategy = "rolling"; `rollout verify` lists what is missing.',
        )
    alternate = lb.alternate_target_group_arn
    assert alternate is not None
    forwards = s.gw.elb.rule_forwards([lb.production_listener_rule]).get(
        lb.production_listener_rule
    )
    if forwards is None:
        raise PlanError(
            f"cannot deploy {svc.name}: production listener rule "
            f"{lb.production_listener_rule.rsplit('/', 1)[-1]} does not exist.",
            hint="Fix advancedConfiguration.productionListenerRule; `rollout verify` checks it.",
        )
    green, blue = green_and_blue(forwards, (lb.target_group_arn, alternate))
    if s.settings.test_url and lb.test_listener_rule:
        _check_test_headers(s, lb.test_listener_rule)
    return Plan(
        load_balancer=load_balancer_dimension(lb.production_listener_rule),
        green=green,
        blue=blue,
        production_rule=lb.production_listener_rule,
        test_rule=lb.test_listener_rule,
    )


def _check_test_headers(s: Session, rule: str) -> None:
    """Refuse before any write when the smoke probe's headers cannot meet the test rule's
    http-header conditions: the probe would reach blue and pass without testing green."""
    try:
        conditions = s.gw.elb.rule_conditions([rule]).get(rule)
    except CredentialsError:
        raise
    except AwsError as exc:
        s.emit(
            "smoke.unchecked",
            f"cannot read the test listener rule's conditions ({exc.code}): the smoke probe's "
            "headers are not checked against it",
            level="warning",
            code=exc.code,
        )
        return
    unmet = unmet_header_conditions(conditions or (), s.settings.test_headers)
    if unmet:
        raise PlanError(
            f"the smoke probe cannot reach green: test listener rule {rule.rsplit('/', 1)[-1]} "
            f"needs {describe_conditions(unmet)}, which test_headers does not send (the probe "
            "of test_url would reach blue through the production rule).",
            hint=headers_hint(unmet) + "; `rollout verify` checks it.",
        )


def plan_in_flight(s: Session, svc: Service, sd: ServiceDeploymentInfo | None) -> Plan:
    """:func:`plan` for a deployment already shifting (``rollout watch``): green from the test
    rule and green's requested weights (:func:`green_and_blue_in_flight`), since the production
    rule may already send green most of the traffic."""
    before = plan(s, svc)
    lb = next(lb for lb in svc.load_balancers if lb.alternate_target_group_arn)
    assert lb.alternate_target_group_arn is not None
    assert lb.production_listener_rule
    rules = [lb.production_listener_rule]
    if lb.test_listener_rule:
        rules.append(lb.test_listener_rule)
    forwards = s.gw.elb.rule_forwards(rules)
    green, blue = green_and_blue_in_flight(
        forwards.get(lb.production_listener_rule, {}),
        forwards.get(lb.test_listener_rule) if lb.test_listener_rule else None,
        (lb.target_group_arn, lb.alternate_target_group_arn),
        production_weight=sd.production_weight if sd else None,
        test_weight=sd.test_weight if sd else None,
    )
    return Plan(
        load_balancer=before.load_balancer,
        green=green,
        blue=blue,
        production_rule=before.production_rule,
        test_rule=before.test_rule,
    )


@dataclass
class NativeResult:
    outcome: str  # succeeded | rolled-back | rollback-failed | failed | timed-out | interrupted
    reason: str
    service_deployment_arn: str | None = None
    analysis: RunState = field(default_factory=RunState)
    restore_seconds: float | None = None
    traffic_back_seconds: float | None = None
    stages: list[str] = field(default_factory=list)


def _short(arn: str) -> str:
    return arn.rsplit("/", 2)[-2] if arn.count("/") >= 2 else arn


class NativeWatch:
    def __init__(
        self,
        s: Session,
        the_plan: Plan,
        *,
        deployment_id: str,
        started_at: float,
        deployment_created_at: float | None,
    ) -> None:
        self.s = s
        self.plan = the_plan
        self.deployment_id = deployment_id
        self.started_at = started_at
        self.observer = Observer(s, since=started_at, events_since=deployment_created_at)
        self.result = NativeResult(outcome="interrupted", reason="interrupted while watching")
        self.state = RunState()
        self.stage: str | None = None
        self.smoke = "pending" if s.settings.test_url else "not-configured"
        self.window_start: float | None = None
        self.first_partial = False  # the first window began before green served
        self.early_read_at: float | None = None  # the last read of a window in progress
        self.grace = 0.0
        #: stopped tasks of ours already judged (each stop is judged once, in its poll's stage)
        self.judged_stops: set[str] = set()
        self.lb = the_plan.load_balancer
        self.green_dim = target_group_dimension(the_plan.green)
        self.blue_dim = target_group_dimension(the_plan.blue)

    # -- the loop ---------------------------------------------------------------------------

    def run(self) -> NativeResult:
        s, st = self.s, self.s.settings
        s.emit(
            "analysis.plan",
            f"green target group {_short(self.plan.green)}, blue {_short(self.plan.blue)}; "
            f"windows of {st.analysis_window}s",
            green=self.plan.green,
            blue=self.plan.blue,
            load_balancer=self.lb,
            window=st.analysis_window,
        )
        while True:
            if s.interrupt.is_set():
                return self._done("interrupted", "interrupted while watching (ECS carries on)")
            sd = self.observer.service_deployment(self.deployment_id)
            stopped = self._green_stops()
            now = s.now()
            if sd is not None:
                self.result.service_deployment_arn = sd.arn
                self._stage(sd)
                if sd.status == "SUCCESSFUL":
                    return self._done(
                        "succeeded",
                        f"{st.strategy} deployment SUCCESSFUL: every stage walked, "
                        f"{self._analysis_note()}",
                    )
                crashed = green_task_failure(stopped, stage=self.stage, grace_period=self.grace)
                if crashed is not None and sd.status in ("PENDING", "IN_PROGRESS"):
                    return self._roll_back(sd, crashed.reason, signal="task")
                if sd.status.startswith("ROLLBACK") or sd.status in ("STOPPED", "STOP_REQUESTED"):
                    return self._ecs_rolled_back(sd, shift_rolled_back_reason(sd))
                if self.smoke == "pending" and self._smoke_due(sd):
                    failed = self._probe(sd)
                    if failed:
                        return self._roll_back(sd, failed, signal="smoke")
                down = self._green_down() if self._serving(sd) else None
                if down:
                    return self._roll_back(sd, down, signal="target-health")
                failure = self._analyse(sd, now)
                if failure:
                    return self._roll_back(sd, failure)
            if now - self.started_at > st.timeouts.deploy:
                return self._done(
                    "timed-out",
                    f"the {st.strategy} deployment is still {self.stage or 'pending'} after "
                    f"{now - self.started_at:.0f}s; ECS carries on",
                )
            s.poll_pause()

    def _done(self, outcome: str, reason: str) -> NativeResult:
        self.result.outcome = outcome
        self.result.reason = reason
        self.result.analysis = self.state
        return self.result

    def _analysis_note(self) -> str:
        t = self.s.settings.thresholds
        if not self.state.windows:
            return "no analysis window completed"
        last = self.state.last
        tail = f"; last: {last.message}" if last else ""
        return (
            f"analysis {self.state.passes} of {self.state.windows} windows passed "
            f"(limit {t.inconclusive_limit} inconclusive in a row){tail}"
        )

    # -- stages ----------------------------------------------------------------------------

    def _stage(self, sd: ServiceDeploymentInfo) -> None:
        stage = sd.lifecycle_stage
        if stage == self.stage or stage is None:
            return
        previous = self.stage
        self.stage = stage
        if stage in STAGES:
            # stages ECS walked between two polls: shown (and recorded) as such, in AWS's order
            start = STAGES.index(previous) + 1 if previous in STAGES else 0
            for skipped in STAGES[start : STAGES.index(stage)]:
                if skipped == "RECONCILE_SERVICE" or (
                    previous is None
                    and skipped != "PRE_SCALE_UP"
                    and STAGES.index(skipped) < STAGES.index("SCALE_UP")
                ):
                    continue
                self.result.stages.append(skipped)
                self.s.emit(
                    "stage",
                    f"stage {stage_label(skipped)} (passed between polls)",
                    stage=skipped,
                    status=sd.status,
                    observed=False,
                    seconds=round(self.s.now() - self.started_at, 3),
                )
        self.result.stages.append(stage)
        weights = []
        if sd.production_weight is not None:
            weights.append(f"green {sd.production_weight:g} % of production")
        if sd.test_weight is not None and stage in TEST_STAGES:
            weights.append(f"{sd.test_weight:g} % of test")
        self.s.emit(
            "stage",
            f"stage {stage_label(stage)}" + (f" ({', '.join(weights)})" if weights else ""),
            stage=stage,
            status=sd.status,
            production_weight=sd.production_weight,
            test_weight=sd.test_weight,
            observed=True,
            seconds=round(self.s.now() - self.started_at, 3),
        )

    # -- smoke through the test listener ---------------------------------------------------

    def _smoke_due(self, sd: ServiceDeploymentInfo) -> bool:
        return (
            sd.lifecycle_stage in TEST_STAGES
            or sd.pause_hook_id is not None
            or sd.lifecycle_stage in SERVING_STAGES
        )

    def _probe(self, sd: ServiceDeploymentInfo) -> str | None:
        s, st = self.s, self.s.settings
        assert st.test_url is not None
        late = sd.lifecycle_stage not in BEFORE_PRODUCTION
        result = s.prober(st.test_url, headers=dict(st.test_headers))
        self.smoke = result.outcome
        s.emit(
            "smoke",
            f"smoke probe through the test listener {result.outcome}: {result.detail}"
            + (" (green already had production traffic: no pause hook held it)" if late else ""),
            level=LEVELS.get(result.outcome, "warning"),
            outcome=result.outcome,
            status=result.status,
            url=st.test_url,
            headers=sorted(st.test_headers),
            before_production=not late,
        )
        if result.outcome == "fail":
            return f"smoke probe through the test listener failed: {result.detail}"
        if sd.pause_hook_id is not None:
            s.write(
                "ecs",
                "ContinueServiceDeployment",
                {"serviceDeploymentArn": sd.arn, "hookId": sd.pause_hook_id, "action": "CONTINUE"},
                "smoke passed: continue to production traffic",
                lambda: s.gw.ecs.continue_service_deployment(sd.arn, sd.pause_hook_id or ""),
            )
        return None

    # -- analysis -----------------------------------------------------------------------------

    @staticmethod
    def _serving(sd: ServiceDeploymentInfo) -> bool:
        """Green has production traffic now."""
        if sd.lifecycle_stage in ("BAKE_TIME", "POST_PRODUCTION_TRAFFIC_SHIFT"):
            return True  # green has all production traffic (weights may not be reported)
        return sd.lifecycle_stage in SERVING_STAGES and (sd.production_weight or 0) > 0

    def _analyse(self, sd: ServiceDeploymentInfo, now: float) -> str | None:
        st = self.s.settings
        if not self._serving(sd):
            return None
        w = st.analysis_window
        if self.window_start is None:
            # Windows are aligned on the period, as CloudWatch aggregates them. The first is the
            # one in progress when green began serving: green's target group had no production
            # request before, so what it holds of that window is green's alone. Judged like the
            # others, except that too few requests there is not counted as inconclusive.
            self.window_start = math.floor(now / w) * w
            self.first_partial = self.window_start < now
            return None
        start, end = self.window_start, self.window_start + w
        if now < end:
            return self._early_fail(start, end, now)
        stats = self._read(start, end)
        self.window_start = end
        green = stats.get(self.green_dim, GroupStats(requests=0))
        blue = stats.get(self.blue_dim)
        j = judge(green, blue, st.thresholds)
        partial, self.first_partial = self.first_partial, False
        if partial and j.outcome is Outcome.INCONCLUSIVE:
            self.s.emit(
                "analysis.partial",
                f"analysis: the window green began serving in had {green.requests} of its "
                f"requests (< {st.thresholds.min_requests}): not judged, the next window is",
                requests=green.requests,
                window=[start, end],
            )
            return None
        return self._record(j, green, blue, [start, end])

    def _early_fail(self, start: float, end: float, now: float) -> str | None:
        """Fail fast, pass slow: the window in progress is read every ``EARLY_READ_EVERY``
        seconds, and a ``fail`` on what it holds so far (with ``min_requests`` of green's, as
        at a window's end) is that window's judgement, at once. A pass or an inconclusive
        result waits for the window's end."""
        if self.early_read_at is not None and now - self.early_read_at < EARLY_READ_EVERY:
            return None
        self.early_read_at = now
        stats = self._read(start, end, quiet=True)
        green = stats.get(self.green_dim, GroupStats(requests=0))
        blue = stats.get(self.blue_dim)
        j = judge(green, blue, self.s.settings.thresholds)
        if j.outcome is not Outcome.FAIL:
            return None
        self.window_start, self.first_partial = end, False
        return self._record(j, green, blue, [start, now])

    def _read(self, start: float, end: float, *, quiet: bool = False) -> dict[str, GroupStats]:
        try:
            return self.s.gw.cw.group_stats(
                self.lb, [self.green_dim, self.blue_dim], start=start, end=end
            )
        except CredentialsError:
            raise
        except AwsError as exc:
            if not quiet:  # an early read that fails is only retried at the window's end
                self.s.emit(
                    "analysis.unavailable",
                    f"cannot read the ALB metrics ({exc.code}): this window counts as inconclusive",
                    level="warning",
                    code=exc.code,
                )
            return {}

    def _record(
        self, j: Judgement, green: GroupStats, blue: GroupStats | None, window: list[float]
    ) -> str | None:
        """Count one judged window (:func:`advance`), emit it; the run's failure, if final."""
        st = self.s.settings
        self.state, final = advance(self.state, j, st.thresholds)
        self.s.emit(
            "analysis",
            f"analysis window {self.state.windows} ({self.stage}): {j.outcome.value}: {j.message}",
            level=LEVELS.get(j.outcome.value, "warning"),
            outcome=j.outcome.value,
            metric=j.metric,
            observed=j.observed,
            limit=j.limit,
            requests=j.requests,
            green={"requests": green.requests, "5xx": green.target_5xx, "p99_ms": green.p99_ms},
            blue=None
            if blue is None
            else {"requests": blue.requests, "5xx": blue.target_5xx, "p99_ms": blue.p99_ms},
            stage=self.stage,
            window=window,
        )
        if final is Outcome.FAIL:
            return final_message(self.state, st.thresholds)
        return None

    def _green_down(self) -> str | None:
        """Green's target health while it serves production, judged by
        :func:`~rollout.decisions.green.green_target_failure` at every poll: a target of ours
        unhealthy or draining, or none that can serve, fails it at the first poll that sees it."""
        try:
            health = self.s.gw.elb.describe_target_health(self.plan.green)
        except CredentialsError:
            raise
        except AwsError:
            return None
        tasks = [*self.observer.tasks.values(), *self.observer.stopped.values()]
        ours = {t.private_ip for t in tasks if t.private_ip}
        failure = green_target_failure(health, stage=self.stage, ours=ours or None)
        if failure is None:
            return None
        self.s.emit(
            "target.health",
            failure.reason,
            level="warning",
            target=failure.task,
            target_group=_short(self.plan.green),
        )
        return failure.reason

    # -- green's tasks ------------------------------------------------------------------------

    def _green_stops(self) -> list[Task]:
        """Our deployment's (green's) tasks newly seen stopped this poll. One DescribeServices
        per poll; tasks are listed only when it shows a change (``Observer.watch_tasks``, which
        also reports each stop and its failure signal as the rolling path does)."""
        try:
            svc = self.observer.service()
            self.grace = float(svc.health_check_grace_period)
            self.observer.watch_tasks(svc, self.deployment_id, grace_period=self.grace)
        except CredentialsError:
            raise
        except AwsError as exc:
            self.s.emit(
                "observe.unavailable",
                f"cannot read green's tasks this poll ({exc.code})",
                level="debug",
                code=exc.code,
            )
            return []
        fresh = [t for arn, t in self.observer.stopped.items() if arn not in self.judged_stops]
        self.judged_stops.update(t.arn for t in fresh)
        return fresh

    # -- rollback ---------------------------------------------------------------------------

    def _roll_back(
        self, sd: ServiceDeploymentInfo, reason: str, *, signal: str = "analysis"
    ) -> NativeResult:
        s = self.s
        decided = s.now()
        s.emit(
            "signal",
            f"deploy failed: {reason}",
            level="error",
            signal=signal,
            definitive=True,
            reason=reason,
            stage=self.stage,
        )
        s.emit(
            "rollback.started",
            f"StopServiceDeployment(ROLLBACK) during {stage_label(self.stage)}: production "
            "traffic back to blue",
            level="warning",
            via="ecs-stop-service-deployment",
            stage=self.stage,
        )
        try:
            s.write(
                "ecs",
                "StopServiceDeployment",
                {"serviceDeploymentArn": sd.arn, "stopType": "ROLLBACK"},
                f"roll back {sd.arn.rsplit('/', 1)[-1]} (blue takes production traffic)",
                lambda: s.gw.ecs.stop_service_deployment_rollback(sd.arn),
            )
        except CredentialsError:
            raise
        except AwsError as exc:
            return self._done(
                "rollback-failed",
                f"{reason}; StopServiceDeployment(ROLLBACK) failed: {exc.message} "
                "Blue is still running; run `rollout status` and stop the deployment by hand",
            )
        if s.dry_run:
            return self._done("rolled-back", reason)
        return self._await_rollback(reason, decided)

    def _ecs_rolled_back(self, sd: ServiceDeploymentInfo, reason: str) -> NativeResult:
        self.s.emit("signal", reason, level="error", signal="ecs", definitive=True, reason=reason)
        if sd.status in DONE_STATUSES:
            self._stage(sd)
        return self._await_rollback(reason, self.s.now())

    def _await_rollback(self, reason: str, decided: float) -> NativeResult:
        s, st = self.s, self.s.settings
        deadline = decided + st.timeouts.healthy
        pause = min(st.poll_interval, 1.0)
        while True:
            sd = self.observer.service_deployment(self.deployment_id)
            if sd is not None:
                self._stage(sd)
            if self.result.traffic_back_seconds is None and self._blue_has_production():
                self.result.traffic_back_seconds = round(s.now() - decided, 3)
                s.emit(
                    "traffic.restored",
                    f"production traffic back on blue {self.result.traffic_back_seconds:g}s "
                    "after the rollback decision",
                    level="success",
                    seconds=self.result.traffic_back_seconds,
                )
            if sd is not None and sd.status == "ROLLBACK_SUCCESSFUL":
                if self.result.traffic_back_seconds is None:
                    self.result.traffic_back_seconds = round(s.now() - decided, 3)
                self.result.restore_seconds = round(s.now() - decided, 3)
                s.emit(
                    "restore.verified",
                    f"ROLLBACK_SUCCESSFUL in {self.result.restore_seconds:g}s: blue serves "
                    "production, green stopped",
                    level="success",
                    seconds=self.result.restore_seconds,
                )
                return self._done("rolled-back", reason)
            if sd is not None and sd.status in ("ROLLBACK_FAILED", "STOPPED"):
                return self._done(
                    "rollback-failed",
                    f"{reason}; the rollback ended {sd.status}: {sd.status_reason or '?'}",
                )
            if s.interrupt.is_set():
                return self._done("interrupted", f"{reason}; interrupted while ECS rolls back")
            if s.now() > deadline:
                return self._done(
                    "rollback-failed",
                    f"{reason}; the rollback was not SUCCESSFUL within "
                    f"{st.timeouts.healthy:.0f}s (status {sd.status if sd else '?'})",
                )
            s.sleep(pause)

    def _blue_has_production(self) -> bool:
        try:
            forwards = self.s.gw.elb.rule_forwards([self.plan.production_rule]).get(
                self.plan.production_rule, {}
            )
        except CredentialsError:
            raise
        except AwsError:
            return False
        return forwards.get(self.plan.green, 0) == 0 and forwards.get(self.plan.blue, 0) > 0


def watch_native(
    s: Session,
    the_plan: Plan,
    *,
    deployment_id: str,
    started_at: float,
    deployment_created_at: float | None,
) -> NativeResult:
    return NativeWatch(
        s,
        the_plan,
        deployment_id=deployment_id,
        started_at=started_at,
        deployment_created_at=deployment_created_at,
    ).run()


def pause_hook() -> dict[str, Any]:
    """The PAUSE hook rollout adds at POST_TEST_TRAFFIC_SHIFT so the smoke probe runs before any
    production traffic (timeout: roll back after an hour without an answer)."""
    return {
        "targetType": "PAUSE",
        "lifecycleStages": ["POST_TEST_TRAFFIC_SHIFT"],
        "timeoutConfiguration": {"timeoutInMinutes": 60, "action": "ROLLBACK"},
    }
