"""decisions.reference: image references against the OCI distribution reference grammar.

Table cases follow distribution/reference's own tests (reference_test.go) where they apply; a
hypothesis property checks that every reference built from the grammar parses back to its parts,
and that the parser never accepts what the grammar's regular expression rejects.
"""

from __future__ import annotations

import re

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from rollout.decisions.reference import (
    NAME_TOTAL_LENGTH_MAX,
    Reference,
    ReferenceError,
    check_image_argument,
    parse_reference,
)

D64 = "sha256:" + "a" * 64
ECR = "123456789012.dkr.ecr.ap-northeast-2.amazonaws.com"


@pytest.mark.parametrize(
    ("text", "domain", "path", "tag", "digest"),
    [
        ("nginx", None, "nginx", None, None),
        ("nginx:1.27", None, "nginx", "1.27", None),
        ("library/nginx:latest", None, "library/nginx", "latest", None),
        ("test_com", None, "test_com", None, None),
        ("test.com:tag", None, "test.com", "tag", None),
        ("test.com:5000", None, "test.com", "5000", None),
        ("test.com/repo:tag", "test.com", "repo", "tag", None),
        ("test:5000/repo", "test:5000", "repo", None, None),
        ("test:5000/repo:tag", "test:5000", "repo", "tag", None),
        (f"test:5000/repo@{D64}", "test:5000", "repo", None, D64),
        (f"test:5000/repo:tag@{D64}", "test:5000", "repo", "tag", D64),
        ("localhost/repo", "localhost", "repo", None, None),
        ("localhost:5000/a/b/c:v1", "localhost:5000", "a/b/c", "v1", None),
        ("[2001:db8::1]:5000/repo", "[2001:db8::1]:5000", "repo", None, None),
        ("Uppercase-Registry.example/repo", "Uppercase-Registry.example", "repo", None, None),
        ("a__b/c-d---e/f.g:T_a.g-1", None, "a__b/c-d---e/f.g", "T_a.g-1", None),
        (f"{ECR}/voj-backend:sha-0000002", ECR, "voj-backend", "sha-0000002", None),
        (f"{ECR}/voj-backend@{D64}", ECR, "voj-backend", None, D64),
        ("ghcr.io/org/app:" + "t" * 128, "ghcr.io", "org/app", "t" * 128, None),
        ("repo@sha512:" + "b" * 128, None, "repo", None, "sha512:" + "b" * 128),
    ],
)
def test_valid_references_split_dockers_way(
    text: str, domain: str | None, path: str, tag: str | None, digest: str | None
) -> None:
    """Valid references parse, with the registry split the way Docker resolves it."""
    ref = parse_reference(text)
    assert (ref.domain, ref.path, ref.tag, ref.digest) == (domain, path, tag, digest)
    assert str(ref) == text


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("", "empty"),
        ("repo:", "empty tag"),
        (":tag", "no repository name"),
        ("@" + D64, "no repository name"),
        ("Uppercase:tag", "must be lowercase"),
        ("ghcr.io/Org/App:1", "must be lowercase"),
        ("repo@sha256:abc", "not a digest"),
        ("repo@sha256:" + "A" * 64, "lowercase hex"),
        ("repo@sha256:" + "a" * 63 + "g", "not a digest"),
        ("repo@sha256:" + "a" * 65, "64 lowercase hex"),
        ("repo@md5:" + "a" * 32, "unsupported digest algorithm"),
        ("repo@" + D64 + "@" + D64, "more than one '@'"),
        ("repo:-tag", "invalid tag"),
        ("repo:.tag", "invalid tag"),
        ("repo:" + "t" * 129, "invalid tag"),
        ("repo:ta g", "whitespace"),
        (" repo", "whitespace"),
        ("-repo", "invalid repository name"),
        ("repo-", "invalid repository name"),
        ("a//b", "invalid repository name"),
        ("a/b/", "invalid repository name"),
        ("a..b", "invalid repository name"),
        ("a___b", "invalid repository name"),
        ("-bad.example/repo", "invalid registry"),
        ("host:port/repo", "invalid registry"),
        ("a/" * 128 + "b", "at most 255"),
    ],
)
def test_invalid_references_say_why(text: str, why: str) -> None:
    """Each malformed reference is refused with a message naming the bad part."""
    with pytest.raises(ReferenceError, match=re.escape(why)):
        parse_reference(text)


@pytest.mark.parametrize(
    ("text", "ok"),
    [
        ("sha-1a2b3c4", True),  # a bare tag of the configured ECR repository
        ("V1.2", True),  # tags may have capitals
        (D64, True),  # a bare digest
        ("sha256:abc", False),
        ("sha256:" + "A" * 64, False),
        ("", False),
        ("repo:", False),
        ("-bad", False),
        ("voj-backend:sha-1", True),
        ("Voj:1", False),
        ("<account>.dkr.ecr.ap-northeast-2.amazonaws.com/voj-backend:sha-1", True),
    ],
)
def test_image_argument_shorthands(text: str, ok: bool) -> None:
    """--image takes a reference, a bare tag or a bare digest; anything else is refused."""
    if ok:
        check_image_argument(text)
    else:
        with pytest.raises(ReferenceError):
            check_image_argument(text)


# -- property: generated from the grammar ------------------------------------------------------

_alnum = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=6)
_separator = st.sampled_from([".", "_", "__", "-", "--", "---"])
_component = st.builds(
    lambda first, rest: first + "".join(s + a for s, a in rest),
    _alnum,
    st.lists(st.tuples(_separator, _alnum), max_size=2),
)
_path = st.lists(_component, min_size=1, max_size=3).map("/".join)
_label = st.from_regex(r"\A[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,8}[a-zA-Z0-9])?\Z")
_domain = st.builds(
    lambda labels, port: ".".join(labels) + (f":{port}" if port is not None else ""),
    st.lists(_label, min_size=2, max_size=3),
    st.none() | st.integers(min_value=1, max_value=65535),
)
_tag = st.from_regex(r"\A[A-Za-z0-9_][A-Za-z0-9_.-]{0,20}\Z")
_digest = st.sampled_from([("sha256", 64), ("sha384", 96), ("sha512", 128)]).flatmap(
    lambda alg: st.text(alphabet="0123456789abcdef", min_size=alg[1], max_size=alg[1]).map(
        lambda hexd: f"{alg[0]}:{hexd}"
    )
)


@given(
    domain=st.none() | _domain,
    path=_path,
    tag=st.none() | _tag,
    digest=st.none() | _digest,
)
def test_property_grammar_references_round_trip(
    domain: str | None, path: str, tag: str | None, digest: str | None
) -> None:
    """Any reference built from the grammar parses back to exactly its parts."""
    first = path.split("/", 1)[0]
    # without a registry, a first component that looks like a host is read as one (Docker's rule)
    assume(domain is not None or "/" not in path or ("." not in first and first != "localhost"))
    expected = Reference(domain=domain, path=path, tag=tag, digest=digest)
    text = str(expected)
    if len(expected.name) > NAME_TOTAL_LENGTH_MAX:
        with pytest.raises(ReferenceError):
            parse_reference(text)
        return
    assert parse_reference(text) == expected


# distribution/reference's ReferenceRegexp, transcribed (anchored), without the length rule
_GRAMMAR = re.compile(
    r"^((?:(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
    r"(?:\.(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]))*|\[[a-fA-F0-9:]+\])"
    r"(?::[0-9]+)?/)?"
    r"[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*)*"
    r"(?::[\w][\w.-]{0,127})?"
    r"(?:@[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,})?$",
    re.ASCII,
)


@given(st.text(alphabet="aAbz09._-/:@[]", max_size=40))
def test_property_never_accepts_what_the_grammar_rejects(text: str) -> None:
    """Whatever the input, an accepted reference matches the grammar's regular expression."""
    try:
        parse_reference(text)
    except ReferenceError:
        return
    assert _GRAMMAR.match(text), text
