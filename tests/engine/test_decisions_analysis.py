"""Decision tables: one analysis window's judgement, and how a run folds judgements."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rollout.decisions.analysis import (
    GroupStats,
    Judgement,
    Outcome,
    RunState,
    Thresholds,
    advance,
    final_message,
    judge,
    run_outcome,
)

T = Thresholds()  # min 50 requests, 1 % / +0.5 pt 5xx, 1000 ms / ×2 p99
QUIET_BLUE = GroupStats(requests=500, target_5xx=0, p99_ms=8.0)
NOISY_BLUE = GroupStats(requests=500, target_5xx=25, p99_ms=900.0)  # 5 % errors, slow


@pytest.mark.parametrize(
    ("green", "blue", "outcome", "metric"),
    [
        # too few requests: never a judgement, whatever the errors
        (GroupStats(49, 49, 5000.0), QUIET_BLUE, Outcome.INCONCLUSIVE, "requests"),
        (GroupStats(0), None, Outcome.INCONCLUSIVE, "requests"),
        # a perfect green passes with or without a baseline
        (GroupStats(200, 0, 9.0), QUIET_BLUE, Outcome.PASS, None),
        (GroupStats(200, 0, 9.0), None, Outcome.PASS, None),
        # 20 % 5xx on a quiet blue fails on the 5xx rate
        (GroupStats(200, 40, 9.0), QUIET_BLUE, Outcome.FAIL, "5xx rate"),
        # one 500 in 200 (0.5 %) stays under the 1 % floor: a perfect blue is no hair trigger
        (GroupStats(200, 1, 9.0), QUIET_BLUE, Outcome.PASS, None),
        # a blue that already errs at 5 %: green at 5 % is no worse; at 6 % it is
        (GroupStats(200, 10, 9.0), NOISY_BLUE, Outcome.PASS, None),
        (GroupStats(200, 12, 9.0), NOISY_BLUE, Outcome.FAIL, "5xx rate"),
        # p99 above 2 s fails; slow but inside the floor (300 ms) passes
        (GroupStats(200, 0, 2100.0), QUIET_BLUE, Outcome.FAIL, "p99 latency"),
        (GroupStats(200, 0, 300.0), QUIET_BLUE, Outcome.PASS, None),
        # a slow blue (900 ms) raises the latency limit to 1800 ms
        (GroupStats(200, 0, 1700.0), GroupStats(500, 0, 900.0), Outcome.PASS, None),
        (GroupStats(200, 0, 1900.0), GroupStats(500, 0, 900.0), Outcome.FAIL, "p99 latency"),
        # a blue with too few requests is no baseline: the floors alone apply
        (GroupStats(200, 10, 9.0), GroupStats(10, 5, 5000.0), Outcome.FAIL, "5xx rate"),
        # no latency sample: judged on errors alone
        (GroupStats(200, 0, None), QUIET_BLUE, Outcome.PASS, None),
    ],
)
def test_judge_table(
    green: GroupStats, blue: GroupStats | None, outcome: Outcome, metric: str | None
) -> None:
    """Each window is judged pass, fail or inconclusive, naming the metric that decided it."""
    j = judge(green, blue, T)
    assert (j.outcome, j.metric) == (outcome, metric)
    assert j.requests == green.requests


def test_failure_message_names_metric_amount_and_requests() -> None:
    """A failed window says which metric, by how much, over how many requests."""
    j = judge(GroupStats(200, 40, 9.0), QUIET_BLUE, T)
    assert j.message == "5xx rate 20.0% > 1.0% allowed (40 of 200 requests)"
    assert (j.observed, j.limit) == (0.2, 0.01)
    slow = judge(GroupStats(300, 0, 2400.0), QUIET_BLUE, T)
    assert slow.message == "p99 latency 2400 ms > 1000 ms allowed (over 300 requests)"


def _fold(outcomes: list[Outcome], t: Thresholds = T) -> tuple[RunState, Outcome | None]:
    state, final = RunState(), None
    for o in outcomes:
        j = Judgement(o, None, None, None, 100, o.value)
        state, final = advance(state, j, t)
        if final is not None:
            break
    return state, final


P, F, N = Outcome.PASS, Outcome.FAIL, Outcome.INCONCLUSIVE


@pytest.mark.parametrize(
    ("outcomes", "final", "windows"),
    [
        ([P, P, P], None, 3),
        ([P, F, P], F, 2),  # the first fail ends the run (failure_limit 0)
        ([N, N, N], None, 3),  # inconclusive alone never fails within the limit
        ([N, N, N, N], F, 4),  # ... but a 4th in a row does (limit 3)
        ([N, N, P, N, N, N], None, 6),  # a pass resets the count
    ],
)
def test_advance_table(outcomes: list[Outcome], final: Outcome | None, windows: int) -> None:
    """Only a failure, or too many inconclusive windows in a row, end a run early."""
    state, got = _fold(outcomes)
    assert got == final
    assert state.windows == windows


def test_failure_limit_tolerates_that_many_failures() -> None:
    """With failure_limit 1 the first failing window is tolerated and the second ends the run."""
    t = Thresholds(failure_limit=1)
    assert _fold([F, P], t)[1] is None
    assert _fold([F, P, F], t)[1] is F
    assert run_outcome(_fold([F, P], t)[0], t) is P


def test_run_outcome_at_stage_end() -> None:
    """At the end of its stage a run passes if any window passed, else it stays inconclusive."""
    assert run_outcome(_fold([N, P])[0], T) is P
    assert run_outcome(_fold([N, N])[0], T) is N
    assert run_outcome(RunState(), T) is N


def test_final_message_for_inconclusive_limit() -> None:
    """Turning inconclusive into failure says so, with the limit."""
    state, _ = advance(RunState(inconclusive_in_a_row=3), judge(GroupStats(3), None, T), T)
    assert final_message(state, T) == (
        "analysis inconclusive 4 windows in a row (limit 3): too few requests to judge: 3 < 50"
    )


@pytest.mark.parametrize(
    "kwargs",
    [{"min_requests": 0}, {"max_error_rate": 1.5}, {"p99_ratio": 0.5}, {"max_p99_ms": 0}],
)
def test_bad_thresholds_are_refused(kwargs: dict[str, float]) -> None:
    """Thresholds that cannot mean anything are refused when built, naming the key."""
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        Thresholds(**kwargs)  # type: ignore[arg-type]


@given(
    st.integers(50, 10_000),
    st.floats(0, 1),
    st.integers(50, 10_000),
    st.floats(0, 1),
)
def test_green_no_worse_than_blue_never_fails_on_errors(
    n_green: int, rate: float, n_blue: int, blue_rate: float
) -> None:
    """A green whose 5xx rate is at most blue's never fails on the 5xx rate."""
    green_rate = min(rate, blue_rate)
    green = GroupStats(n_green, int(n_green * green_rate), None)
    blue = GroupStats(n_blue, round(n_blue * blue_rate), None)
    if green.error_rate <= blue.error_rate:
        assert judge(green, blue, T).outcome is Outcome.PASS
