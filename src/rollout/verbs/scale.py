"""``rollout scale N``: set the service's desired count and watch it settle.

A preset of the deploy's machinery without a new revision: the same lock, the same live
progress (``observation`` events), the same verdicts and exit codes. The engine is
:mod:`rollout.engine.scale`; the settle decision is :func:`rollout.decisions.settle.settle`.
"""

from __future__ import annotations

from dataclasses import dataclass

from rollout.context import Context
from rollout.engine.interrupt import Interrupt
from rollout.engine.outcome import Outcome
from rollout.engine.scale import ScaleRequest, run_scale
from rollout.engine.session import Session
from rollout.verbs.deploy import engine_settings


@dataclass(frozen=True)
class ScaleOptions:
    desired: int
    env: str = "prod"
    timeout: float | None = None  # overrides timeouts.healthy (how long to wait to settle)
    no_rollback: bool = False
    dry_run: bool = False


def run(options: ScaleOptions, ctx: Context, *, interrupt: Interrupt | None = None) -> Outcome:
    cfg = ctx.load_env(options.env)
    session = Session.from_context(
        ctx,
        engine_settings(cfg, healthy=options.timeout),
        interrupt=interrupt,
        dry_run=options.dry_run,
    )
    return run_scale(
        session, ScaleRequest(desired=options.desired, no_rollback=options.no_rollback)
    )
