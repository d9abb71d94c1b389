"""Local target apps on 127.0.0.x and an ALB in the sandbox that forwards to them."""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web

from rollout.sandbox import Sandbox


@dataclass
class TargetApp:
    """One aiohttp app on its own loopback address; counts requests and closed connections."""

    name: str
    ip: str
    port: int = 0
    requests: int = 0
    transports: list[Any] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    runner: Any = None

    @property
    def connections_closed(self) -> int:
        """How many of the connections this app has served are closed now."""
        return sum(1 for t in self.transports if t.is_closing())


class Targets:
    """Target apps served from one event loop thread (stopped at teardown)."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.apps: list[TargetApp] = []

    def _call(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(10)

    def start(self, name: str, ip: str) -> TargetApp:
        app = TargetApp(name, ip)
        self._call(self._start(app))
        self.apps.append(app)
        return app

    async def _start(self, target: TargetApp) -> None:
        async def handle(request: web.BaseRequest) -> web.StreamResponse:
            target.requests += 1
            target.headers.append(dict(request.headers))
            transport = request.transport
            if transport is not None and all(t is not transport for t in target.transports):
                target.transports.append(transport)
            path = request.path
            if path.startswith("/slow/"):
                await asyncio.sleep(float(path.rsplit("/", 1)[1]))
            if path.startswith("/status/"):
                code = int(path.rsplit("/", 1)[1])
                return web.json_response({"target": target.name}, status=code)
            if path == "/echo":
                data = await request.read()
                return web.json_response(
                    {"target": target.name, "method": request.method, "body": data.decode()}
                )
            if path == "/set-cookie":
                response = web.json_response({"target": target.name, "path": path})
                response.set_cookie("session", "secret-of-one-client")
                return response
            if path == "/reset" and transport is not None:
                transport.abort()
                return web.Response(status=200)
            return web.json_response({"target": target.name, "path": path})

        server = web.Server(handle, access_log=None)
        runner = web.ServerRunner(server, access_log=None, handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, target.ip, 0)
        await site.start()
        target.port = runner.addresses[0][1]
        target.runner = runner

    def stop(self, app: TargetApp) -> None:
        self._call(app.runner.cleanup())

    def close(self) -> None:
        for app in self.apps:
            with contextlib.suppress(Exception):  # already stopped by the test
                self.stop(app)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=5)
        self.loop.close()


@dataclass
class Alb:
    sb: Sandbox
    elbv2: Any
    lb_arn: str
    listener_arn: str
    tg_arns: list[str]
    url: str

    def register(self, tg: int, app: TargetApp) -> None:
        self.elbv2.register_targets(
            TargetGroupArn=self.tg_arns[tg], Targets=[{"Id": app.ip, "Port": app.port}]
        )


@pytest.fixture
def targets() -> Iterator[Targets]:
    t = Targets()
    yield t
    t.close()


@pytest.fixture
def alb() -> Iterator[Alb]:
    """An ALB named "web" with two ip target groups; the listener forwards to the first."""
    with Sandbox() as sb:
        factory = sb.client_factory()
        ec2 = factory.client("ec2")
        elbv2 = factory.client("elbv2")
        vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
        subnets = [
            ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{i}.0/24", AvailabilityZone=az)["Subnet"][
                "SubnetId"
            ]
            for i, az in enumerate(("ap-northeast-2a", "ap-northeast-2c"))
        ]
        lb = elbv2.create_load_balancer(Name="web", Subnets=subnets, Type="application")
        lb_arn = lb["LoadBalancers"][0]["LoadBalancerArn"]
        tgs = [
            elbv2.create_target_group(
                Name=name, Protocol="HTTP", Port=8000, VpcId=vpc, TargetType="ip"
            )["TargetGroups"][0]["TargetGroupArn"]
            for name in ("blue", "green")
        ]
        listener = elbv2.create_listener(
            LoadBalancerArn=lb_arn,
            Protocol="HTTP",
            Port=80,
            DefaultActions=[{"Type": "forward", "TargetGroupArn": tgs[0]}],
        )["Listeners"][0]["ListenerArn"]
        url = sb.alb_url("web")
        assert url is not None
        yield Alb(sb, elbv2, lb_arn, listener, tgs, url)


def body(response: Any) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(response.content)
    return data
