"""Synthetic traffic: the ALB's requests as the simulated runtime would see them, no sockets.

With the simulated runtime the tasks are a model (their addresses lead nowhere), so the real
listener (:mod:`.listener`) has nothing to forward to. :class:`SyntheticTraffic` stands in for
clients and the ALB together: every ``tick`` simulated seconds it sends ``rate × tick``
production requests (and ``test_rate × tick`` test requests) through each load balancer's
listeners as the ALB would route them, and records each outcome with the observability plane's
metrics writer (:class:`~rollout.sandbox.observability.metrics.AlbMetrics`), so
``AWS/ApplicationELB`` metrics and the alarms on them follow on the virtual clock.

Routing, per request (the same rules as the real listener, :mod:`.routing` and :mod:`.targets`):

- production requests take the listener's first matching rule for ``GET /`` (or its default
  action); test requests take each traffic-shifting service's ``testListenerRule`` (its header
  condition is what clients send to reach it);
- a weighted forward splits by the rule's weights as moto holds them now (ECS's traffic shifts
  rewrite them), by smooth weighted round robin;
- within the chosen target group: healthy targets in turn; none healthy → every registered
  target that is not leaving (fail-open); none at all → the ALB answers 503 (an
  ``HTTPCode_ELB_503_Count``, no ``RequestCount`` for the group);
- the target's state is the one the real listener routes by (moto's target group with the
  health overlay): a ``draining`` target gets no new request, so the old tasks of a rolling
  deploy, which ECS deregisters before it stops them (ecs-behaviour.md §6.3), fail no request;
- a target whose task's container does not accept connections (``TaskRecord.answering``: it
  exited or crashed while registered, or was sent SIGTERM) → the ALB answers 502
  (``TargetConnectionErrorCount``); a task that is DEACTIVATING (its targets draining) still
  answers what it is sent;
- otherwise the task answers 200 after ``latency`` seconds, unless its fault plan says
  ``serve_5xx`` (that ``share`` of its requests get ``status_code``) or ``slow`` (that share takes
  the fault's ``latency``). Which requests are affected is deterministic (evenly spread).

:attr:`SyntheticTraffic.blind_moments` lists the ticks at which some target group with a
non-zero production weight had no healthy target (what a rollback must never leave).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from rollout.sandbox.dataplane.routing import (
    Forward,
    RoundRobin,
    WeightedPicker,
    action_of,
    select_action,
)
from rollout.sandbox.dataplane.targets import HEALTHY, Target, group_states, routable
from rollout.sandbox.observability.metrics import RequestOutcome


@dataclass(frozen=True)
class SyntheticSettings:
    """The sandbox setting for synthetic traffic (``Sandbox.start_synthetic_traffic``)."""

    #: production requests per second, per listener
    rate: float = 10.0
    #: test-listener-rule requests per second, per traffic-shifting service
    test_rate: float = 0.0
    #: seconds a healthy task takes to answer
    latency: float = 0.02
    #: simulated seconds between batches
    tick: float = 1.0
    #: only this load balancer (name); None: every application load balancer
    load_balancer: str | None = None

    def __post_init__(self) -> None:
        if not 0 <= self.rate <= 10_000 or not 0 <= self.test_rate <= 10_000:
            raise ValueError(
                f"synthetic traffic rates must be 0 to 10000 requests/s, got {self.rate} and "
                f"{self.test_rate}"
            )
        if self.tick <= 0 or self.latency < 0:
            raise ValueError("synthetic traffic needs tick > 0 and latency >= 0 seconds")


@dataclass
class _Carry:
    production: float = 0.0
    test: float = 0.0


def _spread(index: int, share: float) -> bool:
    """Whether request ``index`` (0-based) is among ``share`` of requests, evenly spread."""
    return math.floor((index + 1) * share + 1e-9) > math.floor(index * share + 1e-9)


@dataclass
class SyntheticTraffic:
    """Scheduled on the ECS simulation's queue; see the module docstring."""

    sim: Any
    account: str
    region: str
    record: Callable[[RequestOutcome], None]
    settings: SyntheticSettings = field(default_factory=SyntheticSettings)
    #: (target group ARN or None, status) -> requests so far
    totals: Counter[tuple[str | None, int]] = field(default_factory=Counter)
    blind_moments: list[float] = field(default_factory=list)
    _running: bool = False
    _carry: dict[str, _Carry] = field(default_factory=dict)
    _served: Counter[str] = field(default_factory=Counter)
    _slowed: Counter[str] = field(default_factory=Counter)
    _picker: WeightedPicker = field(default_factory=WeightedPicker)
    _turns: RoundRobin = field(default_factory=RoundRobin)

    def start(self) -> None:
        if self._running:
            return
        self._running = True
        first = self.sim.now + self.settings.tick
        self.sim.schedule(first, lambda: self._tick(first))

    def stop(self) -> None:
        self._running = False

    @property
    def running(self) -> bool:
        return self._running

    # -- one batch -------------------------------------------------------------------------
    def _tick(self, at: float) -> None:
        if not self._running:
            return
        try:
            self._send(at)
        finally:
            nxt = at + self.settings.tick
            self.sim.schedule(nxt, lambda: self._tick(nxt))

    def _send(self, at: float) -> None:
        from moto.backends import get_backend

        elbv2 = get_backend("elbv2")[self.account][self.region]
        ec2 = get_backend("ec2")[self.account][self.region]
        tasks = {t.ip: t for rs in self.sim.regions() for t in rs.tasks.values()}
        states: dict[str, list[Target] | None] = {}

        def group(tg: str) -> list[Target] | None:
            if tg not in states:
                states[tg] = group_states(elbv2, ec2, tg)
            return states[tg]

        tick = self.settings.tick
        test_rules = self._test_rules()
        blind = False
        for lb in list(elbv2.load_balancers.values()):
            if lb.type != "application":
                continue
            if self.settings.load_balancer and lb.name != self.settings.load_balancer:
                continue
            for listener in list(lb.listeners.values()):
                carry = self._carry.setdefault(listener.arn, _Carry())
                carry.production += self.settings.rate * tick
                count = int(carry.production + 1e-9)
                carry.production -= count
                action = select_action(listener, "", "/")
                if isinstance(action, Forward):
                    blind = blind or self._blind(action, group)
                self._requests(lb.arn, action, count, at, tick, group, tasks)
                for rule in list(listener.rules.values()):
                    if rule.arn not in test_rules:
                        continue
                    carry.test += self.settings.test_rate * tick
                    n = int(carry.test + 1e-9)
                    carry.test -= n
                    actions = sorted(rule.actions, key=lambda a: int(a.data.get("Order", 0) or 0))
                    if actions:
                        self._requests(
                            lb.arn, action_of(actions[0].data), n, at, tick, group, tasks
                        )
        if blind:
            self.blind_moments.append(at)

    def _test_rules(self) -> set[str]:
        rules: set[str] = set()
        for rs in self.sim.regions():
            for service in rs.services.values():
                for lb in service.load_balancers:
                    arn = (lb.get("advancedConfiguration") or {}).get("testListenerRule")
                    if arn:
                        rules.add(str(arn))
        return rules

    @staticmethod
    def _blind(action: Forward, group: Callable[[str], list[Target] | None]) -> bool:
        """Some group with a non-zero weight has no healthy target."""
        for tg, weight in action.groups:
            if weight > 0 and not any(t.state == HEALTHY for t in group(tg) or []):
                return True
        return False

    def _requests(
        self,
        lb_arn: str,
        action: Any,
        count: int,
        at: float,
        tick: float,
        group: Callable[[str], list[Target] | None],
        tasks: dict[str, Any],
    ) -> None:
        for i in range(count):
            when = at - tick + (i + 0.5) * tick / count
            self._one(lb_arn, action, when, group, tasks)

    def _one(
        self,
        lb_arn: str,
        action: Any,
        at: float,
        group: Callable[[str], list[Target] | None],
        tasks: dict[str, Any],
    ) -> None:
        if not isinstance(action, Forward):
            status = getattr(action, "status", 500)
            self._emit(RequestOutcome(at, lb_arn, int(status), kind="elb"))
            return
        tg = self._picker.pick(action.groups)
        if tg is None:
            self._emit(RequestOutcome(at, lb_arn, 503, kind="elb"))
            return
        candidates, _ = routable(group(tg) or [])
        if not candidates:
            self._emit(RequestOutcome(at, lb_arn, 503, kind="elb"))
            return
        target = self._turns.pick(tg, candidates)
        task = tasks.get(target.ip)
        if task is None or not task.answering:
            self._emit(
                RequestOutcome(
                    at, lb_arn, 502, kind="elb", target_group_arn=tg, connection_error=True
                )
            )
            return
        faults = task.faults
        started = task.started_at if task.started_at is not None else at
        status, latency = 200, self.settings.latency
        if faults.serve_5xx_after is not None and at >= started + faults.serve_5xx_after:
            index = self._served[task.arn]
            self._served[task.arn] += 1
            if _spread(index, faults.error_share):
                status = faults.status_code
        if faults.slow_after is not None and at >= started + faults.slow_after:
            index = self._slowed[task.arn]
            self._slowed[task.arn] += 1
            if _spread(index, faults.slow_share):
                latency = faults.latency
        self._emit(RequestOutcome(at, lb_arn, status, target_group_arn=tg, latency=latency))

    def _emit(self, outcome: RequestOutcome) -> None:
        self.totals[(outcome.target_group_arn, outcome.status)] += 1
        self.record(outcome)
