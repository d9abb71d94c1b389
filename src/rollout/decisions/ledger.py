"""The deploy ledger, kept as task-definition tags (no extra infrastructure).

Every revision rollout registers carries ``rollout:*`` tags; ``history`` reads them back and the
rollback-target decision trusts only revisions tagged ``rollout:good=true`` (a revision that ran
healthy as the service's completed deployment). Tag values are strings; times are ISO-8601 UTC.

    rollout:git-sha  rollout:image  rollout:digest  rollout:actor  rollout:run-url
    rollout:outcome  pending | succeeded | rolled-back | rollback-failed | failed |
                     superseded | interrupted | timed-out | no-tasks
    rollout:started-at  rollout:finished-at  rollout:deployment-id  rollout:good
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from rollout.model import TaskDefinition

PREFIX = "rollout:"
GIT_SHA = "rollout:git-sha"
IMAGE = "rollout:image"
DIGEST = "rollout:digest"
ACTOR = "rollout:actor"
RUN_URL = "rollout:run-url"
OUTCOME = "rollout:outcome"
STARTED_AT = "rollout:started-at"
FINISHED_AT = "rollout:finished-at"
DEPLOYMENT_ID = "rollout:deployment-id"
GOOD = "rollout:good"

OUTCOMES = (
    "pending",
    "succeeded",
    "rolled-back",
    "rollback-failed",
    "failed",
    "superseded",
    "interrupted",
    "timed-out",
    "no-tasks",
)
# AWS tag values: at most 256 characters.
MAX_VALUE = 256


@dataclass(frozen=True)
class LedgerEntry:
    """One revision as the ledger sees it."""

    arn: str
    family: str
    revision: int
    status: str = "ACTIVE"
    git_sha: str | None = None
    image: str | None = None
    digest: str | None = None
    actor: str | None = None
    run_url: str | None = None
    outcome: str | None = None
    started_at: float | None = None
    finished_at: float | None = None
    deployment_id: str | None = None
    good: bool = False
    registered_at: float | None = None

    @property
    def by_rollout(self) -> bool:
        """True when rollout registered this revision (it carries an outcome tag)."""
        return self.outcome is not None

    @property
    def active(self) -> bool:
        return self.status == "ACTIVE"


def iso(epoch: float) -> str:
    """Epoch seconds as ISO-8601 UTC with a ``Z`` (second precision)."""
    return datetime.fromtimestamp(epoch, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_iso(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp()
    except ValueError:
        return None


def _clip(value: str) -> str:
    return value if len(value) <= MAX_VALUE else value[: MAX_VALUE - 1] + "…"


def start_tags(
    *,
    image: str,
    digest: str | None,
    git_sha: str | None,
    actor: str | None,
    run_url: str | None,
    started_at: float,
) -> dict[str, str]:
    """The tags a new revision is registered with (outcome ``pending``)."""
    tags = {
        IMAGE: image,
        DIGEST: digest,
        GIT_SHA: git_sha,
        ACTOR: actor,
        RUN_URL: run_url,
        OUTCOME: "pending",
        STARTED_AT: iso(started_at),
    }
    return {k: _clip(v) for k, v in tags.items() if v}


def outcome_tags(
    outcome: str, *, finished_at: float, deployment_id: str | None = None, good: bool = False
) -> dict[str, str]:
    """The tags recorded on our revision when the run ends."""
    if outcome not in OUTCOMES:
        raise ValueError(f"unknown ledger outcome {outcome!r}; expected one of {OUTCOMES}")
    tags = {OUTCOME: outcome, FINISHED_AT: iso(finished_at)}
    if deployment_id:
        tags[DEPLOYMENT_ID] = deployment_id
    if good:
        tags[GOOD] = "true"
    return tags


GOOD_TAGS: Mapping[str, str] = {GOOD: "true"}


def parse_tags(
    arn: str,
    family: str,
    revision: int,
    tags: Mapping[str, str],
    *,
    status: str = "ACTIVE",
    registered_at: float | None = None,
) -> LedgerEntry:
    outcome = tags.get(OUTCOME)
    return LedgerEntry(
        arn=arn,
        family=family,
        revision=revision,
        status=status,
        git_sha=tags.get(GIT_SHA),
        image=tags.get(IMAGE),
        digest=tags.get(DIGEST),
        actor=tags.get(ACTOR),
        run_url=tags.get(RUN_URL),
        outcome=outcome if outcome in OUTCOMES else None,
        started_at=parse_iso(tags.get(STARTED_AT)),
        finished_at=parse_iso(tags.get(FINISHED_AT)),
        deployment_id=tags.get(DEPLOYMENT_ID),
        good=tags.get(GOOD, "").lower() == "true",
        registered_at=registered_at,
    )


def parse(td: TaskDefinition) -> LedgerEntry:
    """The ledger entry for a described task definition (tags included)."""
    return parse_tags(
        td.arn,
        td.family,
        td.revision,
        td.tags,
        status=td.status,
        registered_at=td.registered_at,
    )


def revision_of(task_definition_arn: str) -> int | None:
    """``…:task-definition/voj:7`` → 7 (None if the ARN has no revision)."""
    tail = task_definition_arn.rsplit(":", 1)[-1]
    return int(tail) if tail.isdigit() else None


def family_of(task_definition_arn: str) -> str:
    return task_definition_arn.rsplit("/", 1)[-1].rsplit(":", 1)[0]
