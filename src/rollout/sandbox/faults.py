"""The fault plan: application faults the sandbox applies to tasks it starts.

Configuration errors (an image missing from ECR, a missing secret, a port mismatch) are never in
the plan: the simulation derives them from moto's state, as AWS does. The plan covers what AWS
cannot know in advance, namely how the application behaves once it runs.

A rule matches a task when every matcher it sets matches:

- ``image``: a glob, a tag or a digest, compared with each container's full image reference, its
  tag and its digest (``"*:crash-*"``, ``"sha-0000002"``, ``"sha256:ab…"``); the simulation
  passes every reference ECR knows for the image (digest and tags), so a rule on a tag also
  matches the same image deployed by digest, and vice versa;
- ``family`` (glob) and ``revision`` of the task definition;
- ``env``: ``"NAME"`` (the variable is set) or ``"NAME=glob"`` on a container's environment.

Effects (``effect``):

- ``crash``: the essential container exits ``after`` seconds after RUNNING with ``exit_code``;
- ``never_healthy``: health checks never pass (ALB: ``Target.ResponseCodeMismatch``,
  ``[status_code]``; container health check: UNHEALTHY);
- ``slow_start``: health checks pass only ``after`` seconds after RUNNING;
- ``flaky``: the first ``count`` matching tasks crash ``after`` seconds after RUNNING with
  ``exit_code``; later tasks are fine;
- ``serve_5xx``: ``after`` seconds after RUNNING the application answers ``share`` of its
  requests (default all, ``1.0``) with ``status_code`` (default 500). Health checks keep passing
  (the health path is separate), so only metrics, an alarm or a smoke probe can see it; the
  canned ALB data plane asks ``EcsSimulation.serving_status``, the synthetic traffic
  (:mod:`rollout.sandbox.dataplane.synthetic`) writes the ALB metrics it causes;
- ``slow``: ``after`` seconds after RUNNING, ``share`` of the requests (default ``0.1``: so
  p90–p100 of ``TargetResponseTime``) take ``latency`` seconds; health checks keep passing.
  Seen by the synthetic traffic's metrics (simulated runtime only).

A file for ``rollout sandbox up --faults`` holds ``{"fault": [{...}, ...]}`` (TOML or JSON).
"""

from __future__ import annotations

import fnmatch
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

Effect = Literal["crash", "never_healthy", "slow_start", "flaky", "serve_5xx", "slow"]
EFFECTS: tuple[str, ...] = ("crash", "never_healthy", "slow_start", "flaky", "serve_5xx", "slow")


@dataclass(frozen=True)
class FaultRule:
    """One matcher set and one effect; see the module docstring."""

    effect: Effect
    image: str | None = None
    family: str | None = None
    revision: int | None = None
    env: str | None = None
    after: float = 0.0
    exit_code: int = 1
    count: int = 1
    status_code: int = 500
    #: serve_5xx / slow: the share of requests affected (0 < share <= 1; slow defaults to 0.1)
    share: float | None = None
    #: slow: seconds a slow request takes
    latency: float = 0.0

    def __post_init__(self) -> None:
        if self.effect not in EFFECTS:
            raise ValueError(
                f"unknown fault effect {self.effect!r}: use one of {', '.join(EFFECTS)}"
            )
        if self.after < 0:
            raise ValueError(f"fault 'after' must be >= 0 seconds, got {self.after}")
        if self.count < 1:
            raise ValueError(f"fault 'count' must be >= 1, got {self.count}")
        if self.share is not None and not 0 < self.share <= 1:
            raise ValueError(f"fault 'share' must be in (0, 1], got {self.share}")
        if self.effect == "slow" and self.latency <= 0:
            raise ValueError(f"fault 'slow' needs 'latency' > 0 seconds, got {self.latency}")

    def matches(
        self,
        *,
        family: str,
        revision: int,
        images: Sequence[str],
        environment: Mapping[str, str],
    ) -> bool:
        """Whether a task with these properties is subject to this rule."""
        if self.family is not None and not fnmatch.fnmatchcase(family, self.family):
            return False
        if self.revision is not None and revision != self.revision:
            return False
        if self.image is not None and not any(_image_matches(self.image, i) for i in images):
            return False
        if self.env is not None:
            name, sep, pattern = self.env.partition("=")
            if name not in environment:
                return False
            if sep and not fnmatch.fnmatchcase(environment[name], pattern):
                return False
        return True


def _image_matches(pattern: str, image: str) -> bool:
    ref, _, digest = image.partition("@")
    last = ref.rsplit("/", 1)[-1]
    tag = last.partition(":")[2] if ":" in last else ""
    candidates = [image, ref, tag, digest]
    return any(c and fnmatch.fnmatchcase(c, pattern) for c in candidates)


@dataclass(frozen=True)
class TaskFaults:
    """What the plan decided for one task (at launch)."""

    crash_after: float | None = None
    exit_code: int = 0
    never_healthy: bool = False
    healthy_after: float = 0.0
    serve_5xx_after: float | None = None
    status_code: int = 500
    health_status_code: int = 503
    #: share of requests answered with ``status_code`` once ``serve_5xx_after`` is due
    error_share: float = 1.0
    slow_after: float | None = None
    latency: float = 0.0
    slow_share: float = 0.1


@dataclass
class FaultPlan:
    """An ordered list of rules; every matching rule applies (later ones override)."""

    rules: list[FaultRule] = field(default_factory=list)
    _flaky_seen: dict[int, int] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, rule: FaultRule) -> None:
        with self._lock:
            self.rules.append(rule)

    def clear(self) -> None:
        with self._lock:
            self.rules.clear()
            self._flaky_seen.clear()

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> FaultPlan:
        """Build a plan from ``{"fault": [{...}]}`` as read from TOML or JSON.

        Raises ValueError naming the bad entry.
        """
        entries = data.get("fault", [])
        if not isinstance(entries, list):
            raise ValueError("'fault' must be a list of tables")
        allowed = set(FaultRule.__dataclass_fields__)
        plan = cls()
        for index, entry in enumerate(entries):
            if not isinstance(entry, Mapping):
                raise ValueError(f"fault[{index}] must be a table, got {type(entry).__name__}")
            unknown = set(entry) - allowed
            if unknown:
                raise ValueError(
                    f"fault[{index}] has unknown keys {sorted(unknown)}; allowed: {sorted(allowed)}"
                )
            if "effect" not in entry:
                raise ValueError(f"fault[{index}] needs an 'effect' ({', '.join(EFFECTS)})")
            try:
                plan.add(FaultRule(**dict(entry)))
            except (TypeError, ValueError) as exc:
                raise ValueError(f"fault[{index}]: {exc}") from exc
        return plan

    def decide(
        self,
        *,
        family: str,
        revision: int,
        images: Sequence[str],
        environment: Mapping[str, str],
    ) -> TaskFaults:
        """The faults for a task being launched now (consumes ``flaky`` budgets)."""
        result = TaskFaults()
        with self._lock:
            for index, rule in enumerate(self.rules):
                if not rule.matches(
                    family=family, revision=revision, images=images, environment=environment
                ):
                    continue
                if rule.effect == "crash":
                    result = _replace(result, crash_after=rule.after, exit_code=rule.exit_code)
                elif rule.effect == "flaky":
                    seen = self._flaky_seen.get(index, 0)
                    self._flaky_seen[index] = seen + 1
                    if seen < rule.count:
                        result = _replace(result, crash_after=rule.after, exit_code=rule.exit_code)
                elif rule.effect == "never_healthy":
                    result = _replace(
                        result, never_healthy=True, health_status_code=rule.status_code
                    )
                elif rule.effect == "slow_start":
                    result = _replace(result, healthy_after=rule.after)
                elif rule.effect == "slow":
                    result = _replace(
                        result,
                        slow_after=rule.after,
                        latency=rule.latency,
                        slow_share=rule.share if rule.share is not None else 0.1,
                    )
                else:
                    result = _replace(
                        result,
                        serve_5xx_after=rule.after,
                        status_code=rule.status_code,
                        error_share=rule.share if rule.share is not None else 1.0,
                    )
        return result


def _replace(faults: TaskFaults, **changes: Any) -> TaskFaults:
    from dataclasses import replace

    return replace(faults, **changes)
