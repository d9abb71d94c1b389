"""The local ALB listener: routing, weights, failures and draining, with real target apps."""

from __future__ import annotations

import asyncio
import itertools
import socket
import threading
import time
from collections import Counter

import httpx
import pytest

from rollout.sandbox.dataplane.health_timeline import HealthChange

from .conftest import Alb, Targets, body

HEALTHY = [HealthChange(0.0, "healthy", None, None)]


def names(alb: Alb, n: int, path: str = "/") -> list[str]:
    with httpx.Client(base_url=alb.url, timeout=10) as client:
        return [body(client.get(path))["target"] for _ in range(n)]


def test_round_robin_among_healthy_targets(alb: Alb, targets: Targets) -> None:
    """Requests alternate between the registered healthy targets of the group."""
    a, b = targets.start("a", "127.0.0.2"), targets.start("b", "127.0.0.3")
    alb.register(0, a)
    alb.register(0, b)
    got = names(alb, 6)
    assert Counter(got) == {"a": 3, "b": 3}
    assert all(x != y for x, y in itertools.pairwise(got))


def test_weighted_forward_follows_modify_listener_at_once(alb: Alb, targets: Targets) -> None:
    """ForwardConfig weights split requests exactly; a ModifyListener applies to the next one."""
    blue, green = targets.start("blue", "127.0.0.2"), targets.start("green", "127.0.0.3")
    alb.register(0, blue)
    alb.register(1, green)

    def weights(b: int, g: int) -> None:
        alb.elbv2.modify_listener(
            ListenerArn=alb.listener_arn,
            DefaultActions=[
                {
                    "Type": "forward",
                    "ForwardConfig": {
                        "TargetGroups": [
                            {"TargetGroupArn": alb.tg_arns[0], "Weight": b},
                            {"TargetGroupArn": alb.tg_arns[1], "Weight": g},
                        ]
                    },
                }
            ],
        )

    weights(3, 1)
    assert Counter(names(alb, 8)) == {"blue": 6, "green": 2}
    weights(0, 1)
    assert set(names(alb, 4)) == {"green"}


def test_rules_by_priority_path_and_host(alb: Alb, targets: Targets) -> None:
    """The lowest-priority matching rule wins; host and path conditions; default otherwise."""
    blue, green = targets.start("blue", "127.0.0.2"), targets.start("green", "127.0.0.3")
    alb.register(0, blue)
    alb.register(1, green)
    forward_green = [{"Type": "forward", "TargetGroupArn": alb.tg_arns[1]}]
    alb.elbv2.create_rule(
        ListenerArn=alb.listener_arn,
        Priority=20,
        Conditions=[{"Field": "path-pattern", "PathPatternConfig": {"Values": ["/api/*"]}}],
        Actions=forward_green,
    )
    alb.elbv2.create_rule(
        ListenerArn=alb.listener_arn,
        Priority=10,
        Conditions=[{"Field": "path-pattern", "Values": ["/api/blue*"]}],
        Actions=[{"Type": "forward", "TargetGroupArn": alb.tg_arns[0]}],
    )
    alb.elbv2.create_rule(
        ListenerArn=alb.listener_arn,
        Priority=30,
        Conditions=[{"Field": "host-header", "HostHeaderConfig": {"Values": ["*.Green.test"]}}],
        Actions=forward_green,
    )
    with httpx.Client(base_url=alb.url, timeout=10) as client:
        assert body(client.get("/api/books"))["target"] == "green"
        assert body(client.get("/api/blue/1"))["target"] == "blue"
        assert body(client.get("/other"))["target"] == "blue"
        hosted = client.get("/other", headers={"Host": "www.green.test:80"})
        assert body(hosted)["target"] == "green"


def test_header_method_and_query_conditions_through_the_listener(
    alb: Alb, targets: Targets
) -> None:
    """http-header (name case-insensitive, values case-insensitive with * and ?, any of a
    repeated header), http-request-method (exact, case-sensitive) and query-string (key/value
    pairs or bare values, case-insensitive, wildcards, \\* a literal star) conditions route as an
    ALB evaluates them (ELBv2 API Reference: HttpHeaderConditionConfig,
    HttpRequestMethodConditionConfig, QueryStringConditionConfig); voj's blue/green test rule
    (``X-Rollout-Test: 1``) is reached only with its header."""
    blue, green = targets.start("blue", "127.0.0.2"), targets.start("green", "127.0.0.3")
    alb.register(0, blue)
    alb.register(1, green)
    forward_green = [{"Type": "forward", "TargetGroupArn": alb.tg_arns[1]}]
    for priority, condition in enumerate(
        [
            {
                "Field": "http-header",
                "HttpHeaderConfig": {"HttpHeaderName": "X-Rollout-Test", "Values": ["1"]},
            },
            {
                "Field": "http-header",
                "HttpHeaderConfig": {"HttpHeaderName": "user-agent", "Values": ["*Canary?Bot*"]},
            },
            {"Field": "http-request-method", "HttpRequestMethodConfig": {"Values": ["PATCH"]}},
            {
                "Field": "query-string",
                "QueryStringConfig": {
                    "Values": [{"Key": "version", "Value": "v2*"}, {"Value": "green\\*"}]
                },
            },
        ],
        start=1,
    ):
        alb.elbv2.create_rule(
            ListenerArn=alb.listener_arn,
            Priority=priority,
            Conditions=[condition],
            Actions=forward_green,
        )
    with httpx.Client(base_url=alb.url, timeout=10) as client:

        def to(path: str = "/", method: str = "GET", **headers: str) -> str:
            response = client.request(method, path, headers=headers)
            return str(body(response)["target"])

        assert to() == "blue"
        assert to(**{"x-rollout-test": "1"}) == "green"  # the test listener rule
        assert to(**{"X-Rollout-Test": "0"}) == "blue"
        assert to(**{"User-Agent": "my CANARY-bot/1.0"}) == "green"
        assert to(**{"User-Agent": "my canary--bot"}) == "blue"  # ? is exactly one character
        assert to(method="PATCH") == "green"
        assert to(method="POST") == "blue"
        assert to("/books?Version=V2.1") == "green"
        assert to("/books?version=v1&x=1") == "blue"
        assert to("/books?flag=green*") == "green"  # escaped star: a literal '*'
        assert to("/books?flag=greenish") == "blue"
        repeated = client.get("/", headers=[("X-Rollout-Test", "0"), ("X-Rollout-Test", "1")])
        assert body(repeated)["target"] == "green"


def test_forwarded_headers_and_host(alb: Alb, targets: Targets) -> None:
    """X-Forwarded-For is appended, Proto/Port name the ALB listener, Host passes through."""
    app = targets.start("a", "127.0.0.2")
    alb.register(0, app)
    httpx.get(alb.url + "/", headers={"Host": "api.example.test", "X-Forwarded-For": "203.0.113.9"})
    seen = app.headers[-1]
    assert seen["X-Forwarded-For"] == "203.0.113.9, 127.0.0.1"
    assert seen["X-Forwarded-Proto"] == "http"
    assert seen["X-Forwarded-Port"] == "80"
    assert seen["Host"] == "api.example.test"


def test_bodies_methods_and_kept_alive_connections(alb: Alb, targets: Targets) -> None:
    """A request body and the method reach the target; HEAD gets the headers without a body;
    sequential requests reuse one kept-alive connection to the target."""
    a = targets.start("a", "127.0.0.2")
    alb.register(0, a)
    with httpx.Client(base_url=alb.url, timeout=10) as client:
        posted = client.post("/echo?x=1", content=b"hello " * 1000)
        assert body(posted) == {"target": "a", "method": "POST", "body": "hello " * 1000}
        assert body(client.put("/echo", content=b""))["method"] == "PUT"
        head = client.head("/echo")
        assert head.status_code == 200
        assert head.content == b""
        for _ in range(5):
            assert client.get("/").status_code == 200
    assert len(a.transports) == 1
    assert a.connections_closed == 0


def test_a_kept_alive_connection_the_target_closed_is_not_an_error(
    alb: Alb, targets: Targets
) -> None:
    """When the target has closed an idle kept-alive connection, the next request goes over a
    new one instead of failing (as an HTTP client retries an idempotent request)."""
    a = targets.start("a", "127.0.0.2")
    alb.register(0, a)
    with httpx.Client(base_url=alb.url, timeout=10) as client:
        assert client.get("/").status_code == 200
        targets.loop.call_soon_threadsafe(a.transports[0].close)
        assert [client.get("/").status_code for _ in range(3)] == [200, 200, 200]
    assert len(a.transports) == 2


def test_http10_request_without_host_reaches_the_target(alb: Alb, targets: Targets) -> None:
    """An HTTP/1.0 request without a Host header is forwarded (as HTTP/1.1, with the target's
    address as Host) rather than rejected by the target."""
    a = targets.start("a", "127.0.0.2")
    alb.register(0, a)
    host, port = alb.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(b"GET /old HTTP/1.0\r\n\r\n")
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    assert answer.startswith(b"HTTP/1.0 200") or answer.startswith(b"HTTP/1.1 200")
    assert a.headers[-1]["Host"] == f"127.0.0.2:{a.port}"


def test_no_cookie_is_kept_between_requests(alb: Alb, targets: Targets) -> None:
    """A target's Set-Cookie goes to the client only: the listener never stores it and sends it
    with later requests (of this or another client), as an ALB without stickiness."""
    a = targets.start("a", "127.0.0.2")
    alb.register(0, a)
    with httpx.Client(base_url=alb.url, timeout=10) as client:
        first = client.get("/set-cookie")
    assert "secret-of-one-client" in first.headers["set-cookie"]
    httpx.get(f"{alb.url}/after", timeout=10)
    assert a.headers[-1].get("Cookie") is None


def test_503_without_registered_targets(alb: Alb) -> None:
    """An empty target group: the ALB itself answers 503 (awselb)."""
    response = httpx.get(alb.url + "/", timeout=10)
    assert response.status_code == 503
    assert response.headers["Server"] == "awselb/2.0"
    assert b"503 Service Temporarily Unavailable" in response.content


def test_fail_open_when_every_target_is_unhealthy(alb: Alb, targets: Targets) -> None:
    """With only unhealthy targets registered, requests still reach them (fail-open)."""
    a = targets.start("a", "127.0.0.2")
    sick = [HealthChange(0.0, "unhealthy", "Target.Timeout", "Request timed out")]
    with alb.sb.lock:
        alb.sb.sim.elb.register(alb.sb.account, alb.sb.region, alb.tg_arns[0], a.ip, a.port, sick)
    assert names(alb, 2) == ["a", "a"]


def test_unhealthy_target_gets_nothing_while_one_is_healthy(alb: Alb, targets: Targets) -> None:
    """A healthy target takes every request while the other is unhealthy."""
    a, b = targets.start("a", "127.0.0.2"), targets.start("b", "127.0.0.3")
    sick = [HealthChange(0.0, "unhealthy", "Target.Timeout", "Request timed out")]
    with alb.sb.lock:
        alb.sb.sim.elb.register(alb.sb.account, alb.sb.region, alb.tg_arns[0], a.ip, a.port, sick)
    alb.register(0, b)
    assert set(names(alb, 4)) == {"b"}


def test_502_when_the_target_refuses_or_resets(alb: Alb, targets: Targets) -> None:
    """A refused connection and a reset mid-request are the ALB's 502, not a target answer."""
    a = targets.start("a", "127.0.0.2")
    alb.register(0, a)
    reset = httpx.get(alb.url + "/reset", timeout=10)
    assert (reset.status_code, reset.headers["Server"]) == (502, "awselb/2.0")
    targets.stop(a)
    refused = httpx.get(alb.url + "/", timeout=10)
    assert (refused.status_code, refused.headers["Server"]) == (502, "awselb/2.0")


def test_502_when_the_target_answers_something_else_than_http(alb: Alb, targets: Targets) -> None:
    """A target that answers bytes that are not an HTTP response gets the ALB's 502."""

    async def garbage(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"SPEAKING SOMETHING ELSE\r\n\r\n")
        await writer.drain()

    async def start() -> asyncio.Server:
        return await asyncio.start_server(garbage, "127.0.0.4", 0)

    server = asyncio.run_coroutine_threadsafe(start(), targets.loop).result(10)
    try:
        port = server.sockets[0].getsockname()[1]
        alb.elbv2.register_targets(
            TargetGroupArn=alb.tg_arns[0], Targets=[{"Id": "127.0.0.4", "Port": port}]
        )
        response = httpx.get(alb.url + "/", timeout=10)
        assert response.status_code == 502
        assert response.headers["server"] == "awselb/2.0"
    finally:
        targets.loop.call_soon_threadsafe(server.close)


def test_target_5xx_is_passed_through(alb: Alb, targets: Targets) -> None:
    """A target's own 500 reaches the client as the target sent it (not awselb)."""
    a = targets.start("a", "127.0.0.2")
    alb.register(0, a)
    response = httpx.get(alb.url + "/status/500", timeout=10)
    assert response.status_code == 500
    assert response.headers.get("Server") != "awselb/2.0"


@pytest.mark.slow
def test_504_past_the_idle_timeout(alb: Alb, targets: Targets) -> None:
    """A target silent for longer than idle_timeout.timeout_seconds gets the client a 504."""
    a = targets.start("a", "127.0.0.2")
    alb.register(0, a)
    alb.elbv2.modify_load_balancer_attributes(
        LoadBalancerArn=alb.lb_arn,
        Attributes=[{"Key": "idle_timeout.timeout_seconds", "Value": "1"}],
    )
    started = time.monotonic()
    response = httpx.get(alb.url + "/slow/3", timeout=10)
    assert response.status_code == 504
    assert response.headers["Server"] == "awselb/2.0"
    assert 0.9 < time.monotonic() - started < 2.5


@pytest.mark.slow
def test_draining_target_finishes_in_flight_and_gets_no_new_requests(
    alb: Alb, targets: Targets
) -> None:
    """A draining target completes its in-flight request, gets no new ones, and its kept-alive
    connection is closed once that request is done."""
    a, b = targets.start("a", "127.0.0.2"), targets.start("b", "127.0.0.3")
    sb = alb.sb
    with sb.lock:
        sb.sim.elb.register(sb.account, sb.region, alb.tg_arns[0], a.ip, a.port, HEALTHY)
        sb.sim.elb.register(sb.account, sb.region, alb.tg_arns[0], b.ip, b.port, HEALTHY)
    # warm a kept-alive connection to each target
    assert Counter(names(alb, 2)) == {"a": 1, "b": 1}
    slow: dict[str, httpx.Response] = {}

    def call() -> None:
        slow["r"] = httpx.get(alb.url + "/slow/1", timeout=10)

    # the next turn is "a": start a slow request there, then drain "a"
    thread = threading.Thread(target=call)
    thread.start()
    deadline = time.monotonic() + 5
    while a.requests < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert a.requests == 2
    with sb.lock:
        sb.sim.elb.start_draining(alb.tg_arns[0], a.ip, sb.clock.now())
    assert set(names(alb, 4)) == {"b"}
    assert a.connections_closed == 0
    thread.join(timeout=10)
    assert slow["r"].status_code == 200
    assert body(slow["r"])["target"] == "a"
    deadline = time.monotonic() + 2
    while a.connections_closed < 1 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert a.connections_closed >= 1


def test_api_deregistered_target_drains_and_gets_no_new_requests(
    alb: Alb, targets: Targets
) -> None:
    """``elbv2 DeregisterTargets`` (the public API) puts the target in `draining` for the
    group's deregistration delay, during which the listener sends it nothing new (§6.3)."""
    a, b = targets.start("a", "127.0.0.2"), targets.start("b", "127.0.0.3")
    alb.register(0, a)
    alb.register(0, b)
    alb.elbv2.modify_target_group_attributes(
        TargetGroupArn=alb.tg_arns[0],
        Attributes=[{"Key": "deregistration_delay.timeout_seconds", "Value": "30"}],
    )
    assert Counter(names(alb, 2)) == {"a": 1, "b": 1}
    alb.elbv2.deregister_targets(
        TargetGroupArn=alb.tg_arns[0], Targets=[{"Id": a.ip, "Port": a.port}]
    )

    def health() -> dict[str, str]:
        doc = alb.elbv2.describe_target_health(TargetGroupArn=alb.tg_arns[0])
        return {
            d["Target"]["Id"]: d["TargetHealth"]["State"] for d in doc["TargetHealthDescriptions"]
        }

    assert health() == {a.ip: "draining", b.ip: "healthy"}
    assert set(names(alb, 4)) == {"b"}
    alb.sb.advance(30)
    assert health() == {b.ip: "healthy"}
    assert set(names(alb, 2)) == {"b"}


@pytest.mark.slow
def test_in_flight_request_cut_when_the_deregistration_delay_ends(
    alb: Alb, targets: Targets
) -> None:
    """A request still running when the target leaves the group is answered 502."""
    a = targets.start("a", "127.0.0.2")
    sb = alb.sb
    with sb.lock:
        sb.sim.elb.register(sb.account, sb.region, alb.tg_arns[0], a.ip, a.port, HEALTHY)
    slow: dict[str, httpx.Response] = {}
    thread = threading.Thread(
        target=lambda: slow.setdefault("r", httpx.get(alb.url + "/slow/3", timeout=10))
    )
    thread.start()
    deadline = time.monotonic() + 5
    while a.requests < 1 and time.monotonic() < deadline:
        time.sleep(0.01)
    with sb.lock:
        sb.sim.elb.start_draining(alb.tg_arns[0], a.ip, sb.clock.now())
        sb.sim.elb.finish(sb.account, sb.region, alb.tg_arns[0], a.ip)
    thread.join(timeout=10)
    assert slow["r"].status_code == 502
    assert slow["r"].headers["Server"] == "awselb/2.0"


def test_fixed_response_rule(alb: Alb) -> None:
    """A fixed-response rule answers from the load balancer without any target."""
    alb.elbv2.create_rule(
        ListenerArn=alb.listener_arn,
        Priority=5,
        Conditions=[{"Field": "path-pattern", "Values": ["/maintenance"]}],
        Actions=[
            {
                "Type": "fixed-response",
                "FixedResponseConfig": {
                    "StatusCode": "418",
                    "ContentType": "text/plain",
                    "MessageBody": "teapot",
                },
            }
        ],
    )
    response = httpx.get(alb.url + "/maintenance", timeout=10)
    assert (response.status_code, response.text) == (418, "teapot")


def test_requests_through_the_listener_become_metrics(alb: Alb, targets: Targets) -> None:
    """Answers through the listener are counted per target group and load balancer once the
    period is over: target 2xx/5xx, the ALB's own 503."""
    from datetime import UTC, datetime, timedelta

    a = targets.start("a", "127.0.0.2")
    with httpx.Client(base_url=alb.url, timeout=10) as client:
        assert client.get("/").status_code == 503  # nothing registered yet
        alb.register(0, a)
        assert client.get("/").status_code == 200
        assert client.get("/status/500").status_code == 500
    alb.sb.advance(60)
    cw = alb.sb.client_factory().client("cloudwatch")
    lb_dim = {"Name": "LoadBalancer", "Value": alb.lb_arn.split(":loadbalancer/")[1]}
    tg_dim = {"Name": "TargetGroup", "Value": alb.tg_arns[0].split(":", 5)[5]}
    now = datetime.fromtimestamp(alb.sb.clock.now(), UTC)

    def total(name: str, dims: list[dict[str, str]]) -> float:
        points = cw.get_metric_statistics(
            Namespace="AWS/ApplicationELB",
            MetricName=name,
            Dimensions=dims,
            StartTime=now - timedelta(minutes=5),
            EndTime=now,
            Period=60,
            Statistics=["Sum"],
        )["Datapoints"]
        return float(sum(p["Sum"] for p in points))

    assert total("RequestCount", [tg_dim, lb_dim]) == 2
    assert total("HTTPCode_Target_2XX_Count", [tg_dim, lb_dim]) == 1
    assert total("HTTPCode_Target_5XX_Count", [tg_dim, lb_dim]) == 1
    assert total("HTTPCode_ELB_503_Count", [lb_dim]) == 1
