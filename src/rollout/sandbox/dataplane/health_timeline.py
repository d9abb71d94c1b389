"""Target health as a timeline: the ELB health states a target goes through (data plane, §6).

A target's health is a list of :class:`HealthChange` (each in force from its ``at`` on), computed
from the target group's health check settings (:func:`target_health_changes`) when readiness is
predicted, or appended by the health checker when it is observed; :func:`health_at` reads it.
Pure: no state, no clock. The ECS model uses the same type for container health timelines.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class HealthChange:
    """A target's health from ``at`` on."""

    at: float
    state: str
    reason: str | None
    description: str | None


def target_health_changes(
    *,
    registered_at: float,
    interval: float,
    healthy_threshold: int,
    unhealthy_threshold: int,
    ready_at: float | None,
    failure_reason: str,
    failure_description: str,
    registration_seconds: float,
    first_healthy: Literal["one_check", "threshold"],
) -> list[HealthChange]:
    """The health states of a target whose checks fail until ``ready_at`` (None: forever).

    Checks run at registered_at + k × interval (k ≥ 1). From `initial`, `one_check` turns
    healthy on the first pass, `threshold` after HealthyThresholdCount passes in a row; failing
    UnhealthyThresholdCount checks in a row makes it unhealthy, and from unhealthy it needs
    HealthyThresholdCount passes in a row (§6.1).
    """
    changes = [
        HealthChange(
            registered_at,
            "initial",
            "Elb.RegistrationInProgress",
            "Target registration is in progress",
        )
    ]
    if registration_seconds < interval:
        changes.append(
            HealthChange(
                registered_at + registration_seconds,
                "initial",
                "Elb.InitialHealthChecking",
                "Initial health checks in progress",
            )
        )
    if ready_at is None:
        first_pass = None
    else:
        first_pass = max(1, math.ceil((ready_at - registered_at) / interval - 1e-9))
    unhealthy_check = unhealthy_threshold
    became_unhealthy = first_pass is None or first_pass > unhealthy_check
    if became_unhealthy:
        changes.append(
            HealthChange(
                registered_at + unhealthy_check * interval,
                "unhealthy",
                failure_reason,
                failure_description,
            )
        )
    if first_pass is not None:
        needed = 1 if (first_healthy == "one_check" and not became_unhealthy) else healthy_threshold
        changes.append(
            HealthChange(
                registered_at + (first_pass + needed - 1) * interval, "healthy", None, None
            )
        )
    return changes


def health_at(changes: list[HealthChange], now: float) -> HealthChange:
    """The change in force at ``now`` (the first one if ``now`` is before all)."""
    current = changes[0]
    for change in changes:
        if change.at <= now:
            current = change
        else:
            break
    return current


__all__ = ["HealthChange", "health_at", "target_health_changes"]
