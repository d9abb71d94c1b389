"""Pure decision rules of the ECS simulation (no state, no clock), tested with tables."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from rollout.sandbox.errors import ApiError, client_error

# ---------------------------------------------------------------- Fargate sizes (§8)

_FARGATE_MEMORY: dict[int, tuple[int, ...]] = {
    256: (512, 1024, 2048),
    512: (1024, 2048, 3072, 4096),
    1024: (2048, 3072, 4096, 5120, 6144, 7168, 8192),
    2048: tuple(range(4096, 16384 + 1, 1024)),
    4096: tuple(range(8192, 30720 + 1, 1024)),
    8192: tuple(range(16384, 61440 + 1, 4096)),
    16384: tuple(range(32768, 122880 + 1, 8192)),
}

_VCPU = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*vcpu\s*$", re.IGNORECASE)
_GB = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*gb\s*$", re.IGNORECASE)
_MB = re.compile(r"^\s*(\d+)\s*(?:mb|mib)?\s*$", re.IGNORECASE)


def normalise_cpu(value: str) -> str:
    """Task-level cpu as AWS stores it: ``"1 vCPU"`` → ``"1024"``; units pass through."""
    match = _VCPU.match(value)
    if match:
        units = float(match.group(1)) * 1024
        if units != int(units):
            raise client_error(f"Invalid 'cpu' setting for task: {value!r}.")
        return str(int(units))
    if value.strip().isdigit():
        return str(int(value))
    raise client_error(f"Invalid 'cpu' setting for task: {value!r}.")


def normalise_memory(value: str) -> str:
    """Task-level memory as AWS stores it: ``"1GB"`` → ``"1024"``; MiB pass through."""
    match = _GB.match(value)
    if match:
        mib = float(match.group(1)) * 1024
        if mib != int(mib):
            raise client_error(f"Invalid 'memory' setting for task: {value!r}.")
        return str(int(mib))
    match = _MB.match(value)
    if match:
        return str(int(match.group(1)))
    raise client_error(f"Invalid 'memory' setting for task: {value!r}.")


def validate_fargate_size(cpu: str | None, memory: str | None) -> None:
    """Raise AWS's ClientException unless (cpu, memory) is a Fargate configuration (§8)."""
    if cpu is None:
        raise client_error("Fargate requires that 'cpu' be defined at the task level.")
    if memory is None:
        raise client_error("Fargate requires that 'memory' be defined at the task level.")
    if int(memory) not in _FARGATE_MEMORY.get(int(cpu), ()):
        raise client_error(
            f"No Fargate configuration exists for given values: {cpu} CPU, {memory} memory. "
            "See the Amazon ECS documentation for the valid values."
        )


def fargate_sizes() -> dict[int, tuple[int, ...]]:
    """The valid pairs (a copy)."""
    return dict(_FARGATE_MEMORY)


# ---------------------------------------------------------------- rolling arithmetic (§1.1)


@dataclass(frozen=True)
class RollingPlan:
    """What one scheduler pass may do (DERIVED per-pass rule of §1.1)."""

    upper: int
    lower: int
    start: int
    stop_healthy_old: int


def rolling_limits(desired: int, minimum_percent: int, maximum_percent: int) -> tuple[int, int]:
    """``(upper, lower)``: floor(N × max / 100) and ceil(N × min / 100), integer-exact."""
    upper = desired * maximum_percent // 100
    lower = -((-desired * minimum_percent) // 100)
    return upper, lower


def rolling_pass(
    *,
    desired: int,
    minimum_percent: int,
    maximum_percent: int,
    live: int,
    primary_live: int,
    healthy: int,
    old_healthy: int,
    can_launch: bool = True,
) -> RollingPlan:
    """One pass: start up to min(upper − live, N − primary_live) PRIMARY tasks; stop up to
    min(healthy − lower, old healthy) healthy old tasks. ``live`` counts every task the scheduler
    still wants (PROVISIONING..RUNNING) across deployments."""
    upper, lower = rolling_limits(desired, minimum_percent, maximum_percent)
    start = max(0, min(upper - live, desired - primary_live)) if can_launch else 0
    stop = max(0, min(healthy - lower, old_healthy))
    return RollingPlan(upper=upper, lower=lower, start=start, stop_healthy_old=stop)


# ---------------------------------------------------------------- circuit breaker (§2.1)

ThresholdType = Literal["COUNT", "BOUNDED_PERCENT", "UNBOUNDED_PERCENT"]


def breaker_threshold(
    desired: int,
    *,
    kind: ThresholdType = "BOUNDED_PERCENT",
    value: int = 50,
    minimum: int = 3,
    maximum: int = 200,
) -> int:
    """Failures that trip the breaker: clamp(ceil(value% × N), 3, 200) by default."""
    if kind == "COUNT":
        return value
    raw = -((-desired * value) // 100)
    if kind == "UNBOUNDED_PERCENT":
        return max(1, raw)
    return min(maximum, max(minimum, raw))


def throttle_delay(consecutive_failures: int, *, after: int, base: float, cap: float) -> float:
    """Service-throttle wait before the next launch (UNVERIFIED curve, §2.1)."""
    if consecutive_failures < after:
        return 0.0
    return float(min(cap, base * 2 ** (consecutive_failures - after)))


__all__ = [
    "ApiError",
    "RollingPlan",
    "breaker_threshold",
    "fargate_sizes",
    "normalise_cpu",
    "normalise_memory",
    "rolling_limits",
    "rolling_pass",
    "throttle_delay",
    "validate_fargate_size",
]
