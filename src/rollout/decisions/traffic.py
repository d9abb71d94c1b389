"""Route 53 traffic steps from the legacy path to the new ALB, as data (pure, table-tested).

Weights are percentages written as Route 53 weights (0–255; a record's share is its weight over
the sum of the weights of the records with its name and type: traffic-shifting.md §4), so
``new + legacy == 100`` and the share is exact.
"""

from __future__ import annotations

from collections.abc import Mapping


def parse_steps(text: str) -> tuple[int, ...]:
    """``"10,50,100"`` → ``(10, 50, 100)``: integers in 1..100, strictly increasing."""
    parts = [p.strip() for p in text.split(",") if p.strip()]
    if not parts:
        raise ValueError("--steps is empty: give percentages such as 10,50,100")
    steps: list[int] = []
    for part in parts:
        try:
            value = int(part)
        except ValueError:
            raise ValueError(f"--steps: {part!r} is not a whole percentage") from None
        if not 1 <= value <= 100:
            raise ValueError(f"--steps: {value} is outside 1..100")
        if steps and value <= steps[-1]:
            raise ValueError(f"--steps must increase: {value} after {steps[-1]}")
        steps.append(value)
    return tuple(steps)


def step_weights(percent: int, new: str, legacy: str) -> dict[str, int]:
    """Weights that send ``percent`` % of the name's queries to the new path."""
    return {new: percent, legacy: 100 - percent}


def share(weights: Mapping[str, int], set_id: str) -> float | None:
    """The percentage of queries ``set_id`` gets (None when every weight is 0: Route 53 then
    answers evenly, §4)."""
    total = sum(weights.values())
    if total == 0:
        return None
    return 100.0 * weights.get(set_id, 0) / total
