"""Traffic-shifting deployments of the ECS model: ``BLUE_GREEN``, ``LINEAR`` and ``CANARY``.

References (§n) are to ``shared/reference/traffic-shifting.md``.

A service opts in with ``deploymentController.type=ECS``, ``deploymentConfiguration.strategy``
in :data:`SHIFTING` and ``loadBalancers[].advancedConfiguration`` (alternate target group,
production and optional test listener rule, the ECS infrastructure role) (§1.1). A deployment
of such a service, when an older revision (*blue*) serves production, walks the lifecycle
stages in AWS's order (§1.2, §6 row 2)::

    [RECONCILE_SERVICE] PRE_SCALE_UP SCALE_UP POST_SCALE_UP TEST_TRAFFIC_SHIFT
    POST_TEST_TRAFFIC_SHIFT ([PRE_PRODUCTION_TRAFFIC_SHIFT] PRODUCTION_TRAFFIC_SHIFT)×steps
    POST_PRODUCTION_TRAFFIC_SHIFT BAKE_TIME CLEAN_UP

The *green* tasks start in the target group that does not serve production (the alternate one
on the first traffic-shifting deployment), the listener rules' weights move as the strategy says
(§1.3), blue keeps running through the bake time, and at CLEAN_UP blue is scaled to 0 and the
target groups swap roles for the next deployment. A rollback (StopServiceDeployment, a deployment
alarm, the circuit breaker, a failed or timed-out hook) puts every rule back on blue in the same
instant and stops green (§1.4).

This module holds the pure parts (validation, the step plan, the weight encoding) and
:class:`Shifter`, the stage machine the simulation drives. Choices where the reference says
UNVERIFIED are :class:`~rollout.sandbox.ecs.timings.Behaviour` switches (docs/sandbox.md).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any

from rollout.sandbox.errors import ApiError, invalid_parameter

if TYPE_CHECKING:  # pragma: no cover
    from rollout.sandbox.ecs.simulation import EcsSimulation
    from rollout.sandbox.ecs.state import DeploymentRecord, RegionState, ServiceRecord

SHIFTING = ("BLUE_GREEN", "LINEAR", "CANARY")
STRATEGIES = ("ROLLING", *SHIFTING)

#: Every stage in the documented order (§1.2); PRE_PRODUCTION_TRAFFIC_SHIFT is a hook stage only.
STAGES = (
    "RECONCILE_SERVICE",
    "PRE_SCALE_UP",
    "SCALE_UP",
    "POST_SCALE_UP",
    "TEST_TRAFFIC_SHIFT",
    "POST_TEST_TRAFFIC_SHIFT",
    "PRE_PRODUCTION_TRAFFIC_SHIFT",
    "PRODUCTION_TRAFFIC_SHIFT",
    "POST_PRODUCTION_TRAFFIC_SHIFT",
    "BAKE_TIME",
    "CLEAN_UP",
)
#: ``ServiceDeploymentLifecycleStage`` (the values ``lifecycleStage`` may report, §1.1).
REPORTED_STAGES = tuple(s for s in STAGES if s != "PRE_PRODUCTION_TRAFFIC_SHIFT")
#: ``DeploymentLifecycleHookStage``.
HOOK_STAGES = (
    "RECONCILE_SERVICE",
    "PRE_SCALE_UP",
    "POST_SCALE_UP",
    "TEST_TRAFFIC_SHIFT",
    "POST_TEST_TRAFFIC_SHIFT",
    "PRE_PRODUCTION_TRAFFIC_SHIFT",
    "PRODUCTION_TRAFFIC_SHIFT",
    "POST_PRODUCTION_TRAFFIC_SHIFT",
)
#: "PAUSE hooks cannot be configured at TEST_TRAFFIC_SHIFT or PRODUCTION_TRAFFIC_SHIFT" (§1.1).
NO_PAUSE_STAGES = ("TEST_TRAFFIC_SHIFT", "PRODUCTION_TRAFFIC_SHIFT")
HOOK_ANSWERS = ("SUCCEEDED", "FAILED", "TIMED_OUT")
#: "Each lifecycle stage can last up to 24 hours" (and each production step), then ECS fails the
#: deployment and rolls back (§1.2).
STAGE_LIMIT = 24 * 3600.0
#: ECS's default hook timeout (minutes, §1.1) and the 10-per-type limit (§1.6).
DEFAULT_HOOK_TIMEOUT = 1440
MAX_HOOKS_PER_TYPE = 10


# ----------------------------------------------------------------------------- validation


def _tenths(value: float) -> bool:
    return math.isclose(round(value * 10), value * 10, abs_tol=1e-6)


def _number(config: Mapping[str, Any], key: str, where: str) -> float:
    value = config[key]
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise invalid_parameter(f"{where}.{key} must be a number, got {value!r}.")
    return float(value)


def check_configuration(config: Mapping[str, Any], controller: str = "ECS") -> None:
    """Enforce the doc-only rules of ``DeploymentConfiguration`` (§1.1, §6 row 1).

    The message texts are the sandbox's (AWS's own are UNVERIFIED); each names the field, the
    rule and the value given."""
    strategy = config.get("strategy", "ROLLING")
    if strategy not in STRATEGIES:
        raise invalid_parameter(
            f"deploymentConfiguration.strategy must be one of {', '.join(STRATEGIES)}, "
            f"got {strategy!r}."
        )
    if strategy in SHIFTING and controller != "ECS":
        raise invalid_parameter(
            f"The {strategy} deployment strategy requires the ECS deployment controller."
        )
    if strategy == "BLUE_GREEN" and config.get("bakeTimeInMinutes") is None:
        raise invalid_parameter(
            "deploymentConfiguration.bakeTimeInMinutes is required when the deployment strategy "
            "is BLUE_GREEN."
        )
    bake = config.get("bakeTimeInMinutes")
    if bake is not None and (isinstance(bake, bool) or not isinstance(bake, int) or bake < 0):
        raise invalid_parameter(
            f"deploymentConfiguration.bakeTimeInMinutes must be 0 or more minutes, got {bake!r}."
        )
    for key, owner in (("linearConfiguration", "LINEAR"), ("canaryConfiguration", "CANARY")):
        if config.get(key) is not None and strategy != owner:
            raise invalid_parameter(
                f"deploymentConfiguration.{key} is only valid when the deployment strategy is "
                f"{owner}, not {strategy}."
            )
    linear = config.get("linearConfiguration") or {}
    if "stepPercent" in linear:
        step = _number(linear, "stepPercent", "linearConfiguration")
        if not (3.0 <= step <= 100.0 and _tenths(step)):
            raise invalid_parameter(
                "linearConfiguration.stepPercent must be a multiple of 0.1 from 3.0 to 100.0, "
                f"got {step:g}."
            )
    canary = config.get("canaryConfiguration") or {}
    if "canaryPercent" in canary:
        pct = _number(canary, "canaryPercent", "canaryConfiguration")
        if not (0.1 <= pct <= 100.0 and _tenths(pct)):
            raise invalid_parameter(
                "canaryConfiguration.canaryPercent must be a multiple of 0.1 from 0.1 to 100.0, "
                f"got {pct:g}."
            )
    for where, data, key in (
        ("linearConfiguration", linear, "stepBakeTimeInMinutes"),
        ("canaryConfiguration", canary, "canaryBakeTimeInMinutes"),
    ):
        if key in data:
            value = data[key]
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 1440:
                raise invalid_parameter(
                    f"{where}.{key} must be a whole number of minutes from 0 to 1440, "
                    f"got {value!r}."
                )
    hooks = config.get("lifecycleHooks") or []
    if hooks and strategy not in SHIFTING:
        raise invalid_parameter(
            "deploymentConfiguration.lifecycleHooks are only valid with the BLUE_GREEN, LINEAR "
            f"or CANARY deployment strategy, not {strategy}."
        )
    check_hooks(hooks)


def check_hooks(hooks: Sequence[Mapping[str, Any]]) -> None:
    """Validate ``deploymentConfiguration.lifecycleHooks`` (§1.1, §1.6)."""
    counts = {"AWS_LAMBDA": 0, "PAUSE": 0}
    for i, hook in enumerate(hooks):
        where = f"lifecycleHooks[{i}]"
        kind = hook.get("targetType", "AWS_LAMBDA")
        if kind not in counts:
            raise invalid_parameter(
                f"{where}.targetType must be AWS_LAMBDA or PAUSE, got {kind!r}."
            )
        counts[kind] += 1
        if counts[kind] > MAX_HOOKS_PER_TYPE:
            raise invalid_parameter(
                f"A service can have at most {MAX_HOOKS_PER_TYPE} {kind} lifecycle hooks."
            )
        if kind == "AWS_LAMBDA":
            if not hook.get("hookTargetArn"):
                raise invalid_parameter(f"{where}.hookTargetArn is required for AWS_LAMBDA hooks.")
            if not hook.get("roleArn"):
                raise invalid_parameter(f"{where}.roleArn is required for AWS_LAMBDA hooks.")
        elif hook.get("hookTargetArn"):
            raise invalid_parameter(f"{where}.hookTargetArn is not applicable to PAUSE hooks.")
        stages = list(hook.get("lifecycleStages") or [])
        if not stages:
            raise invalid_parameter(f"{where}.lifecycleStages must name at least one stage.")
        for stage in stages:
            if stage not in HOOK_STAGES:
                raise invalid_parameter(
                    f"{where}.lifecycleStages: {stage!r} is not a lifecycle hook stage; use "
                    f"one of {', '.join(HOOK_STAGES)}."
                )
            if kind == "PAUSE" and stage in NO_PAUSE_STAGES:
                raise invalid_parameter(
                    f"{where}: PAUSE hooks cannot be configured at the TEST_TRAFFIC_SHIFT or "
                    f"PRODUCTION_TRAFFIC_SHIFT stages (got {stage})."
                )
        timeout = hook.get("timeoutConfiguration") or {}
        minutes = timeout.get("timeoutInMinutes", DEFAULT_HOOK_TIMEOUT)
        limit = 20160 if kind == "PAUSE" else 1440
        if isinstance(minutes, bool) or not isinstance(minutes, int) or not 1 <= minutes <= limit:
            raise invalid_parameter(
                f"{where}.timeoutConfiguration.timeoutInMinutes must be from 1 to {limit} for "
                f"{kind} hooks, got {minutes!r}."
            )
        action = timeout.get("action", "ROLLBACK")
        if action not in ("ROLLBACK", "CONTINUE"):
            raise invalid_parameter(
                f"{where}.timeoutConfiguration.action must be ROLLBACK or CONTINUE, got {action!r}."
            )


def forward_groups(rule: Any) -> dict[str, int] | None:
    """``{target group ARN: weight}`` of a moto rule's forward action (None: no forward)."""
    for action in rule.actions:
        data = action.data
        if data.get("Type") != "forward":
            continue
        groups = (data.get("ForwardConfig") or {}).get("TargetGroups") or []
        if groups:
            return {str(g["TargetGroupArn"]): int(g.get("Weight", 1)) for g in groups}
        if data.get("TargetGroupArn"):
            return {str(data["TargetGroupArn"]): 1}
    return None


def find_rule(account: str, region: str, arn: str) -> Any | None:
    """moto's listener rule (or None)."""
    from moto.backends import get_backend

    backend = get_backend("elbv2")[account][region]
    for lb_listeners in (lb.listeners for lb in list(backend.load_balancers.values())):
        for listener in list(lb_listeners.values()):
            rule = listener.rules.get(arn)
            if rule is not None:
                return rule
    return None


def check_load_balancers(
    account: str, region: str, strategy: str, lbs: Sequence[Mapping[str, Any]]
) -> None:
    """``advancedConfiguration`` for a traffic-shifting strategy: present, and every resource
    it names exists; each listener rule forwards to both target groups (§1.7)."""
    if strategy not in SHIFTING:
        return
    from moto.backends import get_backend

    if not lbs:
        raise invalid_parameter(
            f"The {strategy} deployment strategy requires a load balancer with "
            "advancedConfiguration (the sandbox does not simulate Service Connect)."
        )
    elbv2 = get_backend("elbv2")[account][region]
    iam = get_backend("iam")[account]["global"]
    for i, lb in enumerate(lbs):
        where = f"loadBalancers[{i}].advancedConfiguration"
        advanced = lb.get("advancedConfiguration")
        if not advanced:
            raise invalid_parameter(
                f"loadBalancers[{i}] needs advancedConfiguration (alternateTargetGroupArn, "
                f"productionListenerRule, roleArn) for the {strategy} deployment strategy."
            )
        primary = str(lb.get("targetGroupArn") or "")
        for key in ("alternateTargetGroupArn", "productionListenerRule", "roleArn"):
            if not advanced.get(key):
                raise invalid_parameter(f"{where}.{key} is required for {strategy}.")
        alternate = str(advanced["alternateTargetGroupArn"])
        group = elbv2.target_groups.get(alternate)
        if group is None:
            raise invalid_parameter(f"{where}.alternateTargetGroupArn {alternate} does not exist.")
        if alternate == primary:
            raise invalid_parameter(
                f"{where}.alternateTargetGroupArn must differ from the targetGroupArn."
            )
        for key in ("productionListenerRule", "testListenerRule"):
            arn = advanced.get(key)
            if not arn:
                continue
            rule = find_rule(account, region, str(arn))
            if rule is None:
                raise invalid_parameter(f"{where}.{key} {arn} does not exist.")
            groups = forward_groups(rule) or {}
            if primary not in groups or alternate not in groups:
                raise invalid_parameter(
                    f"{where}.{key} {arn} must forward to both the target group {primary} and "
                    f"the alternate target group {alternate} (weighted 1 and 0)."
                )
        role = str(advanced["roleArn"])
        if not any(r.arn == role for r in list(iam.roles.values())):
            raise invalid_parameter(f"{where}.roleArn {role} does not exist.")


# ----------------------------------------------------------------------------- the plan


def production_steps(config: Mapping[str, Any]) -> list[float]:
    """Green's production weight (percent) after each PRODUCTION_TRAFFIC_SHIFT step (§1.3).

    LINEAR: k·stepPercent capped at 100 (11 → 11, 22, …, 99, 100: UNVERIFIED for
    non-divisors); CANARY: canaryPercent, then 100; BLUE_GREEN: 100 at once."""
    strategy = config.get("strategy")
    if strategy == "LINEAR":
        step = float((config.get("linearConfiguration") or {}).get("stepPercent", 10.0))
        out: list[float] = []
        k = 1
        while True:
            value = round(min(k * step, 100.0), 1)
            out.append(value)
            if value >= 100.0:
                return out
            k += 1
    if strategy == "CANARY":
        pct = float((config.get("canaryConfiguration") or {}).get("canaryPercent", 5.0))
        return [100.0] if pct >= 100.0 else [round(pct, 1), 100.0]
    return [100.0]


def step_bake_seconds(config: Mapping[str, Any], weight: float) -> float:
    """Wait after a production step that reached ``weight`` (none once at 100 %, §1.1)."""
    if weight >= 100.0:
        return 0.0
    if config.get("strategy") == "LINEAR":
        minutes = (config.get("linearConfiguration") or {}).get("stepBakeTimeInMinutes", 6)
        return float(minutes) * 60
    if config.get("strategy") == "CANARY":
        minutes = (config.get("canaryConfiguration") or {}).get("canaryBakeTimeInMinutes", 10)
        return float(minutes) * 60
    return 0.0


def alb_weights(green_percent: float) -> tuple[int, int]:
    """(green, blue) ALB weights for a green share in percent.

    ALB weights are integers 0–999 (§2.1); how ECS encodes 0.1 % steps is UNVERIFIED: the
    sandbox writes tenths of a percent (``25.5`` → 255/745) and 1/0 at the ends, the weights the
    rules are pre-configured with (§1.7)."""
    tenths = round(green_percent * 10)
    if tenths <= 0:
        return 0, 1
    if tenths >= 1000:
        return 1, 0
    return tenths, 1000 - tenths


# ----------------------------------------------------------------------------- state


@dataclass
class HookRun:
    """One invocation of a lifecycle hook (a ``DeploymentLifecycleHookDetail``)."""

    hook_id: str
    target_type: str
    target_arn: str | None
    stage: str
    status: str
    timeout_action: str
    expires_at: float
    started_at: float

    def view(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "hookId": self.hook_id,
            "targetType": self.target_type,
            "status": self.status,
            "expiresAt": self.expires_at,
            "timeoutAction": self.timeout_action,
        }
        if self.target_arn:
            out["targetArn"] = self.target_arn
        return out


@dataclass
class Shift:
    """The traffic-shifting state of one (green) deployment."""

    strategy: str
    blue: str  # the blue deployment's id
    #: per load balancer entry: (blue target group, green target group, prod rule, test rule)
    routes: list[tuple[str, str, str, str | None]]
    steps: list[float]
    reconcile: bool = False
    stage: str = "PRE_SCALE_UP"
    #: the value ``lifecycleStage`` reports (never PRE_PRODUCTION_TRAFFIC_SHIFT)
    reported: str = "PRE_SCALE_UP"
    stage_started: float = 0.0
    step: int = 0
    production: float = 0.0  # green's requested production weight, percent
    test: float = 0.0  # green's requested test weight, percent
    wait_until: float | None = None
    hooks: list[HookRun] = field(default_factory=list)
    stages_walked: list[str] = field(default_factory=list)
    done: bool = False
    rolled_back: bool = False


# ----------------------------------------------------------------------------- the machine


class Shifter:
    """Drives the traffic-shifting deployments of one :class:`EcsSimulation`."""

    def __init__(self, sim: EcsSimulation) -> None:
        self.sim = sim

    # -- setup -----------------------------------------------------------------------------
    def strategy(self, service: ServiceRecord) -> str:
        return str(service.deployment_configuration.get("strategy", "ROLLING"))

    def begin(
        self, rs: RegionState, service: ServiceRecord, d: DeploymentRecord, active: int
    ) -> None:
        """A new deployment of a traffic-shifting service: if a completed revision serves
        production, ``d`` becomes green (its tasks go to the other target groups)."""
        strategy = self.strategy(service)
        if strategy not in SHIFTING:
            return
        blue = self.sim.last_completed(service, exclude=d)
        if blue is None or blue.status == "INACTIVE":
            return  # the first deployment: nothing to shift from (scales up like ROLLING)
        routes: list[tuple[str, str, str, str | None]] = []
        green_lbs: list[dict[str, Any]] = []
        for lb, blue_lb in zip(service.load_balancers, blue.load_balancers, strict=False):
            advanced = lb.get("advancedConfiguration") or {}
            pair = {str(lb.get("targetGroupArn")), str(advanced.get("alternateTargetGroupArn"))}
            blue_tg = str(blue_lb.get("targetGroupArn"))
            green_tg = next((tg for tg in pair if tg != blue_tg), blue_tg)
            routes.append(
                (
                    blue_tg,
                    green_tg,
                    str(advanced.get("productionListenerRule")),
                    str(advanced["testListenerRule"]) if advanced.get("testListenerRule") else None,
                )
            )
            green_lbs.append({**lb, "targetGroupArn": green_tg})
        d.load_balancers = green_lbs
        d.shift = Shift(
            strategy=strategy,
            blue=blue.id,
            routes=routes,
            steps=production_steps(d.deployment_configuration),
            reconcile=active > 1,
            stage="",  # entered at the first scheduler pass
            reported="RECONCILE_SERVICE" if active > 1 else "PRE_SCALE_UP",
            stage_started=self.sim.now,
        )

    # -- weights ---------------------------------------------------------------------------
    def write_weights(
        self, rs: RegionState, shift: Shift, *, production: float | None, test: float | None
    ) -> None:
        """Rewrite the listener rules' forward actions (what ECS does through the role)."""
        from moto.elbv2.models import FakeAction

        for blue_tg, green_tg, prod_rule, test_rule in shift.routes:
            for arn, percent in ((prod_rule, production), (test_rule, test)):
                if arn is None or percent is None:
                    continue
                rule = find_rule(rs.account, rs.region, arn)
                if rule is None:
                    continue
                green_w, blue_w = alb_weights(percent)
                actions = []
                for action in rule.actions:
                    data = dict(action.data)
                    if data.get("Type") == "forward":
                        data.pop("TargetGroupArn", None)
                        data["ForwardConfig"] = {
                            "TargetGroups": [
                                {"TargetGroupArn": blue_tg, "Weight": blue_w},
                                {"TargetGroupArn": green_tg, "Weight": green_w},
                            ],
                            "TargetGroupStickinessConfig": (
                                (action.data.get("ForwardConfig") or {}).get(
                                    "TargetGroupStickinessConfig"
                                )
                                or {"Enabled": False}
                            ),
                        }
                    actions.append(FakeAction(data))
                rule.actions = actions
                self.sim.record(
                    "rule.weights",
                    rule=arn,
                    weights={blue_tg: blue_w, green_tg: green_w},
                    green_percent=percent,
                )
        if production is not None:
            shift.production = production
        if test is not None:
            shift.test = test

    # -- the stage machine -----------------------------------------------------------------
    def enter(
        self, rs: RegionState, service: ServiceRecord, d: DeploymentRecord, stage: str
    ) -> None:
        shift = d.shift
        assert shift is not None
        shift.stage = stage
        shift.stage_started = self.sim.now
        shift.wait_until = None
        if stage != "PRE_PRODUCTION_TRAFFIC_SHIFT":
            shift.reported = stage
        elif self.sim.behaviour.pre_production_stage_reported != "previous":
            shift.reported = self.sim.behaviour.pre_production_stage_reported
        shift.stages_walked.append(stage)
        self.sim.record(
            "deployment.stage",
            service=service.name,
            deployment=d.id,
            stage=stage,
            reported=shift.reported,
            step=shift.step,
        )
        d.sd_updated_at = self.sim.now
        entered = self.sim.now
        self.sim.schedule(
            entered + STAGE_LIMIT, partial(self._stage_limit, rs, service, d, stage, entered)
        )
        if stage in HOOK_STAGES:
            self._start_hooks(rs, service, d, stage)

    def _stage_limit(
        self,
        rs: RegionState,
        service: ServiceRecord,
        d: DeploymentRecord,
        stage: str,
        entered: float,
    ) -> None:
        shift = d.shift
        if shift is None or shift.done or shift.rolled_back:
            return
        if shift.stage != stage or shift.stage_started != entered:
            return  # moved on (a production step re-enters the stage: a new limit)
        if shift.wait_until is not None and shift.wait_until <= entered + STAGE_LIMIT:
            return  # a step bake of up to 1440 minutes is the configured wait
        if d.sd_status not in ("PENDING", "IN_PROGRESS") or stage in ("BAKE_TIME", "CLEAN_UP"):
            return  # the bake is the configured time; clean-up ends with blue's tasks
        self.sim.record(
            "deployment.stage_timeout", service=service.name, deployment=d.id, stage=stage
        )
        self.sim.hook_failed(rs, service, d, stage, "TIMED_OUT", what="stage")

    def _start_hooks(
        self, rs: RegionState, service: ServiceRecord, d: DeploymentRecord, stage: str
    ) -> None:
        shift = d.shift
        assert shift is not None
        hooks = [
            h
            for h in d.deployment_configuration.get("lifecycleHooks") or []
            if stage in (h.get("lifecycleStages") or [])
        ]
        for hook in hooks:
            kind = str(hook.get("targetType", "AWS_LAMBDA"))
            timeout = hook.get("timeoutConfiguration") or {}
            minutes = int(timeout.get("timeoutInMinutes", DEFAULT_HOOK_TIMEOUT))
            run = HookRun(
                hook_id=self.sim.new_uuid(),
                target_type=kind,
                target_arn=hook.get("hookTargetArn"),
                stage=stage,
                status="AWAITING_ACTION" if kind == "PAUSE" else "IN_PROGRESS",
                timeout_action=str(timeout.get("action", "ROLLBACK")),
                expires_at=self.sim.now + minutes * 60,
                started_at=self.sim.now,
            )
            shift.hooks.append(run)
            self.sim.record(
                "hook.started",
                service=service.name,
                deployment=d.id,
                stage=stage,
                hook=run.hook_id,
                target_type=kind,
            )
            self.sim.schedule(run.expires_at, partial(self._expire, rs, service, d, run))
            if kind == "AWS_LAMBDA":
                answer = self.sim.hook_answer
                if answer != "TIMED_OUT":
                    self.sim.schedule(
                        self.sim.now + self.sim.hook_delay,
                        partial(self.resolve_hook, rs, service, d, run, answer),
                    )

    def _expire(
        self, rs: RegionState, service: ServiceRecord, d: DeploymentRecord, run: HookRun
    ) -> None:
        if run.status not in ("IN_PROGRESS", "AWAITING_ACTION"):
            return
        self.resolve_hook(rs, service, d, run, "TIMED_OUT")

    def resolve_hook(
        self,
        rs: RegionState,
        service: ServiceRecord,
        d: DeploymentRecord,
        run: HookRun,
        answer: str,
    ) -> None:
        """A hook's answer: SUCCEEDED, FAILED or TIMED_OUT (then its timeout action)."""
        if run.status not in ("IN_PROGRESS", "AWAITING_ACTION") or d.shift is None:
            return
        run.status = answer
        self.sim.record(
            "hook.finished", service=service.name, deployment=d.id, hook=run.hook_id, status=answer
        )
        if d.shift.done or d.sd_status not in ("PENDING", "IN_PROGRESS"):
            return
        rollback = answer == "FAILED" or (
            answer == "TIMED_OUT" and run.timeout_action == "ROLLBACK"
        )
        if rollback:
            # UNVERIFIED: the statusReason/rollback reason text for a hook-triggered rollback
            self.sim.hook_failed(rs, service, d, run.stage, answer)
            return
        self.sim.request_pass(rs, service, self.sim.now)

    def continue_hook(
        self,
        rs: RegionState,
        service: ServiceRecord,
        d: DeploymentRecord,
        hook_id: str,
        action: str,
    ) -> None:
        """ContinueServiceDeployment for a PAUSE hook awaiting action."""
        shift = d.shift
        run = next((h for h in shift.hooks if h.hook_id == hook_id), None) if shift else None
        if run is None or run.status != "AWAITING_ACTION":
            raise invalid_parameter(
                f"The lifecycle hook {hook_id} is not awaiting action in this service deployment."
            )
        if action == "ROLLBACK":
            run.status = "FAILED"
            self.sim.record(
                "hook.finished",
                service=service.name,
                deployment=d.id,
                hook=run.hook_id,
                status="ROLLBACK",
            )
            self.sim.hook_failed(rs, service, d, run.stage, "ROLLBACK")
            return
        self.resolve_hook(rs, service, d, run, "SUCCEEDED")

    def _hooks_pending(self, shift: Shift) -> bool:
        return any(
            h.stage == shift.stage
            and h.started_at >= shift.stage_started
            and h.status in ("IN_PROGRESS", "AWAITING_ACTION")
            for h in shift.hooks
        )

    def advance(self, rs: RegionState, service: ServiceRecord, d: DeploymentRecord) -> None:
        """One scheduler pass of a green deployment: keep both revisions' tasks, move stages."""
        shift = d.shift
        assert shift is not None
        sim = self.sim
        blue = service.deployment(shift.blue)
        if shift.stage not in ("", "RECONCILE_SERVICE", "PRE_SCALE_UP"):
            self._keep_tasks(rs, service, d, service.desired)
        if blue is not None and shift.stage != "CLEAN_UP":
            self._keep_tasks(rs, service, blue, service.desired)
        self._stop_others(rs, service, d, blue)
        for _ in range(len(STAGES) * (len(shift.steps) + 1)):
            if shift.done or d.sd_status not in ("PENDING", "IN_PROGRESS"):
                return
            if self._hooks_pending(shift):
                return
            if shift.wait_until is not None and sim.now < shift.wait_until:
                sim.request_pass(rs, service, shift.wait_until)
                return
            nxt = self._next(rs, service, d)
            if nxt is None:
                return
            self.enter(rs, service, d, nxt)
            self._on_enter(rs, service, d)

    def _on_enter(self, rs: RegionState, service: ServiceRecord, d: DeploymentRecord) -> None:
        shift = d.shift
        assert shift is not None
        sim = self.sim
        stage = shift.stage
        if stage == "SCALE_UP":
            self._keep_tasks(rs, service, d, service.desired)
        elif stage == "TEST_TRAFFIC_SHIFT":
            self.write_weights(rs, shift, production=None, test=100.0)
            sim.service_event(
                service,
                # UNVERIFIED: no verbatim service event for traffic shifts is known (§1.4)
                f"(service {service.name}) (deployment {d.id}) shifted 100% of test traffic "
                "to the green service revision.",
            )
        elif stage == "PRODUCTION_TRAFFIC_SHIFT":
            weight = shift.steps[shift.step]
            self.write_weights(rs, shift, production=weight, test=None)
            sim.service_event(
                service,
                f"(service {service.name}) (deployment {d.id}) shifted {weight:g}% of production "
                "traffic to the green service revision.",
            )
            bake = step_bake_seconds(d.deployment_configuration, weight)
            shift.step += 1
            if bake > 0:
                shift.wait_until = sim.now + bake
        elif stage == "BAKE_TIME":
            minutes = int(d.deployment_configuration.get("bakeTimeInMinutes") or 0)
            shift.wait_until = sim.now + minutes * 60
        elif stage == "CLEAN_UP":
            blue = service.deployment(shift.blue)
            if blue is not None:
                blue.desired = 0
                blue.updated_at = sim.now
                doomed = [
                    t
                    for t in sim.service_tasks(rs, service)
                    if t.deployment_id == blue.id and t.live
                ]
                if doomed:
                    sim.stop_tasks(
                        rs,
                        service,
                        doomed,
                        code="ServiceSchedulerInitiated",
                        reason=f"Scaling activity initiated by (deployment {d.id})",
                    )
                    names = " ".join(f"(task {t.id})" for t in doomed)
                    sim.service_event(
                        service,
                        f"(service {service.name}) has stopped {len(doomed)} running tasks: "
                        f"{names}.",
                    )

    def _next(self, rs: RegionState, service: ServiceRecord, d: DeploymentRecord) -> str | None:
        """The stage after the current one, or None while the current one is not finished."""
        shift = d.shift
        assert shift is not None
        stage = shift.stage
        if stage == "":
            return "RECONCILE_SERVICE" if shift.reconcile else "PRE_SCALE_UP"
        if stage == "RECONCILE_SERVICE":
            return "PRE_SCALE_UP"
        if stage == "PRE_SCALE_UP":
            return "SCALE_UP"
        if stage == "SCALE_UP":
            return "POST_SCALE_UP" if self._green_ready(rs, service, d) else None
        if stage == "POST_SCALE_UP":
            return "TEST_TRAFFIC_SHIFT"
        if stage == "TEST_TRAFFIC_SHIFT":
            return "POST_TEST_TRAFFIC_SHIFT"
        if stage in ("POST_TEST_TRAFFIC_SHIFT", "PRODUCTION_TRAFFIC_SHIFT"):
            if shift.step < len(shift.steps):
                return "PRE_PRODUCTION_TRAFFIC_SHIFT"
            return "POST_PRODUCTION_TRAFFIC_SHIFT"
        if stage == "PRE_PRODUCTION_TRAFFIC_SHIFT":
            return "PRODUCTION_TRAFFIC_SHIFT"
        if stage == "POST_PRODUCTION_TRAFFIC_SHIFT":
            return "BAKE_TIME"
        if stage == "BAKE_TIME":
            return "CLEAN_UP"
        if stage == "CLEAN_UP":
            self._finish_if_clean(rs, service, d)
        return None

    def _green_ready(self, rs: RegionState, service: ServiceRecord, d: DeploymentRecord) -> bool:
        live = [
            t for t in self.sim.service_tasks(rs, service) if t.deployment_id == d.id and t.live
        ]
        return len(live) >= service.desired and all(self.sim.is_healthy(service, t) for t in live)

    def _keep_tasks(
        self, rs: RegionState, service: ServiceRecord, d: DeploymentRecord, want: int
    ) -> None:
        """Keep ``want`` tasks of ``d``: replace unhealthy ones (after the grace period),
        launch the missing ones (honouring the throttle)."""
        sim = self.sim
        if d.desired != want:
            d.desired = want
            d.updated_at = sim.now
        tasks = [t for t in sim.service_tasks(rs, service) if t.deployment_id == d.id]
        grace = service.grace_period or 0
        for task in [t for t in tasks if t.live]:
            verdict = sim.unhealthy_reason(service, task)
            if verdict is None:
                continue
            grace_end = (task.started_at or sim.now) + grace
            if sim.now < grace_end:
                sim.request_pass(rs, service, grace_end)
                continue
            task.replaced_unhealthy = True
            reason, message = verdict
            sim.service_event(service, message)
            sim.stop_tasks(rs, service, [task], code="ServiceSchedulerInitiated", reason=reason)
            d.replaced_unhealthy += 1
            sim._delay_replacement(rs, service, d)
            sim._stage2_failure(rs, service, task)
        if d.rollout_state == "FAILED" or d.sd_status not in (
            "PENDING",
            "IN_PROGRESS",
            "SUCCESSFUL",
        ):
            return
        live = [t for t in sim.service_tasks(rs, service) if t.deployment_id == d.id and t.live]
        missing = want - len(live)
        if missing <= 0:
            return
        if sim.now < d.next_launch_at:
            sim.request_pass(rs, service, d.next_launch_at)
            return
        started = [sim.launch_task(rs, service, d) for _ in range(missing)]
        names = " ".join(f"(task {t.id})" for t in started)
        message = f"(service {service.name}) has started {len(started)} tasks: {names}."
        if d.replaced_unhealthy:
            message += (
                f" Amazon ECS replaced {d.replaced_unhealthy} tasks due to an unhealthy status."
            )
            d.replaced_unhealthy = 0
        sim.service_event(service, message)

    def _stop_others(
        self,
        rs: RegionState,
        service: ServiceRecord,
        d: DeploymentRecord,
        blue: DeploymentRecord | None,
    ) -> None:
        """Deployments that are neither green nor blue (an older green this one superseded)
        are scaled in."""
        sim = self.sim
        keep = {d.id} | ({blue.id} if blue is not None else set())
        for other in service.visible_deployments():
            if other.id in keep:
                continue
            other.desired = 0
            doomed = [
                t for t in sim.service_tasks(rs, service) if t.deployment_id == other.id and t.live
            ]
            if doomed:
                sim.stop_tasks(
                    rs,
                    service,
                    doomed,
                    code="ServiceSchedulerInitiated",
                    reason=f"Scaling activity initiated by (deployment {d.id})",
                )

    def _finish_if_clean(
        self, rs: RegionState, service: ServiceRecord, d: DeploymentRecord
    ) -> None:
        shift = d.shift
        assert shift is not None
        sim = self.sim
        sim._drop_drained(rs, service)
        if [x for x in service.visible_deployments() if x is not d]:
            return  # blue tasks are still draining or stopping
        shift.done = True
        d.completed_at = sim.now
        sim.set_rollout(service, d, "COMPLETED", f"ECS deployment {d.id} completed.")
        if d.breaker_status == "MONITORING":
            d.breaker_status = "MONITORING_COMPLETE"
        if d.alarm_status == "MONITORING":
            d.alarm_status = "MONITORING_COMPLETE"
        sim.set_sd_status(service, d, "SUCCESSFUL")
        sim.service_event(
            service, f"(service {service.name}) (deployment {d.id}) deployment completed."
        )
        sim._steady(service, offset=0.001)

    # -- rollback --------------------------------------------------------------------------
    def rollback_traffic(
        self, rs: RegionState, service: ServiceRecord, d: DeploymentRecord
    ) -> None:
        """Every rule back on blue (100/0) at once; green's tasks are stopped."""
        shift = d.shift
        assert shift is not None
        sim = self.sim
        shift.rolled_back = True
        self.write_weights(
            rs, shift, production=0.0, test=0.0 if any(r[3] for r in shift.routes) else None
        )
        sim.record("deployment.traffic_restored", service=service.name, deployment=d.id)
        sim.service_event(
            service,
            # UNVERIFIED: no verbatim service event for a traffic-shifting rollback is known
            f"(service {service.name}) (deployment {d.id}) shifted all production traffic back to "
            "the blue service revision.",
        )
        d.desired = 0
        doomed = [t for t in sim.service_tasks(rs, service) if t.deployment_id == d.id and t.live]
        if doomed:
            sim.stop_tasks(
                rs,
                service,
                doomed,
                code="ServiceSchedulerInitiated",
                reason=f"Scaling activity initiated by (deployment {shift.blue})",
            )


def stop_conflict(d: DeploymentRecord) -> ApiError | None:
    """Why a traffic-shifting deployment cannot be rolled back now (None: it can)."""
    shift = d.shift
    if shift is not None and shift.stage == "CLEAN_UP":
        # UNVERIFIED: blue is being scaled in; the sandbox refuses an instant rollback then.
        return ApiError(
            "ConflictException",
            "The service deployment is in the CLEAN_UP stage: the blue service revision is "
            "being removed and traffic can no longer be shifted back.",
        )
    return None
