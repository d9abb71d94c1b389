"""Decision tables: exit codes, ledger tags and the service lock."""

from __future__ import annotations

import json

import pytest

from rollout.decisions import ledger
from rollout.decisions.exitcodes import Verdict, exit_code, ledger_outcome
from rollout.decisions.lock import (
    LockDecision,
    decide_lock,
    is_ours,
    lock_name,
    new_lock,
    parse_lock,
)
from rollout.model import TaskDefinition


@pytest.mark.parametrize(
    ("verdict", "code"),
    [
        ("SUCCEEDED", 0),
        ("PREFLIGHT_FAILED", 10),
        ("FAILED_ROLLED_BACK", 20),
        ("FAILED_ROLLBACK_FAILED", 21),
        ("SUPERSEDED", 30),
        ("INTERRUPTED", 40),
        ("TIMED_OUT", 50),
        ("NO_TASKS", 60),
        ("NONSENSE", 2),
    ],
)
def test_exit_code_contract(verdict: str, code: int) -> None:
    """Each verdict maps to its documented exit code; anything else is a usage error (2)."""
    assert exit_code(verdict) == code


def test_lock_held_and_superseded_have_distinct_exit_codes() -> None:
    """CI can tell "someone else is deploying" (31) from "someone else's deploy replaced mine"."""
    from rollout.errors import LockHeld

    assert LockHeld.exit_code == 31
    assert exit_code("SUPERSEDED") == 30


@pytest.mark.parametrize(
    ("verdict", "outcome"),
    [
        (Verdict.SUCCEEDED, "succeeded"),
        (Verdict.FAILED_ROLLED_BACK, "rolled-back"),
        (Verdict.FAILED_ROLLBACK_FAILED, "rollback-failed"),
        (Verdict.SUPERSEDED, "superseded"),
        (Verdict.INTERRUPTED, "interrupted"),
        (Verdict.TIMED_OUT, "timed-out"),
    ],
)
def test_ledger_outcome_per_verdict(verdict: Verdict, outcome: str) -> None:
    """The ledger records the outcome that matches the verdict."""
    assert ledger_outcome(verdict) == outcome
    assert outcome in ledger.OUTCOMES


def test_ledger_tags_round_trip() -> None:
    """Start and outcome tags written on a revision parse back into the same ledger entry."""
    tags = ledger.start_tags(
        image="repo/voj:sha-1",
        digest="sha256:abc",
        git_sha="abc123",
        actor="alice",
        run_url=None,
        started_at=1_700_000_000.0,
    )
    tags |= ledger.outcome_tags(
        "succeeded", finished_at=1_700_000_090.0, deployment_id="ecs-svc/9", good=True
    )
    td = TaskDefinition(
        arn="arn:aws:ecs:r:1:task-definition/voj:7",
        family="voj",
        revision=7,
        status="ACTIVE",
        document={},
        tags=tags,
    )
    entry = ledger.parse(td)
    assert (entry.revision, entry.image, entry.digest, entry.git_sha, entry.actor) == (
        7,
        "repo/voj:sha-1",
        "sha256:abc",
        "abc123",
        "alice",
    )
    assert entry.run_url is None
    assert entry.outcome == "succeeded"
    assert entry.good
    assert entry.by_rollout
    assert entry.started_at == 1_700_000_000.0
    assert entry.finished_at == 1_700_000_090.0
    assert entry.deployment_id == "ecs-svc/9"
    assert tags[ledger.STARTED_AT] == "2023-11-14T22:13:20Z"


@pytest.mark.parametrize(
    ("tags", "good", "by_rollout", "outcome"),
    [
        ({}, False, False, None),  # registered by hand
        ({"rollout:good": "true"}, True, False, None),  # hand-made but ran healthy
        ({"rollout:outcome": "pending"}, False, True, "pending"),
        ({"rollout:outcome": "bogus"}, False, False, None),
        ({"rollout:good": "TRUE", "rollout:outcome": "succeeded"}, True, True, "succeeded"),
        ({"rollout:good": "yes"}, False, False, None),
    ],
)
def test_ledger_parse_table(
    tags: dict[str, str], good: bool, by_rollout: bool, outcome: str | None
) -> None:
    """Tags parse leniently: unknown outcomes are ignored and only 'true' marks a good revision."""
    entry = ledger.parse_tags("arn:x:task-definition/voj:3", "voj", 3, tags)
    assert (entry.good, entry.by_rollout, entry.outcome) == (good, by_rollout, outcome)


def test_outcome_tags_reject_unknown_outcome() -> None:
    """An outcome outside the ledger vocabulary is refused rather than written."""
    with pytest.raises(ValueError, match="unknown ledger outcome"):
        ledger.outcome_tags("exploded", finished_at=0.0)


def test_long_tag_values_are_clipped_to_aws_limit() -> None:
    """Tag values longer than AWS's 256-character limit are clipped, not rejected by AWS."""
    tags = ledger.start_tags(
        image="x" * 400, digest=None, git_sha=None, actor=None, run_url=None, started_at=0.0
    )
    assert len(tags[ledger.IMAGE]) == 256
    assert ledger.DIGEST not in tags


@pytest.mark.parametrize(
    ("arn", "revision", "family"),
    [
        ("arn:aws:ecs:r:1:task-definition/voj:12", 12, "voj"),
        ("arn:aws:ecs:r:1:task-definition/voj-api", None, "voj-api"),
    ],
)
def test_revision_and_family_of_arn(arn: str, revision: int | None, family: str) -> None:
    """Revision and family are read from a task-definition ARN."""
    assert ledger.revision_of(arn) == revision
    assert ledger.family_of(arn) == family


def _lock(expires: float) -> str:
    return json.dumps({"holder": "bob", "expires_at": expires, "acquired_at": expires - 3600})


@pytest.mark.parametrize(
    ("stored", "now", "decision"),
    [
        (None, 100.0, LockDecision.ACQUIRE),
        (_lock(200.0), 100.0, LockDecision.REFUSE),
        (_lock(200.0), 199.9, LockDecision.REFUSE),
        (_lock(200.0), 200.0, LockDecision.TAKE_OVER),  # TTL reached: stale
        (_lock(200.0), 5000.0, LockDecision.TAKE_OVER),
    ],
)
def test_lock_takeover_table(stored: str | None, now: float, decision: LockDecision) -> None:
    """A free lock is acquired, a live one refused, and one past its TTL taken over."""
    assert decide_lock(parse_lock(stored), now) is decision


def test_lock_record_round_trip_and_ownership() -> None:
    """A lock record survives JSON, names its holder, and is recognised as ours only if equal."""
    mine = new_lock(holder="alice", run_url="https://ci/run/1", pid=42, host="h", now=10, ttl=60)
    back = parse_lock(mine.to_json())
    assert back == mine
    assert back is not None
    assert back.expires_at == 70
    assert "alice" in back.describe()
    assert "https://ci/run/1" in back.describe()
    other = new_lock(holder="bob", run_url=None, pid=1, host="h", now=10, ttl=60)
    assert is_ours(back, mine)
    assert not is_ours(other, mine)
    assert not is_ours(None, mine)


@pytest.mark.parametrize("value", ["not json", "[]", '{"holder": "x"}'])
def test_unreadable_lock_values_raise(value: str) -> None:
    """A parameter that is not a rollout lock record is reported, not silently taken over."""
    with pytest.raises(ValueError):  # noqa: PT011
        parse_lock(value)


def test_lock_name_is_a_rooted_ssm_path() -> None:
    """The lock's SSM name is rooted and combines prefix, cluster and service."""
    assert lock_name("rollout/lock/", "voj-prod", "api") == "/rollout/lock/voj-prod/api"
