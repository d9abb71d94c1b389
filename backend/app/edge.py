"""The outermost ASGI layer: liveness, host checking, request ids, access logs, last-resort 500.

Order for every HTTP request:

1. ``GET``/``HEAD /health`` is answered here at once, whatever the ``Host`` header (the ALB health
   checker sends the task's private IP), with no dependency and no logging (under gunicorn,
   :class:`HealthFirst` answers it even earlier, outside the framework);
2. the ``Host`` header must match ``ALLOWED_HOSTS`` (exact name, ``*.suffix`` or ``*``), else 400;
3. the request gets an id (a well-formed ``X-Request-ID`` is honoured, otherwise generated),
   echoed in the response's ``X-Request-ID`` and in every log line written while handling it;
4. the inner application runs; an exception escaping it is logged (as JSON) and becomes a JSON
   500 without internal detail, instead of reaching the server's plain-text handler;
5. one JSON access-log line is written.
"""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from collections.abc import Sequence
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.logs import request_id_var

access_log = logging.getLogger("app.access")
error_log = logging.getLogger("app.error")

HEALTH_PATH = "/health"
_HEALTH_BODY = b'{"status":"ok"}'
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


# A Host header: a name (or IPv4 address), or a bracketed IPv6 literal, then optionally ":" and a
# port of 1-5 digits. Anything else after the name ("api.example.com:@evil.com") is refused.
_HOST_HEADER = re.compile(r"^(\[[0-9a-f:.]+\]|[^:\[\]@/\s]+)(?::([0-9]{1,5}))?$")


def host_allowed(host_header: str, allowed: Sequence[str]) -> bool:
    """Whether a ``Host`` header (port ignored) matches one of ``allowed``.

    Patterns: ``*`` (anything well-formed), ``*.example.com`` (any subdomain, not the apex), or
    an exact case-insensitive name. Only a valid port (0-65535) may follow the name's colon.
    """
    match = _HOST_HEADER.match(host_header.strip().lower())
    if match is None:
        return False
    host, port = match.group(1), match.group(2)
    if port is not None and int(port) > 65535:
        return False
    for pattern in allowed:
        if pattern == "*" or host == pattern:
            return True
        if pattern.startswith("*.") and host.endswith(pattern[1:]) and host != pattern[2:]:
            return True
    return False


_HEALTH_HEADERS = [
    (b"content-type", b"application/json"),
    (b"content-length", str(len(_HEALTH_BODY)).encode()),
    (b"cache-control", b"no-store"),
]


async def answer_health(method: str, send: Send) -> None:
    """Send the liveness answer: 200 ``{"status":"ok"}`` (no body for HEAD)."""
    await send({"type": "http.response.start", "status": 200, "headers": _HEALTH_HEADERS})
    body = b"" if method == "HEAD" else _HEALTH_BODY
    await send({"type": "http.response.body", "body": body})


class HealthFirst:
    """The outermost wrapper the server gets (``app.main:app``): ``GET``/``HEAD /health`` is
    answered here, before the framework's own layers, so liveness costs a couple of
    microseconds; everything else (lifespan included) goes to the wrapped app untouched.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and scope["path"] == HEALTH_PATH
            and scope["method"] in ("GET", "HEAD")
        ):
            await answer_health(scope["method"], send)
            return
        await self.app(scope, receive, send)


def _json(status: int, body: dict[str, Any]) -> tuple[Message, Message]:
    data = json.dumps(body, separators=(",", ":")).encode()
    start: Message = {
        "type": "http.response.start",
        "status": status,
        "headers": [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(data)).encode()),
        ],
    }
    return start, {"type": "http.response.body", "body": data}


class EdgeMiddleware:
    """See the module docstring; wraps the whole application."""

    def __init__(self, app: ASGIApp, *, allowed_hosts: Sequence[str]) -> None:
        self.app = app
        self.allowed_hosts = tuple(allowed_hosts)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        method: str = scope["method"]
        if path == HEALTH_PATH and method in ("GET", "HEAD"):
            await answer_health(method, send)
            return

        headers = dict(scope["headers"])
        incoming = headers.get(b"x-request-id", b"").decode("latin-1")
        request_id = incoming if _REQUEST_ID.match(incoming) else uuid.uuid4().hex
        token = request_id_var.set(request_id)
        scope.setdefault("state", {})["request_id"] = request_id
        started = time.perf_counter()
        status = 500
        response_started = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                response_started = True
                status = message["status"]
                message = {
                    **message,
                    "headers": [
                        *message.get("headers", []),
                        (b"x-request-id", request_id.encode()),
                    ],
                }
            await send(message)

        try:
            host = headers.get(b"host", b"").decode("latin-1")
            if not host_allowed(host, self.allowed_hosts):
                start, body = _json(
                    400,
                    {
                        "error": "invalid_host",
                        "message": "the Host header is not allowed",
                        "request_id": request_id,
                    },
                )
                await send_with_id(start)
                await send_with_id(body)
                return
            try:
                await self.app(scope, receive, send_with_id)
            except Exception:
                error_log.exception("unhandled error", extra={"path": path, "method": method})
                if response_started:
                    return
                start, body = _json(
                    500,
                    {
                        "error": "internal_error",
                        "message": "internal error",
                        "request_id": request_id,
                    },
                )
                await send_with_id(start)
                await send_with_id(body)
        finally:
            access_log.info(
                "%s %s %s",
                method,
                path,
                status,
                extra={
                    "method": method,
                    "path": path,
                    "status": status,
                    "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                    "client": (scope.get("client") or ("-", 0))[0],
                    "user_agent": headers.get(b"user-agent", b"").decode("latin-1"),
                },
            )
            request_id_var.reset(token)
