"""ELBv2 target health layered onto moto.

moto marks a registered target ``healthy`` at once and removes a deregistered one at once
(§10.2 of the reference). The ECS simulation registers its tasks' IPs in moto's target groups
through :class:`ElbOverlay`, which remembers, per target, the health states the simulation
computed (``initial`` → ``healthy``/``unhealthy``, then ``draining`` for the target group's
``deregistration_delay.timeout_seconds``, then ``unused``).

moto 5.2.5 answers ``DescribeTargetHealth`` through ``ELBv2Backend.describe_target_health``,
which asks ``FakeTargetGroup.health_for(target, ec2_backend)`` for each target. :func:`install`
wraps both once per process: the backend method first runs the owning simulation up to the
present (under the simulation's lock), and ``health_for`` answers from the overlay for the
targets the simulation manages; every other target keeps moto's behaviour.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from moto.backends import get_backend
from moto.elbv2.models import ELBv2Backend, FakeHealthStatus, FakeTargetGroup

from rollout.sandbox.dataplane.health_timeline import HealthChange, health_at

DRAINING = HealthChange(
    0.0, "draining", "Target.DeregistrationInProgress", "Target deregistration is in progress"
)

# target group ARN -> the overlay managing targets in it
_OWNERS: weakref.WeakValueDictionary[str, ElbOverlay] = weakref.WeakValueDictionary()
_install_lock = threading.Lock()
_installed = False


@dataclass
class _Target:
    ip: str
    port: int
    changes: list[HealthChange]
    draining_from: float | None = None
    #: observed targets: called with each change the health checker reports
    on_change: Callable[[HealthChange], None] | None = None


class ElbOverlay:
    """Targets one simulation manages, across target groups (shares the simulation's lock)."""

    def __init__(self, lock: threading.RLock, clock_now: Callable[[], float]) -> None:
        self.lock = lock
        self._now = clock_now
        self._sync: Callable[[], None] = lambda: None
        self._targets: dict[tuple[str, str], _Target] = {}
        install()

    def set_sync(self, sync: Callable[[], None]) -> None:
        """``sync`` runs the simulation up to the present; called before health is answered."""
        self._sync = sync

    @staticmethod
    def target_group(account: str, region: str, arn: str) -> FakeTargetGroup | None:
        backend: ELBv2Backend = get_backend("elbv2")[account][region]
        return backend.target_groups.get(arn)

    def register(
        self,
        account: str,
        region: str,
        tg_arn: str,
        ip: str,
        port: int,
        changes: list[HealthChange],
        *,
        on_change: Callable[[HealthChange], None] | None = None,
    ) -> None:
        """Register ``ip:port`` in moto's target group and remember its health timeline.

        With ``on_change`` the target's health is *observed*: ``changes`` holds only what is
        known now, and the health checker (:mod:`rollout.sandbox.dataplane.health`) appends
        each change through :meth:`report`, which then calls ``on_change``.
        """
        backend: ELBv2Backend = get_backend("elbv2")[account][region]
        backend.register_targets(tg_arn, [{"Id": ip, "Port": port}])
        self._targets[(tg_arn, ip)] = _Target(ip, port, changes, on_change=on_change)
        _OWNERS[tg_arn] = self

    def observed_targets(self) -> list[tuple[str, str, int, float]]:
        """(target group ARN, ip, port, registered at) of the observed targets not draining."""
        return [
            (tg_arn, ip, target.port, target.changes[0].at)
            for (tg_arn, ip), target in self._targets.items()
            if target.on_change is not None and target.draining_from is None
        ]

    def report(self, tg_arn: str, ip: str, change: HealthChange) -> None:
        """A health checker's new state for an observed target (caller holds :attr:`lock`)."""
        target = self._targets.get((tg_arn, ip))
        if target is None or target.on_change is None or target.draining_from is not None:
            return
        target.changes.append(change)
        target.on_change(change)

    def start_draining(self, tg_arn: str, ip: str, at: float) -> None:
        """The target is `draining` from ``at`` (it stays registered in moto meanwhile)."""
        target = self._targets.get((tg_arn, ip))
        if target is not None:
            target.draining_from = at

    def finish(self, account: str, region: str, tg_arn: str, ip: str) -> None:
        """Draining is over: deregister in moto (it then reads `unused`)."""
        if self._targets.pop((tg_arn, ip), None) is None:
            return
        backend: ELBv2Backend = get_backend("elbv2")[account][region]
        group = backend.target_groups.get(tg_arn)
        if group is not None and ip in group.targets:
            group.deregister([{"Id": ip}])

    def state(self, tg_arn: str, ip: str, now: float) -> HealthChange | None:
        """The overlay's health for a target at ``now`` (None: not managed here)."""
        target = self._targets.get((tg_arn, ip))
        if target is None:
            return None
        if target.draining_from is not None and now >= target.draining_from:
            return DRAINING
        return health_at(target.changes, now)

    def close(self) -> None:
        """Forget every managed target (later reads fall back to moto's behaviour)."""
        for tg_arn in {key[0] for key in self._targets}:
            if _OWNERS.get(tg_arn) is self:
                del _OWNERS[tg_arn]
        self._targets.clear()

    def sync(self) -> None:
        with self.lock:
            self._sync()

    def now(self) -> float:
        return self._now()


def group_health(group: FakeTargetGroup, ec2_backend: Any) -> list[tuple[str, int, str]]:
    """``(target id, port, state)`` of every target registered in ``group``, in registration
    order: the states ``health_for`` (so ``DescribeTargetHealth``) answers, read for the whole
    group under one hold of the owning simulation's lock at one clock reading (the ALB listener
    does this for every request)."""
    registered = list(group.targets.values())
    owner = _OWNERS.get(group.arn)
    if owner is None:
        health_for = group.health_for
        return [
            (str(t["Id"]), int(t.get("Port") or group.port), health_for(t, ec2_backend).status)
            for t in registered
        ]
    out: list[tuple[str, int, str]] = []
    with owner.lock:
        now = owner.now()
        for t in registered:
            change = owner.state(group.arn, t["Id"], now)
            state = change.state if change is not None else group.health_for(t, ec2_backend).status
            out.append((str(t["Id"]), int(t.get("Port") or group.port), state))
    return out


def install() -> None:
    """Wrap moto's target-health code once per process (idempotent)."""
    global _installed
    with _install_lock:
        if _installed:
            return
        original_health_for = FakeTargetGroup.health_for
        original_describe = ELBv2Backend.describe_target_health

        def health_for(
            self: FakeTargetGroup, target: dict[str, Any], ec2_backend: Any
        ) -> FakeHealthStatus:
            owner = _OWNERS.get(self.arn)
            if owner is not None:
                with owner.lock:
                    change = owner.state(self.arn, target["Id"], owner.now())
                if change is not None:
                    registered = self.targets.get(target["Id"], {})
                    port = registered.get("Port", target.get("Port", self.port))
                    return FakeHealthStatus(
                        target["Id"],
                        port,
                        self.health_check_port,
                        change.state,
                        change.reason,
                        change.description,
                    )
            return original_health_for(self, target, ec2_backend)

        def describe_target_health(
            self: ELBv2Backend, target_group_arn: str, targets: list[dict[str, Any]]
        ) -> list[FakeHealthStatus]:
            owner = _OWNERS.get(target_group_arn)
            if owner is None:
                return original_describe(self, target_group_arn, targets)
            with owner.lock:
                owner.sync()
                return original_describe(self, target_group_arn, targets)

        FakeTargetGroup.health_for = health_for  # type: ignore[method-assign]
        ELBv2Backend.describe_target_health = describe_target_health  # type: ignore[method-assign]
        _installed = True
