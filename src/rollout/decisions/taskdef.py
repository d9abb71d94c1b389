"""Pure helpers over task-definition documents: image references, containers, labels, tags.

No I/O: these take and return plain data so render, verify and diff can share them and the
tests can pin them with tables.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

# Fields DescribeTaskDefinition returns that RegisterTaskDefinition does not accept (the
# gateway strips the same list before registering).
READ_ONLY_FIELDS = (
    "taskDefinitionArn",
    "revision",
    "status",
    "requiresAttributes",
    "compatibilities",
    "registeredAt",
    "registeredBy",
    "deregisteredAt",
)

_ECR_HOST = re.compile(
    r"^(?P<account>\d{12})\.dkr\.ecr(?:-fips)?\.(?P<region>[a-z0-9-]+)\.amazonaws\.com(?:\.cn)?$"
)
_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
_TAG_VALUE_BAD = re.compile(r"[^\w\s+=.:/@-]")


@dataclass(frozen=True)
class ImageRef:
    """A parsed image reference ``[registry/]repository[:tag][@digest]``."""

    registry: str | None
    repository: str
    tag: str | None
    digest: str | None

    @property
    def name(self) -> str:
        return f"{self.registry}/{self.repository}" if self.registry else self.repository

    @property
    def ecr_account(self) -> str | None:
        match = _ECR_HOST.match(self.registry or "")
        return match.group("account") if match else None

    @property
    def ecr_region(self) -> str | None:
        match = _ECR_HOST.match(self.registry or "")
        return match.group("region") if match else None

    @property
    def is_ecr(self) -> bool:
        return self.ecr_account is not None

    def pinned(self, digest: str) -> str:
        """``registry/repository@digest`` (the tag dropped: ECS pulls by digest)."""
        return f"{self.name}@{digest}"

    def __str__(self) -> str:
        text = self.name
        if self.tag:
            text += f":{self.tag}"
        if self.digest:
            text += f"@{self.digest}"
        return text


def parse_image(reference: str) -> ImageRef:
    """Split an image reference; raises ValueError when it is not one."""
    ref = reference.strip()
    if not ref or any(ch.isspace() for ch in ref):
        raise ValueError(f"{reference!r} is not an image reference")
    digest = None
    if "@" in ref:
        ref, digest = ref.split("@", 1)
        if not _DIGEST.match(digest):
            raise ValueError(f"{reference!r} has an invalid digest (want sha256:<64 hex>)")
    registry = None
    first, sep, rest = ref.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost"):
        registry, ref = first, rest
    tag = None
    name, colon, maybe_tag = ref.rpartition(":")
    if colon and "/" not in maybe_tag:
        ref, tag = name, maybe_tag
    if not ref:
        raise ValueError(f"{reference!r} has no repository name")
    return ImageRef(registry=registry, repository=ref, tag=tag or None, digest=digest)


def expand_image(image: str, *, account: str | None, region: str, repository: str) -> str:
    """Turn the ``--image`` shorthand into a full reference.

    A bare tag (``sha-1a2b3c4``), a digest (``sha256:…``) or ``<repository>:<tag>`` means the
    configured ECR repository of this account and region; anything else (``ghcr.io/o/a:1``,
    ``nginx:1.27``) is used as given.
    """
    if "/" in image:
        return image
    if account is None:
        raise ValueError("an account id is needed to expand the image shorthand")
    base = f"{account}.dkr.ecr.{region}.amazonaws.com/{repository}"
    if image.startswith("sha256:"):
        return f"{base}@{image}"
    if image.startswith(f"{repository}:") or image.startswith(f"{repository}@"):
        return f"{account}.dkr.ecr.{region}.amazonaws.com/{image}"
    if ":" in image or "@" in image:
        return image  # another repository's name:tag (e.g. Docker Hub's nginx:1.27)
    return f"{base}:{image}"


def container_names(document: Mapping[str, Any]) -> list[str]:
    return [str(c.get("name")) for c in document.get("containerDefinitions") or []]


def missing_containers(document: Mapping[str, Any], wanted: Iterable[str]) -> list[str]:
    present = set(container_names(document))
    return [name for name in wanted if name not in present]


def strip_read_only(document: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in document.items() if k not in READ_ONLY_FIELDS}


def swap_images(
    document: Mapping[str, Any],
    containers: Sequence[str],
    image: str | None,
    labels: Mapping[str, str],
) -> dict[str, Any]:
    """A copy of ``document`` with the named containers' image set (``None``: kept) and their
    docker labels merged with ``labels`` (ours win). Other containers are untouched."""
    result = copy.deepcopy(dict(document))
    wanted = set(containers)
    for container in result.get("containerDefinitions") or []:
        if container.get("name") not in wanted:
            continue
        if image is not None:
            container["image"] = image
        if labels:
            merged = dict(container.get("dockerLabels") or {})
            merged.update(labels)
            container["dockerLabels"] = merged
    return result


def tags_to_dict(tags: Any) -> dict[str, str]:
    """Task-definition ``tags`` ([{key, value}]) as a dict; anything else gives {}."""
    if not isinstance(tags, list):
        return {}
    return {
        str(t["key"]): str(t.get("value", "")) for t in tags if isinstance(t, dict) and "key" in t
    }


def tags_to_list(tags: Mapping[str, str]) -> list[dict[str, str]]:
    return [{"key": k, "value": v} for k, v in sorted(tags.items())]


def tag_value(value: str) -> str:
    """A value AWS accepts as a tag: allowed characters only, at most 256 of them."""
    return _TAG_VALUE_BAD.sub("_", value)[:256]


@dataclass(frozen=True)
class Provenance:
    """Where a release came from (from GITHUB_* variables when run in Actions)."""

    git_sha: str | None = None
    source: str | None = None  # https://github.com/org/repo
    run_url: str | None = None
    actor: str | None = None


def provenance_from_environ(environ: Mapping[str, str]) -> Provenance:
    server = environ.get("GITHUB_SERVER_URL") or "https://github.com"
    repo = environ.get("GITHUB_REPOSITORY")
    run_id = environ.get("GITHUB_RUN_ID")
    source = f"{server}/{repo}" if repo else None
    run_url = f"{source}/actions/runs/{run_id}" if source and run_id else None
    attempt = environ.get("GITHUB_RUN_ATTEMPT")
    if run_url and attempt and attempt not in ("", "1"):
        run_url += f"/attempts/{attempt}"
    return Provenance(
        git_sha=environ.get("GITHUB_SHA") or environ.get("ROLLOUT_GIT_SHA") or None,
        source=source,
        run_url=environ.get("ROLLOUT_RUN_URL") or run_url,
        actor=environ.get("GITHUB_ACTOR") or None,
    )


def release_labels(ref: ImageRef, provenance: Provenance) -> dict[str, str]:
    """Docker labels added to each swapped container."""
    labels = {"rollout.image": str(ref)}
    if ref.tag:
        labels["rollout.image-tag"] = ref.tag
    if provenance.git_sha:
        labels["org.opencontainers.image.revision"] = provenance.git_sha
    if provenance.source:
        labels["org.opencontainers.image.source"] = provenance.source
    if provenance.run_url:
        labels["rollout.run-url"] = provenance.run_url
    return labels


def release_tags(ref: ImageRef, digest: str | None, provenance: Provenance) -> dict[str, str]:
    """Task-definition tags (the ledger's ``rollout:*`` keys that render knows)."""
    tags = {"rollout:image": str(ref)}
    if ref.tag:
        tags["rollout:image-tag"] = ref.tag
    if digest:
        tags["rollout:digest"] = digest
    if provenance.git_sha:
        tags["rollout:git-sha"] = provenance.git_sha
    if provenance.source:
        tags["rollout:source"] = provenance.source
    if provenance.run_url:
        tags["rollout:run-url"] = provenance.run_url
    if provenance.actor:
        tags["rollout:actor"] = provenance.actor
    return {k: tag_value(v) for k, v in tags.items()}
