"""The verdict → exit-code contract (documented in docs/deploying.md).

| verdict                | exit | meaning                                                     |
|------------------------|------|-------------------------------------------------------------|
| SUCCEEDED              | 0    | our deployment completed and passed its checks              |
| PREFLIGHT_FAILED       | 10   | verify found a problem; nothing was written                 |
| FAILED_ROLLED_BACK     | 20   | release bad; service restored and verified on the old rev   |
| FAILED_ROLLBACK_FAILED | 21   | release bad and the restore failed or was impossible: page  |
| SUPERSEDED             | 30   | another deployment replaced ours; we never roll back over it|
| (lock held: LockHeld)  | 31   | another deploy or undo holds the lock; nothing was written  |
| INTERRUPTED            | 40   | SIGINT/SIGTERM; state left behind is printed                |
| TIMED_OUT              | 50   | ECS still progressing at the deadline; no rollback          |
| NO_TASKS               | 60   | the service runs no tasks (desiredCount 0): nothing verified|
| NOTHING_TO_WATCH       | 61   | ``watch``: no deployment in flight; nothing was written     |
| (usage or config error)| 2    |                                                             |
"""

from __future__ import annotations

from enum import StrEnum


class Verdict(StrEnum):
    SUCCEEDED = "SUCCEEDED"
    PREFLIGHT_FAILED = "PREFLIGHT_FAILED"
    FAILED_ROLLED_BACK = "FAILED_ROLLED_BACK"
    FAILED_ROLLBACK_FAILED = "FAILED_ROLLBACK_FAILED"
    SUPERSEDED = "SUPERSEDED"
    INTERRUPTED = "INTERRUPTED"
    TIMED_OUT = "TIMED_OUT"
    NO_TASKS = "NO_TASKS"
    NOTHING_TO_WATCH = "NOTHING_TO_WATCH"


EXIT_CODES: dict[Verdict, int] = {
    Verdict.SUCCEEDED: 0,
    Verdict.PREFLIGHT_FAILED: 10,
    Verdict.FAILED_ROLLED_BACK: 20,
    Verdict.FAILED_ROLLBACK_FAILED: 21,
    Verdict.SUPERSEDED: 30,
    Verdict.INTERRUPTED: 40,
    Verdict.TIMED_OUT: 50,
    Verdict.NO_TASKS: 60,
    Verdict.NOTHING_TO_WATCH: 61,
}

USAGE_EXIT_CODE = 2


def exit_code(verdict: Verdict | str) -> int:
    """The process exit code for ``verdict``; unknown verdict strings are usage errors (2)."""
    try:
        return EXIT_CODES[Verdict(verdict)]
    except ValueError:
        return USAGE_EXIT_CODE


def ledger_outcome(verdict: Verdict, *, rollback_tried: bool = True) -> str:
    """The ``rollout:outcome`` tag value recorded on our revision for ``verdict``.

    A failure with no rollback attempted (nothing to roll back to, or ``--no-rollback``) is
    ``failed``, not ``rollback-failed``: no rollback was tried, so none failed."""
    if verdict is Verdict.FAILED_ROLLBACK_FAILED and not rollback_tried:
        return "failed"
    return {
        Verdict.SUCCEEDED: "succeeded",
        Verdict.PREFLIGHT_FAILED: "pending",
        Verdict.FAILED_ROLLED_BACK: "rolled-back",
        Verdict.FAILED_ROLLBACK_FAILED: "rollback-failed",
        Verdict.SUPERSEDED: "superseded",
        Verdict.INTERRUPTED: "interrupted",
        Verdict.TIMED_OUT: "timed-out",
        Verdict.NO_TASKS: "no-tasks",
        Verdict.NOTHING_TO_WATCH: "pending",  # never recorded: nothing was deployed
    }[verdict]
