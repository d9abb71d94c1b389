"""A local HTTP listener per ALB listener: the sandbox's load balancer data plane.

:class:`AlbProxy` runs one asyncio event loop in a thread. For every ELBv2 listener of every
application load balancer in moto it serves an aiohttp server on loopback (``127.0.0.1``, a free
port) and forwards each request the way an ALB does (facts from
``shared/reference/traffic-shifting.md`` §2 and ``ecs-behaviour.md`` §6, cited as TS §n / EB §n):

- the action comes from the listener's rules and default action, read live from moto at each
  request (:mod:`rollout.sandbox.dataplane.routing`); a weighted ``ForwardConfig`` picks the
  target group, then targets take turns (round robin, the ALB's default algorithm, TS §2.2);
- targets and their state come from moto's target groups with the sandbox's health overlay
  (:mod:`rollout.sandbox.dataplane.targets`): new requests go to ``healthy`` targets; with none
  healthy, to every registered target that is not leaving (fail-open, TS §2.3, EB §6.1); with no
  registered target, the ALB answers **503** itself (EB §6.1);
- a refused or reset connection, or a target closing the connection mid-request, is **502**; no
  answer within the load balancer's ``idle_timeout.timeout_seconds`` (default 60) or no connection
  within 10 s is **504** (TS §2.4);
- ``X-Forwarded-For`` (the client's address appended), ``X-Forwarded-Proto`` and
  ``X-Forwarded-Port`` (the ELBv2 listener's protocol and port) are added; ``Host`` is passed
  through unchanged;
- a ``draining`` target gets no new requests while its in-flight ones finish; when it leaves the
  target group (the deregistration delay is over: moto no longer lists it), requests still in
  flight are cut and answered **502** ("the deregistration delay period elapsed", TS §2.4);
  connections to a draining target are closed once it has no request in flight, so no kept-alive
  connection is reused;
- answers the ALB makes itself carry ``Server: awselb/2.0`` and AWS's HTML body, so a client can
  tell them from a target's own 5xx;
- requests only ever go to loopback targets (127.0.0.0/8): a simulated task's address (10.0.x.y)
  is answered by ``simulated`` (the simulation's canned answer: ``serve_5xx`` status,
  ``/version``...), or with a 502 when nothing simulates it; no packet leaves the machine.

Every answer becomes a :class:`~rollout.sandbox.observability.metrics.RequestOutcome` for the
``AWS/ApplicationELB`` metrics. Times are wall-clock (real sockets); the outcome's timestamp is the
sandbox clock's.

Not modelled: HTTPS listeners (served as plain HTTP), stickiness, slow start, redirect and
authentication actions, HTTP/2, request/response size limits, client keep-alive limits.
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from rollout.sandbox.dataplane import routing
from rollout.sandbox.dataplane.targets import (
    LEAVING,
    Target,
    elbv2_backend,
    group_states,
    load_balancers,
    routable,
)
from rollout.sandbox.dataplane.upstream import ConnectError, Upstream
from rollout.sandbox.observability.metrics import RequestOutcome

log = logging.getLogger(__name__)

#: ``(target group ARN, target IP, method, path) -> (status, headers, body)`` of a simulated
#: task, or None when the simulation has no such target.
Simulated = Callable[[str, str, str, str], tuple[int, list[tuple[str, str]], bytes] | None]


@functools.lru_cache(maxsize=4096)
def is_loopback(ip: str) -> bool:
    try:
        return ipaddress.ip_address(ip).is_loopback
    except ValueError:
        return False


#: TS §2.4: "could not connect within the connection timeout (10 s)".
CONNECT_TIMEOUT = 10.0
#: TS §2.2: "Idle timeout default 60 s".
DEFAULT_IDLE_TIMEOUT = 60.0
SERVER = "awselb/2.0"
#: Hop-by-hop headers (RFC 9110 §7.6.1) are not forwarded in either direction.
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "content-length",
    }
)

_PHRASES = {
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Temporarily Unavailable",
    504: "Gateway Time-out",
}


def elb_page(status: int) -> bytes:
    """The HTML body an ALB answers its own 5xx with."""
    title = f"{status} {_PHRASES.get(status, 'Error')}"
    return (
        f"<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n"
        f"<center><h1>{title}</h1></center>\r\n</body>\r\n</html>\r\n"
    ).encode()


@dataclass
class _Local:
    """One local socket serving one ELBv2 listener."""

    lb_arn: str
    lb_name: str
    listener_arn: str
    port: int  # the ELBv2 listener's port (X-Forwarded-Port)
    protocol: str
    url: str = ""
    runner: Any = None
    forwarded_proto: str = field(init=False)  # X-Forwarded-Proto
    forwarded_port: str = field(init=False)  # X-Forwarded-Port

    def __post_init__(self) -> None:
        self.forwarded_proto = self.protocol.lower()
        self.forwarded_port = str(self.port)


@dataclass
class _TargetLink:
    """Pooled connections and in-flight requests to one target (per target group)."""

    upstream: Upstream
    in_flight: set[asyncio.Task[Any]] = field(default_factory=set)
    cut: set[asyncio.Task[Any]] = field(default_factory=set)
    leaving: bool = False  # the target is draining or gone: close once nothing is in flight


class AlbProxy:
    """Local listeners for every application load balancer of one account and region.

    ``start()`` runs the event loop thread and serves the load balancers that exist; ``sync()``
    (also run every ``sync_interval`` seconds) adds listeners for new ones and removes those of
    deleted ones; ``urls()`` says where each is; ``close()`` stops everything.
    ``record`` receives every request's outcome (the metrics writer's ``record``);
    ``clock_now`` is the sandbox clock (outcome timestamps).
    """

    def __init__(
        self,
        *,
        account: str,
        region: str,
        clock_now: Callable[[], float] = time.time,
        record: Callable[[RequestOutcome], None] | None = None,
        host: str = "127.0.0.1",
        sync_interval: float = 0.5,
        sweep_interval: float = 0.1,
        simulated: Simulated | None = None,
    ) -> None:
        if not host.startswith("127."):
            raise ValueError(f"the ALB listener serves loopback only, not {host!r}")
        self.account = account
        self.region = region
        self.host = host
        self._clock_now = clock_now
        self._record = record
        self._simulated = simulated
        self._sync_interval = sync_interval
        self._sweep_interval = sweep_interval
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._locals: dict[str, _Local] = {}  # listener ARN -> local socket
        self._links: dict[tuple[str, str], _TargetLink] = {}  # (tg ARN, ip:port) -> link
        self._picker = routing.WeightedPicker()
        self._rr = routing.RoundRobin()
        self._stopping = False
        self._tasks: list[asyncio.Task[Any]] = []
        self._elbv2: Any = None
        self._ec2: Any = None
        self._aiohttp: Any = None  # imported at start(): aiohttp is heavy and loop-side only
        self._web: Any = None

    # -- lifecycle (any thread) ---------------------------------------------------------------
    def start(self) -> None:
        """Start the event loop thread and serve every load balancer that exists now."""
        if self._thread is not None:
            return
        import aiohttp
        from aiohttp import web
        from moto.backends import get_backend

        self._aiohttp, self._web = aiohttp, web

        # moto's backends live as long as the sandbox world this proxy belongs to
        self._elbv2 = elbv2_backend(self.account, self.region)
        self._ec2 = get_backend("ec2")[self.account][self.region]
        ready = threading.Event()

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            asyncio.set_event_loop(loop)
            ready.set()
            loop.run_forever()
            loop.close()

        self._thread = threading.Thread(target=run, name="sandbox-alb", daemon=True)
        self._thread.start()
        ready.wait()
        self._call(self._start_background())
        self.sync()

    def _call(self, coro: Any, timeout: float = 30.0) -> Any:
        if self._loop is None:
            raise RuntimeError("the ALB proxy is not started")
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    def sync(self) -> dict[str, str]:
        """Serve the load balancers that exist now (and stop serving deleted ones)."""
        self._call(self._sync())
        return self.urls()

    def urls(self) -> dict[str, str]:
        """Load balancer name -> URL of its first listener (lowest port)."""
        out: dict[str, str] = {}
        for local in sorted(self._locals.values(), key=lambda x: x.port):
            out.setdefault(local.lb_name, local.url)
        return out

    def listeners(self) -> list[dict[str, Any]]:
        """Every local listener: load balancer name and ARN, ELBv2 listener port, local URL."""
        return [
            {
                "load_balancer": x.lb_name,
                "load_balancer_arn": x.lb_arn,
                "listener_arn": x.listener_arn,
                "port": x.port,
                "url": x.url,
            }
            for x in sorted(self._locals.values(), key=lambda x: (x.lb_name, x.port))
        ]

    def url(self, lb_name: str) -> str | None:
        return self.urls().get(lb_name)

    def close(self) -> None:
        """Stop every listener, close every connection, stop the loop thread. Idempotent."""
        if self._loop is None or self._thread is None:
            return
        try:
            self._call(self._shutdown())
        except Exception:  # pragma: no cover - best effort on the way out
            log.exception("sandbox ALB: error while stopping")
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._thread = None
        self._loop = None

    # -- loop side ----------------------------------------------------------------------------
    async def _start_background(self) -> None:
        self._tasks = [
            asyncio.ensure_future(self._every(self._sync_interval, self._sync)),
            asyncio.ensure_future(self._every(self._sweep_interval, self._sweep)),
        ]

    async def _every(self, interval: float, job: Callable[[], Any]) -> None:
        while not self._stopping:
            await asyncio.sleep(interval)
            try:
                await job()
            except Exception:
                log.exception("sandbox ALB: background job failed")

    async def _sync(self) -> None:
        from aiohttp import web

        wanted: dict[str, tuple[Any, Any]] = {}
        for lb in load_balancers(self.account, self.region):
            for listener in list(lb.listeners.values()):
                wanted[listener.arn] = (lb, listener)
        for arn in [a for a in self._locals if a not in wanted]:
            local = self._locals.pop(arn)
            await local.runner.cleanup()
        for arn, (lb, listener) in wanted.items():
            if arn in self._locals:
                continue
            local = _Local(
                lb.arn, lb.name, arn, int(listener.port or 80), str(listener.protocol or "HTTP")
            )
            server = web.Server(functools.partial(self._handle, local), access_log=None)
            runner = web.ServerRunner(server, access_log=None, handle_signals=False)
            await runner.setup()
            site = web.TCPSite(runner, self.host, 0, reuse_address=True)
            await site.start()
            sockets = runner.addresses
            port = sockets[0][1] if sockets else 0
            local.url = f"http://{self.host}:{port}"
            local.runner = runner
            self._locals[arn] = local
            log.info("sandbox ALB %s listener :%s on %s", lb.name, local.port, local.url)

    async def _shutdown(self) -> None:
        self._stopping = True
        for task in self._tasks:
            task.cancel()
        for local in list(self._locals.values()):
            await local.runner.cleanup()
        self._locals.clear()
        for link in list(self._links.values()):
            for task in link.in_flight:
                task.cancel()
            link.upstream.abort()
        self._links.clear()

    def _link(self, tg_arn: str, target: Target) -> _TargetLink:
        key = (tg_arn, target.address)
        link = self._links.get(key)
        if link is None:
            assert self._loop is not None
            link = _TargetLink(Upstream(self._loop, target.ip, target.port))
            self._links[key] = link
        return link

    def _state(self, tg_arn: str, address: str) -> str | None:
        """The target's state now; None when it is no longer registered in the group."""
        states = group_states(self._elbv2, self._ec2, tg_arn) or []
        return next((t.state for t in states if t.address == address), None)

    async def _sweep(self) -> None:
        """Cut requests to targets that left their group; mark links to leaving targets (their
        connections close as soon as nothing is in flight on them)."""
        for (tg_arn, address), link in list(self._links.items()):
            state = self._state(tg_arn, address)
            if state is None or state == "unused":
                for task in list(link.in_flight - link.cut):
                    link.cut.add(task)
                    task.cancel()
            link.leaving = state is None or state in LEAVING
            self._close_if_idle((tg_arn, address), link)

    def _close_if_idle(self, key: tuple[str, str], link: _TargetLink) -> None:
        if link.leaving and not link.in_flight:
            if self._links.get(key) is link:
                del self._links[key]
            link.upstream.close()

    # -- one request --------------------------------------------------------------------------
    def _outcome(
        self,
        local: _Local,
        status: int,
        kind: str,
        tg_arn: str | None = None,
        latency: float | None = None,
        connection_error: bool = False,
    ) -> None:
        if self._record is None:
            return
        try:
            self._record(
                RequestOutcome(
                    at=self._clock_now(),
                    load_balancer_arn=local.lb_arn,
                    status=status,
                    kind="target" if kind == "target" else "elb",
                    target_group_arn=tg_arn,
                    latency=latency,
                    connection_error=connection_error,
                )
            )
        except Exception:  # metrics never break a request
            log.exception("sandbox ALB: recording an outcome failed")

    def _elb(self, local: _Local, status: int, tg_arn: str | None = None, **kw: Any) -> Any:
        self._outcome(local, status, "elb", tg_arn, **kw)
        return self._web.Response(
            status=status,
            body=elb_page(status),
            headers={"Server": SERVER, "Content-Type": "text/html"},
        )

    def _idle_timeout(self, lb: Any) -> float:
        raw = lb.attrs.get("idle_timeout.timeout_seconds")
        try:
            return float(raw) if raw not in (None, "") else DEFAULT_IDLE_TIMEOUT
        except ValueError:
            return DEFAULT_IDLE_TIMEOUT

    async def _handle(self, local: _Local, request: Any) -> Any:
        lb = self._elbv2.load_balancers.get(local.lb_arn)
        listener = lb.listeners.get(local.listener_arn) if lb is not None else None
        if listener is None:
            return self._elb(local, 503)
        host = request.headers.get("Host", "")
        # rules, target groups and target health are read from moto at each request (a few
        # microseconds; the HTTP work around them costs two orders of magnitude more)
        if routing.has_rules(listener):
            view = routing.RequestView(
                method=request.method,
                headers=tuple(request.headers.items()),
                query=tuple(request.rel_url.query.items()),
            )
        else:
            view = routing.GET  # only the default action: nothing of the request is looked at
        action = routing.select_action(listener, host, request.rel_url.path, view)
        if isinstance(action, routing.FixedResponse):
            self._outcome(local, action.status, "elb")
            return self._web.Response(
                status=action.status,
                body=action.body.encode(),
                headers={"Server": SERVER, "Content-Type": action.content_type},
            )
        if isinstance(action, routing.Unsupported):
            log.warning("sandbox ALB: action %r is not modelled", action.type)
            return self._elb(local, 500)
        tg_arn = self._picker.pick(action.groups)
        if tg_arn is None:
            return self._elb(local, 503)
        states = group_states(self._elbv2, self._ec2, tg_arn) or []
        candidates, _fail_open = routable(states)
        if not candidates:
            return self._elb(local, 503)
        target = self._rr.pick(tg_arn, candidates)
        if not is_loopback(target.ip):
            return await self._simulate(local, request, tg_arn, target)
        return await self._forward(local, lb, request, tg_arn, target)

    async def _simulate(self, local: _Local, request: Any, tg_arn: str, target: Target) -> Any:
        """A target that is not a loopback socket: the simulation answers, or nobody does."""
        started = time.perf_counter()
        reply = None
        if self._simulated is not None:
            loop = asyncio.get_running_loop()
            reply = await loop.run_in_executor(
                None, self._simulated, tg_arn, target.ip, request.method, request.rel_url.path
            )
        if reply is None:  # unreachable: as a refused connection
            return self._elb(local, 502, tg_arn, connection_error=True)
        status, headers, body = reply
        self._outcome(local, status, "target", tg_arn, latency=time.perf_counter() - started)
        response = self._web.Response(status=status, body=body)
        for k, v in headers:
            if k.lower() not in HOP_BY_HOP:
                response.headers.add(k, v)
        return response

    async def _forward(
        self, local: _Local, lb: Any, request: Any, tg_arn: str, target: Target
    ) -> Any:
        aiohttp = self._aiohttp
        headers: list[tuple[str, str]] = []
        prior = None
        host = False
        for k, v in request.headers.items():
            low = k.lower()
            if low in HOP_BY_HOP:
                continue
            if low.startswith("x-forwarded-"):
                if low == "x-forwarded-for":
                    prior = f"{prior}, {v}" if prior else v
                continue
            host = host or low == "host"
            headers.append((k, v))
        if not host:  # an HTTP/1.0 request without one: HTTP/1.1 to the target needs a Host
            headers.insert(0, ("Host", target.address))
        client = request.remote or ""
        headers.append(("X-Forwarded-For", f"{prior}, {client}" if prior else client))
        headers.append(("X-Forwarded-Proto", local.forwarded_proto))
        headers.append(("X-Forwarded-Port", local.forwarded_port))
        body = await request.read() if request.body_exists else b""
        key = (tg_arn, target.address)
        link = self._links.get(key) or self._link(tg_arn, target)
        task = asyncio.current_task()
        assert task is not None
        link.in_flight.add(task)
        started = time.perf_counter()
        try:
            status, answer, data = await link.upstream.request(
                request.method,
                str(request.rel_url),  # the path and query as received (percent-encoded)
                headers,
                body,
                connect_timeout=CONNECT_TIMEOUT,
                read_timeout=self._idle_timeout(lb),
            )
            latency = time.perf_counter() - started
        except asyncio.CancelledError:
            if task not in link.cut:
                raise  # the client went away
            # the deregistration delay ended while the request was in flight (TS §2.4)
            task.uncancel()
            return self._elb(local, 502, tg_arn)
        except ConnectError:  # refused, unreachable
            return self._elb(local, 502, tg_arn, connection_error=True)
        except TimeoutError:  # no connection within 10 s, or no answer within the idle timeout
            return self._elb(local, 504, tg_arn)
        except (aiohttp.ClientError, OSError):  # reset, closed mid-request, malformed answer
            return self._elb(local, 502, tg_arn)
        finally:
            link.in_flight.discard(task)
            if link.cut:
                link.cut.discard(task)
            if link.leaving and not link.in_flight:
                self._close_if_idle(key, link)
        self._outcome(local, status, "target", tg_arn, latency=latency)
        response = self._web.Response(status=status, body=data)
        add = response.headers.add
        for k, v in answer:
            if k.lower() not in HOP_BY_HOP:
                add(k, v)
        return response
