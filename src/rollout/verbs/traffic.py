"""``rollout traffic shift`` and ``rollout traffic status``: the Route 53 weights between the
legacy path and the new ALB (rollout.engine.traffic does the steps)."""

from __future__ import annotations

from dataclasses import dataclass

from rollout.context import Context
from rollout.decisions.exitcodes import Verdict, exit_code
from rollout.decisions.traffic import parse_steps
from rollout.engine.interrupt import Interrupt
from rollout.engine.outcome import Outcome
from rollout.engine.session import Session
from rollout.engine.settings import settings_from_config
from rollout.engine.traffic import read_weights, shift_traffic
from rollout.errors import UsageError

VERDICTS = {
    "shifted": Verdict.SUCCEEDED,
    "dry-run": Verdict.SUCCEEDED,
    "rolled-back": Verdict.FAILED_ROLLED_BACK,
    "rollback-failed": Verdict.FAILED_ROLLBACK_FAILED,
    "interrupted": Verdict.INTERRUPTED,
}


@dataclass(frozen=True)
class ShiftOptions:
    steps: str
    env: str = "prod"
    dry_run: bool = False


@dataclass(frozen=True)
class StatusOptions:
    env: str = "prod"


def _session(ctx: Context, env: str, interrupt: Interrupt | None, dry_run: bool) -> Session:
    cfg = ctx.load_env(env)
    return Session.from_context(
        ctx, settings_from_config(cfg), interrupt=interrupt, dry_run=dry_run
    )


def run_shift(
    options: ShiftOptions, ctx: Context, *, interrupt: Interrupt | None = None
) -> Outcome:
    try:
        steps = parse_steps(options.steps)
    except ValueError as exc:
        raise UsageError(f"failed to shift traffic: {exc}.") from None
    s = _session(ctx, options.env, interrupt, options.dry_run)
    st = s.settings
    started = s.now()
    s.emit_started("traffic shift", f"traffic shift {','.join(map(str, steps))} on [{st.env}]")
    result = shift_traffic(s, steps)
    verdict = VERDICTS[result.outcome]
    code = exit_code(verdict)
    message = "DRY RUN OK" if result.outcome == "dry-run" else f"{verdict}: {result.reason}"
    s.emit(
        "verdict",
        message,
        level="success" if verdict is Verdict.SUCCEEDED else "error",
        verdict=str(verdict),
        exit_code=code,
        reason=result.reason,
        reached=result.reached,
        steps=result.steps,
        dry_run=s.dry_run,
    )
    s.emit_finished(str(verdict), code, started)
    return Outcome(
        str(verdict),
        code,
        result.reason,
        details={"reached": result.reached, "steps": result.steps},
    )


def run_status(options: StatusOptions, ctx: Context) -> Outcome:
    s = _session(ctx, options.env, None, False)
    doc = read_weights(s)
    shares = ", ".join(
        f"{k} {v}"
        + (
            f" ({100 * v / sum(doc['weights'].values()):.0f} %)"
            if any(doc["weights"].values())
            else ""
        )
        for k, v in sorted(doc["weights"].items())
    )
    s.emit(
        "traffic.status", f"{doc['record']} {doc['type']}: {shares or 'no weighted records'}", **doc
    )
    return Outcome("traffic", 0, None, details=doc)
