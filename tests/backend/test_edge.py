"""Host matching, and the process entry point's behaviour without and with bad settings."""

from __future__ import annotations

import subprocess
import sys

import pytest

from app.edge import host_allowed
from app.main import build
from app.settings import EXIT_BAD_SETTINGS

from .conftest import BACKEND, GOOD_ENV

ALLOWED = ("api.example.com", "*.voj.example.org", "localhost")


@pytest.mark.parametrize(
    ("host", "allowed"),
    [
        ("api.example.com", True),
        ("API.Example.com", True),
        ("api.example.com:8000", True),
        ("localhost:8000", True),
        ("eu.voj.example.org", True),
        ("a.b.voj.example.org", True),
        ("voj.example.org", False),  # the wildcard does not cover the apex
        ("evilvoj.example.org", False),
        ("api.example.com.evil.net", False),
        ("10.0.1.23:8000", False),
        ("", False),
        (":8000", False),
        ("[::1]:8000", False),
        # only a valid port may follow the colon
        ("api.example.com:@evil.com", False),
        ("api.example.com:8000@evil.com", False),
        ("api.example.com@evil.com", False),
        ("api.example.com:80:80", False),
        ("api.example.com:99999", False),
        ("api.example.com:", False),
        ("api.example.com:http", False),
        ("api.example.com:65535", True),
    ],
)
def test_host_allowed(host: str, allowed: bool) -> None:
    """Host headers match exact names and '*.' suffixes, case-insensitively, port ignored."""
    assert host_allowed(host, ALLOWED) is allowed


@pytest.mark.parametrize("host", ["anything", "10.0.1.23:8000", "[::1]:8000"])
def test_star_allows_every_host(host: str) -> None:
    """'*' in ALLOWED_HOSTS allows any Host (only accepted outside production/staging)."""
    assert host_allowed(host, ("*",))


@pytest.mark.parametrize("host", ["a:@b", "x:1:2", "host:123456", "a b"])
def test_star_still_refuses_malformed_hosts(host: str) -> None:
    """'*' allows any well-formed Host, never one with junk after the colon."""
    assert not host_allowed(host, ("*",))


def test_ipv6_literal_can_be_listed() -> None:
    """A bracketed IPv6 literal matches when listed with its brackets."""
    assert host_allowed("[::1]:8000", ("[::1]",))


def test_importing_the_entry_point_needs_no_environment() -> None:
    """`import app.main` (and the gunicorn config) reads no settings and makes no clients."""
    code = (
        "import app.main, app.api, app.catalog, app.seed; assert not app.main._built; print('ok')"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=BACKEND,
        env={"PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_bad_settings_exit_with_one_line_per_variable(capsys: pytest.CaptureFixture[str]) -> None:
    """Building the app from a bad environment exits with status 3, one stderr line per variable."""
    env = {**GOOD_ENV, "ENVIRONMENT": "prod", "AWS_REGION": "nowhere"}
    with pytest.raises(SystemExit) as caught:
        build(env)
    assert caught.value.code == EXIT_BAD_SETTINGS
    err = capsys.readouterr().err.splitlines()
    assert err[0] == "voj: refusing to start, invalid settings:"
    assert [line.split(":")[0].strip() for line in err[1:]] == ["AWS_REGION", "ENVIRONMENT"]


def test_build_from_good_environment() -> None:
    """A good environment builds an app whose settings are that environment's."""
    app = build(GOOD_ENV)
    assert GOOD_ENV["BOOKS_TABLE_NAME"] == app.app.state.settings.BOOKS_TABLE_NAME


def test_entry_point_answers_health_first_and_forwards_the_rest() -> None:
    """app.main's app answers GET/HEAD /health itself and passes everything else to FastAPI."""
    from fastapi.testclient import TestClient

    with TestClient(build(GOOD_ENV)) as client:
        health = client.get("/health", headers={"Host": "10.0.1.23:8000"})
        assert (health.status_code, health.json()) == (200, {"status": "ok"})
        head = client.head("/health", headers={"Host": "10.0.1.23:8000"})
        assert (head.status_code, head.content) == (200, b"")
        assert client.get("/version").json()["version"] == "1.2.3"
        assert client.get("/version", headers={"Host": "evil.example.net"}).status_code == 400
        assert client.post("/health").status_code == 405
