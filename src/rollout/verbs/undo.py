"""``rollout undo [--to-revision N]``: manual rollback with the deploy's checks and verification.

The default target is the newest revision before the current one that ran healthy
(``rollout:good=true`` in the ledger); see :mod:`rollout.decisions.target`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from rollout.context import Context
from rollout.engine.gateways import Gateways
from rollout.engine.interrupt import Interrupt
from rollout.engine.outcome import Outcome
from rollout.engine.session import Session
from rollout.engine.settings import settings_from_config
from rollout.engine.undo import UndoRequest, run_undo


@dataclass(frozen=True)
class UndoOptions:
    env: str = "prod"
    to_revision: int | None = None  # None: the last known good before the current one
    dry_run: bool = False
    #: Seconds to wait for the restore to be verified (overrides ``timeouts.healthy``).
    timeout: float | None = None


def run(options: UndoOptions, ctx: Context, *, interrupt: Interrupt | None = None) -> Outcome:
    cfg = ctx.load_env(options.env)
    settings = settings_from_config(cfg)
    if options.timeout is not None:
        settings = replace(
            settings, timeouts=replace(settings.timeouts, healthy=float(options.timeout))
        )
    session = Session(
        ctx,
        Gateways.from_factory(ctx.factory),
        settings,
        interrupt or Interrupt(),
        dry_run=options.dry_run,
    )
    return run_undo(session, UndoRequest(to_revision=options.to_revision))
