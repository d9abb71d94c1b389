"""Pure rules of the simulation (tables and properties), the clocks and the fault plan."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rollout.sandbox.clock import RealtimeClock, VirtualClock
from rollout.sandbox.dataplane.health_timeline import health_at, target_health_changes
from rollout.sandbox.ecs.rules import (
    breaker_threshold,
    normalise_cpu,
    normalise_memory,
    rolling_limits,
    rolling_pass,
    throttle_delay,
    validate_fargate_size,
)
from rollout.sandbox.errors import ApiError
from rollout.sandbox.faults import FaultPlan, FaultRule


@pytest.mark.parametrize(
    ("cpu", "memory"),
    [
        ("256", "512"),
        ("256", "2048"),
        ("512", "4096"),
        ("1024", "8192"),
        ("2048", "16384"),
        ("4096", "30720"),
        ("8192", "61440"),
        ("16384", "122880"),
    ],
)
def test_valid_fargate_pairs_pass(cpu: str, memory: str) -> None:
    """Every documented Fargate pair (§8) is accepted."""
    validate_fargate_size(cpu, memory)


@pytest.mark.parametrize(
    ("cpu", "memory"),
    [
        ("256", "4096"),
        ("512", "512"),
        ("1024", "1024"),
        ("333", "777"),
        ("8192", "18432"),
        ("2048", "17408"),
    ],
)
def test_invalid_fargate_pairs_raise_aws_message(cpu: str, memory: str) -> None:
    """Pairs outside §8's table get AWS's ClientException text."""
    with pytest.raises(ApiError) as caught:
        validate_fargate_size(cpu, memory)
    assert caught.value.code == "ClientException"
    assert caught.value.message == (
        f"No Fargate configuration exists for given values: {cpu} CPU, {memory} memory. "
        "See the Amazon ECS documentation for the valid values."
    )


@pytest.mark.parametrize(
    ("given", "units"),
    [("1 vCPU", "1024"), ("0.25 vCPU", "256"), ("2 vcpu", "2048"), ("512", "512")],
)
def test_cpu_forms_are_converted(given: str, units: str) -> None:
    """`"1 vCPU"` style values convert to CPU units at registration (§8)."""
    assert normalise_cpu(given) == units


@pytest.mark.parametrize(
    ("given", "mib"), [("1GB", "1024"), ("0.5GB", "512"), ("2 GB", "2048"), ("3072", "3072")]
)
def test_memory_forms_are_converted(given: str, mib: str) -> None:
    """`"1GB"` style values convert to MiB at registration (§8)."""
    assert normalise_memory(given) == mib


@pytest.mark.parametrize("bad", ["lots", "1.3 vCPU", ""])
def test_garbage_cpu_is_a_client_exception(bad: str) -> None:
    """Unparseable cpu values are rejected as ClientException."""
    with pytest.raises(ApiError):
        normalise_cpu(bad)


@pytest.mark.parametrize(
    ("desired", "minimum", "maximum", "upper", "lower"),
    [
        (4, 50, 200, 8, 2),
        (2, 75, 200, 4, 2),
        (3, 100, 125, 3, 3),
        (4, 100, 200, 8, 4),
        (1, 0, 100, 1, 0),
    ],
)
def test_rolling_limits_match_documented_examples(
    desired: int, minimum: int, maximum: int, upper: int, lower: int
) -> None:
    """floor/ceil limits reproduce §1.1's documented examples."""
    assert rolling_limits(desired, minimum, maximum) == (upper, lower)


@given(
    desired=st.integers(0, 50),
    minimum=st.integers(0, 100),
    maximum=st.integers(100, 200),
    old=st.integers(0, 60),
    new=st.integers(0, 60),
    healthy_new=st.integers(0, 60),
)
def test_rolling_pass_never_exceeds_max_nor_drops_below_min(
    desired: int, minimum: int, maximum: int, old: int, new: int, healthy_new: int
) -> None:
    """A pass never takes live tasks above floor(N×max%) and never stops healthy tasks below
    ceil(N×min%) (§1.1 DERIVED rule), whatever the starting mix."""
    healthy_new = min(healthy_new, new)
    plan = rolling_pass(
        desired=desired,
        minimum_percent=minimum,
        maximum_percent=maximum,
        live=old + new,
        primary_live=new,
        healthy=old + healthy_new,
        old_healthy=old,
    )
    assert plan.start >= 0
    assert plan.stop_healthy_old >= 0
    if plan.start:
        assert old + new + plan.start <= plan.upper
        assert new + plan.start <= desired
    if plan.stop_healthy_old:
        assert old + healthy_new - plan.stop_healthy_old >= plan.lower
        assert plan.stop_healthy_old <= old


@pytest.mark.parametrize(
    ("desired", "threshold"), [(0, 3), (1, 3), (6, 3), (7, 4), (25, 13), (400, 200), (800, 200)]
)
def test_breaker_threshold_table(desired: int, threshold: int) -> None:
    """clamp(ceil(0.5 × N), 3, 200), as documented (§2.1)."""
    assert breaker_threshold(desired) == threshold


def test_breaker_threshold_other_types() -> None:
    """UNBOUNDED_PERCENT drops the clamp and COUNT uses the value (§2.1)."""
    assert breaker_threshold(800, kind="UNBOUNDED_PERCENT", value=50) == 400
    assert breaker_threshold(800, kind="COUNT", value=7) == 7
    assert breaker_threshold(1, minimum=10) == 10  # the 2023 guide's minimum, if chosen


@pytest.mark.parametrize(
    ("failures", "delay"),
    [(0, 0.0), (1, 0.0), (2, 60.0), (3, 120.0), (5, 480.0), (6, 900.0), (20, 900.0)],
)
def test_throttle_delay_grows_to_the_cap(failures: int, delay: float) -> None:
    """The service throttle waits longer after repeated start failures, capped at 15 min."""
    assert throttle_delay(failures, after=2, base=60.0, cap=900.0) == delay


def _changes(
    ready_at: float | None, first_healthy: str = "one_check"
) -> list[tuple[float, str, str | None]]:
    changes = target_health_changes(
        registered_at=100.0,
        interval=30.0,
        healthy_threshold=5,
        unhealthy_threshold=2,
        ready_at=ready_at,
        failure_reason="Target.ResponseCodeMismatch",
        failure_description="Health checks failed with these codes: [500]",
        registration_seconds=5.0,
        first_healthy=first_healthy,  # type: ignore[arg-type]
    )
    return [(c.at, c.state, c.reason) for c in changes]


@pytest.mark.parametrize(
    ("ready_at", "mode", "expected"),
    [
        (
            100.0,
            "one_check",
            [
                (100.0, "initial", "Elb.RegistrationInProgress"),
                (105.0, "initial", "Elb.InitialHealthChecking"),
                (130.0, "healthy", None),
            ],
        ),
        (
            100.0,
            "threshold",
            [
                (100.0, "initial", "Elb.RegistrationInProgress"),
                (105.0, "initial", "Elb.InitialHealthChecking"),
                (250.0, "healthy", None),
            ],
        ),
        (
            None,
            "one_check",
            [
                (100.0, "initial", "Elb.RegistrationInProgress"),
                (105.0, "initial", "Elb.InitialHealthChecking"),
                (160.0, "unhealthy", "Target.ResponseCodeMismatch"),
            ],
        ),
        (
            190.0,
            "one_check",
            [
                (100.0, "initial", "Elb.RegistrationInProgress"),
                (105.0, "initial", "Elb.InitialHealthChecking"),
                (160.0, "unhealthy", "Target.ResponseCodeMismatch"),
                (310.0, "healthy", None),
            ],
        ),
        (
            160.0,
            "one_check",
            [
                (100.0, "initial", "Elb.RegistrationInProgress"),
                (105.0, "initial", "Elb.InitialHealthChecking"),
                (160.0, "healthy", None),
            ],
        ),
    ],
)
def test_target_health_timeline(
    ready_at: float | None, mode: str, expected: list[tuple[float, str, str | None]]
) -> None:
    """Checks every interval: healthy after one pass (or HealthyThreshold passes), unhealthy
    after UnhealthyThreshold failures, back to healthy after HealthyThreshold passes (§6.1)."""
    assert _changes(ready_at, mode) == expected


def test_health_at_picks_the_change_in_force() -> None:
    """health_at returns the latest change at or before the time."""
    changes = target_health_changes(
        registered_at=0.0,
        interval=10.0,
        healthy_threshold=2,
        unhealthy_threshold=2,
        ready_at=0.0,
        failure_reason="x",
        failure_description="y",
        registration_seconds=5.0,
        first_healthy="one_check",
    )
    assert health_at(changes, 4.9).reason == "Elb.RegistrationInProgress"
    assert health_at(changes, 9.9).reason == "Elb.InitialHealthChecking"
    assert health_at(changes, 10.0).state == "healthy"


def test_virtual_clock_moves_only_when_told() -> None:
    """The virtual clock stands still, advances exactly, and treats sleep as advance."""
    clock = VirtualClock(1000.0)
    assert clock.now() == 1000.0
    clock.advance(2.5)
    clock.sleep(0.5)
    assert clock.now() == 1003.0
    with pytest.raises(ValueError, match="negative"):
        clock.advance(-1)


def test_realtime_clock_applies_speed_and_jumps() -> None:
    """Real-time mode runs `speed` times faster and advance jumps ahead without waiting."""
    clock = RealtimeClock(speed=1000.0, start=0.0)
    before = clock.now()
    clock.sleep(50.0)  # 50 ms of wall time
    after = clock.now()
    assert after - before >= 50.0
    clock.advance(100.0)
    assert clock.now() >= after + 100.0
    with pytest.raises(ValueError, match="speed"):
        RealtimeClock(speed=0)


@pytest.mark.parametrize(
    ("rule", "image", "matches"),
    [
        (
            FaultRule(effect="crash", image="*:crash-*"),
            "123.dkr.ecr.r.amazonaws.com/api:crash-1",
            True,
        ),
        (FaultRule(effect="crash", image="*:crash-*"), "123.dkr.ecr.r.amazonaws.com/api:v1", False),
        (FaultRule(effect="crash", image="sha-0000002"), "reg/api:sha-0000002", True),
        (FaultRule(effect="crash", image="sha256:abc"), "reg/api@sha256:abc", True),
        (FaultRule(effect="crash", family="api", revision=2), "x:1", False),
        (FaultRule(effect="crash", family="a*", revision=1), "x:1", True),
        (FaultRule(effect="crash", env="MODE=bro*"), "x:1", False),
    ],
)
def test_fault_rule_matching(rule: FaultRule, image: str, matches: bool) -> None:
    """Rules match on image glob/tag/digest, family and revision, or environment."""
    assert (
        rule.matches(family="api", revision=1, images=[image], environment={"MODE": "ok"})
        is matches
    )


def test_fault_env_matching() -> None:
    """An env rule matches a present variable, optionally by value glob."""
    rule = FaultRule(effect="never_healthy", env="MODE=bro*")
    assert rule.matches(family="f", revision=1, images=[], environment={"MODE": "broken"})
    assert FaultRule(effect="crash", env="MODE").matches(
        family="f", revision=1, images=[], environment={"MODE": ""}
    )


def test_flaky_rule_fails_only_first_k_tasks() -> None:
    """flaky with count=2 crashes the first two matching tasks, then none."""
    plan = FaultPlan()
    plan.add(FaultRule(effect="flaky", image="*", count=2, after=3, exit_code=9))
    decided = [
        plan.decide(family="a", revision=1, images=["i:1"], environment={}) for _ in range(4)
    ]
    assert [d.crash_after for d in decided] == [3, 3, None, None]
    assert decided[0].exit_code == 9


def test_fault_plan_from_mapping_and_errors() -> None:
    """A TOML/JSON mapping builds a plan; bad entries name the index and the problem."""
    plan = FaultPlan.from_mapping(
        {
            "fault": [
                {"image": "*:crash-*", "effect": "crash", "after": 5, "exit_code": 1},
                {"family": "api", "effect": "serve_5xx", "after": 30},
            ]
        }
    )
    assert [r.effect for r in plan.rules] == ["crash", "serve_5xx"]
    with pytest.raises(ValueError, match=r"fault\[0\] has unknown keys \['colour'\]"):
        FaultPlan.from_mapping({"fault": [{"effect": "crash", "colour": "red"}]})
    with pytest.raises(ValueError, match=r"fault\[0\].*unknown fault effect"):
        FaultPlan.from_mapping({"fault": [{"effect": "explode"}]})
    with pytest.raises(ValueError, match="needs an 'effect'"):
        FaultPlan.from_mapping({"fault": [{"image": "x"}]})
    plan.clear()
    assert plan.rules == []
