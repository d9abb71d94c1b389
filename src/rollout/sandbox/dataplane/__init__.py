"""Data plane: what requests go through on their way to tasks, and what checks the tasks.

- :mod:`.listener`: :class:`AlbProxy`, a local HTTP listener per ALB listener (loopback);
- :mod:`.routing`: listener rules and actions, weighted forward, round robin;
- :mod:`.health`: the ALB health checker, real HTTP checks of process-runtime targets;
- :mod:`.targets`: target state, read from moto with the sandbox's health overlay;
- :mod:`.traffic`: a bounded traffic generator for a local listener (``rollout sandbox traffic``);
- :mod:`.health`: real ALB health checks against task processes (the process runtime).
"""

from __future__ import annotations

from rollout.sandbox.dataplane.listener import AlbProxy

__all__ = ["AlbProxy"]
