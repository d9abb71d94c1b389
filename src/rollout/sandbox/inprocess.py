"""In-process clients: boto3 talks to the sandbox's front app without a socket.

A ``before-send`` handler turns each ``AWSPreparedRequest`` botocore is about to send into a WSGI
call on the front app and returns the answer as a ``botocore.awsrequest.AWSResponse``. Everything
above the send (parameter validation, serialization, signing, the retry handler, response
parsing, waiters' acceptors) is botocore's real code; only the socket is skipped. Because the
handler sits below the retry handler, an injected throttle is retried as it would be on AWS.

The endpoint URL is ``http://sandbox.invalid`` (``.invalid`` never resolves, RFC 2606), so a
request that somehow missed the handler could not reach any real server, let alone AWS.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

import botocore.session
from botocore.awsrequest import AWSPreparedRequest, AWSResponse
from botocore.compat import HTTPHeaders
from botocore.loaders import Loader, create_loader
from werkzeug.test import EnvironBuilder, run_wsgi_app

from rollout.sandbox.wire import DUMMY_ACCESS_KEY, DUMMY_SECRET_KEY

IN_PROCESS_HOST = "sandbox.invalid"
IN_PROCESS_ENDPOINT = f"http://{IN_PROCESS_HOST}"

#: Dummy credentials: SigV4 signing runs for real; the sandbox does not check signatures.

WsgiApp = Callable[..., Any]


class RawBody(io.BytesIO):
    """What botocore reads a response body from (``read`` and ``stream``, like urllib3's)."""

    def stream(self, amt: int = 65536, **_: Any) -> Iterator[bytes]:
        while chunk := self.read(amt):
            yield chunk


def _body_bytes(body: Any) -> bytes:
    if body is None:
        return b""
    if isinstance(body, bytes | bytearray):
        return bytes(body)
    if isinstance(body, str):
        return body.encode("utf-8")
    if hasattr(body, "read"):
        position = body.tell() if hasattr(body, "tell") else None
        data = body.read()
        if position is not None and hasattr(body, "seek"):
            body.seek(position)  # a retry re-sends the same stream
        return data if isinstance(data, bytes) else str(data).encode("utf-8")
    return b"".join(body)


def _local_host(netloc: str) -> str:
    # moto decides S3 path-style vs virtual-hosted addressing from the Host header: a host
    # starting with "localhost" is path-style; "<bucket>.localhost" is virtual-hosted.
    return netloc.replace(IN_PROCESS_HOST, "localhost")


def call_wsgi(app: WsgiApp, request: AWSPreparedRequest) -> AWSResponse:
    """Send one prepared request to ``app`` and return botocore's response object."""
    url = urlsplit(request.url)
    headers: list[tuple[str, str]] = []
    for name, value in request.headers.items():
        text = value.decode("utf-8") if isinstance(value, bytes) else str(value)
        if name.lower() == "host":
            text = _local_host(text)
        headers.append((name, text))
    environ = EnvironBuilder(
        path=url.path or "/",
        base_url=f"{url.scheme}://{_local_host(url.netloc)}",
        query_string=url.query,
        method=request.method,
        headers=headers,
        data=_body_bytes(request.body),
    ).get_environ()
    app_iter, status, response_headers = run_wsgi_app(app, environ, buffered=True)
    try:
        data = b"".join(app_iter)
    finally:
        close = getattr(app_iter, "close", None)
        if callable(close):
            close()
    out = HTTPHeaders()
    for name, value in response_headers.items():
        out[name] = value
    return AWSResponse(request.url, int(status.split(" ", 1)[0]), out, RawBody(data))


class DeferredResponse(AWSResponse):
    """A response that sends its request to the app only when botocore reads it.

    botocore calls every ``before-send`` handler and uses the first response that is not None.
    Ours is registered last, so when an earlier handler (a test's fault hook) answers, ours is
    never read and the request never reaches the sandbox: a throttled ``UpdateService`` is not
    applied behind the caller's back.
    """

    def __init__(self, app: WsgiApp, request: AWSPreparedRequest) -> None:
        self.url = request.url
        self._app = app
        self._request = request
        self._answer: AWSResponse | None = None
        self._content = None

    def _resolve(self) -> AWSResponse:
        if self._answer is None:
            self._answer = call_wsgi(self._app, self._request)
        return self._answer

    @property
    def status_code(self) -> int:  # type: ignore[override]
        return int(self._resolve().status_code)

    @property
    def headers(self) -> Any:  # type: ignore[override]
        return self._resolve().headers

    @property
    def raw(self) -> Any:
        return self._resolve().raw

    @property
    def sent(self) -> bool:
        """Whether the request has reached the sandbox."""
        return self._answer is not None


def attach(session: botocore.session.Session, app: WsgiApp) -> None:
    """Make every client of ``session`` answer from ``app``.

    Registered last, so other ``before-send`` observers (rollout's call counter) still see each
    attempt, and a handler registered earlier that answers (a fault hook) wins: the sandbox then
    never sees that attempt (see :class:`DeferredResponse`).
    """

    def before_send(request: AWSPreparedRequest, **_: Any) -> AWSResponse:
        return DeferredResponse(app, request)

    session.get_component("event_emitter").register_last("before-send", before_send)


@lru_cache(maxsize=1)
def _shared_loader() -> Loader:
    # Service models are parsed once per process, not once per sandbox session (~0.1 s/client).
    return create_loader()


def botocore_session(app: WsgiApp) -> botocore.session.Session:
    """A botocore session with dummy credentials whose clients answer from ``app``."""
    session = botocore.session.Session()
    session.register_component("data_loader", _shared_loader())
    session.set_credentials(DUMMY_ACCESS_KEY, DUMMY_SECRET_KEY)
    attach(session, app)
    return session
