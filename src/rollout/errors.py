"""The error tree. Every failure rollout reports is one of these, mapped to one exit code.

    RolloutError                      base; exit 1
    ├── UsageError                    bad flags or arguments; exit 2
    ├── ConfigError                   rollout.toml, template or environment is wrong; exit 2
    ├── AwsError                      an AWS call failed after retries; exit 1
    │   └── CredentialsError          credentials missing or expired; exit 1
    ├── PreflightFailed               verify found a problem, nothing was written; exit 10
    ├── DeployFailedRolledBack        release bad, service restored and verified; exit 20
    ├── RollbackFailed                release bad and the restore failed: page someone; exit 21
    ├── Superseded                    another deployment replaced ours; exit 30
    ├── LockHeld                      another deploy or undo holds the service lock; exit 31
    ├── Interrupted                   SIGINT/SIGTERM while watching; exit 40
    └── TimedOut                      ECS still progressing at the deadline; exit 50

Messages read "failed to <verb>: <cause>. <what to do>" and are raised ``from`` the original.
"""

from __future__ import annotations


class RolloutError(Exception):
    """Base of every error rollout raises on purpose."""

    exit_code: int = 1

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} {self.hint}" if self.hint else self.message


class UsageError(RolloutError):
    exit_code = 2


class ConfigError(RolloutError):
    exit_code = 2


class AwsError(RolloutError):
    """An AWS call failed after botocore's retries. ``code`` is AWS's error code, when known."""

    exit_code = 1

    def __init__(self, message: str, *, hint: str | None = None, code: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.code = code


class CredentialsError(AwsError):
    exit_code = 1


class PreflightFailed(RolloutError):
    exit_code = 10


class DeployFailedRolledBack(RolloutError):
    exit_code = 20


class RollbackFailed(RolloutError):
    exit_code = 21


class Superseded(RolloutError):
    exit_code = 30


class LockHeld(RolloutError):
    #: distinct from SUPERSEDED (30): "someone else is deploying, I wrote nothing" versus
    #: "someone else's deploy replaced mine"
    exit_code = 31


class Interrupted(RolloutError):
    exit_code = 40


class TimedOut(RolloutError):
    exit_code = 50
