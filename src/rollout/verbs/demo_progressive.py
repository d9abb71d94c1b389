"""The demo's last act: one bad release shipped rolling, then as a canary, under steady traffic,
and the failed requests of each side by side (issue 10).

Each way gets its own sandbox (one moto world at a time), voj provisioned for it
(``provision --strategy``), 50 req/s of synthetic traffic through the ALB rules (simulated
runtime, virtual clock), and the same release: it answers 500 to 20 % of its requests. Every
request is counted as it is answered; a failed one is a 5xx from the target or the ALB.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rollout.context import Context
from rollout.engine.probe import ProbeResult
from rollout.events import Event, EventLog, EventSink
from rollout.sandbox import FaultRule, Sandbox
from rollout.verbs import deploy

RATE = 50.0
WINDOW = 10 * 60.0  # simulated seconds counted from the deploy's start
WAYS = ("rolling", "canary")
RELEASE = "answers 500 to 20 % of its requests"


@dataclass(frozen=True)
class WayResult:
    strategy: str
    verdict: str
    failed: int
    requests: int
    reason: str

    def to_json(self) -> dict[str, Any]:
        return {
            "strategy": self.strategy,
            "verdict": self.verdict,
            "failed_requests": self.failed,
            "requests": self.requests,
            "reason": self.reason,
        }


def _pass(url: str, headers: Mapping[str, str] | None = None) -> ProbeResult:
    return ProbeResult("pass", 200, f"GET {url} -> 200")


def ship(config_path: Path, strategy: str) -> WayResult:
    """The bad release shipped ``strategy`` on a fresh sandbox; its failed requests."""
    failed = requests = 0
    with Sandbox() as sb:
        prov = sb.provision_voj(strategy=strategy)
        traffic = sb.start_synthetic_traffic(rate=RATE)
        record: Callable[[Any], None] = traffic.record

        def counted(outcome: Any) -> None:
            nonlocal failed, requests
            requests += 1
            failed += outcome.status >= 500
            record(outcome)

        traffic.record = counted
        sb.faults.add(FaultRule(effect="serve_5xx", family=prov.family, revision=2, share=0.2))
        start = sb.clock.now()
        ctx = Context(
            factory=sb.client_factory(),
            clock=sb.clock,
            emit=EventLog(),
            config_path=config_path,
            environ={
                "USER": "demo",
                "GITHUB_SHA": "d" * 40,
                "ROLLOUT_TRAFFIC": "off",
                "ROLLOUT_SMOKE_URL": "",
                "ROLLOUT_STRATEGY": strategy,
                "ROLLOUT_CANARY_PERCENT": "10",
                "ROLLOUT_CANARY_BAKE_MINUTES": "3",
                "ROLLOUT_BAKE_MINUTES": "3",
            },
        )
        outcome = deploy.run(
            deploy.DeployOptions(image=prov.images["sha-0000002"]), ctx, prober=_pass
        )
        left = start + WINDOW - sb.clock.now()
        if left > 0:
            sb.advance(left)
        sb.stop_synthetic_traffic()
    return WayResult(strategy, outcome.verdict, failed, requests, outcome.reason or "")


def act(config_path: Path, emit: EventSink, now: Callable[[], float]) -> list[WayResult]:
    """Ship the bad release each way; say what happened; return the results."""
    results = []
    for strategy in WAYS:
        result = ship(config_path, strategy)
        results.append(result)
        emit(
            Event(
                "demo.act",
                now(),
                f"{strategy}: {result.verdict}, {result.failed} failed requests of "
                f"{result.requests} in {WINDOW / 60:g} minutes ({result.reason})",
                level="warning" if result.failed else "success",
                data=result.to_json(),
            )
        )
    return results
