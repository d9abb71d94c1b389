"""Backend edges of issue 13, finding 6: 405 carries Allow, a refused CORS preflight is a JSON
error with a request id, /ready is cached, bad settings are never echoed, and behind the ALB
the client address (not the ALB's) is what the access log records."""

from __future__ import annotations

import asyncio
import json
import os
import runpy
from typing import Any

import pytest
from fastapi.testclient import TestClient
from gunicorn.config import Config
from starlette.types import Message
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from app.api import READY_CACHE_SECONDS, create_app
from app.catalog import Catalog
from app.edge import EdgeMiddleware
from app.logs import configure_logging
from app.settings import SettingsError, load_settings

from .conftest import BACKEND, GOOD_ENV


def test_405_names_the_allowed_methods(client: TestClient) -> None:
    """A method the route does not serve is a JSON 405 with an Allow header (RFC 9110)."""
    response = client.post("/books")
    assert response.status_code == 405
    assert "GET" in {m.strip() for m in response.headers["allow"].split(",")}
    body = response.json()
    assert body["error"] == "method_not_allowed"
    assert body["request_id"] == response.headers["x-request-id"]


def test_refused_cors_preflight_is_a_json_error_with_the_request_id(client: TestClient) -> None:
    """A preflight from an unlisted origin is 400 JSON {error, message, request_id}, like every
    other error, and grants no CORS header."""
    response = client.options(
        "/books",
        headers={
            "Origin": "https://evil.example.net",
            "Access-Control-Request-Method": "GET",
            "X-Request-ID": "pre-1",
        },
    )
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {
        "error": "cors_refused",
        "message": "CORS preflight refused (origin not allowed)",
        "request_id": "pre-1",
    }
    assert response.headers["x-request-id"] == "pre-1"
    assert "access-control-allow-origin" not in response.headers


def test_accepted_cors_preflight_is_unchanged(client: TestClient) -> None:
    """A preflight from a listed origin is still Starlette's 200 with the CORS headers."""
    response = client.options(
        "/books",
        headers={"Origin": "https://app.example.com", "Access-Control-Request-Method": "GET"},
    )
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == "https://app.example.com"


class _CountingCatalog:
    """Stands in for Catalog: readiness() counts its (three-call) checks."""

    def __init__(self) -> None:
        self.checks = 0
        self.healthy = True

    def readiness(self) -> dict[str, bool]:
        self.checks += 1
        return {"books": self.healthy, "chapters": True, "bucket": True}

    def warm(self) -> None:
        return None


def test_ready_reuses_its_answer_for_a_few_seconds() -> None:
    """A burst of /ready requests costs one check per READY_CACHE_SECONDS (clock injected);
    a 503 is cached the same way, and a fresh check follows once the time has passed."""
    now = [1000.0]
    catalog = _CountingCatalog()
    settings = load_settings(GOOD_ENV)
    app = create_app(settings, catalog=catalog, clock=lambda: now[0])  # type: ignore[arg-type]
    with TestClient(app, base_url="http://api.example.com") as http:
        for _ in range(20):
            assert http.get("/ready").status_code == 200
        assert catalog.checks == 1
        catalog.healthy = False
        now[0] += READY_CACHE_SECONDS - 0.1
        assert http.get("/ready").status_code == 200  # still the cached answer
        now[0] += 0.1
        assert http.get("/ready").status_code == 503
        assert http.get("/ready").status_code == 503
        assert catalog.checks == 2
    assert 1 <= READY_CACHE_SECONDS <= 10


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("CORS_ORIGINS", "https://ok.example.com, AKIAIOSFODNN7EXAMPLE-secret"),
        ("CORS_ORIGINS", '["ftp://user:p4ssw0rd@host"]'),
        ("ALLOWED_HOSTS", "api.example.com,tok3n_value!"),
    ],
)
def test_bad_list_settings_are_not_echoed(variable: str, value: str) -> None:
    """A bad CORS_ORIGINS or ALLOWED_HOSTS item is named by position, never repeated."""
    with pytest.raises(SettingsError) as caught:
        load_settings({**GOOD_ENV, variable: value})
    text = "\n".join(caught.value.lines()) + str(caught.value)
    for secret in ("AKIAIOSFODNN7EXAMPLE", "p4ssw0rd", "tok3n_value"):
        assert secret not in text
    assert caught.value.problems[variable].startswith("item ")


def _gunicorn(environ: dict[str, str]) -> Config:
    saved = os.environ.get("FORWARDED_ALLOW_IPS")
    os.environ.pop("FORWARDED_ALLOW_IPS", None)
    os.environ.update(environ)
    try:
        config = Config()
        for name, value in runpy.run_path(str(BACKEND / "gunicorn.conf.py")).items():
            if name in config.settings:
                config.set(name, value)
        return config
    finally:
        os.environ.pop("FORWARDED_ALLOW_IPS", None)
        if saved is not None:
            os.environ["FORWARDED_ALLOW_IPS"] = saved


def test_forwarded_headers_are_trusted_from_the_vpc_only() -> None:
    """gunicorn believes X-Forwarded-For from the VPC (the template's VpcCidr) by default, and
    from whatever FORWARDED_ALLOW_IPS names when set."""
    assert _gunicorn({}).forwarded_allow_ips == ["10.40.0.0/16"]
    assert _gunicorn({"FORWARDED_ALLOW_IPS": "10.9.0.0/16"}).forwarded_allow_ips == ["10.9.0.0/16"]


def _access_client(peer: str, forwarded: str, capsys: pytest.CaptureFixture[str]) -> Any:
    """Send one request from ``peer`` with X-Forwarded-For ``forwarded`` through uvicorn's proxy
    header handling (as the UvicornWorker configures it) and the edge; return the access log's
    ``client``."""
    trusted = _gunicorn({}).forwarded_allow_ips

    async def inner(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    app = ProxyHeadersMiddleware(EdgeMiddleware(inner, allowed_hosts=["*"]), trusted)
    scope = {
        "type": "http",
        "method": "GET",
        "path": "/books",
        "scheme": "http",
        "headers": [(b"host", b"api.example.com"), (b"x-forwarded-for", forwarded.encode())],
        "client": (peer, 43210),
    }
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b""}

    async def send(message: Message) -> None:
        sent.append(message)

    configure_logging("INFO")
    capsys.readouterr()
    asyncio.run(app(scope, receive, send))
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line]
    (access,) = [line for line in lines if line["logger"] == "app.access"]
    return access["client"]


def test_access_log_records_the_client_behind_the_alb(capsys: pytest.CaptureFixture[str]) -> None:
    """From an ALB node inside the VPC, the logged client is the caller X-Forwarded-For names;
    from outside the VPC the header is ignored and the peer itself is logged."""
    assert _access_client("10.40.3.7", "203.0.113.9", capsys) == "203.0.113.9"
    assert _access_client("198.51.100.4", "203.0.113.9", capsys) == "198.51.100.4"


def test_catalog_signature_still_matches_the_fake() -> None:
    """The fake above has the two methods create_app uses of a Catalog."""
    assert callable(Catalog.readiness)
    assert callable(Catalog.warm)
