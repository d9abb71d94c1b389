"""The scale settle decision, as a table."""

from __future__ import annotations

from dataclasses import replace

import pytest

from engine.builders import dep, stopped, svc
from rollout.decisions.settle import SettleObservation, settle
from rollout.model import LoadBalancerRef

LB = (LoadBalancerRef("arn:tg/blue", "api", 8000),)


def _obs(
    *,
    desired: int,
    running: int,
    pending: int = 0,
    service_desired: int | None = None,
    healthy: int = 0,
    at: float = 60.0,
    lb: bool = True,
    stops: int = 0,
) -> SettleObservation:
    service = svc(
        dep("d1", 1, desired=desired, running=running, pending=pending),
        desired=desired if service_desired is None else service_desired,
    )
    if lb:
        service = replace(service, load_balancers=LB)
    return SettleObservation(
        at=at,
        started_at=0.0,
        desired=desired,
        service=service,
        healthy=healthy,
        stopped=tuple(stopped(n, at=10.0 + n) for n in range(stops)),
    )


CASES = [
    # (name, observation, expected state)
    ("settled up, all healthy", _obs(desired=4, running=4, healthy=4), "settled"),
    ("running but not yet healthy", _obs(desired=4, running=4, healthy=2), "continue"),
    ("pending tasks", _obs(desired=4, running=3, pending=1, healthy=3), "continue"),
    ("no load balancer: running is enough", _obs(desired=3, running=3, lb=False), "settled"),
    ("scaled to zero", _obs(desired=0, running=0), "settled"),
    ("scale down still draining", _obs(desired=1, running=2, healthy=1), "continue"),
    (
        "someone else changed desiredCount",
        _obs(desired=4, running=2, service_desired=6),
        "superseded",
    ),
    (
        "two crashes, none of the new healthy",
        _obs(desired=4, running=2, healthy=2, stops=2),
        "failed",
    ),
    ("one crash is not yet a failure", _obs(desired=4, running=2, healthy=2, stops=1), "continue"),
    ("crashes but settled anyway", _obs(desired=2, running=2, healthy=2, stops=2), "settled"),
    ("past the timeout", _obs(desired=4, running=3, healthy=3, at=901.0), "timed-out"),
]


@pytest.mark.parametrize(("name", "obs", "expected"), CASES, ids=[c[0] for c in CASES])
def test_settle(name: str, obs: SettleObservation, expected: str) -> None:
    """Each observation maps to the state in the table."""
    assert settle(obs, timeout=900.0, k=2).state == expected
