"""What the engine needs from the configuration, as one frozen value.

The deploy and undo verbs build it from ``rollout.config.EnvConfig``; engine tests build it
directly. Keeping the engine on this small shape means it never depends on how the config file
is parsed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from rollout.decisions.analysis import Thresholds
from rollout.decisions.verdict import Timeouts


@dataclass(frozen=True)
class TrafficSettings:
    record_name: str
    new_set_identifier: str
    legacy_set_identifier: str
    record_type: str = "A"
    hosted_zone_id: str | None = None
    zone_name: str | None = None


@dataclass(frozen=True)
class ShiftSettings:
    """A native strategy's shape (``[env.<name>.shift]``)."""

    bake_minutes: int = 10
    canary_percent: float = 5.0
    canary_bake_minutes: int = 10
    step_percent: float = 10.0
    step_bake_minutes: int = 6
    set_on_deploy: bool = True


@dataclass(frozen=True)
class EngineSettings:
    env: str
    cluster: str
    service: str
    region: str = "us-east-1"
    smoke_url: str | None = None
    timeouts: Timeouts = field(default_factory=Timeouts)
    poll_interval: float = 5.0
    jitter: float = 0.2
    consecutive_failures: int = 2
    bake_seconds: float = 0.0
    bake_alarms: tuple[str, ...] = ()
    traffic: TrafficSettings | None = None
    lock_ttl: float = 3600.0
    lock_prefix: str = "/rollout/lock"
    retention_keep: int = 10
    prune_after_deploy: bool = False
    #: rolling | blue-green | canary | linear
    strategy: str = "rolling"
    test_url: str | None = None
    #: headers the smoke probe sends to ``test_url`` (what the test listener rule matches on)
    test_headers: Mapping[str, str] = field(default_factory=dict)
    shift: ShiftSettings = field(default_factory=ShiftSettings)
    thresholds: Thresholds = field(default_factory=Thresholds)
    #: seconds per analysis window (a CloudWatch period)
    analysis_window: int = 60


def settings_from_config(cfg: Any) -> EngineSettings:
    """Build :class:`EngineSettings` from an ``EnvConfig`` (see the Config contract)."""
    traffic = None
    if getattr(cfg, "traffic", None) is not None:
        t = cfg.traffic
        traffic = TrafficSettings(
            record_name=t.record_name,
            new_set_identifier=t.new_set_identifier,
            legacy_set_identifier=t.legacy_set_identifier,
            record_type=getattr(t, "record_type", "A"),
            hosted_zone_id=getattr(t, "hosted_zone_id", None),
            zone_name=getattr(t, "zone_name", None),
        )
    return EngineSettings(
        env=cfg.name,
        cluster=cfg.cluster,
        service=cfg.service,
        region=cfg.region,
        smoke_url=cfg.smoke_url,
        timeouts=Timeouts(
            deploy=float(cfg.timeouts.deploy),
            healthy=float(cfg.timeouts.healthy),
            drain=float(cfg.timeouts.drain),
        ),
        poll_interval=float(cfg.watch.poll_interval),
        jitter=float(cfg.watch.jitter),
        consecutive_failures=int(cfg.detection.consecutive_failures),
        bake_seconds=float(cfg.bake.seconds),
        bake_alarms=tuple(cfg.bake.alarms),
        traffic=traffic,
        lock_ttl=float(cfg.lock.ttl),
        lock_prefix=str(cfg.lock.parameter_prefix),
        retention_keep=int(cfg.retention.keep),
        prune_after_deploy=bool(cfg.retention.prune_after_deploy),
        strategy=str(getattr(cfg, "strategy", "rolling")),
        test_url=getattr(cfg, "test_url", None),
        test_headers=dict(getattr(cfg, "test_headers", None) or {}),
        **_progressive(cfg),
    )


def _progressive(cfg: Any) -> dict[str, Any]:
    shift, analysis = getattr(cfg, "shift", None), getattr(cfg, "analysis", None)
    out: dict[str, Any] = {}
    if shift is not None:
        out["shift"] = ShiftSettings(
            bake_minutes=int(shift.bake_minutes),
            canary_percent=float(shift.canary_percent),
            canary_bake_minutes=int(shift.canary_bake_minutes),
            step_percent=float(shift.step_percent),
            step_bake_minutes=int(shift.step_bake_minutes),
            set_on_deploy=bool(shift.set_on_deploy),
        )
    if analysis is not None:
        out["analysis_window"] = int(analysis.window)
        out["thresholds"] = thresholds_from(analysis)
    return out


def thresholds_from(analysis: Any) -> Thresholds:
    """The :class:`Thresholds` of an environment's ``analysis`` settings (``EnvConfig.analysis``
    or the like)."""
    return Thresholds(
        min_requests=int(analysis.min_requests),
        max_error_rate=float(analysis.max_error_rate),
        error_rate_margin=float(analysis.error_rate_margin),
        max_p99_ms=float(analysis.max_p99_ms),
        p99_ratio=float(analysis.p99_ratio),
        inconclusive_limit=int(analysis.inconclusive_limit),
        failure_limit=int(analysis.failure_limit),
    )
