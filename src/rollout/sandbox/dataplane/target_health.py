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

Deregistration drains (reference §6.2, §6.3): :meth:`ElbOverlay.drain` makes a target
``draining`` (``Target.DeregistrationInProgress``) for its group's
``deregistration_delay.timeout_seconds``, then removes it from moto (it then reads ``unused`` /
``Target.NotRegistered``). ECS's deregistration of a stopping task and the public
``DeregisterTargets`` call both go through it: :func:`install` also wraps
``ELBv2Backend.deregister_targets`` (the API's entry point; the overlay's own removal after the
delay calls ``FakeTargetGroup.deregister`` and so never drains again) and
``ELBv2Backend.register_targets`` (registering a draining target again cancels its drain).
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from moto.backends import get_backend
from moto.core.base_backend import BackendDict
from moto.elbv2.models import ELBv2Backend, FakeHealthStatus, FakeTargetGroup

from rollout.sandbox.dataplane.health_timeline import HealthChange, health_at

DRAINING = HealthChange(
    0.0, "draining", "Target.DeregistrationInProgress", "Target deregistration is in progress"
)

# target group ARN -> the overlay managing targets in it
_OWNERS: weakref.WeakValueDictionary[str, ElbOverlay] = weakref.WeakValueDictionary()
# the newest open overlay: it drains targets the public API deregisters in groups no simulation
# manages yet (moto's state is process-global, so a process holds one sandbox at a time); closing
# it or resetting moto forgets it (then DeregisterTargets is moto's again)
_CURRENT: list[weakref.ReferenceType[ElbOverlay]] = []
_install_lock = threading.Lock()
_installed = False


@dataclass
class _Target:
    ip: str
    port: int
    changes: list[HealthChange]
    draining_from: float | None = None
    #: when the drain ends and the target leaves moto's group
    drain_ends: float | None = None
    #: called once the drain is over (ECS marks its binding gone)
    on_gone: list[Callable[[], None]] = field(default_factory=list)
    #: taken over from moto for its drain (registered with the public RegisterTargets)
    taken_over: bool = False
    #: observed targets: called with each change the health checker reports
    on_change: Callable[[HealthChange], None] | None = None


class ElbOverlay:
    """Targets one simulation manages, across target groups (shares the simulation's lock)."""

    def __init__(self, lock: threading.RLock, clock_now: Callable[[], float]) -> None:
        self.lock = lock
        self._now = clock_now
        self._sync: Callable[[], None] = lambda: None
        self._schedule: Callable[[float, Callable[[], None]], None] | None = None
        self._targets: dict[tuple[str, str], _Target] = {}
        install()
        _CURRENT[:] = [weakref.ref(self)]

    def set_sync(self, sync: Callable[[], None]) -> None:
        """``sync`` runs the simulation up to the present; called before health is answered."""
        self._sync = sync

    def set_scheduler(self, schedule: Callable[[float, Callable[[], None]], None]) -> None:
        """``schedule(at, action)`` runs ``action`` at simulated time ``at`` (the simulation's
        event queue, on the sandbox's clock, virtual or wall); drains end through it."""
        self._schedule = schedule

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

    def drain(
        self,
        account: str,
        region: str,
        tg_arn: str,
        ip: str,
        at: float,
        *,
        on_gone: Callable[[], None] | None = None,
    ) -> float:
        """Deregister ``ip`` from ``tg_arn`` at ``at``: it is `draining` for the group's
        ``deregistration_delay.timeout_seconds`` (§6.3; the ALB sends it no new request), then
        removed from moto's group, then ``on_gone`` runs. Returns the seconds until then.

        A target registered with ``RegisterTargets`` (moto's alone) is taken over for its
        drain. One already draining keeps its deadline. A target not registered is gone now
        (``on_gone`` runs at ``at``); DeregisterTargets "returns successfully" for it [BC-ELB].
        Caller holds :attr:`lock`.
        """
        key = (tg_arn, ip)
        target = self._targets.get(key)
        group = self.target_group(account, region, tg_arn)
        if target is not None and target.drain_ends is not None:
            if on_gone is not None:
                target.on_gone.append(on_gone)
            return max(0.0, target.drain_ends - at)
        if group is None or ip not in group.targets:
            self._targets.pop(key, None)
            if on_gone is not None:
                self._at(at, on_gone)
            return 0.0
        if target is None:  # registered through the API: moto's until now
            port = int(group.targets[ip].get("Port") or group.port or 80)
            target = _Target(ip, port, [HealthChange(at, "healthy", None, None)], taken_over=True)
            self._targets[key] = target
            _OWNERS[tg_arn] = self
        delay = float(str(group.attributes.get("deregistration_delay.timeout_seconds", 300)))
        target.draining_from = at
        target.drain_ends = at + delay
        if on_gone is not None:
            target.on_gone.append(on_gone)
        self._at(at + delay, partial(self._drained, account, region, tg_arn, target))
        return delay

    def _at(self, at: float, action: Callable[[], None]) -> None:
        if self._schedule is None:
            raise RuntimeError("ElbOverlay.drain needs a scheduler (set_scheduler)")
        self._schedule(at, action)

    def _drained(self, account: str, region: str, tg_arn: str, target: _Target) -> None:
        if self._targets.get((tg_arn, target.ip)) is not target or target.drain_ends is None:
            return  # registered again meanwhile: the drain was cancelled
        self.finish(account, region, tg_arn, target.ip)
        for action in target.on_gone:
            action()

    def cancel_drain(self, tg_arn: str, ip: str) -> None:
        """``RegisterTargets`` of a draining target: it is registered again (UNVERIFIED; see
        docs/sandbox.md). A target the sandbox took over from moto goes back to moto
        (``healthy``); a task's target reads its health timeline again."""
        target = self._targets.get((tg_arn, ip))
        if target is None or target.drain_ends is None:
            return
        if target.taken_over:
            del self._targets[(tg_arn, ip)]
            return
        target.draining_from = None
        target.drain_ends = None
        target.on_gone.clear()

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
        if _CURRENT and _CURRENT[0]() is self:
            _CURRENT.clear()
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


def _registered(group: FakeTargetGroup, target: dict[str, Any]) -> bool:
    """Whether ``target`` (``Id``, optional ``Port``: the group's) is registered in ``group``."""
    registered = group.targets.get(target["Id"])
    if registered is None:
        return False
    return int(registered.get("Port") or 0) == int(target.get("Port") or group.port or 0)


def _current() -> ElbOverlay | None:
    return _CURRENT[0]() if _CURRENT else None


def install() -> None:
    """Wrap moto's target-health code once per process (idempotent)."""
    global _installed
    with _install_lock:
        if _installed:
            return
        original_health_for = FakeTargetGroup.health_for
        original_describe = ELBv2Backend.describe_target_health
        original_deregister = ELBv2Backend.deregister_targets

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

        original_register = ELBv2Backend.register_targets

        def deregister_targets(
            self: ELBv2Backend, target_group_arn: str, instances: list[dict[str, Any]]
        ) -> None:
            """The API's DeregisterTargets: each registered target drains (§6.3)."""
            group = self.target_groups.get(target_group_arn)
            if group is None:
                original_deregister(self, target_group_arn, instances)  # TargetGroupNotFound
                return
            # "If the specified target does not exist, the action returns successfully"
            # [BC-ELB DeregisterTargets] (moto raises InvalidTarget); (Id, Port) names a target
            existing = [t for t in instances if _registered(group, t)]
            overlay = _OWNERS.get(target_group_arn) or _current()
            if overlay is None:  # no sandbox simulation in this process: moto's removal
                original_deregister(self, target_group_arn, existing)
                return
            with overlay.lock:
                overlay.sync()
                now = overlay.now()
                for target in existing:
                    overlay.drain(self.account_id, self.region_name, group.arn, target["Id"], now)

        def register_targets(
            self: ELBv2Backend, target_group_arn: str, instances: list[Any]
        ) -> None:
            owner = _OWNERS.get(target_group_arn)
            if owner is not None:
                with owner.lock:
                    for target in instances:
                        owner.cancel_drain(target_group_arn, target["Id"])
            original_register(self, target_group_arn, instances)

        original_reset = BackendDict.reset

        def reset(cls: type[BackendDict[Any]]) -> None:
            """moto forgets every resource: the newest overlay's world is gone with them."""
            _CURRENT.clear()
            original_reset()

        BackendDict.reset = classmethod(reset)  # type: ignore[method-assign,assignment]
        FakeTargetGroup.health_for = health_for  # type: ignore[method-assign]
        ELBv2Backend.deregister_targets = deregister_targets  # type: ignore[method-assign]
        ELBv2Backend.register_targets = register_targets  # type: ignore[method-assign]
        ELBv2Backend.describe_target_health = describe_target_health  # type: ignore[method-assign]
        _installed = True
