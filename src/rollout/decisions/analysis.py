"""Analysis: is the new release ("green", the canary) serving users as well as the old ("blue")?

Pure. The engine reads one window of ``AWS/ApplicationELB`` metrics per target group (requests,
target 5xx, p99 of ``TargetResponseTime``), calls :func:`judge` for a :class:`Judgement` with
one of three outcomes, and folds judgements with :func:`advance` into the run's state:

- **pass**: enough requests, and neither metric is past its limit;
- **fail**: enough requests, and the 5xx rate or the p99 latency is past its limit: the release
  is bad (rollback);
- **inconclusive**: too few requests to judge: never a rollback on its own, but more than
  ``inconclusive_limit`` in a row turn into a failure (a canary that gets no traffic cannot be
  proven good).

A limit is relative to the baseline where one exists, with an absolute floor so a quiet, perfect
blue (0 errors, 8 ms p99) does not make one 500 or one slow request a failure:

    allowed 5xx rate = max(max_error_rate, blue's rate + error_rate_margin)
    allowed p99      = max(max_p99_ms,     blue's p99 × p99_ratio)

The shape follows Argo Rollouts' analysis (Successful / Failed / Inconclusive, ``failureLimit``,
``inconclusiveLimit``; shared/reference/traffic-shifting.md §5.1) and Flagger's built-in
request-success-rate and p99 request-duration checks (§5.2). ELB-generated 5xx are not attributed
to a target group by the ALB (§3), so only the target's own 5xx count here.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class Outcome(Enum):
    PASS = "pass"  # noqa: S105 (an outcome, not a password)
    FAIL = "fail"
    INCONCLUSIVE = "inconclusive"


@dataclass(frozen=True)
class GroupStats:
    """One target group over one analysis window."""

    requests: int
    target_5xx: int = 0
    p99_ms: float | None = None  # None: no latency sample in the window

    @property
    def error_rate(self) -> float:
        return self.target_5xx / self.requests if self.requests else 0.0


@dataclass(frozen=True)
class Thresholds:
    """Limits of an analysis; every field is a key of ``[env.<name>.analysis]``."""

    min_requests: int = 50  # per window, on green, before any judgement
    max_error_rate: float = 0.01  # absolute floor of the allowed 5xx rate (1 %)
    error_rate_margin: float = 0.005  # allowed increase over blue's rate
    max_p99_ms: float = 1000.0  # absolute floor of the allowed p99
    p99_ratio: float = 2.0  # allowed p99 relative to blue's
    inconclusive_limit: int = 3  # inconclusive windows in a row tolerated
    failure_limit: int = 0  # failing windows tolerated (Argo: fail when failures > limit)

    def __post_init__(self) -> None:
        problems = []
        if self.min_requests < 1:
            problems.append(f"min_requests must be >= 1, got {self.min_requests}")
        for name in ("max_error_rate", "error_rate_margin"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                problems.append(f"{name} must be between 0 and 1, got {value}")
        if self.max_p99_ms <= 0:
            problems.append(f"max_p99_ms must be > 0, got {self.max_p99_ms}")
        if self.p99_ratio < 1.0:
            problems.append(f"p99_ratio must be >= 1, got {self.p99_ratio}")
        if self.inconclusive_limit < 0 or self.failure_limit < 0:
            problems.append("inconclusive_limit and failure_limit must be >= 0")
        if problems:
            raise ValueError("; ".join(problems))


@dataclass(frozen=True)
class Judgement:
    """The outcome of one window, and the numbers behind it."""

    outcome: Outcome
    metric: str | None  # "5xx rate" | "p99 latency" | "requests"; None when every metric passed
    observed: float | None
    limit: float | None
    requests: int
    message: str


def _baseline(blue: GroupStats | None, t: Thresholds) -> GroupStats | None:
    """Blue counts as a baseline only with enough requests of its own."""
    return blue if blue is not None and blue.requests >= t.min_requests else None


def allowed_error_rate(blue: GroupStats | None, t: Thresholds) -> float:
    base = _baseline(blue, t)
    return max(t.max_error_rate, base.error_rate + t.error_rate_margin if base else 0.0)


def allowed_p99_ms(blue: GroupStats | None, t: Thresholds) -> float:
    base = _baseline(blue, t)
    scaled = base.p99_ms * t.p99_ratio if base and base.p99_ms is not None else 0.0
    return max(t.max_p99_ms, scaled)


def judge(green: GroupStats, blue: GroupStats | None, t: Thresholds) -> Judgement:
    """One window's judgement of green against blue (or against the floors alone)."""
    if green.requests < t.min_requests:
        return Judgement(
            Outcome.INCONCLUSIVE,
            "requests",
            float(green.requests),
            float(t.min_requests),
            green.requests,
            f"too few requests to judge: {green.requests} < {t.min_requests}",
        )
    rate_limit = allowed_error_rate(blue, t)
    if green.error_rate > rate_limit:
        return Judgement(
            Outcome.FAIL,
            "5xx rate",
            green.error_rate,
            rate_limit,
            green.requests,
            f"5xx rate {green.error_rate:.1%} > {rate_limit:.1%} allowed "
            f"({green.target_5xx} of {green.requests} requests)",
        )
    p99_limit = allowed_p99_ms(blue, t)
    if green.p99_ms is not None and green.p99_ms > p99_limit:
        return Judgement(
            Outcome.FAIL,
            "p99 latency",
            green.p99_ms,
            p99_limit,
            green.requests,
            f"p99 latency {green.p99_ms:.0f} ms > {p99_limit:.0f} ms allowed "
            f"(over {green.requests} requests)",
        )
    p99 = "n/a" if green.p99_ms is None else f"{green.p99_ms:.0f} ms"
    return Judgement(
        Outcome.PASS,
        None,
        None,
        None,
        green.requests,
        f"5xx rate {green.error_rate:.1%} (≤ {rate_limit:.1%}), p99 {p99} (≤ {p99_limit:.0f} ms) "
        f"over {green.requests} requests",
    )


@dataclass(frozen=True)
class RunState:
    """What an analysis run remembers between windows."""

    windows: int = 0
    passes: int = 0
    failures: int = 0
    inconclusive_in_a_row: int = 0
    last: Judgement | None = None


def advance(state: RunState, j: Judgement, t: Thresholds) -> tuple[RunState, Outcome | None]:
    """Fold one judgement into the run; the second value is the run's final outcome, if any.

    Only ``FAIL`` ends a run early: a run passes when the stage it guards ends (the caller knows
    when), so a pass here returns ``None`` ("keep going").
    """
    failures = state.failures + (j.outcome is Outcome.FAIL)
    in_a_row = state.inconclusive_in_a_row + 1 if j.outcome is Outcome.INCONCLUSIVE else 0
    new = RunState(
        windows=state.windows + 1,
        passes=state.passes + (j.outcome is Outcome.PASS),
        failures=failures,
        inconclusive_in_a_row=in_a_row,
        last=j,
    )
    if failures > t.failure_limit or in_a_row > t.inconclusive_limit:
        return new, Outcome.FAIL
    return new, None


def final_message(state: RunState, t: Thresholds) -> str:
    """Why a run failed, for the verdict: the metric, by how much, over how many requests."""
    j = state.last
    if j is None:
        return "no analysis window was judged"
    if j.outcome is Outcome.INCONCLUSIVE:
        return (
            f"analysis inconclusive {state.inconclusive_in_a_row} windows in a row "
            f"(limit {t.inconclusive_limit}): {j.message}"
        )
    return f"analysis failed on {j.metric}: {j.message}"


def run_outcome(state: RunState, t: Thresholds) -> Outcome:
    """A run that reached the end of its stage: pass if any window passed, else inconclusive."""
    if state.failures > t.failure_limit:
        return Outcome.FAIL
    return Outcome.PASS if state.passes else Outcome.INCONCLUSIVE
