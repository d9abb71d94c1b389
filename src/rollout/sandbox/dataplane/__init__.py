"""Data plane: what requests go through on their way to tasks.

- :mod:`.listener`: :class:`AlbProxy`, a local HTTP listener per ALB listener (loopback);
- :mod:`.routing`: listener rules and actions, weighted forward, round robin;
- :mod:`.targets`: target state, read from moto with the sandbox's health overlay;
- :mod:`.health`: the ALB's health checker (real HTTP to process tasks), writing that overlay;
- :mod:`.traffic`: a bounded traffic generator for a local listener (``rollout sandbox traffic``).
"""

from __future__ import annotations

from rollout.sandbox.dataplane.listener import AlbProxy

__all__ = ["AlbProxy"]
