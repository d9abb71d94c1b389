"""Native ECS traffic-shifting strategies, as data: pure, table-tested.

- :func:`deployment_configuration`: the ``deploymentConfiguration`` UpdateService sends for a
  strategy from ``rollout.toml`` (the service's other fields kept);
- :func:`strategy_summary` / :func:`analysis_summary`: one line each for ``render`` and events;
- :func:`production_weights`: the production shares ECS walks through for a strategy;
- :data:`STAGES` and :func:`stage_label`: ``ServiceDeployment.lifecycleStage`` in AWS's order;
- :func:`load_balancer_dimension` / :func:`target_group_dimension`: ``AWS/ApplicationELB``
  dimension values from ARNs (``app/<name>/<id>``, ``targetgroup/<name>/<id>``);
- :func:`unmet_header_conditions` / :func:`headers_hint`: does the smoke probe's
  ``test_headers`` satisfy the test listener rule's ``http-header`` conditions (else it reaches
  blue through the production rule, and a pass proves nothing about green).

Facts: shared/reference/traffic-shifting.md §1.1 (shapes, ranges, defaults), §1.2 (stage order),
§3.1 (dimensions).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from rollout.decisions.analysis import Thresholds
from rollout.model import RuleCondition

#: rollout.toml's names → ECS's ``DeploymentStrategy``.
ECS_STRATEGY: dict[str, str] = {
    "rolling": "ROLLING",
    "blue-green": "BLUE_GREEN",
    "canary": "CANARY",
    "linear": "LINEAR",
}
NATIVE = frozenset({"blue-green", "canary", "linear"})

#: ``ServiceDeploymentLifecycleStage`` in the order a deployment walks it (§1.2). A linear or
#: canary deployment repeats PRODUCTION_TRAFFIC_SHIFT once per step.
STAGES: tuple[str, ...] = (
    "RECONCILE_SERVICE",
    "PRE_SCALE_UP",
    "SCALE_UP",
    "POST_SCALE_UP",
    "TEST_TRAFFIC_SHIFT",
    "POST_TEST_TRAFFIC_SHIFT",
    "PRODUCTION_TRAFFIC_SHIFT",
    "POST_PRODUCTION_TRAFFIC_SHIFT",
    "BAKE_TIME",
    "CLEAN_UP",
)
#: Stages in which green serves production traffic (analysis runs), blue still running.
SERVING_STAGES = frozenset(
    {"PRODUCTION_TRAFFIC_SHIFT", "POST_PRODUCTION_TRAFFIC_SHIFT", "BAKE_TIME"}
)
#: Stages before any production traffic reaches green (the test-listener smoke probe's place).
BEFORE_PRODUCTION = frozenset(
    (*STAGES[: STAGES.index("PRODUCTION_TRAFFIC_SHIFT")], "PRE_PRODUCTION_TRAFFIC_SHIFT")
)

#: ``ServiceDeploymentStatus`` values that end a deployment.
DONE_STATUSES = frozenset({"SUCCESSFUL", "STOPPED", "ROLLBACK_SUCCESSFUL", "ROLLBACK_FAILED"})


@dataclass(frozen=True)
class Shape:
    """A native strategy's numbers (``[env.<name>.shift]``)."""

    bake_minutes: int = 10
    canary_percent: float = 5.0
    canary_bake_minutes: int = 10
    step_percent: float = 10.0
    step_bake_minutes: int = 6


def shape_of(shift: Any) -> Shape:
    """A :class:`Shape` from anything with the ``[shift]`` keys (config or engine settings)."""
    return Shape(
        bake_minutes=int(shift.bake_minutes),
        canary_percent=float(shift.canary_percent),
        canary_bake_minutes=int(shift.canary_bake_minutes),
        step_percent=float(shift.step_percent),
        step_bake_minutes=int(shift.step_bake_minutes),
    )


def ecs_strategy(strategy: str) -> str:
    try:
        return ECS_STRATEGY[strategy]
    except KeyError:
        raise ValueError(
            f"unknown strategy {strategy!r} (one of {', '.join(ECS_STRATEGY)})"
        ) from None


def deployment_configuration(
    current: Mapping[str, Any], strategy: str, shape: Shape
) -> dict[str, Any]:
    """The ``deploymentConfiguration`` to send: ``current`` (the service's, as DescribeServices
    returns it) with the strategy, bake time and the strategy's own block set from
    ``rollout.toml``; the other strategy's block dropped (ECS accepts it only with its
    strategy, §1.1). Rolling keeps only ``strategy: ROLLING``."""
    out = {
        k: v
        for k, v in current.items()
        if k not in ("strategy", "bakeTimeInMinutes", "linearConfiguration", "canaryConfiguration")
    }
    out["strategy"] = ecs_strategy(strategy)
    if strategy == "rolling":
        return out
    out["bakeTimeInMinutes"] = shape.bake_minutes
    if strategy == "canary":
        out["canaryConfiguration"] = {
            "canaryPercent": shape.canary_percent,
            "canaryBakeTimeInMinutes": shape.canary_bake_minutes,
        }
    elif strategy == "linear":
        out["linearConfiguration"] = {
            "stepPercent": shape.step_percent,
            "stepBakeTimeInMinutes": shape.step_bake_minutes,
        }
    return out


def configuration_differences(current: Mapping[str, Any], strategy: str, shape: Shape) -> list[str]:
    """How the service's deploymentConfiguration differs from ``rollout.toml`` (empty: it
    matches). Used when ``set_on_deploy`` is off: the service must already be configured."""
    want = deployment_configuration(current, strategy, shape)
    have_strategy = str(current.get("strategy") or "ROLLING")
    diffs = []
    if have_strategy != want["strategy"]:
        diffs.append(f"strategy is {have_strategy}, rollout.toml says {want['strategy']}")
    for key in ("bakeTimeInMinutes", "canaryConfiguration", "linearConfiguration"):
        if key in want and current.get(key) != want[key]:
            diffs.append(f"{key} is {current.get(key)!r}, rollout.toml says {want[key]!r}")
    return diffs


def production_weights(strategy: str, shape: Shape) -> tuple[float, ...]:
    """The production shares (percent) green is given, in order (§1.3)."""
    if strategy == "blue-green":
        return (100.0,)
    if strategy == "canary":
        return (shape.canary_percent, 100.0) if shape.canary_percent < 100 else (100.0,)
    if strategy == "linear":
        steps = []
        k = 1
        while k * shape.step_percent < 100.0 - 1e-9:
            steps.append(round(k * shape.step_percent, 1))
            k += 1
        return (*steps, 100.0)
    return ()


def strategy_summary(strategy: str, shape: Shape) -> str:
    """One line: what the strategy will do (render, deploy's first event)."""
    if strategy == "rolling":
        return "rolling: ECS replaces tasks in batches; no traffic shifting, no bake with blue kept"
    bake = f"bake {shape.bake_minutes} min with blue kept"
    if strategy == "blue-green":
        return f"blue-green: test traffic, then 100 % of production at once; {bake}"
    if strategy == "canary":
        return (
            f"canary: {shape.canary_percent:g} % of production for "
            f"{shape.canary_bake_minutes} min, then 100 %; {bake}"
        )
    steps = production_weights(strategy, shape)
    return (
        f"linear: {len(steps)} steps of {shape.step_percent:g} % every "
        f"{shape.step_bake_minutes} min; {bake}"
    )


def analysis_summary(t: Thresholds, window: int) -> str:
    return (
        f"analysis: {window} s windows, ≥ {t.min_requests} requests each; fail on 5xx rate > "
        f"max({t.max_error_rate:.1%}, blue + {t.error_rate_margin:.1%}) or p99 > "
        f"max({t.max_p99_ms:g} ms, blue × {t.p99_ratio:g}); "
        f"{t.inconclusive_limit} inconclusive in a row tolerated"
    )


def stage_label(stage: str | None) -> str:
    """``BAKE_TIME`` → ``bake time``; position in the order when known (``[9/10]``)."""
    if not stage:
        return "pending"
    words = stage.replace("_", " ").lower()
    if stage in STAGES:
        return f"{words} [{STAGES.index(stage) + 1}/{len(STAGES)}]"
    return words


def _arn_resource(arn: str) -> str:
    parts = arn.split(":", 5)
    if len(parts) != 6 or not parts[0] == "arn":
        raise ValueError(f"not an ARN: {arn!r}")
    return parts[5]


def load_balancer_dimension(arn: str) -> str:
    """``arn:…:loadbalancer/app/voj/50dc6c…`` (or a listener or listener-rule ARN of it) →
    ``app/voj/50dc6c…``, the ``LoadBalancer`` dimension (§3.1)."""
    resource = _arn_resource(arn)
    kind, _, rest = resource.partition("/")
    parts = rest.split("/")
    if kind not in ("loadbalancer", "listener", "listener-rule") or len(parts) < 3:
        raise ValueError(f"not a load balancer, listener or rule ARN: {arn!r}")
    if parts[0] != "app":
        raise ValueError(f"not an Application Load Balancer: {arn!r}")
    return "/".join(parts[:3])


def target_group_dimension(arn: str) -> str:
    """``arn:…:targetgroup/voj-blue/6d0ecf…`` → ``targetgroup/voj-blue/6d0ecf…`` (§3.1)."""
    resource = _arn_resource(arn)
    parts = resource.split("/")
    if parts[0] != "targetgroup" or len(parts) != 3:
        raise ValueError(f"not a target group ARN: {arn!r}")
    return resource


def green_and_blue(weights: Mapping[str, int], groups: tuple[str, str]) -> tuple[str, str]:
    """Which of the two target groups is blue before a deployment: the one the production rule
    sends the traffic to. ``groups`` is (service's target group, alternate); ties (both 0, or
    equal) count the service's own group as blue."""
    primary, alternate = groups
    if weights.get(alternate, 0) > weights.get(primary, 0):
        return primary, alternate  # (green, blue)
    return alternate, primary


def green_and_blue_in_flight(
    production: Mapping[str, int],
    test: Mapping[str, int] | None,
    groups: tuple[str, str],
    *,
    production_weight: float | None,
    test_weight: float | None,
) -> tuple[str, str]:
    """Which group is green in a traffic-shifting deployment already in flight (``rollout
    watch`` attaching to it), from the rules' weights now and the ServiceDeployment's
    ``requestedProductionTrafficWeight`` / ``requestedTestTrafficWeight`` (green's, percent):

    - once test traffic has shifted (test weight 100), the test rule forwards only to green;
    - otherwise green's production share tells: below 50 % green is the lighter group, above it
      the heavier one (at exactly 50 % without a test rule, the service's own group counts as
      blue, as :func:`green_and_blue`);
    - before any shift, :func:`green_and_blue`.
    """
    primary, alternate = groups
    if test and test_weight is not None and test_weight >= 100.0:
        carrying = [g for g in groups if test.get(g, 0) > 0]
        if len(carrying) == 1:
            green = carrying[0]
            return green, alternate if green == primary else primary
    if production_weight is not None and production_weight > 50.0:
        blue, green = green_and_blue(production, groups)
        return green, blue
    return green_and_blue(production, groups)


# -- the test listener rule's header conditions -------------------------------------------------


def header_value_matches(pattern: str, value: str) -> bool:
    """An ``http-header`` condition value against a header value: case-insensitive, ``*`` any
    characters, ``?`` exactly one (ELBv2 API Reference, HttpHeaderConditionConfig)."""
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, value, re.IGNORECASE | re.DOTALL) is not None


def unmet_header_conditions(
    conditions: Sequence[RuleCondition], headers: Mapping[str, str]
) -> list[RuleCondition]:
    """The rule's ``http-header`` conditions that ``headers`` do not satisfy (all conditions of a
    rule must match; any value of one condition may). Header names ignore case. Other condition
    fields (path, host, ...) are not judged here."""
    lowered = {name.lower(): value for name, value in headers.items()}
    unmet = []
    for c in conditions:
        if c.field != "http-header" or not c.header:
            continue
        sent = lowered.get(c.header.lower())
        if sent is None or not any(header_value_matches(p, sent) for p in c.values):
            unmet.append(c)
    return unmet


def _example(pattern: str) -> str:
    """A value a wildcard pattern matches (``*`` dropped, ``?`` as ``x``)."""
    return pattern.replace("*", "").replace("?", "x")


def headers_hint(unmet: Sequence[RuleCondition]) -> str:
    """What to add to rollout.toml (and the variable form) so the probe meets ``unmet``."""
    pairs = [(c.header or "", _example(c.values[0]) if c.values else "") for c in unmet]
    table = ", ".join(f'"{n}" = "{v}"' for n, v in pairs)
    env = ", ".join(f"{n}: {v}" for n, v in pairs)
    return f'add test_headers = {{ {table} }} to the environment (or ROLLOUT_TEST_HEADERS="{env}")'


def describe_conditions(unmet: Sequence[RuleCondition]) -> str:
    """``header X-Rollout-Test matching '1'`` for each condition."""
    return "; ".join(
        f"header {c.header} matching {' or '.join(repr(v) for v in c.values)}" for c in unmet
    )
