"""``rollout doctor``: the estimate as tables, the verb on the sandbox, and the estimates checked
against the sandbox's measured timings (the comparison in docs/verbs/doctor.md)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from engine.scenario import World
from rollout.decisions.estimate import (
    Platform,
    Settings,
    batches,
    breaker_threshold,
    deploy_estimate,
    diagnose,
    rollback_estimate,
)
from rollout.verbs import doctor

from .doctor_measure import AWS_DEFAULTS, compare, configure, current

BATCHES = [
    (2, 100, 200, 1),
    (4, 50, 200, 1),
    (4, 100, 150, 2),
    (10, 100, 110, 10),
    (3, 100, 125, None),  # floor(3.75) = 3: no room (§1.1)
    (2, 75, 100, None),  # ceil(1.5) = 2: no room
    (0, 100, 200, 0),
]


@pytest.mark.parametrize(("n", "lo", "hi", "expected"), BATCHES)
def test_batches(n: int, lo: int, hi: int, expected: int | None) -> None:
    """Replace cycles from min/max percent (§1.1's documented examples included)."""
    assert batches(n, lo, hi) == expected


@pytest.mark.parametrize(
    ("n", "t"), [(1, 3), (2, 3), (6, 3), (7, 4), (25, 13), (400, 200), (800, 200)]
)
def test_breaker_threshold(n: int, t: int) -> None:
    """clamp(ceil(N/2), 3, 200), the documented table of §2.1."""
    assert breaker_threshold(n) == t


SLOW = Settings(
    desired=2,
    grace_period=300.0,
    hc_interval=30.0,
    hc_healthy_threshold=5,
    hc_unhealthy_threshold=2,
    deregistration_delay=300.0,
    breaker_enabled=True,
    breaker_rollback=True,
    route53_ttl=300.0,
    poll_interval=15.0,
)


def _finding(setting_prefix: str, s: Settings = SLOW):  # type: ignore[no-untyped-def]
    d = diagnose(s)
    return next(f for f in d.findings if f.setting.startswith(setting_prefix))


def test_each_slow_setting_is_named_with_what_its_fix_saves() -> None:
    """300 s deregistration delay, 30 s checks, 300 s grace, TTL 300, a 15 s poll: each is a
    finding whose saving is the difference of the estimates with and without the fix."""
    p = Platform()
    dereg = _finding("target group deregistration")
    assert dereg.saves_completed == pytest.approx(270.0)
    assert dereg.saves_deploy == 0.0  # rollout's verdict does not wait for the drain
    grace = _finding("service healthCheckGracePeriodSeconds")
    fixed = replace(SLOW, grace_period=float(grace.suggested.split()[0]))
    assert grace.saves_rollback == pytest.approx(
        rollback_estimate(SLOW, p).seconds - rollback_estimate(fixed, p).seconds
    )
    assert grace.saves_rollback > 200
    ttl = _finding("Route 53")
    assert ttl.saves_rollback == pytest.approx(240.0)
    poll = _finding("watch.poll_interval")
    assert poll.saves_deploy == pytest.approx(10.0)
    threshold = _finding("target group healthy threshold")
    assert threshold.saves_deploy == pytest.approx(3 * 30.0)
    checks = _finding("target group health check interval")
    assert checks.saves_deploy == pytest.approx(20.0)  # one check: 30 → 10


def test_a_well_tuned_service_has_no_findings() -> None:
    """Short delay, fast checks, a grace that fits, 5 s polls: nothing to fix."""
    s = Settings(
        desired=2,
        grace_period=30,
        hc_interval=5,
        hc_healthy_threshold=2,
        hc_unhealthy_threshold=2,
        deregistration_delay=15,
        breaker_enabled=True,
        breaker_rollback=True,
        route53_ttl=60,
    )
    assert diagnose(s).findings == ()


def test_formula_shows_the_values_and_adds_up() -> None:
    """The formula names the settings' values and the terms add up to the estimate."""
    e = deploy_estimate(SLOW, Platform())
    assert "1×30" in e.formula
    assert "15 poll" in e.formula
    assert e.seconds == pytest.approx(sum(t.seconds for t in e.terms))


def test_no_room_and_breaker_off_are_said() -> None:
    """min/max with no room and a breaker without rollback are notes."""
    d = diagnose(Settings(desired=3, min_percent=100, max_percent=125))
    assert any("neither start nor stop" in n for n in d.notes)
    assert any("circuit breaker with rollback is off" in n for n in d.notes)
    assert d.breaker is None


def test_doctor_reads_the_live_service_and_reports(world: World) -> None:
    """On the sandbox: the target group, listener, Route 53 record and alarms are read, the
    estimates and findings are one ``doctor`` event, and nothing is written."""
    ctx, log = world.context()
    outcome = doctor.run(doctor.DoctorOptions(env="prod"), ctx)
    assert outcome.exit_code == 0
    data = next(e for e in log.events if e.kind == "doctor").data
    read = data["read"]
    assert read["target_groups"][0]["deregistration_delay"] == 15
    assert any(listener["serves_this_service"] for listener in read["listeners"])
    assert read["route53"]["ttl"] == 60
    assert {a["name"] for a in read["alarms"]} >= {"voj-prod-target-5xx"}
    assert data["deploy"]["formula"]
    assert data["rollback"]["seconds"] > 0
    assert world.writes() == []


@pytest.mark.parametrize("config", ["provisioned", "aws-defaults"])
def test_estimates_match_the_sandbox_measured_timings(world: World, config: str) -> None:
    """Each estimate (good deploy, ECS COMPLETED, rollout's rollback, the breaker alone) is
    within 25 % of what the sandbox measures, for the provisioned voj and for AWS's defaults."""
    before = current(world)
    try:
        if config == "aws-defaults":
            configure(world, AWS_DEFAULTS)
        for c in compare(world):
            assert abs(c.error) <= 0.25, c
    finally:
        configure(world, before)


def test_without_a_load_balancer_the_container_check_counts() -> None:
    """No target group: first healthy and unhealthy come from the container health check, and
    there is no deregistration delay."""
    s = Settings(
        desired=2,
        hc_interval=None,
        container_hc=(10.0, 3, 20.0),
        deregistration_delay=0.0,
        grace_period=0.0,
    )
    d = diagnose(s)
    assert "container check 20+10" in d.deploy.formula
    assert "20+3×10" in d.rollback.formula
    assert d.deploy_threshold_reading is None
