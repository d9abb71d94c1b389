"""The ALB health checker: real HTTP health checks against observed targets (process runtime).

For every target the ELB overlay marks as *observed* (registered by a task of the process
runtime, not draining), the checker sends ``GET <HealthCheckPath>`` to ``ip:port`` (the
registered port, or the group's numeric ``HealthCheckPort``) every ``HealthCheckIntervalSeconds``
after registration, with ``HealthCheckTimeoutSeconds`` and ``User-Agent: ELB-HealthChecker/2.0``
as an ALB does, and turns the answers into target states (reference §6.1):

- a status the group's ``Matcher`` (``"200"``, ``"200,202"``, ``"200-299"``) accepts passes;
  another fails with ``Target.ResponseCodeMismatch`` / ``Health checks failed with these codes:
  [503]``; no answer within the timeout fails with ``Target.Timeout`` / ``Request timed out``;
  a refused or reset connection fails with ``Target.FailedHealthChecks`` / ``Health checks
  failed``;
- from ``initial``: healthy after one pass (``first_healthy="one_check"``, the ALB guide) or
  ``HealthyThresholdCount`` passes in a row (``"threshold"``); ``UnhealthyThresholdCount`` fails
  in a row make it unhealthy; from unhealthy, ``HealthyThresholdCount`` passes in a row make it
  healthy again, and from healthy ``UnhealthyThresholdCount`` fails make it unhealthy.

Each new state goes into the overlay (:meth:`rollout.sandbox.elb.ElbOverlay.report`), which
DescribeTargetHealth answers from and which tells the ECS model; the data plane's proxy reads the
same overlay. Probes run on a small thread pool, outside the world's lock.
"""

from __future__ import annotations

import http.client
import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Literal

from rollout.sandbox.ecs.rules import HealthChange

log = logging.getLogger(__name__)

USER_AGENT = "ELB-HealthChecker/2.0"


@dataclass(frozen=True)
class CheckSettings:
    """A target group's health-check settings."""

    path: str = "/"
    port: str = "traffic-port"
    interval: float = 30.0
    timeout: float = 5.0
    healthy_threshold: int = 5
    unhealthy_threshold: int = 2
    matcher: str = "200"

    @classmethod
    def of(cls, group: Any) -> CheckSettings:
        """From a moto ``FakeTargetGroup``."""
        matcher = (getattr(group, "matcher", None) or {}).get("HttpCode", "200")
        return cls(
            path=str(group.health_check_path or "/"),
            port=str(group.health_check_port or "traffic-port"),
            interval=float(group.health_check_interval_seconds or 30),
            timeout=float(group.health_check_timeout_seconds or 5),
            healthy_threshold=int(group.healthy_threshold_count or 5),
            unhealthy_threshold=int(group.unhealthy_threshold_count or 2),
            matcher=str(matcher),
        )


def matches(status: int, matcher: str) -> bool:
    """Whether an HTTP status passes an ALB ``Matcher.HttpCode`` ("200", "200,202", "200-299")."""
    for part in matcher.split(","):
        low, _, high = part.strip().partition("-")
        if high and int(low) <= status <= int(high):
            return True
        if not high and low and int(low) == status:
            return True
    return False


@dataclass(frozen=True)
class Probe:
    """One health check's outcome: ``passed``, else the reason code and description."""

    passed: bool
    reason: str | None = None
    description: str | None = None


def probe(ip: str, port: int, path: str, timeout: float, matcher: str) -> Probe:
    """One real health-check request."""
    connection = http.client.HTTPConnection(ip, port, timeout=timeout)
    try:
        connection.request("GET", path, headers={"User-Agent": USER_AGENT, "Connection": "close"})
        status = connection.getresponse().status
    except TimeoutError:
        return Probe(False, "Target.Timeout", "Request timed out")
    except (OSError, http.client.HTTPException):
        return Probe(False, "Target.FailedHealthChecks", "Health checks failed")
    finally:
        connection.close()
    if matches(status, matcher):
        return Probe(True)
    return Probe(
        False, "Target.ResponseCodeMismatch", f"Health checks failed with these codes: [{status}]"
    )


@dataclass
class TargetState:
    """The threshold state machine of one target (pure; see the module docstring)."""

    healthy_threshold: int
    unhealthy_threshold: int
    first_healthy: Literal["one_check", "threshold"] = "one_check"
    state: str = "initial"
    passes: int = 0
    fails: int = 0
    checks: int = 0

    def feed(self, result: Probe, at: float) -> HealthChange | None:
        """The new state after ``result`` (None: unchanged)."""
        self.checks += 1
        if result.passed:
            self.passes, self.fails = self.passes + 1, 0
            needed = (
                1
                if self.state == "initial" and self.first_healthy == "one_check"
                else self.healthy_threshold
            )
            if self.state != "healthy" and self.passes >= needed:
                self.state = "healthy"
                return HealthChange(at, "healthy", None, None)
            return None
        self.passes, self.fails = 0, self.fails + 1
        if self.state != "unhealthy" and self.fails >= self.unhealthy_threshold:
            self.state = "unhealthy"
            return HealthChange(at, "unhealthy", result.reason, result.description)
        return None


class HealthChecker:
    """Checks every observed target of ``overlay`` (an :class:`~rollout.sandbox.elb.ElbOverlay`)
    in a thread; see the module docstring."""

    def __init__(
        self,
        overlay: Any,
        *,
        first_healthy: Literal["one_check", "threshold"] = "one_check",
        tick: float = 0.1,
        workers: int = 4,
    ) -> None:
        self.overlay = overlay
        self.first_healthy = first_healthy
        self.tick = tick
        self._states: dict[tuple[str, str], TargetState] = {}
        self._next: dict[tuple[str, str], float] = {}
        self._busy: set[tuple[str, str]] = set()
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="alb-health")
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="alb-health", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
        self._pool.shutdown(wait=True, cancel_futures=True)

    def _run(self) -> None:
        while not self._stop.wait(self.tick):
            try:
                self._round()
            except Exception:  # keep checking; a bad round must not end health checks
                log.exception("ALB health checker: a round failed")

    def _round(self) -> None:
        due: list[tuple[tuple[str, str], int, CheckSettings]] = []
        with self.overlay.lock:
            self.overlay.sync()
            now = self.overlay.now()
            listed = self.overlay.observed_targets()
            present = {(tg, ip) for tg, ip, _, _ in listed}
            for key in [k for k in self._states if k not in present]:
                self._states.pop(key, None)
                self._next.pop(key, None)
            for tg_arn, ip, port, registered_at in listed:
                key = (tg_arn, ip)
                if key in self._busy:
                    continue
                parts = tg_arn.split(":")
                group = self.overlay.target_group(parts[4], parts[3], tg_arn)
                if group is None:
                    continue
                settings = CheckSettings.of(group)
                if key not in self._states:
                    self._states[key] = TargetState(
                        settings.healthy_threshold,
                        settings.unhealthy_threshold,
                        first_healthy=self.first_healthy,
                    )
                    self._next[key] = registered_at + settings.interval
                if now >= self._next[key]:
                    self._next[key] += settings.interval
                    check_port = int(settings.port) if settings.port.isdigit() else port
                    self._busy.add(key)
                    due.append((key, check_port, settings))
        for key, check_port, settings in due:
            self._pool.submit(self._check, key, check_port, settings)

    def _check(self, key: tuple[str, str], port: int, settings: CheckSettings) -> None:
        tg_arn, ip = key
        try:
            result = probe(ip, port, settings.path, settings.timeout, settings.matcher)
            with self.overlay.lock:
                self.overlay.sync()
                state = self._states.get(key)
                if state is None:
                    return
                now = self.overlay.now()
                change = state.feed(result, now)
                if change is None and state.checks == 1 and state.state == "initial":
                    change = HealthChange(
                        now,
                        "initial",
                        "Elb.InitialHealthChecking",
                        "Initial health checks in progress",
                    )
                if change is not None:
                    self.overlay.report(tg_arn, ip, change)
        finally:
            self._busy.discard(key)
