"""Pure preflight checks: plain data in, :class:`Check` results out (no AWS, no I/O).

``rollout.verbs.verify`` gathers the data with read-only calls and asks these functions; the
tests pin each with a table.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any, Literal
from urllib.parse import unquote

from rollout.decisions.progressive import (
    describe_conditions,
    headers_hint,
    unmet_header_conditions,
)
from rollout.model import RuleCondition

Status = Literal["pass", "fail", "warn"]
SYMBOLS: dict[str, str] = {"pass": "✓", "fail": "✗", "warn": "!"}

SECRET_WORDS = ("KEY", "SECRET", "TOKEN", "PASSWORD")


@dataclass(frozen=True)
class Check:
    """One preflight result. ``fix`` is a one-line remedy (empty when it passed)."""

    name: str
    status: Status
    message: str
    fix: str = ""

    @property
    def symbol(self) -> str:
        return SYMBOLS[self.status]

    def to_json(self) -> dict[str, str]:
        return {"name": self.name, "status": self.status, "message": self.message, "fix": self.fix}


# -- secrets in the environment ------------------------------------------------------------------


def secret_looking_names(document: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(container, variable) for every plain ``environment`` entry whose name contains KEY,
    SECRET, TOKEN or PASSWORD (case-insensitive)."""
    found = []
    for container in document.get("containerDefinitions") or []:
        for entry in container.get("environment") or []:
            name = str(entry.get("name", ""))
            if any(word in name.upper() for word in SECRET_WORDS):
                found.append((str(container.get("name")), name))
    return found


def check_secret_env(document: Mapping[str, Any]) -> Check:
    found = secret_looking_names(document)
    if not found:
        return Check("env: no secrets in environment", "pass", "no secret-looking names")
    names = ", ".join(f"{c}.{n}" for c, n in found)
    return Check(
        "env: no secrets in environment",
        "fail",
        f"secret-looking variable(s) in plain `environment`: {names}",
        "move them to `secrets` (valueFrom an SSM SecureString or Secrets Manager ARN)",
    )


# -- deployment configuration ---------------------------------------------------------------------


def rolling_limits(desired: int, minimum_percent: int, maximum_percent: int) -> tuple[int, int]:
    """(lower, upper) task counts during a deployment: ceil(N×min/100), floor(N×max/100)."""
    lower = math.ceil(desired * minimum_percent / 100)
    upper = math.floor(desired * maximum_percent / 100)
    return lower, upper


def check_rolling(desired: int, minimum_percent: int, maximum_percent: int) -> Check:
    """Can ECS replace tasks at all at this desired count, and without dropping capacity?"""
    name = "deploy: min/max percent"
    lower, upper = rolling_limits(desired, minimum_percent, maximum_percent)
    shown = f"desired {desired}, min {minimum_percent}% → {lower}, max {maximum_percent}% → {upper}"
    if desired == 0:
        return Check(
            name,
            "warn",
            f"{shown}: the service runs no tasks, nothing is verified",
            "set a desired count of at least 1 (2 for zero-downtime)",
        )
    if upper <= desired and lower >= desired:
        return Check(
            name,
            "fail",
            f"{shown}: ECS can neither start nor stop a task, the deployment would be stuck",
            "raise maximumPercent (e.g. 200) or lower minimumHealthyPercent",
        )
    if lower == 0:
        return Check(
            name,
            "warn",
            f"{shown}: ECS may stop every running task before new ones are healthy (downtime)",
            "set minimumHealthyPercent to 100 and maximumPercent to 200",
        )
    if upper <= desired:
        return Check(
            name,
            "warn",
            f"{shown}: old tasks stop before new ones start (capacity drops during deploys)",
            "raise maximumPercent so new tasks start first (e.g. 200)",
        )
    return Check(name, "pass", f"{shown}: rolling replacement possible")


def check_circuit_breaker(enabled: bool, rollback: bool, mode: str) -> Check:
    """``mode`` is detection.circuit_breaker: require (fail), warn, or off (not checked)."""
    name = "deploy: circuit breaker"
    if mode == "off":
        return Check(name, "pass", "not checked (detection.circuit_breaker = off)")
    if enabled and rollback:
        return Check(name, "pass", "deployment circuit breaker on, with rollback")
    what = "on without rollback" if enabled else "off"
    return Check(
        name,
        "fail" if mode == "require" else "warn",
        f"the service's deployment circuit breaker is {what}; ECS will not stop a bad release "
        "if rollout is interrupted",
        "update-service --deployment-configuration "
        "'deploymentCircuitBreaker={enable=true,rollback=true}'",
    )


# -- speed ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SpeedEstimate:
    """Seconds the service's settings add to each deploy and each rollback (lower bounds)."""

    to_healthy: float  # ALB: interval × healthy threshold before a new task gets traffic
    to_unhealthy: float  # ALB: interval × unhealthy threshold before a bad task is noticed
    draining: float  # deregistration delay (+ stopTimeout) before an old task stops
    grace: float  # health-check grace period: failures ignored this long after start

    @property
    def deploy(self) -> float:
        return self.to_healthy + self.draining

    @property
    def rollback(self) -> float:
        """A rollback replaces the bad tasks: the good ones become healthy, the bad ones drain."""
        return self.to_healthy + self.draining


def estimate_speed(
    *,
    deregistration_delay: float,
    interval: float,
    healthy_threshold: int,
    unhealthy_threshold: int,
    grace_period: float,
    stop_timeout: float = 30,
) -> SpeedEstimate:
    return SpeedEstimate(
        to_healthy=interval * healthy_threshold,
        to_unhealthy=interval * unhealthy_threshold,
        draining=deregistration_delay + stop_timeout,
        grace=grace_period,
    )


# Above these, the setting costs more than it buys for a service answering in well under a second.
SLOW_DRAIN = 60.0
SLOW_HEALTHY = 60.0
SLOW_GRACE = 120.0


def check_speed(estimate: SpeedEstimate, *, deregistration_delay: float) -> Check:
    name = "speed: health checks and draining"
    summary = (
        f"≈{estimate.deploy:.0f}s added to every deploy and rollback "
        f"(healthy after {estimate.to_healthy:.0f}s, drain {estimate.draining:.0f}s; "
        f"grace {estimate.grace:.0f}s, unhealthy noticed after {estimate.to_unhealthy:.0f}s)"
    )
    fixes = []
    if deregistration_delay > SLOW_DRAIN:
        fixes.append(f"lower deregistration_delay.timeout_seconds ({deregistration_delay:.0f}s)")
    if estimate.to_healthy > SLOW_HEALTHY:
        fixes.append("lower the health-check interval or healthy threshold")
    if estimate.grace > SLOW_GRACE:
        fixes.append(f"lower healthCheckGracePeriodSeconds ({estimate.grace:.0f}s)")
    if fixes:
        return Check(name, "warn", summary, "; ".join(fixes) + " to deploy and roll back faster")
    return Check(name, "pass", summary)


# -- load balancer wiring ------------------------------------------------------------------------


def container_ports(document: Mapping[str, Any], container: str) -> list[int] | None:
    """Container ports of ``container``; None when the container is not in the document."""
    for c in document.get("containerDefinitions") or []:
        if c.get("name") == container:
            return [
                int(p["containerPort"]) for p in c.get("portMappings") or [] if "containerPort" in p
            ]
    return None


def check_wiring(
    document: Mapping[str, Any],
    load_balancers: Sequence[tuple[str, str, int]],
    target_types: Mapping[str, str | None],
) -> Check:
    """``load_balancers``: the service's (target group ARN, container name, container port).
    ``target_types``: target group ARN → its target type (awsvpc needs ``ip``)."""
    name = "alb: container and port"
    if not load_balancers:
        return Check(
            name,
            "warn",
            "the service has no load balancer; nothing checks health",
            "attach the service to the ALB target group",
        )
    problems = []
    for tg_arn, container, port in load_balancers:
        tg = tg_arn.rsplit("/", 2)[-2] if tg_arn.count("/") >= 2 else tg_arn
        ports = container_ports(document, container)
        if ports is None:
            problems.append(
                f"target group {tg} expects container {container!r}, "
                "which the task definition does not have"
            )
        elif port not in ports:
            shown = ", ".join(map(str, ports)) or "none"
            problems.append(
                f"target group {tg} expects {container}:{port}, the container maps port(s) {shown}"
            )
        kind = target_types.get(tg_arn)
        if document.get("networkMode") == "awsvpc" and kind not in (None, "ip"):
            problems.append(f"target group {tg} has target type {kind}; awsvpc tasks need 'ip'")
    if problems:
        return Check(
            name,
            "fail",
            "; ".join(problems),
            "make the container name/port in the task definition match the service's loadBalancers",
        )
    shown = ", ".join(f"{c}:{p}" for _, c, p in load_balancers)
    return Check(name, "pass", f"{shown} matches the service's target group(s)")


def check_network(
    document: Mapping[str, Any],
    network_configuration: Mapping[str, Any] | None,
    launch_type: str | None,
) -> Check:
    """awsvpc tasks need the service's subnets; a FARGATE service needs a FARGATE definition."""
    name = "service: network"
    if launch_type == "FARGATE" and "FARGATE" not in (
        document.get("requiresCompatibilities") or []
    ):
        return Check(
            name,
            "fail",
            "the service runs on FARGATE but the task definition does not require FARGATE",
            'add "requiresCompatibilities": ["FARGATE"] to the template',
        )
    mode = document.get("networkMode")
    if mode != "awsvpc":
        if launch_type == "FARGATE":
            return Check(
                name,
                "fail",
                f"Fargate needs networkMode awsvpc, the definition has {mode!r}",
                'set "networkMode": "awsvpc" in the template',
            )
        return Check(name, "pass", f"networkMode {mode!r}")
    vpc = (network_configuration or {}).get("awsvpcConfiguration") or {}
    if not vpc.get("subnets"):
        return Check(
            name,
            "fail",
            "networkMode awsvpc, but the service has no awsvpcConfiguration subnets",
            "give the service a networkConfiguration with subnets and security groups",
        )
    return Check(name, "pass", f"awsvpc in {len(vpc['subnets'])} subnet(s)")


# -- roles ---------------------------------------------------------------------------------------


def trusts_ecs_tasks(policy: Any) -> bool:
    """Whether an IAM trust policy (dict, JSON or URL-encoded JSON) lets ecs-tasks assume it."""
    return trusts_service(policy, "ecs-tasks.amazonaws.com")


def trusts_service(policy: Any, service: str) -> bool:
    """Whether an IAM trust policy (dict, JSON or URL-encoded JSON) lets ``service`` (e.g.
    ``ecs.amazonaws.com``) assume the role."""
    if isinstance(policy, str):
        try:
            policy = json.loads(unquote(policy))
        except json.JSONDecodeError:
            return False
    if not isinstance(policy, Mapping):
        return False
    statements = policy.get("Statement") or []
    if isinstance(statements, Mapping):
        statements = [statements]
    for st in statements:
        if st.get("Effect") != "Allow":
            continue
        actions = st.get("Action") or []
        actions = [actions] if isinstance(actions, str) else actions
        if not any(a in ("sts:AssumeRole", "sts:*", "*") for a in actions):
            continue
        principal = st.get("Principal") or {}
        services = principal.get("Service") if isinstance(principal, Mapping) else None
        services = [services] if isinstance(services, str) else services or []
        if service in services:
            return True
    return False


def role_name(arn: str) -> str:
    """``arn:aws:iam::1:role/path/name`` → ``name`` (a bare name is returned as is)."""
    return arn.rsplit("/", 1)[-1] if ":role/" in arn or "/" in arn else arn


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return [value] if isinstance(value, str | Mapping) else list(value)


def policy_allows(policies: Iterable[Any], actions: Sequence[str], resource: str) -> bool:
    """Whether any Allow statement grants one of ``actions`` on ``resource`` and no Deny
    statement denies it. Wildcards (``*``, ``?``) follow IAM; conditions, permission boundaries
    and resource policies are not evaluated (a static approximation)."""
    allowed = False
    for policy in policies:
        if not isinstance(policy, Mapping):
            continue
        for st in _as_list(policy.get("Statement")):
            if not isinstance(st, Mapping) or "NotAction" in st or "NotResource" in st:
                continue
            acts = [str(a).lower() for a in _as_list(st.get("Action"))]
            hit_action = any(fnmatchcase(a.lower(), pat) for a in actions for pat in acts)
            hit_resource = any(fnmatchcase(resource, str(r)) for r in _as_list(st.get("Resource")))
            if hit_action and hit_resource:
                if st.get("Effect") == "Deny":
                    return False
                if st.get("Effect") == "Allow":
                    allowed = True
    return allowed


# -- secrets references --------------------------------------------------------------------------


@dataclass(frozen=True)
class SecretRef:
    container: str
    name: str
    value_from: str
    kind: Literal["ssm", "secretsmanager", "unknown"]
    #: the SSM parameter name (with leading "/" when it has a path) or the secret id/ARN
    target: str
    region: str | None = None


_SSM_ARN = re.compile(r"^arn:aws[\w-]*:ssm:([a-z0-9-]+):(\d{12}):parameter(/.*)$")
_SM_ARN = re.compile(r"^(arn:aws[\w-]*:secretsmanager:([a-z0-9-]+):\d{12}:secret:[^:]+)(:.*)?$")


def parse_secret_ref(container: str, name: str, value_from: str) -> SecretRef:
    """Classify a ``secrets[].valueFrom`` (SSM ARN or name, Secrets Manager ARN with an optional
    ``:json-key:version-stage:version-id`` suffix)."""
    m = _SSM_ARN.match(value_from)
    if m:
        path = m.group(3)
        # parameter/name (no path) is written without the slash; parameter/a/b keeps "/a/b".
        target = path if path.count("/") > 1 else path.lstrip("/")
        return SecretRef(container, name, value_from, "ssm", target, m.group(1))
    m = _SM_ARN.match(value_from)
    if m:
        return SecretRef(container, name, value_from, "secretsmanager", m.group(1), m.group(2))
    if value_from.startswith("arn:"):
        return SecretRef(container, name, value_from, "unknown", value_from)
    return SecretRef(container, name, value_from, "ssm", value_from)


def secret_refs(document: Mapping[str, Any]) -> list[SecretRef]:
    refs = []
    for container in document.get("containerDefinitions") or []:
        for entry in container.get("secrets") or []:
            refs.append(
                parse_secret_ref(
                    str(container.get("name")), str(entry.get("name")), str(entry.get("valueFrom"))
                )
            )
    return refs


# -- logs ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LogTarget:
    container: str
    group: str
    region: str | None
    create_group: bool


def awslogs_targets(document: Mapping[str, Any]) -> list[LogTarget]:
    targets = []
    for container in document.get("containerDefinitions") or []:
        log = container.get("logConfiguration") or {}
        if log.get("logDriver") != "awslogs":
            continue
        options = log.get("options") or {}
        targets.append(
            LogTarget(
                container=str(container.get("name")),
                group=str(options.get("awslogs-group", "")),
                region=options.get("awslogs-region"),
                create_group=str(options.get("awslogs-create-group", "")).lower() == "true",
            )
        )
    return targets


# -- native traffic-shifting strategies (blue-green, canary, linear) ---------------------------

#: What the ECS infrastructure role must be able to do on the listener rules (AWS managed
#: policy AmazonECSInfrastructureRolePolicyForLoadBalancers; traffic-shifting.md §1.7).
INFRASTRUCTURE_ROLE_ACTIONS = ("elasticloadbalancing:ModifyRule",)
INFRASTRUCTURE_ROLE_MANAGED_POLICY = "AmazonECSInfrastructureRolePolicyForLoadBalancers"


def check_strategy_controller(controller: str | None, strategy: str) -> Check:
    """The service's deployment controller must be ``ECS`` for any strategy rollout drives
    (CODE_DEPLOY and EXTERNAL services are deployed by something else)."""
    name = "strategy: deployment controller"
    kind = controller or "ECS"
    if kind == "ECS":
        return Check(name, "pass", f"controller ECS allows {strategy}")
    return Check(
        name,
        "fail",
        f"the service's deployment controller is {kind}; {strategy} needs ECS",
        "recreate the service with deploymentController ECS (it cannot be changed in place)",
    )


def check_alternate_target_group(alternate: str | None, existing: Iterable[str]) -> Check:
    """The load balancer's ``advancedConfiguration`` names an alternate target group that
    exists."""
    name = "strategy: alternate target group"
    if not alternate:
        return Check(
            name,
            "fail",
            "the service's load balancer has no advancedConfiguration.alternateTargetGroupArn",
            "give the service an alternate target group (infra/voj.yaml: DeploymentStrategy "
            'parameter) or set strategy = "rolling"',
        )
    if alternate not in set(existing):
        return Check(
            name,
            "fail",
            f"alternate target group {alternate.rsplit(':', 1)[-1]} does not exist",
            "create it, or fix advancedConfiguration.alternateTargetGroupArn",
        )
    return Check(name, "pass", f"{alternate.rsplit(':', 1)[-1]} exists")


def check_listener_rule(
    role: str,
    rule_arn: str | None,
    forwards: Mapping[str, int] | None,
    groups: tuple[str, str],
    *,
    required: bool = True,
) -> Check:
    """A production (or test) listener rule exists and forwards to both target groups, so ECS
    can move the weights between them. ``forwards`` is the rule's forward action as
    {target group ARN: weight}; None when the rule was not found."""
    name = f"strategy: {role} listener rule"
    if not rule_arn:
        if not required:
            return Check(
                name,
                "warn",
                f"no {role} listener rule: the smoke probe cannot reach green before production",
                "add advancedConfiguration.testListenerRule and test_url in rollout.toml",
            )
        return Check(
            name,
            "fail",
            f"the service's load balancer has no advancedConfiguration.{role}ListenerRule",
            f"add the {role} listener rule to the service's advancedConfiguration",
        )
    short = rule_arn.rsplit("/", 1)[-1]
    if forwards is None:
        return Check(name, "fail", f"rule {short} does not exist", "fix the rule ARN")
    missing = [g.rsplit(":", 1)[-1] for g in groups if g not in forwards]
    if missing:
        return Check(
            name,
            "fail",
            f"rule {short} does not forward to {', '.join(missing)}",
            "make the rule's forward action list both target groups (weights 1 and 0)",
        )
    return Check(name, "pass", f"rule {short} forwards to both target groups")


def check_test_headers(
    test_url: str | None,
    rule_arn: str | None,
    conditions: Sequence[RuleCondition] | None,
    headers: Mapping[str, str],
) -> Check | None:
    """The smoke probe's ``test_headers`` satisfy the test listener rule's ``http-header``
    conditions: otherwise the probe falls through to the production rule and reaches blue, and
    its pass says nothing about green. None when there is nothing to judge (no test_url, no
    test rule, or the rule was not found: :func:`check_listener_rule` reports that)."""
    if not test_url or not rule_arn or conditions is None:
        return None
    name = "strategy: smoke probe reaches the test rule"
    short = rule_arn.rsplit("/", 1)[-1]
    unmet = unmet_header_conditions(conditions, headers)
    if unmet:
        return Check(
            name,
            "fail",
            f"test listener rule {short} needs {describe_conditions(unmet)}; test_headers "
            f"does not send it, so the probe of {test_url} would reach blue, not green",
            headers_hint(unmet),
        )
    wanted = [c for c in conditions if c.field == "http-header"]
    if not wanted:
        return Check(name, "pass", f"rule {short} has no http-header condition")
    return Check(
        name,
        "pass",
        f"test_headers satisfy rule {short}'s condition(s) on "
        f"{', '.join(sorted({c.header or '' for c in wanted}))}",
    )


def check_infrastructure_role(
    role_arn: str | None,
    trust_policy: Any,
    policies: Iterable[Any],
    attached_names: Iterable[str],
    rule_arns: Sequence[str],
) -> Check:
    """The ECS infrastructure role exists, trusts ecs.amazonaws.com and may modify the listener
    rules (a static reading of its policies, like the execution-role check)."""
    name = "strategy: ECS infrastructure role"
    if not role_arn:
        return Check(
            name,
            "fail",
            "the service's load balancer has no advancedConfiguration.roleArn",
            "name the ECS infrastructure role for load balancers in advancedConfiguration",
        )
    short = role_name(role_arn)
    if trust_policy is None:
        return Check(name, "fail", f"role {short} does not exist", "create it (infra/voj.yaml)")
    if not trusts_service(trust_policy, "ecs.amazonaws.com"):
        return Check(
            name,
            "fail",
            f"role {short} does not trust ecs.amazonaws.com",
            "add ecs.amazonaws.com to its trust policy (sts:AssumeRole)",
        )
    if INFRASTRUCTURE_ROLE_MANAGED_POLICY in set(attached_names):
        return Check(name, "pass", f"{short} has {INFRASTRUCTURE_ROLE_MANAGED_POLICY}")
    docs = list(policies)
    denied = [
        r.rsplit("/", 1)[-1]
        for r in rule_arns
        if not policy_allows(docs, INFRASTRUCTURE_ROLE_ACTIONS, r)
    ]
    if denied:
        return Check(
            name,
            "fail",
            f"role {short} may not modify listener rule(s) {', '.join(denied)}",
            f"attach {INFRASTRUCTURE_ROLE_MANAGED_POLICY} to it",
        )
    return Check(name, "pass", f"{short} may modify the listener rules")


def summarize(checks: Iterable[Check]) -> tuple[int, int, int]:
    """(passed, failed, warned)."""
    counts = {"pass": 0, "fail": 0, "warn": 0}
    for check in checks:
        counts[check.status] += 1
    return counts["pass"], counts["fail"], counts["warn"]
