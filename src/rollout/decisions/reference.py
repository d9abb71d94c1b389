"""Image references: the OCI distribution reference grammar, as a pure decision.

The grammar is distribution/reference's (``reference/regexp.go`` and ``reference/reference.go``
in github.com/distribution/reference), which Docker, containerd and ECS's agent all parse with::

    reference        := name [ ":" tag ] [ "@" digest ]
    name             := [domain '/'] remote-name
    domain           := host [':' port-number]
    host             := domain-name | '[' IPv6address ']'
    domain-name      := domain-component ['.' domain-component]*
    domain-component := /([a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])/
    port-number      := /[0-9]+/
    remote-name      := path-component ['/' path-component]*
    path-component   := alpha-numeric [separator alpha-numeric]*
    alpha-numeric    := /[a-z0-9]+/
    separator        := /[_.]|__|[-]+/
    tag              := /[\\w][\\w.-]{0,127}/
    digest           := algorithm ":" hex   (sha256: 64, sha384: 96, sha512: 128 lowercase hex)

plus: the name is at most 255 characters (``NameTotalLengthMax``). The digest rule is
opencontainers/go-digest's validation, which ``reference.Parse`` applies to the grammar's looser
``/[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}/``: only the registered
algorithms, each with its exact length of lowercase hex.

Which part is the registry follows Docker's normalisation (``splitDockerDomain``): the first
``/``-separated component is a registry only when it contains ``.`` or ``:``, is ``localhost``,
or has an uppercase letter; otherwise the whole name is a repository (on Docker Hub).

``rollout --image`` also takes two shorthands for the configured ECR repository, checked here too
before any AWS call (:func:`check_image_argument`): a bare tag (``sha-1a2b3c4``) and a bare digest
(``sha256:<hex>``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

NAME_TOTAL_LENGTH_MAX = 255
DIGEST_HEX_LENGTHS = {"sha256": 64, "sha384": 96, "sha512": 128}

_ALNUM = r"[a-z0-9]+"
_SEPARATOR = r"(?:[._]|__|[-]+)"
_PATH_COMPONENT = rf"{_ALNUM}(?:{_SEPARATOR}{_ALNUM})*"
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_HOST = rf"(?:{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*|\[[a-fA-F0-9:]+\])"
_DOMAIN = rf"{_HOST}(?::[0-9]+)?"
_TAG = r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}"

_REMOTE_NAME_RE = re.compile(rf"^{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*$")
_DOMAIN_RE = re.compile(rf"^{_DOMAIN}$")
_TAG_RE = re.compile(rf"^{_TAG}$")
_DIGEST_RE = re.compile(rf"^{_DIGEST}$")

HINT = (
    "Write registry/repository:tag or registry/repository@sha256:<64 hex> (repository names are "
    "lowercase), or a bare tag or digest of the configured ECR repository."
)


class ReferenceError(ValueError):
    """Not an image reference; the message says which part is wrong."""

    hint = HINT


@dataclass(frozen=True)
class Reference:
    """A valid reference, split Docker's way. ``domain`` None means Docker Hub."""

    domain: str | None
    path: str
    tag: str | None
    digest: str | None

    @property
    def name(self) -> str:
        return f"{self.domain}/{self.path}" if self.domain else self.path

    def __str__(self) -> str:
        text = self.name
        if self.tag is not None:
            text += f":{self.tag}"
        if self.digest is not None:
            text += f"@{self.digest}"
        return text


def check_digest(digest: str) -> None:
    """Raise :class:`ReferenceError` unless ``digest`` is ``<registered algorithm>:<hex>``."""
    if not _DIGEST_RE.match(digest):
        raise ReferenceError(f"{digest!r} is not a digest (want sha256:<64 lowercase hex>)")
    algorithm, _, hex_part = digest.partition(":")
    want = DIGEST_HEX_LENGTHS.get(algorithm)
    if want is None:
        raise ReferenceError(
            f"{digest!r} uses the unsupported digest algorithm {algorithm!r} "
            f"(supported: {', '.join(DIGEST_HEX_LENGTHS)})"
        )
    if len(hex_part) != want or hex_part != hex_part.lower():
        raise ReferenceError(
            f"{digest!r} is not a valid {algorithm} digest (want {want} lowercase hex digits, "
            f"got {len(hex_part)})"
        )


def _split_domain(name: str) -> tuple[str | None, str]:
    first, sep, rest = name.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost" or first != first.lower()):
        return first, rest
    return None, name


def parse_reference(text: str) -> Reference:
    """Parse ``text`` against the grammar above; raise :class:`ReferenceError` saying why not."""
    if text == "":
        raise ReferenceError("the image reference is empty")
    if text != text.strip() or any(ch.isspace() for ch in text):
        raise ReferenceError(f"{text!r} contains whitespace")
    rest, at, digest = text.partition("@")
    if at:
        if "@" in digest:
            raise ReferenceError(f"{text!r} has more than one '@'")
        check_digest(digest)
    # the tag is after the last ':' that follows the last '/' (a ':' before it is a port)
    slash = rest.rfind("/")
    colon = rest.rfind(":")
    tag: str | None = None
    if colon > slash:
        rest, tag = rest[:colon], rest[colon + 1 :]
        if tag == "":
            raise ReferenceError(f"{text!r} has an empty tag after ':'")
        if not _TAG_RE.match(tag):
            raise ReferenceError(
                f"{text!r} has an invalid tag {tag!r} (letters, digits, _ . -; at most 128, "
                "not starting with . or -)"
            )
    if rest == "":
        raise ReferenceError(f"{text!r} has no repository name")
    if len(rest) > NAME_TOTAL_LENGTH_MAX:
        raise ReferenceError(
            f"the repository name is {len(rest)} characters long (at most {NAME_TOTAL_LENGTH_MAX})"
        )
    domain, path = _split_domain(rest)
    if domain is not None and not _DOMAIN_RE.match(domain):
        raise ReferenceError(f"{text!r} has an invalid registry {domain!r}")
    if not _REMOTE_NAME_RE.match(path):
        if path != path.lower() and _REMOTE_NAME_RE.match(path.lower()):
            raise ReferenceError(f"the repository name {path!r} must be lowercase")
        raise ReferenceError(
            f"{text!r} has an invalid repository name {path!r} (lowercase letters and digits, "
            "separated by one '.', one or two '_', or dashes; components joined by '/')"
        )
    return Reference(domain=domain, path=path, tag=tag, digest=digest if at else None)


def is_shorthand_tag(text: str) -> bool:
    """A bare tag (no ``/``, ``:`` or ``@``): rollout reads it as a tag of the ECR repository."""
    return "/" not in text and ":" not in text and "@" not in text


def is_shorthand_digest(text: str) -> bool:
    """A bare digest (``algorithm:hex``, no ``/`` or ``@``): the ECR repository at that digest."""
    algorithm, colon, _ = text.partition(":")
    return bool(colon) and "/" not in text and "@" not in text and algorithm in DIGEST_HEX_LENGTHS


def check_image_argument(text: str) -> None:
    """Validate what a user passed as ``--image`` (a reference, or a shorthand) without any I/O.

    ``<account>`` (the template placeholder) may stand for the account id in a registry name.
    """
    if text == "":
        raise ReferenceError("the image reference is empty")
    if is_shorthand_digest(text):
        check_digest(text)
        return
    if is_shorthand_tag(text):
        if not _TAG_RE.match(text):
            raise ReferenceError(
                f"{text!r} is not a valid tag (letters, digits, _ . -; at most 128, not "
                "starting with . or -)"
            )
        return
    parse_reference(text.replace("<account>", "000000000000"))
