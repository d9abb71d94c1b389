"""The simulated ECS API (see :mod:`rollout.sandbox.ecs.simulation`)."""

from rollout.sandbox.ecs.simulation import EcsSimulation, ServingTarget
from rollout.sandbox.ecs.state import TimelineEntry
from rollout.sandbox.ecs.timings import Behaviour, Timings

__all__ = ["Behaviour", "EcsSimulation", "ServingTarget", "TimelineEntry", "Timings"]
