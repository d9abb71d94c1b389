"""``rollout verify``: read-only preflight of a rendered task definition and its service.

Every check is a :class:`~rollout.decisions.checks.Check` (✓ pass, ✗ fail, ! warn) with a
one-line fix; each is also emitted as a ``check`` event. Only read calls are made
(Describe*/Get*/List*); ``tests/config/test_verify.py`` asserts that on the recorded calls.

Checks (in order): image in ECR, the image policy (allowed registries, digest pinning), the
environment's resources (family, secrets and log groups belong to it), Fargate size,
secret-looking plain environment variables, execution/task roles (exist, trust
ecs-tasks.amazonaws.com), each ``secrets`` reference (exists; readable by the execution role's
policies), awslogs log groups, the service (exists), its circuit breaker, min/max percent at the
desired count, network mode and subnets, container/port wiring to its target groups, and the
speed its health-check and draining settings cost.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from rollout.config import EnvConfig, environment_names
from rollout.context import Context
from rollout.decisions.checks import (
    INFRASTRUCTURE_ROLE_MANAGED_POLICY,
    Check,
    awslogs_targets,
    check_alternate_target_group,
    check_circuit_breaker,
    check_infrastructure_role,
    check_listener_rule,
    check_network,
    check_rolling,
    check_secret_env,
    check_speed,
    check_strategy_controller,
    check_test_headers,
    check_wiring,
    estimate_speed,
    policy_allows,
    role_name,
    secret_refs,
    summarize,
    trusts_ecs_tasks,
)
from rollout.decisions.fargate import fargate_size_problem
from rollout.decisions.image_policy import (
    CHECK_NAME as IMAGE_POLICY_CHECK,
)
from rollout.decisions.image_policy import (
    allowed_registries,
    check_image_policy,
    container_images,
    violations,
)
from rollout.decisions.isolation import check_isolation
from rollout.decisions.progressive import NATIVE, configuration_differences, shape_of
from rollout.decisions.taskdef import ImageRef, parse_image
from rollout.engine.outcome import Outcome
from rollout.errors import AwsError, ConfigError, CredentialsError
from rollout.events import Event, Level
from rollout.gateways.ecs import EcsGateway, ServiceNotFound
from rollout.gateways.elb import ElbGateway
from rollout.gateways.iam import IamGateway
from rollout.gateways.logs import LogsGateway
from rollout.gateways.secrets import SecretsGateway
from rollout.gateways.sts import StsGateway
from rollout.model import Service
from rollout.verbs.render import Rendered, find_in_ecr, render_task_definition

_LEVEL: dict[str, Level] = {"pass": "success", "fail": "error", "warn": "warning"}

SSM_READ_ACTIONS = ("ssm:GetParameters", "ssm:GetParameter")
SECRETS_READ_ACTIONS = ("secretsmanager:GetSecretValue",)


@dataclass(frozen=True)
class VerifyReport:
    checks: tuple[Check, ...]
    env: str = ""
    image: str = ""
    #: The reason given with --image-policy-override, when the policy was actually overridden.
    image_policy_override: str | None = None

    @property
    def ok(self) -> bool:
        return not any(c.status == "fail" for c in self.checks)

    @property
    def exit_code(self) -> int:
        return 0 if self.ok else 10

    @property
    def failed(self) -> tuple[Check, ...]:
        return tuple(c for c in self.checks if c.status == "fail")

    def to_json(self) -> dict[str, Any]:
        passed, failed, warned = summarize(self.checks)
        return {
            "env": self.env,
            "image": self.image,
            "ok": self.ok,
            "exit_code": self.exit_code,
            "summary": {"pass": passed, "fail": failed, "warn": warned},
            "checks": [c.to_json() for c in self.checks],
            "image_policy_override": self.image_policy_override,
        }


@dataclass
class _Run:
    cfg: EnvConfig
    rendered: Rendered
    ctx: Context
    checks: list[Check] = field(default_factory=list)
    #: The execution role's policy documents, once the role was found and trusted.
    execution_policies: list[Any] | None = None
    _account: str | None = None

    def add(self, check: Check) -> None:
        self.checks.append(check)
        self.ctx.emit(
            Event(
                kind="check",
                at=self.ctx.clock.now(),
                message=f"{check.symbol} {check.name}: {check.message}",
                level=_LEVEL[check.status],
                data={
                    "name": check.name,
                    "status": check.status,
                    "fix": check.fix,
                    "message": check.message,
                },
            )
        )

    def guarded(self, name: str, fn: Callable[[], None]) -> None:
        """Run a group of checks; an AWS failure becomes a failed check, not a crash."""
        try:
            fn()
        except CredentialsError:
            raise  # not a finding about the stack: every later call would fail the same way
        except AwsError as exc:
            self.add(Check(name, "fail", exc.message, exc.hint or "check permissions and retry"))

    @property
    def account(self) -> str:
        if self._account is None:
            self._account = self.rendered.account or (
                StsGateway(self.ctx.factory).caller_identity().account
            )
        return self._account


def run_checks(
    cfg: EnvConfig,
    rendered: Rendered,
    ctx: Context,
    *,
    image_policy_override: str | None = None,
) -> VerifyReport:
    """Run every preflight check (read-only) and emit one ``check`` event per result.

    ``image_policy_override`` (a reason) turns image-policy violations into a warning, emitted
    as an ``image_policy.override`` event and kept in the report.
    """
    run = _Run(cfg, rendered, ctx)
    doc = rendered.document
    run.guarded("image", lambda: _image(run))
    overridden: list[str] = []
    run.guarded(IMAGE_POLICY_CHECK, lambda: _image_policy(run, image_policy_override, overridden))
    _isolation(run)
    _fargate(run, doc)
    run.add(check_secret_env(doc))
    run.guarded("roles", lambda: _roles(run, doc))
    run.guarded("secrets", lambda: _secrets(run, doc))
    run.guarded("logs", lambda: _logs(run, doc))
    run.guarded("service", lambda: _service(run, doc))
    return VerifyReport(
        checks=tuple(run.checks),
        env=cfg.name,
        image=rendered.image,
        image_policy_override=image_policy_override if overridden else None,
    )


# -- groups ----------------------------------------------------------------------------------


def _image(run: _Run) -> None:
    name = "image: in ECR"
    if run.rendered.in_ecr:  # render found it moments ago, resolving the tag to its digest
        shown = run.rendered.requested_image or run.rendered.image
        run.add(Check(name, "pass", f"{shown} → {run.rendered.digest}"))
        return
    ref = parse_image(run.rendered.image)
    if run.rendered.ecr_missing is not None:  # render asked ECR moments ago: not again
        _image_missing(run, ref, repository=run.rendered.ecr_missing == "repository")
        return
    if not ref.is_ecr:
        run.add(
            Check(
                name,
                "warn",
                f"{ref} is not in ECR; its existence is not checked",
                "use an ECR image so rollout can verify and pin it",
            )
        )
        return
    found, repository_exists = find_in_ecr(ref, run.ctx.factory)
    if found is None:
        _image_missing(run, ref, repository=not repository_exists)
    else:
        shown = run.rendered.requested_image or str(ref)
        run.add(Check(name, "pass", f"{shown} → {found.digest}"))


def _image_missing(run: _Run, ref: ImageRef, *, repository: bool) -> None:
    name = "image: in ECR"
    if repository:
        run.add(
            Check(
                name,
                "fail",
                f"the ECR repository {ref.repository} does not exist",
                f"create it and push the image (or fix `ecr_repository`/--image): {ref}",
            )
        )
        return
    run.add(
        Check(
            name,
            "fail",
            f"{run.rendered.requested_image or str(ref)} is not in ECR",
            "push the image first, or pass the tag/digest that was pushed",
        )
    )


def _image_policy(run: _Run, override: str | None, overridden: list[str]) -> None:
    """Allowed registries and digest pinning for every container's image (no AWS call unless
    the allow-list needs the account id)."""
    policy = run.cfg.image_policy
    patterns = policy.registries
    needs_account = not patterns or any("<account>" in p for p in patterns)
    account = run.account if needs_account else ""
    allowed = allowed_registries(patterns, account=account, region=run.cfg.region)
    images = container_images(run.rendered.document)
    # an ECR image render could not find is unpinned because it is missing: `image: in ECR`
    # reports that, so it is not reported twice
    excused = [] if run.rendered.in_ecr or not _is_ecr(run.rendered.image) else [run.rendered.image]
    check = check_image_policy(
        images,
        allowed,
        require_digest=policy.require_digest,
        override=override,
        unpinned_ok=excused,
    )
    run.add(check)
    if override and check.status == "warn":
        found = violations(
            images, allowed, require_digest=policy.require_digest, unpinned_ok=excused
        )
        overridden.extend(found)
        run.ctx.emit(
            Event(
                kind="image_policy.override",
                at=run.ctx.clock.now(),
                message=f"image policy overridden: {override}",
                level="warning",
                data={"reason": override, "violations": found},
            )
        )


def _isolation(run: _Run) -> None:
    """The family, secrets and log groups must be this environment's (decisions.isolation)."""
    cfg = run.cfg
    try:
        names = dict(environment_names(run.ctx.config_path))
    except ConfigError:
        names = {}
    names[cfg.name] = (cfg.name, *cfg.aliases)
    run.add(check_isolation(run.rendered.document, cfg.name, names, cfg.isolation))


def _fargate(run: _Run, doc: dict[str, Any]) -> None:
    name = "fargate: cpu/memory"
    if "FARGATE" not in (doc.get("requiresCompatibilities") or []):
        run.add(
            Check(
                name,
                "warn",
                "the task definition does not require FARGATE",
                'add "requiresCompatibilities": ["FARGATE"]',
            )
        )
        return
    problem = fargate_size_problem(doc.get("cpu"), doc.get("memory"))
    if problem:
        run.add(
            Check(name, "fail", problem, "pick a valid pair (docs/configuration.md lists them)")
        )
    else:
        run.add(Check(name, "pass", f"cpu {doc.get('cpu')}, memory {doc.get('memory')}"))


def _roles(run: _Run, doc: dict[str, Any]) -> None:
    iam = IamGateway(run.ctx.factory)
    needs_execution = (
        bool(secret_refs(doc))
        or bool(awslogs_targets(doc))
        or any(_is_ecr(c.get("image")) for c in doc.get("containerDefinitions") or [])
    )
    for key, label in (("executionRoleArn", "execution"), ("taskRoleArn", "task")):
        name = f"role: {label}"
        arn = doc.get(key)
        if not arn:
            if label == "execution" and needs_execution:
                run.add(
                    Check(
                        name,
                        "fail",
                        "no executionRoleArn, but the task pulls from ECR, "
                        "reads secrets or writes awslogs",
                        f"set {key}",
                    )
                )
            else:
                run.add(Check(name, "pass", f"none set ({key} absent)"))
            continue
        role = iam.get_role(role_name(str(arn)))
        if role is None:
            run.add(
                Check(
                    name,
                    "fail",
                    f"{arn} does not exist",
                    "create the role (infra/voj.yaml) or fix the ARN in the template",
                )
            )
            continue
        if not trusts_ecs_tasks(role.trust_policy):
            run.add(
                Check(
                    name,
                    "fail",
                    f"{role.name} does not trust ecs-tasks.amazonaws.com",
                    "add ecs-tasks.amazonaws.com as a Service principal with "
                    "sts:AssumeRole to its trust policy",
                )
            )
            continue
        run.add(Check(name, "pass", f"{role.name} exists and trusts ecs-tasks.amazonaws.com"))
        if label == "execution":
            run.execution_policies = iam.role_policies(role.name)


def _is_ecr(image: Any) -> bool:
    try:
        return parse_image(str(image)).is_ecr
    except ValueError:
        return False


def _secrets(run: _Run, doc: dict[str, Any]) -> None:
    refs = secret_refs(doc)
    if not refs:
        run.add(Check("secrets", "pass", "the task definition has no secrets"))
        return
    store = SecretsGateway(run.ctx.factory)
    policies = run.execution_policies
    # One DescribeParameters call per region for every SSM reference.
    existing: dict[tuple[str | None, str], bool] = {}
    by_region: dict[str | None, list[str]] = {}
    for ref in refs:
        if ref.kind == "ssm":
            by_region.setdefault(ref.region, []).append(ref.target)
    for region, names in by_region.items():
        found = store.describe_parameters(names, region=region)
        existing.update({(region, name): name in found for name in names})
    for ref in refs:
        name = f"secret: {ref.container}.{ref.name}"
        if ref.kind == "unknown":
            run.add(
                Check(
                    name,
                    "fail",
                    f"{ref.value_from} is neither an SSM parameter nor a Secrets Manager secret",
                    "use an SSM parameter or Secrets Manager ARN",
                )
            )
            continue
        if ref.kind == "ssm":
            exists = existing[(ref.region, ref.target)]
            region = ref.region or run.cfg.region
            resource = (
                ref.value_from
                if ref.value_from.startswith("arn:")
                else f"arn:aws:ssm:{region}:{run.account}:parameter/{ref.target.lstrip('/')}"
            )
            actions: tuple[str, ...] = SSM_READ_ACTIONS
            what = f"SSM parameter {ref.target}"
        else:
            secret = store.describe_secret(ref.target, region=ref.region)
            exists = secret is not None and not secret.deleted
            resource, actions, what = ref.target, SECRETS_READ_ACTIONS, f"secret {ref.target}"
        if not exists:
            run.add(
                Check(
                    name,
                    "fail",
                    f"{what} does not exist",
                    f"create it (e.g. aws ssm put-parameter --name {ref.target} ...) or fix "
                    "valueFrom"
                    if ref.kind == "ssm"
                    else "create the secret or fix valueFrom",
                )
            )
            continue
        if policies is not None and not policy_allows(policies, actions, resource):
            run.add(
                Check(
                    name,
                    "warn",
                    f"{what} exists, but the execution role's policies do not "
                    f"visibly grant {actions[0]} on it",
                    f"grant {actions[0]} on {resource} to the execution role",
                )
            )
            continue
        run.add(
            Check(
                name,
                "pass",
                f"{what} exists"
                + (", readable by the execution role" if policies is not None else ""),
            )
        )


def _logs(run: _Run, doc: dict[str, Any]) -> None:
    targets = awslogs_targets(doc)
    logs = LogsGateway(run.ctx.factory)
    for target in targets:
        name = f"logs: {target.container}"
        if not target.group:
            run.add(
                Check(
                    name,
                    "fail",
                    "awslogs without awslogs-group",
                    "set logConfiguration.options.awslogs-group",
                )
            )
        elif logs.log_group_exists(target.group, region=target.region):
            run.add(Check(name, "pass", f"log group {target.group} exists"))
        elif target.create_group:
            run.add(
                Check(
                    name, "pass", f"log group {target.group} will be created (awslogs-create-group)"
                )
            )
        else:
            run.add(
                Check(
                    name,
                    "fail",
                    f"log group {target.group} does not exist",
                    f"create it (aws logs create-log-group --log-group-name {target.group}) "
                    'or set "awslogs-create-group": "true"',
                )
            )


def _service(run: _Run, doc: dict[str, Any]) -> None:
    cfg = run.cfg
    try:
        service = EcsGateway(run.ctx.factory).describe_service(cfg.cluster, cfg.service)
    except ServiceNotFound as exc:
        run.add(
            Check(
                "service: exists",
                "fail",
                exc.message,
                "create the service (infra/voj.yaml) or fix cluster/service in rollout.toml",
            )
        )
        return
    run.add(Check("service: exists", "pass", f"{cfg.cluster}/{cfg.service} is {service.status}"))
    dc = service.deployment_config
    run.add(
        check_circuit_breaker(
            dc.circuit_breaker_enabled, dc.circuit_breaker_rollback, cfg.detection.circuit_breaker
        )
    )
    run.add(check_rolling(service.desired, dc.minimum_healthy_percent, dc.maximum_percent))
    run.add(check_network(doc, service.network_configuration, service.launch_type))
    _wiring_and_speed(run, doc, service)
    if cfg.strategy in NATIVE:
        _strategy(run, service)


def _strategy(run: _Run, service: Service) -> None:
    """A traffic-shifting strategy needs the controller, the alternate target group, the rules
    forwarding to both groups and an infrastructure role that may modify them."""
    cfg = run.cfg
    run.add(check_strategy_controller(service.deployment_controller, cfg.strategy))
    lb = next((x for x in service.load_balancers if x.alternate_target_group_arn), None)
    if lb is None:
        lb = service.load_balancers[0] if service.load_balancers else None
    if lb is None:
        run.add(
            Check(
                "strategy: load balancer",
                "fail",
                f"{cfg.strategy} needs the service behind an ALB; it has no loadBalancers",
                "attach the service to a target group and listener rules",
            )
        )
        return
    elb = ElbGateway(run.ctx.factory)
    alternate = lb.alternate_target_group_arn
    existing = [g.arn for g in elb.describe_target_groups([alternate])] if alternate else []
    run.add(check_alternate_target_group(alternate, existing))
    groups = (lb.target_group_arn, alternate or "")
    rules = [r for r in (lb.production_listener_rule, lb.test_listener_rule) if r]
    forwards = elb.rule_forwards(rules) if rules else {}
    prod, test = lb.production_listener_rule, lb.test_listener_rule
    run.add(check_listener_rule("production", prod, forwards.get(prod or ""), groups))
    run.add(check_listener_rule("test", test, forwards.get(test or ""), groups, required=False))
    if cfg.test_url and test and test in forwards:
        conditions = elb.rule_conditions([test]).get(test)
        probe = check_test_headers(cfg.test_url, test, conditions, cfg.test_headers)
        if probe is not None:
            run.add(probe)
    trust: Any = None
    policies: list[Any] = []
    attached: list[str] = []
    if lb.role_arn:
        iam = IamGateway(run.ctx.factory)
        name = role_name(lb.role_arn)
        role = iam.get_role(name)
        if role is not None:
            trust = role.trust_policy
            attached = iam.attached_policy_names(name)
            if INFRASTRUCTURE_ROLE_MANAGED_POLICY not in attached:
                # only then read the policy documents (the deploy role need not read them)
                policies = iam.role_policies(name)
    run.add(check_infrastructure_role(lb.role_arn, trust, policies, attached, rules))
    if not cfg.shift.set_on_deploy:
        diffs = configuration_differences(
            service.deployment_configuration_raw, cfg.strategy, shape_of(cfg.shift)
        )
        run.add(
            Check(
                "strategy: service configuration",
                "fail" if diffs else "pass",
                "; ".join(diffs) if diffs else f"the service is configured for {cfg.strategy}",
                "set shift.set_on_deploy = true, or update the service (infra/voj.yaml)"
                if diffs
                else "",
            )
        )


def _wiring_and_speed(run: _Run, doc: dict[str, Any], service: Service) -> None:
    lbs = [
        (lb.target_group_arn, lb.container_name, lb.container_port) for lb in service.load_balancers
    ]
    groups = ElbGateway(run.ctx.factory).describe_target_groups([lb[0] for lb in lbs])
    by_arn = {g.arn: g for g in groups}
    for arn, _, _ in lbs:
        if arn not in by_arn:
            run.add(
                Check(
                    "alb: target group",
                    "fail",
                    f"target group {arn} does not exist",
                    "fix the service's loadBalancers",
                )
            )
    run.add(check_wiring(doc, lbs, {g.arn: g.target_type for g in groups}))
    if not groups:
        return
    stop_timeout = max(
        (
            float(c.get("stopTimeout", 30))
            for c in doc.get("containerDefinitions") or []
            if c.get("name") in run.cfg.containers
        ),
        default=30.0,
    )
    slowest = max(
        groups, key=lambda g: g.deregistration_delay + g.health_check_interval * g.healthy_threshold
    )
    estimate = estimate_speed(
        deregistration_delay=slowest.deregistration_delay,
        interval=slowest.health_check_interval,
        healthy_threshold=slowest.healthy_threshold,
        unhealthy_threshold=slowest.unhealthy_threshold,
        grace_period=service.health_check_grace_period,
        stop_timeout=stop_timeout,
    )
    run.add(check_speed(estimate, deregistration_delay=slowest.deregistration_delay))


# -- human output -----------------------------------------------------------------------------


def format_report(report: VerifyReport, *, problems_only: bool = False) -> str:
    """The check list for a terminal: one line per check, a fix line under each ✗ and !.
    ``problems_only`` (``-q``) leaves out the checks that passed."""
    lines = [f"verify {report.env}: {report.image}"]
    width = max((len(c.name) for c in report.checks), default=0)
    for c in report.checks:
        if problems_only and c.status == "pass":
            continue
        lines.append(f"  {c.symbol} {c.name.ljust(width)}  {c.message}")
        if c.status != "pass" and c.fix:
            lines.append(f"    {' ' * width}  fix: {c.fix}")
    passed, failed, warned = summarize(report.checks)
    verdict = "OK" if report.ok else "FAILED"
    lines.append(f"{verdict}: {passed} passed, {failed} failed, {warned} warning(s)")
    return "\n".join(lines) + "\n"


def format_markdown(report: VerifyReport) -> str:
    """The check list as a Markdown table (for the GitHub step summary)."""
    verdict = "passed" if report.ok else "failed"
    lines = [
        f"### rollout verify {report.env}: {verdict}",
        "",
        f"Image: `{report.image}`",
        "",
        "| | Check | Result | Fix |",
        "|---|---|---|---|",
    ]
    for c in report.checks:
        cells = [c.symbol, c.name, c.message, c.fix if c.status != "pass" else ""]
        lines.append("| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |")
    return "\n".join(lines) + "\n"


def report_json(report: VerifyReport) -> str:
    return json.dumps(report.to_json(), indent=2, ensure_ascii=False) + "\n"


# -- verb ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class VerifyOptions:
    env: str
    image: str | None = None
    overrides: Mapping[str, Any] = field(default_factory=dict)
    #: Accept an image the environment's image policy rejects; the reason is recorded.
    image_policy_override: str | None = None


def run(options: VerifyOptions, ctx: Context) -> Outcome:
    """Load the config, render (leniently: a missing image becomes a failed check), run the
    checks. ``details["report"]`` is the :class:`VerifyReport`."""
    cfg = ctx.load_env(options.env, options.overrides)
    rendered = render_task_definition(cfg, options.image, ctx)
    report = run_checks(cfg, rendered, ctx, image_policy_override=options.image_policy_override)
    failed = report.failed
    return Outcome(
        verdict="ok" if report.ok else "preflight-failed",
        exit_code=report.exit_code,
        reason="; ".join(f"{c.name}: {c.message}" for c in failed) or None,
        details={"report": report},
    )
