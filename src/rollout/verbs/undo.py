"""``rollout undo [--to-revision N]``: manual rollback with the deploy's checks and verification.

The default target is the newest revision before the current one that ran healthy
(``rollout:good=true`` in the ledger); see :mod:`rollout.decisions.target`.
"""

from __future__ import annotations

from dataclasses import dataclass

from rollout.context import Context
from rollout.engine.interrupt import Interrupt
from rollout.engine.outcome import Outcome
from rollout.engine.session import Session
from rollout.engine.undo import UndoRequest, run_undo
from rollout.verbs.deploy import engine_settings


@dataclass(frozen=True)
class UndoOptions:
    env: str = "prod"
    to_revision: int | None = None  # None: the last known good before the current one
    dry_run: bool = False
    #: Seconds to wait for the restore to be verified (overrides ``timeouts.healthy``).
    timeout: float | None = None


def run(options: UndoOptions, ctx: Context, *, interrupt: Interrupt | None = None) -> Outcome:
    cfg = ctx.load_env(options.env)
    session = Session.from_context(
        ctx,
        engine_settings(cfg, healthy=options.timeout),
        interrupt=interrupt,
        dry_run=options.dry_run,
    )
    return run_undo(session, UndoRequest(to_revision=options.to_revision))
