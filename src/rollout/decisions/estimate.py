"""``rollout doctor``: how long a good deploy and a rollback take with these settings, which
settings make them slow, and what each fix saves. Pure: every input is a value, every output a
number with the formula that made it.

Sources are sections of shared/reference/ecs-behaviour.md (§). The platform's own durations
(task start, scheduler reaction, deprovisioning) are the observed figures of §1.7, §4.3 and §11;
the rest comes from the service's settings.

A good rolling deploy (``b`` batches, §1.1: ``upper = floor(N × max%)``,
``lower = ceil(N × min%)``, ``b = ceil(N / (upper − lower))``). rollout's SUCCEEDED comes once
the new tasks are healthy and the old ones have left RUNNING (draining); ECS marks the deployment
COMPLETED only when they have stopped, i.e. after the deregistration delay::

    stop      = dereg_delay + sigterm + deprovision
    deploy    = start + b × (to_running + first_healthy + reaction + drain_start)
                + (b − 1) × stop + poll + bake
    completed = start + b × (to_running + first_healthy + reaction + drain_start + stop)

A bad release whose new tasks fail their health checks (the common case), rolled back by
rollout while the old tasks still run (min 100 %)::

    detect   = start + to_running + max(grace, unhealthy_threshold × interval) + poll
             (+ (ceil(K / N) − 1) × (replacement + to_running + max(grace, …)) when N < K)
    restore  = poll   (StopServiceDeployment(ROLLBACK): the old tasks never stopped)
             (+ to_running + first_healthy when min% < 100: old tasks must start again)
    rollback = detect + restore

ECS's circuit breaker alone (nobody watching) needs ``threshold`` failed tasks, each counted when
it has STOPPED (its target drained; sandbox Behaviour, DERIVED), then waits for the failed tasks
to drain before the rollback COMPLETES::

    breaker = start + ceil(threshold / N) × (to_running + max(grace, unhealthy) + reaction
              + drain_start + dereg_delay + sigterm + deprovision + replacement) + dereg_delay

Clients leave a bad path behind Route 53 weights only after INSYNC (≤ 60 s) + the record's TTL
(§7).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Literal

FirstHealthy = Literal["one_check", "threshold"]


@dataclass(frozen=True)
class Platform:
    """ECS/Fargate's own durations (seconds), from observed traces."""

    start_delay: float = 14.0  # UpdateService → `has started` (§1.7 trace A)
    to_running: float = 30.0  # `has started` → RUNNING, target registered (§1.7: 20–40 s)
    reaction: float = 10.0  # health change → the scheduler acting on it (§1.7, DERIVED)
    drain_start: float = 2.0  # stop decision → `has begun draining` (§1.7: 1.6–10 s)
    sigterm: float = 2.0  # SIGTERM → exit for an app that handles it (≤ stopTimeout, §4.1)
    deprovision: float = 10.0  # ENI detach (§1.7, DERIVED)
    replacement: float = 17.0  # a failed task → its replacement starting (§4.3)
    insync: float = 60.0  # Route 53 change → INSYNC, typical upper bound (§7)
    waiter_delay: float = 15.0  # ServicesStable polls every 15 s (§1.6)


@dataclass(frozen=True)
class Settings:
    """What doctor read from the live service and rollout.toml."""

    desired: int
    min_percent: int = 100
    max_percent: int = 200
    grace_period: float = 0.0
    #: target group health check (None: the service has no load balancer)
    hc_interval: float | None = 30.0
    hc_healthy_threshold: int = 5
    hc_unhealthy_threshold: int = 2
    deregistration_delay: float = 300.0
    #: container health check: (interval, retries, startPeriod), or None
    container_hc: tuple[float, int, float] | None = None
    stop_timeout: float = 30.0
    breaker_enabled: bool = False
    breaker_rollback: bool = False
    route53_ttl: float | None = None
    poll_interval: float = 5.0
    bake_seconds: float = 0.0
    consecutive_failures: int = 2
    #: the fastest bake alarm's period × datapoints to alarm (None: no alarm read)
    alarm_fire_seconds: float | None = None
    #: §6.1 CONFLICT: a new target is healthy after one check (ALB guide; the sandbox's default)
    #: or after HealthyThresholdCount checks (ECS best-practice guide)
    first_healthy: FirstHealthy = "one_check"


@dataclass(frozen=True)
class Term:
    name: str
    seconds: float
    formula: str  # with the settings' values filled in
    source: str  # § of ecs-behaviour.md, or the setting


@dataclass(frozen=True)
class Estimate:
    name: str
    terms: tuple[Term, ...]

    @property
    def seconds(self) -> float:
        return sum(t.seconds for t in self.terms)

    @property
    def formula(self) -> str:
        return " + ".join(t.formula for t in self.terms if t.seconds or t.formula)


@dataclass(frozen=True)
class Finding:
    setting: str
    current: str
    suggested: str
    saves_deploy: float  # seconds off a good deploy (rollout's SUCCEEDED)
    saves_completed: float  # seconds off ECS's COMPLETED (waiters, the next deploy)
    saves_rollback: float  # seconds off rollout's rollback
    saves_breaker: float  # seconds off ECS's breaker-alone rollback
    why: str
    source: str


@dataclass(frozen=True)
class Diagnosis:
    deploy: Estimate
    completed: Estimate
    rollback: Estimate
    breaker: Estimate | None  # None: the breaker (with rollback) is off
    findings: tuple[Finding, ...]
    notes: tuple[str, ...] = ()
    #: the deploy under the other reading of §6.1 (threshold checks to first healthy)
    deploy_threshold_reading: float | None = None
    #: clients moved off a bad path after a rollback (Route 53 weights), when configured
    clients_off_bad_path: float | None = None


def batches(desired: int, min_percent: int, max_percent: int) -> int | None:
    """How many replace cycles a rolling deploy takes; None when min/max allow none (§1.1)."""
    if desired <= 0:
        return 0
    upper = math.floor(desired * max_percent / 100)
    lower = math.ceil(desired * min_percent / 100)
    room = upper - lower
    if room <= 0:
        return None
    return math.ceil(desired / room)


def breaker_threshold(desired: int) -> int:
    """clamp(ceil(0.5 × N), 3, 200) (§2.1, the default BOUNDED_PERCENT 50)."""
    return min(200, max(3, math.ceil(0.5 * desired)))


def _first_healthy(s: Settings, reading: FirstHealthy) -> Term:
    if s.hc_interval is None:
        if s.container_hc is not None:
            interval, _, start = s.container_hc
            return Term(
                "first healthy",
                start + interval,
                f"container check {start:g}+{interval:g}",
                "§4.1 container healthCheck",
            )
        return Term("first healthy", 40.0, "40 (no health check: RUNNING 40 s)", "§1.1")
    checks = 1 if reading == "one_check" else s.hc_healthy_threshold
    return Term(
        "first healthy",
        checks * s.hc_interval,
        f"{checks}×{s.hc_interval:g} (health checks to healthy)",
        "§6.1 (CONFLICT: one check or HealthyThresholdCount)",
    )


def _unhealthy(s: Settings) -> tuple[float, str]:
    if s.hc_interval is not None:
        t = s.hc_unhealthy_threshold * s.hc_interval
        text = f"{s.hc_unhealthy_threshold}×{s.hc_interval:g}"
    elif s.container_hc is not None:
        interval, retries, start = s.container_hc
        t = start + retries * interval
        text = f"{start:g}+{retries}×{interval:g}"
    else:
        return 0.0, "0"
    if s.grace_period > t:
        return s.grace_period, f"max(grace {s.grace_period:g}, {text})"
    return t, text


def deploy_estimate(s: Settings, p: Platform, reading: FirstHealthy | None = None) -> Estimate:
    """Until rollout's SUCCEEDED: new tasks healthy, old ones out of RUNNING (draining), bake."""
    b = batches(s.desired, s.min_percent, s.max_percent) or 1
    healthy = _first_healthy(s, reading or s.first_healthy)
    cycle = p.to_running + healthy.seconds + p.reaction + p.drain_start
    stop = s.deregistration_delay + p.sigterm + p.deprovision
    mult = f"{b}×" if b > 1 else ""
    terms = [
        Term("deployment starts", p.start_delay, f"{p.start_delay:g} start", "§1.7"),
        Term(
            "new tasks healthy, old ones draining",
            b * cycle,
            f"{mult}({p.to_running:g} to RUNNING + {healthy.formula} + {p.reaction:g} reaction "
            f"+ {p.drain_start:g} to draining)",
            "§1.1 batches, §1.7, §6.1",
        ),
    ]
    if b > 1:
        terms.append(
            Term(
                "earlier batches stop (frees room)",
                (b - 1) * stop,
                f"{b - 1}×({s.deregistration_delay:g} deregistration delay + {p.sigterm:g} "
                f"SIGTERM + {p.deprovision:g})",
                "§1.1, §6.3",
            )
        )
    terms.append(
        Term("rollout's poll", s.poll_interval, f"{s.poll_interval:g} poll", "watch.poll_interval")
    )
    if s.bake_seconds:
        terms.append(Term("bake", s.bake_seconds, f"{s.bake_seconds:g} bake", "bake.seconds"))
    return Estimate("good deploy (rollout's SUCCEEDED)", tuple(terms))


def completed_estimate(s: Settings, p: Platform) -> Estimate:
    """Until ECS marks the deployment COMPLETED (what `wait services-stable`, the next deploy's
    rollback target and ECS's own bookkeeping wait for): the old tasks must have stopped."""
    b = batches(s.desired, s.min_percent, s.max_percent) or 1
    healthy = _first_healthy(s, s.first_healthy)
    cycle = p.to_running + healthy.seconds + p.reaction + p.drain_start
    stop = s.deregistration_delay + p.sigterm + p.deprovision
    mult = f"{b}×" if b > 1 else ""
    return Estimate(
        "ECS deployment COMPLETED",
        (
            Term("deployment starts", p.start_delay, f"{p.start_delay:g} start", "§1.7"),
            Term(
                "tasks replaced",
                b * (cycle + stop),
                f"{mult}({p.to_running:g} to RUNNING + {healthy.formula} + {p.reaction:g} "
                f"reaction + {p.drain_start:g} + {s.deregistration_delay:g} deregistration delay "
                f"+ {p.sigterm:g} SIGTERM + {p.deprovision:g})",
                "§1.1, §1.7, §6.3",
            ),
        ),
    )


def rollback_estimate(s: Settings, p: Platform) -> Estimate:
    unhealthy, text = _unhealthy(s)
    n = max(1, s.desired)
    extra_cycles = max(0, math.ceil(s.consecutive_failures / n) - 1)
    terms = [
        Term(
            "bad tasks detected",
            p.start_delay + p.to_running + unhealthy + s.poll_interval,
            f"{p.start_delay:g} start + {p.to_running:g} to RUNNING + {text} to unhealthy + "
            f"{s.poll_interval:g} poll",
            "§1.7, §6.1, §6.4",
        )
    ]
    if extra_cycles:
        terms.append(
            Term(
                "more failures to reach K",
                extra_cycles * (p.replacement + p.to_running + unhealthy),
                f"{extra_cycles}×({p.replacement:g} replacement + {p.to_running:g} + {text})",
                "detection.consecutive_failures, §4.3",
            )
        )
    terms.append(
        Term(
            "restore verified",
            s.poll_interval,
            f"{s.poll_interval:g} poll (the old deployment is PRIMARY again at once)",
            "StopServiceDeployment(ROLLBACK), §2.1, §2.3",
        )
    )
    if s.min_percent < 100:
        healthy = _first_healthy(s, s.first_healthy)
        terms.append(
            Term(
                "old tasks start again",
                p.to_running + healthy.seconds,
                f"{p.to_running:g} to RUNNING + {healthy.formula} (min {s.min_percent}% < 100: "
                "old tasks were stopped)",
                "§1.1",
            )
        )
    return Estimate("rollback by rollout", tuple(terms))


def breaker_estimate(s: Settings, p: Platform) -> Estimate | None:
    if not (s.breaker_enabled and s.breaker_rollback):
        return None
    unhealthy, text = _unhealthy(s)
    n = max(1, s.desired)
    threshold = breaker_threshold(s.desired)
    cycles = math.ceil(threshold / n)
    stop = p.drain_start + s.deregistration_delay + p.sigterm + p.deprovision
    cycle = p.to_running + unhealthy + p.reaction + stop + p.replacement
    return Estimate(
        "rollback by ECS's breaker alone",
        (
            Term("deployment starts", p.start_delay, f"{p.start_delay:g} start", "§1.7"),
            Term(
                "failures counted",
                cycles * cycle,
                f"ceil({threshold} threshold / {n} tasks)×({p.to_running:g} + {text} + "
                f"{p.reaction:g} + {stop:g} stop incl. {s.deregistration_delay:g} deregistration "
                f"delay + {p.replacement:g} replacement)",
                "§2.1 (counted at STOPPED: DERIVED)",
            ),
            Term(
                "failed tasks drained",
                s.deregistration_delay,
                f"{s.deregistration_delay:g} deregistration delay",
                "§2.1, §6.3",
            ),
        ),
    )


def _saves(s: Settings, p: Platform, fixed: Settings) -> tuple[float, float, float, float]:
    """Seconds ``fixed`` saves on (deploy, COMPLETED, rollback, breaker) against ``s``."""

    def all4(x: Settings) -> tuple[float, float, float, float]:
        return (
            deploy_estimate(x, p).seconds,
            completed_estimate(x, p).seconds,
            rollback_estimate(x, p).seconds,
            _breaker_seconds(x, p),
        )

    before, after = all4(s), all4(fixed)
    d, c, r, b = (round(max(0.0, x - y), 1) for x, y in zip(before, after, strict=True))
    return d, c, r, b


def _breaker_seconds(s: Settings, p: Platform) -> float:
    est = breaker_estimate(s, p)
    return est.seconds if est is not None else 0.0


def diagnose(s: Settings, p: Platform | None = None) -> Diagnosis:
    p = p or Platform()
    findings: list[Finding] = []
    notes: list[str] = []

    def finding(
        setting: str, current: str, suggested: str, fixed: Settings, why: str, source: str
    ) -> None:
        d, c, r, b = _saves(s, p, fixed)
        if d or c or r or b:
            findings.append(Finding(setting, current, suggested, d, c, r, b, why, source))

    if s.deregistration_delay > 30:
        finding(
            "target group deregistration_delay.timeout_seconds",
            f"{s.deregistration_delay:g} s",
            "30 s (5 s if every response takes well under a second)",
            replace(s, deregistration_delay=30.0),
            "ECS waits for each old target to finish draining (UNUSED) before it stops the task",
            "§6.3",
        )
    if s.hc_interval is not None and (s.hc_interval > 10 or s.hc_unhealthy_threshold > 2):
        finding(
            "target group health check interval × unhealthy threshold",
            f"{s.hc_interval:g} s × {s.hc_unhealthy_threshold}",
            "10 s × 2",
            replace(s, hc_interval=10.0, hc_unhealthy_threshold=2),
            "a bad task is seen unhealthy only after UnhealthyThresholdCount failed checks; a new "
            "one healthy after at least one passing check",
            "§6.1",
        )
    if s.hc_interval is not None and s.hc_healthy_threshold > 2:
        slow = deploy_estimate(s, p, "threshold").seconds
        fast = deploy_estimate(replace(s, hc_healthy_threshold=2), p, "threshold").seconds
        if slow > fast:
            findings.append(
                Finding(
                    "target group healthy threshold",
                    f"{s.hc_healthy_threshold}",
                    "2",
                    round(slow - fast, 1),
                    round(slow - fast, 1),
                    0.0,
                    0.0,
                    "if a new target needs HealthyThresholdCount passing checks (the ECS "
                    "best-practice reading of §6.1), each batch waits threshold × interval",
                    "§6.1 CONFLICT",
                )
            )
    needed = p.to_running + _first_healthy(s, s.first_healthy).seconds
    suggested_grace = float(math.ceil(needed * 1.5 / 10) * 10)
    if s.grace_period > suggested_grace:
        finding(
            "service healthCheckGracePeriodSeconds",
            f"{s.grace_period:g} s",
            f"{suggested_grace:g} s (1.5 × the {needed:g} s a task needs to turn healthy)",
            replace(s, grace_period=suggested_grace),
            "health-check failures inside the grace period are ignored by ECS and by rollout, "
            "so a bad release is noticed only after it",
            "§6.4",
        )
    if not (s.breaker_enabled and s.breaker_rollback):
        notes.append(
            "ECS's circuit breaker with rollback is off: a bad release is only rolled back "
            "while rollout is watching (enable deploymentCircuitBreaker {enable, rollback}, §2.1)"
        )
    elif breaker_threshold(s.desired) > 3 or s.deregistration_delay > 30:
        notes.append(
            f"the breaker trips after {breaker_threshold(s.desired)} failed tasks "
            "(clamp(ceil(N/2), 3, 200), §2.1); rollout fails a deploy after "
            f"{s.consecutive_failures} (detection.consecutive_failures)"
        )
    if s.route53_ttl is not None and s.route53_ttl > 60:
        findings.append(
            Finding(
                "Route 53 weighted record TTL",
                f"{s.route53_ttl:g} s",
                "60 s",
                0.0,
                0.0,
                round(s.route53_ttl - 60, 1),
                0.0,
                "resolvers keep the old answer for the TTL after the weights change back",
                "§7",
            )
        )
    if s.poll_interval > 5:
        finding(
            "watch.poll_interval (rollout.toml)",
            f"{s.poll_interval:g} s",
            "5 s",
            replace(s, poll_interval=5.0),
            "each phase is noticed up to one poll late",
            "rollout.toml",
        )
    notes.append(
        f"a CI step that waits with `aws ecs wait services-stable` polls every "
        f"{p.waiter_delay:g} s (§1.6) and cannot see a rollback (it reports success on the old "
        f"revision); rollout polls every {s.poll_interval:g} s"
    )
    b = batches(s.desired, s.min_percent, s.max_percent)
    if b is None:
        notes.append(
            f"min {s.min_percent}% / max {s.max_percent}% of {s.desired} lets ECS neither start "
            "nor stop a task: a deployment cannot proceed (§1.1)"
        )
    elif b > 1:
        finding(
            "deploymentConfiguration maximumPercent",
            f"{s.max_percent}% (min {s.min_percent}%): {b} batches",
            "200%: one batch",
            replace(s, max_percent=200, min_percent=100),
            "with less room above the desired count, tasks are replaced in several cycles",
            "§1.1",
        )
    if s.alarm_fire_seconds is not None and s.bake_seconds < s.alarm_fire_seconds:
        notes.append(
            f"the bake ({s.bake_seconds:g} s) ends before the fastest bake alarm can fire "
            f"({s.alarm_fire_seconds:g} s = period × datapoints, plus metric latency: an ALB 5xx "
            "alarm took 3m20s, §2.2): an error-only release can pass the bake"
        )
    if s.stop_timeout > 30:
        notes.append(
            f"stopTimeout {s.stop_timeout:g} s: an app that ignores SIGTERM holds every stop that "
            "long (§4.1); the estimate assumes it exits at once"
        )
    findings.sort(
        key=lambda f: -(f.saves_deploy + f.saves_completed + f.saves_rollback + f.saves_breaker)
    )
    clients = None
    if s.route53_ttl is not None:
        clients = rollback_estimate(s, p).seconds + p.insync + s.route53_ttl
    return Diagnosis(
        deploy=deploy_estimate(s, p),
        completed=completed_estimate(s, p),
        rollback=rollback_estimate(s, p),
        breaker=breaker_estimate(s, p),
        findings=tuple(findings),
        notes=tuple(notes),
        deploy_threshold_reading=deploy_estimate(s, p, "threshold").seconds
        if s.hc_interval is not None and s.first_healthy == "one_check"
        else None,
        clients_off_bad_path=clients,
    )
