"""A provisioned voj sandbox with a deploy history in its ledger, shared by one test module."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from rollout.context import Context
from rollout.decisions import ledger
from rollout.gateways.ecs import EcsGateway
from rollout.report import Reporter, open_reporter
from rollout.sandbox import Sandbox
from rollout.sandbox.provisioning.stack import ProvisionResult

REPO = Path(__file__).resolve().parents[2]
CONFIG = REPO / "rollout.toml"
# the bench scripts import their shared helpers (bench/_shared.py) as a sibling module, as they
# do when run as `python bench/<name>.py`; the tests load them by path
sys.path.insert(0, str(REPO / "bench"))
HOUR = 3600.0


@dataclass
class LedgerWorld:
    """The sandbox, what provisioning built, and the revisions the fixture registered."""

    sb: Sandbox
    prov: ProvisionResult
    arns: dict[int, str]

    def context(self, reporter: Reporter | None = None) -> tuple[Context, Reporter]:
        rep = reporter or open_reporter("json", stream=_Sink(), environ={})
        ctx = Context(
            factory=self.sb.client_factory(),
            clock=self.sb.clock,
            emit=rep,
            config_path=CONFIG,
            environ={},
        )
        return ctx, rep


class _Sink:
    """A text stream that discards writes (the tests read ``reporter.result()``)."""

    def write(self, text: str) -> int:
        return len(text)

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return False


def _tags(n: int, outcome: str | None, *, good: bool, start: float) -> dict[str, str]:
    if outcome is None:
        return {}
    tags = ledger.start_tags(
        image=f"voj-backend:sha-000000{n}",
        digest=None,
        git_sha=f"{n}" * 40,
        actor=f"dev{n}",
        run_url=f"https://github.com/example-org/voj/actions/runs/{n}",
        started_at=start,
    )
    if outcome != "pending":
        tags |= ledger.outcome_tags(outcome, finished_at=start + 120, good=good)
    return tags


#: revision -> (ledger outcome or None for "registered by hand", good)
HISTORY: dict[int, tuple[str | None, bool]] = {
    2: ("succeeded", True),
    3: ("rolled-back", False),
    4: (None, False),
    5: ("succeeded", True),
    6: ("pending", False),
}
CURRENT = 5


@pytest.fixture(scope="module")
def ledger_world() -> Iterator[LedgerWorld]:
    """voj on revision 5 of 6; 2 and 5 good, 3 rolled back, 4 by hand, 6 pending."""
    sb = Sandbox()
    try:
        prov = sb.provision_voj()
        ecs = EcsGateway(sb.client_factory())
        base = ecs.describe_task_definition(prov.task_definition_arn)
        arns = {1: base.arn}
        for n, (outcome, good) in HISTORY.items():
            start = sb.clock.now()
            doc: dict[str, Any] = dict(base.document)
            td = ecs.register_task_definition(doc, _tags(n, outcome, good=good, start=start))
            arns[n] = td.arn
            if n == CURRENT:
                ecs.update_service(prov.cluster, prov.service, task_definition=td.arn)
                sb.wait_steady(prov.cluster, prov.service, revision=CURRENT)
        sb.clear_calls()
        yield LedgerWorld(sb, prov, arns)
    finally:
        sb.close()
