"""The ECR lifecycle rules of infra/voj.yaml, evaluated the way ECR does (issue 13, finding 5).

ECR's rules (Amazon ECR User Guide, "Lifecycle policy properties" and "How lifecycle policies
work", read through the `search` tool):

- rules apply in ``rulePriority`` order, lowest first;
- ``tagStatus: tagged`` with ``tagPrefixList``: an image is selected when *every* prefix in the
  list starts at least one of its tags ("If you specify multiple tags, only the images with all
  specified tags are selected"); ``untagged`` selects images with no tag; ``any`` selects all;
- ``imageCountMoreThan: N``: the selected images, newest push first, beyond the first N expire;
  ``sinceImagePushed: N days``: selected images pushed more than N days ago expire;
- "An image that matches the tagging requirements of a rule cannot be expired by a rule with a
  lower priority" (a later rule); later rules still *count* such images, as if not expired.

The release images carry both ``v1.2.3`` and ``sha-<sha>``. Before issue 13 the only tagged rule
kept the newest 100 ``sha-`` images, so a release aged out after 100 newer builds although the
docs promised ``v*`` images were kept forever; the old rules are kept below to show it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from .test_infra import RESOURCES

DAY = 86400.0
OLD_RULES: list[dict[str, Any]] = [
    {
        "rulePriority": 1,
        "selection": {
            "tagStatus": "untagged",
            "countType": "sinceImagePushed",
            "countUnit": "days",
            "countNumber": 7,
        },
        "action": {"type": "expire"},
    },
    {
        "rulePriority": 2,
        "selection": {
            "tagStatus": "tagged",
            "tagPrefixList": ["sha-"],
            "countType": "imageCountMoreThan",
            "countNumber": 100,
        },
        "action": {"type": "expire"},
    },
]


@dataclass(frozen=True)
class Image:
    digest: str
    tags: tuple[str, ...]
    pushed_at: float  # seconds


def rules() -> list[dict[str, Any]]:
    text = RESOURCES["Repository"]["Properties"]["LifecyclePolicy"]["LifecyclePolicyText"]
    parsed: list[dict[str, Any]] = json.loads(text)["rules"]
    return parsed


def _selected(selection: dict[str, Any], image: Image) -> bool:
    status = selection["tagStatus"]
    if status == "any":
        return True
    if status == "untagged":
        return not image.tags
    prefixes: list[str] = selection["tagPrefixList"]
    return bool(image.tags) and all(
        any(tag.startswith(prefix) for tag in image.tags) for prefix in prefixes
    )


def expired(policy: Sequence[dict[str, Any]], images: Sequence[Image], now: float) -> set[str]:
    """Digests ECR would expire under ``policy`` at time ``now``."""
    gone: set[str] = set()
    claimed: set[str] = set()  # matched by an earlier (higher-priority) rule
    for rule in sorted(policy, key=lambda r: r["rulePriority"]):
        assert rule["action"]["type"] == "expire"
        selection = rule["selection"]
        chosen = [image for image in images if _selected(selection, image)]
        if selection["countType"] == "imageCountMoreThan":
            newest_first = sorted(chosen, key=lambda i: i.pushed_at, reverse=True)
            candidates = newest_first[selection["countNumber"] :]
        else:
            assert selection["countType"] == "sinceImagePushed"
            assert selection["countUnit"] == "days"
            limit = now - selection["countNumber"] * DAY
            candidates = [image for image in chosen if image.pushed_at < limit]
        gone |= {image.digest for image in candidates if image.digest not in claimed}
        claimed |= {image.digest for image in chosen}
    return gone


def _history(builds: int, release_every: int, untagged: int = 0) -> list[Image]:
    """``builds`` CI images one hour apart, every ``release_every``-th also tagged v0.<n>.0,
    plus ``untagged`` orphaned layers; the newest is pushed last."""
    images = [
        Image(
            digest=f"sha256:{n:064x}",
            tags=(f"sha-{n:07x}",) + ((f"v0.{n}.0",) if n % release_every == 0 else ()),
            pushed_at=n * 3600.0,
        )
        for n in range(builds)
    ]
    images += [
        Image(digest=f"sha256:{'f' * 56}{n:08x}", tags=(), pushed_at=n * DAY)
        for n in range(untagged)
    ]
    return images


def test_release_images_are_never_expired_although_they_carry_a_sha_tag() -> None:
    """300 builds, every 10th a release: all 30 releases stay; of the sha-only builds the
    newest ones stay and the oldest expire."""
    images = _history(300, release_every=10)
    gone = expired(rules(), images, now=400 * 3600.0)
    releases = {i.digest for i in images if any(t.startswith("v") for t in i.tags)}
    assert len(releases) == 30
    assert not gone & releases
    # Releases count toward rule 3's 100 but never expire: the 100 newest sha- images
    # (builds 200..299, 10 of them releases) stay, every older sha-only build goes.
    kept_builds = {i.digest for i in images if i.pushed_at >= 200 * 3600.0}
    assert gone == {i.digest for i in images} - releases - kept_builds
    assert len(gone) == 300 - 30 - 90


def test_the_old_rules_expired_releases() -> None:
    """The rules before issue 13 expire the 20 releases older than the newest 100 builds."""
    images = _history(300, release_every=10)
    gone = expired(OLD_RULES, images, now=400 * 3600.0)
    releases = {i.digest for i in images if any(t.startswith("v") for t in i.tags)}
    assert len(gone & releases) == 20


def test_untagged_images_expire_after_seven_days() -> None:
    """Untagged images older than 7 days expire; newer ones and tagged ones stay."""
    images = _history(5, release_every=2, untagged=10)
    now = 10 * DAY
    gone = expired(rules(), images, now=now)
    assert gone == {i.digest for i in images if not i.tags and i.pushed_at < now - 7 * DAY}
    assert len(gone) == 3


def test_the_rules_are_ordered_and_expire_only() -> None:
    """Unique priorities; the release rule comes first and keeps far more than a repository
    holds; no rule selects tagStatus any."""
    found = rules()
    priorities = [r["rulePriority"] for r in found]
    assert len(set(priorities)) == len(priorities)
    first = min(found, key=lambda r: r["rulePriority"])
    assert first["selection"]["tagPrefixList"] == ["v"]
    assert first["selection"]["countType"] == "imageCountMoreThan"
    assert first["selection"]["countNumber"] >= 10000
    assert all(r["selection"]["tagStatus"] != "any" for r in found)


IMAGE = st.builds(
    lambda n, tags, age: Image(f"sha256:{n:064x}", tuple(tags), age),
    st.integers(0, 10**9),
    st.lists(
        st.one_of(
            st.from_regex(r"\Asha-[0-9a-f]{7}\Z"),
            st.from_regex(r"\Av[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}\Z"),
            st.from_regex(r"\A[a-z0-9]{1,8}\Z"),
        ),
        max_size=3,
        unique=True,
    ),
    st.floats(0, 365 * DAY),
)


@given(st.lists(IMAGE, max_size=250, unique_by=lambda i: i.digest))
def test_no_release_image_ever_expires(images: list[Image]) -> None:
    """Whatever the repository holds (fewer than 10000 releases), no image with a v tag expires,
    and no sha- image among the 100 newest sha- images expires."""
    gone = expired(rules(), images, now=366 * DAY)
    for image in images:
        if any(tag.startswith("v") for tag in image.tags):
            assert image.digest not in gone
    sha = sorted(
        (i for i in images if any(t.startswith("sha-") for t in i.tags)),
        key=lambda i: i.pushed_at,
        reverse=True,
    )
    assert not {i.digest for i in sha[:100]} & gone
