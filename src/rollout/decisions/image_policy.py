"""The image policy: which registries an environment may pull from, and digest pinning.

Pure: the rendered task definition's images, the allow-list and the override in; a
:class:`Check` out. ``verify`` (and so ``deploy``'s preflight) adds it; a violation is a failed
check (exit 10) unless the run carries an explicit override (``--image-policy-override REASON``),
which turns it into a warning and is recorded in the events, the JSON result and the revision's
``rollout:image-policy-override`` tag.

Matching. Each image is parsed with the OCI reference grammar (:mod:`.reference`) and named
canonically: ``registry/path``, Docker Hub as ``docker.io`` and its official images as
``docker.io/library/<name>``. An allow-list entry is a registry host (``ghcr.io``) or a host and
namespace prefix (``ghcr.io/acme``); an image is allowed when its canonical name equals an entry
or starts with the entry followed by ``/``. Hosts compare case-insensitively.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from rollout.decisions.checks import Check
from rollout.decisions.reference import Reference, ReferenceError, parse_reference

CHECK_NAME = "image: policy"
OVERRIDE_TAG = "rollout:image-policy-override"


def account_ecr(account: str, region: str) -> str:
    return f"{account}.dkr.ecr.{region}.amazonaws.com"


def allowed_registries(patterns: Iterable[str], *, account: str, region: str) -> tuple[str, ...]:
    """The allow-list with ``<account>``/``<region>`` filled; empty → the account's own ECR."""
    filled = tuple(
        p.replace("<account>", account).replace("<region>", region).rstrip("/")
        for p in patterns
        if p.strip()
    )
    return filled or (account_ecr(account, region),)


def canonical_name(ref: Reference) -> str:
    if ref.domain is None:
        path = ref.path if "/" in ref.path else f"library/{ref.path}"
        return f"docker.io/{path}"
    return f"{ref.domain.lower()}/{ref.path}"


def is_allowed(ref: Reference, allowed: Sequence[str]) -> bool:
    name = canonical_name(ref)
    for entry in allowed:
        host, _, rest = entry.partition("/")
        pattern = f"{host.lower()}/{rest}" if rest else host.lower()
        if name == pattern or name.startswith(pattern + "/"):
            return True
    return False


def container_images(document: dict[str, Any]) -> list[tuple[str, str]]:
    return [
        (str(c.get("name")), str(c.get("image") or ""))
        for c in document.get("containerDefinitions") or []
    ]


def violations(
    images: Sequence[tuple[str, str]],
    allowed: Sequence[str],
    *,
    require_digest: bool,
    unpinned_ok: Iterable[str] = (),
) -> list[str]:
    """One sentence per problem, naming the container and the image. ``unpinned_ok``: images
    whose missing digest another check already reports (an ECR tag render could not find, so
    could not pin: ``image: in ECR`` fails for it)."""
    excused = set(unpinned_ok)
    problems = []
    for container, image in images:
        try:
            ref = parse_reference(image)
        except ReferenceError as exc:
            problems.append(f"{container}: {exc}")
            continue
        if not is_allowed(ref, allowed):
            problems.append(
                f"{container}: {image} is not from an allowed registry ({', '.join(allowed)})"
            )
        if require_digest and ref.digest is None and image not in excused:
            problems.append(f"{container}: {image} is not pinned by digest")
    return problems


def check_image_policy(
    images: Sequence[tuple[str, str]],
    allowed: Sequence[str],
    *,
    require_digest: bool,
    override: str | None = None,
    unpinned_ok: Iterable[str] = (),
) -> Check:
    found = violations(images, allowed, require_digest=require_digest, unpinned_ok=unpinned_ok)
    if not found:
        what = "allowed registries" + (", pinned by digest" if require_digest else "")
        return Check(CHECK_NAME, "pass", f"{len(images)} image(s) from {what}")
    text = "; ".join(found)
    if override:
        return Check(
            CHECK_NAME,
            "warn",
            f"overridden ({override}): {text}",
            "the override is recorded on the revision; fix the image and drop it",
        )
    return Check(
        CHECK_NAME,
        "fail",
        text,
        "push the image to an allowed registry and deploy it by tag or digest (rollout pins "
        "ECR tags), add the registry to [env.<name>.image_policy] registries, or pass "
        "--image-policy-override REASON",
    )
