"""Moving clients from the legacy path to the new ALB with Route 53 weights, in gated steps.

For each step of ``rollout traffic shift --steps 10,50,100``: UPSERT both weights in one change,
wait for ``INSYNC``, then the record's TTL (resolvers keep the old answer that long), then judge
the new path's ALB metrics (its target groups' 5xx rate and p99 over analysis windows,
:func:`rollout.decisions.analysis.judge`, no baseline: the legacy path is not on the ALB). A
failing step (or the inconclusive limit) puts the new path back to 0, waits for INSYNC and ends
the run failed. A dry run prints each write and waits for nothing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from rollout.decisions.analysis import GroupStats, Outcome, RunState, advance, final_message, judge
from rollout.decisions.progressive import load_balancer_dimension, target_group_dimension
from rollout.decisions.traffic import share, step_weights
from rollout.engine.session import Session
from rollout.engine.settings import TrafficSettings
from rollout.errors import AwsError, ConfigError, CredentialsError


@dataclass
class ShiftResult:
    outcome: str  # shifted | rolled-back | rollback-failed | interrupted | dry-run
    reason: str
    reached: int = 0  # the last step whose analysis passed (percent on the new path)
    steps: list[dict[str, Any]] = field(default_factory=list)


def _traffic(s: Session) -> TrafficSettings:
    t = s.settings.traffic
    if t is None:
        raise ConfigError(
            f"failed to shift traffic for [env.{s.settings.env}]: no "
            f"[env.{s.settings.env}.traffic] section (the Route 53 weighted records).",
            hint="Add record_name, new_set_identifier and legacy_set_identifier "
            "(docs/configuration.md).",
        )
    return t


def zone_of(s: Session, t: TrafficSettings) -> str:
    if t.hosted_zone_id:
        return t.hosted_zone_id
    if not t.zone_name:
        raise ConfigError(
            "failed to shift traffic: set traffic.hosted_zone_id or traffic.zone_name.",
        )
    return s.gw.r53.zone_id(t.zone_name)


def read_weights(s: Session) -> dict[str, Any]:
    """The record's weights and each path's share (``rollout traffic status``)."""
    t = _traffic(s)
    zone = zone_of(s, t)
    records = s.gw.r53.weighted_records(zone, t.record_name, t.record_type)
    weights = {k: int(v.get("Weight", 0)) for k, v in records.items()}
    return {
        "record": t.record_name,
        "type": t.record_type,
        "zone": zone,
        "weights": weights,
        "ttl": {k: v.get("TTL") for k, v in records.items()},
        "new": t.new_set_identifier,
        "legacy": t.legacy_set_identifier,
        "new_share": share(weights, t.new_set_identifier),
        "legacy_share": share(weights, t.legacy_set_identifier),
    }


class TrafficShift:
    def __init__(self, s: Session, steps: tuple[int, ...]) -> None:
        self.s = s
        self.steps = steps
        self.t = _traffic(s)

    def run(self) -> ShiftResult:
        s, t = self.s, self.t
        zone = zone_of(s, t)
        records = s.gw.r53.weighted_records(zone, t.record_name, t.record_type)
        ttl = max((float(r.get("TTL", 60)) for r in records.values()), default=60.0)
        lb, groups = self._new_path()
        result = ShiftResult("shifted", "")
        for percent in self.steps:
            s.emit(
                "traffic.step",
                f"step {percent} %: {t.new_set_identifier} {percent}, "
                f"{t.legacy_set_identifier} {100 - percent}",
                percent=percent,
            )
            change = s.write(
                "route53",
                "ChangeResourceRecordSets",
                {
                    "HostedZoneId": zone,
                    "record": t.record_name,
                    "weights": step_weights(percent, t.new_set_identifier, t.legacy_set_identifier),
                },
                f"{t.record_name}: {percent} % to {t.new_set_identifier}",
                lambda p=percent: s.gw.r53.set_weights(  # type: ignore[misc]
                    zone,
                    t.record_name,
                    step_weights(p, t.new_set_identifier, t.legacy_set_identifier),
                    t.record_type,
                ),
            )
            if change is None:  # dry run: print the writes, wait for nothing
                result.steps.append({"percent": percent, "outcome": "dry-run"})
                continue
            if not self._insync(str(change)):
                return self._back(zone, result, f"interrupted at {percent} %", "interrupted")
            s.emit(
                "traffic.ttl",
                f"waiting the record's TTL ({ttl:.0f}s) so resolvers see {percent} %",
                seconds=ttl,
            )
            s.sleep(ttl)
            failure = self._judge(lb, groups, percent)
            if failure is not None:
                result.steps.append({"percent": percent, "outcome": "fail", "reason": failure})
                return self._back(zone, result, failure, "rolled-back")
            result.steps.append({"percent": percent, "outcome": "pass"})
            result.reached = percent
        if s.dry_run:
            result.outcome, result.reason = "dry-run", "DRY RUN OK"
        else:
            result.reason = f"{t.new_set_identifier} serves {result.reached} % of {t.record_name}"
        return result

    def _new_path(self) -> tuple[str, list[str]]:
        """The ALB and target groups of the service (the new path), as metric dimensions."""
        s, st = self.s, self.s.settings
        svc = s.gw.ecs.describe_service(st.cluster, st.service)
        arns: list[str] = []
        for lb in svc.load_balancers:
            arns += [a for a in (lb.target_group_arn, lb.alternate_target_group_arn) if a]
        groups = s.gw.elb.describe_target_groups(arns) if arns else []
        lb_arn = next((a for g in groups for a in g.load_balancer_arns), None)
        if lb_arn is None:
            raise ConfigError(
                f"failed to shift traffic: {st.cluster}/{st.service} is behind no load balancer, "
                "so the new path has no ALB metrics to judge.",
            )
        return load_balancer_dimension(lb_arn), [target_group_dimension(g.arn) for g in groups]

    def _insync(self, change: str) -> bool:
        s = self.s
        t0 = s.now()
        while s.gw.r53.change_status(change) != "INSYNC":
            if s.interrupt.is_set():
                return False
            s.poll_pause()
        s.emit(
            "traffic.insync",
            f"Route 53 change INSYNC after {s.now() - t0:.0f}s",
            change=change,
            seconds=round(s.now() - t0, 3),
        )
        return True

    def _judge(self, lb: str, groups: list[str], percent: int) -> str | None:
        """Analysis windows on the new path until one passes; the reason when it fails."""
        s, st = self.s, self.s.settings
        w = st.analysis_window
        state = RunState()
        while True:
            if s.interrupt.is_set():
                return "interrupted while judging"
            # windows aligned on the period, as CloudWatch aggregates ALB datapoints
            start = math.ceil(s.now() / w) * w
            s.sleep(start + w - s.now())
            try:
                stats = s.gw.cw.group_stats(lb, groups, start=start, end=start + w)
            except CredentialsError:
                raise
            except AwsError as exc:
                s.emit("analysis.unavailable", f"cannot read ALB metrics ({exc.code})", "warning")
                stats = {}
            merged = GroupStats(
                requests=sum(x.requests for x in stats.values()),
                target_5xx=sum(x.target_5xx for x in stats.values()),
                p99_ms=max(
                    (x.p99_ms for x in stats.values() if x.p99_ms is not None), default=None
                ),
            )
            j = judge(merged, None, st.thresholds)
            state, final = advance(state, j, st.thresholds)
            s.emit(
                "analysis",
                f"new path at {percent} %: {j.outcome.value}: {j.message}",
                level="success"
                if j.outcome is Outcome.PASS
                else "warning"
                if j.outcome is Outcome.INCONCLUSIVE
                else "error",
                outcome=j.outcome.value,
                metric=j.metric,
                observed=j.observed,
                limit=j.limit,
                requests=j.requests,
                stage=f"route53 {percent} %",
            )
            if final is Outcome.FAIL:
                return final_message(state, st.thresholds)
            if j.outcome is Outcome.PASS:
                return None

    def _back(self, zone: str, result: ShiftResult, reason: str, outcome: str) -> ShiftResult:
        """Put the new path back to 0 and wait for INSYNC."""
        s, t = self.s, self.t
        s.emit(
            "signal", f"traffic shift failed: {reason}", "error", signal="analysis", reason=reason
        )
        weights = step_weights(0, t.new_set_identifier, t.legacy_set_identifier)
        try:
            change = s.write(
                "route53",
                "ChangeResourceRecordSets",
                {"HostedZoneId": zone, "record": t.record_name, "weights": weights},
                f"{t.record_name}: back to 0 % on {t.new_set_identifier}",
                lambda: s.gw.r53.set_weights(zone, t.record_name, weights, t.record_type),
            )
        except CredentialsError:
            raise
        except AwsError as exc:
            result.outcome = "rollback-failed"
            result.reason = f"{reason}; putting {t.new_set_identifier} back to 0 failed: {exc}"
            return result
        if change is not None and not self._insync(str(change)):
            result.outcome = "interrupted"
            result.reason = f"{reason}; interrupted before the weight 0 was INSYNC"
            return result
        s.emit(
            "traffic.restored",
            f"{t.new_set_identifier} back to 0 % of {t.record_name} (INSYNC)",
            level="success",
        )
        result.outcome = outcome
        result.reason = f"{reason}; {t.new_set_identifier} back to 0 % (INSYNC)"
        return result


def shift_traffic(s: Session, steps: tuple[int, ...]) -> ShiftResult:
    return TrafficShift(s, steps).run()
