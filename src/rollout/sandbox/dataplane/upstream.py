"""Kept-alive HTTP/1.1 connections from the ALB listener to one target.

The listener forwards every request over a pool of connections per target. It does not use
``aiohttp.ClientSession`` for this: the session's per-request machinery (request and response
objects, header merging, cookie handling, redirect and retry bookkeeping) made the listener need
about half as much CPU again per request (profiled for issue 9's ``bench/alb.py`` target; see
docs/benchmarks.md). Parsing stays aiohttp's: each connection is aiohttp's client protocol
(``aiohttp.client_proto.ResponseHandler``, its llhttp response parser, read timeout and payload
handling), exactly what a ``ClientSession`` connection is; only the request head is written
here (``METHOD target HTTP/1.1`` and the header lines, which aiohttp's server parser has already
validated on the way in). ``ResponseHandler`` is not aiohttp's documented API: the tests of the
listener (``tests/sandbox/dataplane/test_listener.py``) exercise every path used here against the
locked aiohttp version.

Errors: :class:`ConnectError` (an ``OSError``) when the connection cannot be made,
``TimeoutError`` when it is not made within ``connect_timeout``, ``aiohttp.ServerTimeoutError`` (a
``TimeoutError``) when no byte of the answer comes within ``read_timeout``, aiohttp's
``ClientError``/``OSError`` for a reset, a close mid-answer or a malformed answer.
"""

from __future__ import annotations

import asyncio
from typing import Any

#: methods a client may retry on a fresh connection (RFC 9110 §9.2.2), as aiohttp does when a
#: kept-alive connection turns out to be closed by the target before it answered
IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"})


class ConnectError(OSError):
    """The connection to the target could not be made (refused, unreachable)."""


class Upstream:
    """Kept-alive connections to ``ip:port``; a connection is used by one request at a time."""

    def __init__(self, loop: asyncio.AbstractEventLoop, ip: str, port: int) -> None:
        from aiohttp.client_exceptions import (
            ClientOSError,
            ClientPayloadError,
            ServerDisconnectedError,
        )
        from aiohttp.client_proto import ResponseHandler
        from aiohttp.http_exceptions import HttpProcessingError

        self._loop = loop
        self._protocol = ResponseHandler
        self._lost = (ClientOSError, ServerDisconnectedError)
        self._malformed = HttpProcessingError
        self._payload_error = ClientPayloadError
        self.ip = ip
        self.port = port
        self._idle: list[Any] = []
        self._busy: set[Any] = set()
        self.closed = False

    async def _connect(self, timeout: float) -> Any:
        loop = self._loop
        try:
            _, protocol = await asyncio.wait_for(
                loop.create_connection(lambda: self._protocol(loop), self.ip, self.port), timeout
            )
        except TimeoutError:
            raise  # (an OSError too) not connected within the timeout
        except OSError as exc:
            raise ConnectError(*exc.args) from exc
        return protocol

    async def request(
        self,
        method: str,
        target: str,
        headers: list[tuple[str, str]],
        body: bytes,
        *,
        connect_timeout: float,
        read_timeout: float,
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        """Send one request and read its whole answer: (status, header lines, body)."""
        lines = [f"{method} {target} HTTP/1.1\r\n"]
        lines.extend(f"{k}: {v}\r\n" for k, v in headers)
        if body or method in ("POST", "PUT", "PATCH"):
            lines.append(f"Content-Length: {len(body)}\r\n")
        lines.append("\r\n")
        # the bytes the listener received: aiohttp's server decodes them as UTF-8 with
        # surrogateescape, so this gives back exactly what the client sent
        head = "".join(lines).encode("utf-8", "surrogateescape")
        retry = method in IDEMPOTENT
        while True:
            protocol = None
            while self._idle:  # the most recently used first: the likeliest to be alive
                candidate = self._idle.pop()
                if candidate.is_connected():
                    protocol = candidate
                    break
                candidate.close()
            reused = protocol is not None
            if protocol is None:
                protocol = await self._connect(connect_timeout)
            self._busy.add(protocol)
            done = False
            try:
                protocol.set_response_params(
                    skip_payload=method == "HEAD",
                    read_until_eof=False,
                    auto_decompress=False,
                    read_timeout=read_timeout,
                )
                protocol.transport.write(head + body if body else head)
                protocol.start_timeout()
                message, payload = await protocol.read()
                while 100 <= message.code < 200 and message.code != 101:  # interim answers
                    message, payload = await protocol.read()
                data = await payload.read()
                done = True
            except self._lost:
                if reused and retry:
                    # the target closed or reset this kept-alive connection (as it may do with
                    # an idle one at any time): the same request once more on a fresh
                    # connection, as aiohttp's client does
                    retry = False
                    continue
                raise
            except self._malformed as exc:  # not HTTP, or not valid HTTP
                raise self._payload_error(f"malformed answer from the target: {exc}") from exc
            finally:
                self._busy.discard(protocol)
                if not done or message.should_close or protocol.should_close or self.closed:
                    protocol.close()
                else:
                    self._idle.append(protocol)
            answer = [(k, v) for k, v in message.headers.items()]
            return int(message.code), answer, data

    @property
    def busy(self) -> int:
        return len(self._busy)

    def close(self) -> None:
        """Close the idle connections now; busy ones close when their request ends."""
        self.closed = True
        idle, self._idle = self._idle, []
        for protocol in idle:
            protocol.close()

    def abort(self) -> None:
        """Close every connection, busy ones too."""
        self.close()
        for protocol in list(self._busy):
            protocol.abort()
