"""The sandbox's one endpoint: a front WSGI app and the threaded HTTP server that serves it.

Routing, for every request:

- ``/_sandbox/...``: the admin API (calls, timeline, faults, clock) and the ALB data plane
  (``/_sandbox/alb/<load-balancer-name>/<path>``); not recorded as AWS calls.
- ECS (``X-Amz-Target: AmazonEC2ContainerServiceV20141113.*`` or a SigV4 credential scope naming
  ``ecs``): the simulation's ``dispatch``; JSON 1.1 in and out; errors as AWS's
  ``{"__type": ..., "message": ...}`` with their HTTP status.
- Everything else: moto's own server application (the one ``ThreadedMotoServer`` runs), with the
  Route 53 overlay around it.

Every AWS request runs under the world's lock after the simulation has caught up with the clock,
and is recorded. Nothing is ever forwarded anywhere: a request moto does not know gets moto's
error answer, never a trip to real AWS.

The same app serves in-process clients (``rollout.sandbox.inprocess``) and HTTP clients.
"""

from __future__ import annotations

import io
import json
import logging
import re
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from functools import lru_cache
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qs

from werkzeug.serving import BaseWSGIServer, make_server
from werkzeug.test import run_wsgi_app
from werkzeug.wsgi import get_input_stream

from rollout.sandbox.recorder import RecordedCall, is_mutating
from rollout.sandbox.route53 import Reply
from rollout.sandbox.world import ApiFault, World

log = logging.getLogger(__name__)

ECS_TARGET_PREFIX = "AmazonEC2ContainerServiceV20141113."
JSON_CONTENT_TYPE = "application/x-amz-json-1.1"
ADMIN_PREFIX = "/_sandbox/"

#: SigV4 signing names whose boto3 service name differs.
_SIGNING_TO_SERVICE = {"monitoring": "cloudwatch", "elasticloadbalancing": "elbv2"}

StartResponse = Callable[..., Any]


# -- identifying a request ------------------------------------------------------------------
def _credential_scope(environ: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """(region, signing name) from a SigV4 ``Authorization`` header or a presigned URL's
    ``X-Amz-Credential``, or (None, None)."""
    auth = str(environ.get("HTTP_AUTHORIZATION", ""))
    m = re.search(r"Credential=[^/,\s]+/\d{8}/([^/]+)/([^/]+)/aws4_request", auth)
    if m:
        return m.group(1), m.group(2)
    credential = parse_qs(str(environ.get("QUERY_STRING", ""))).get("X-Amz-Credential", [""])[0]
    parts = credential.split("/")
    if len(parts) == 5 and parts[4] == "aws4_request":
        return parts[2], parts[3]
    return None, None


@lru_cache(maxsize=1)
def _target_prefixes() -> dict[str, str]:
    """X-Amz-Target prefix -> boto3 service name, for unsigned JSON requests."""
    import botocore.session

    session = botocore.session.get_session()
    out: dict[str, str] = {}
    for name in ("ecs", "ecr", "ssm", "secretsmanager", "logs", "dynamodb", "cloudwatch"):
        prefix = session.get_service_model(name).metadata.get("targetPrefix")
        if prefix:
            out[prefix] = name
    return out


@lru_cache(maxsize=32)
def _router(service: str) -> Any:
    from moto.core.routing import get_service_router

    return get_service_router(service)


def _operation(service: str, environ: Mapping[str, Any], body: bytes) -> str:
    target = environ.get("HTTP_X_AMZ_TARGET", "")
    if target:
        return str(target).rsplit(".", 1)[-1]
    path = str(environ.get("PATH_INFO", ""))
    m = re.match(r"^/service/[^/]+/operation/([A-Za-z0-9]+)$", path)
    if m:  # smithy-rpc-v2-cbor (CloudWatch from botocore >= 1.44)
        return m.group(1)
    query = parse_qs(str(environ.get("QUERY_STRING", "")))
    if "Action" in query:
        return query["Action"][0]
    content_type = environ.get("CONTENT_TYPE", "")
    if content_type.startswith("application/x-www-form-urlencoded"):
        form = parse_qs(body.decode("utf-8", "replace"))
        if "Action" in form:
            return form["Action"][0]
    try:
        from moto.core.request import Request

        env = dict(environ)
        env["wsgi.input"] = io.BytesIO(body)
        operation, _ = _router(service).match(Request(env))
        return str(operation.name)
    except Exception:  # any routing failure: the call is still recorded
        return "Unknown"


def identify(environ: Mapping[str, Any], body: bytes, default_region: str) -> tuple[str, str, str]:
    """(boto3 service name, operation, region) of an AWS request."""
    region, signing = _credential_scope(environ)
    target = str(environ.get("HTTP_X_AMZ_TARGET", ""))
    service: str | None = None
    if signing:
        service = _SIGNING_TO_SERVICE.get(signing, signing)
        if signing == "elasticloadbalancing":
            version = parse_qs(body.decode("utf-8", "replace")).get("Version", [""])[0]
            service = "elbv2" if version in ("", "2015-12-01") else "elb"
    elif target:
        service = _target_prefixes().get(target.split(".", 1)[0])
    if service is None:
        service = "sts" if b"AssumeRoleWith" in body else "unknown"
    return service, _operation(service, environ, body), region or default_region


def _error_code(reply: Reply) -> str | None:
    if reply.status < 400:
        return None
    head = reply.body[:4096]
    m = re.search(rb'"__type"\s*:\s*"(?:[^"#]*#)?([^"]+)"', head) or re.search(
        rb"<Code>([^<]+)</Code>", head
    )
    return m.group(1).decode() if m else str(reply.status)


# -- answers ---------------------------------------------------------------------------------
def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.timestamp()
    raise TypeError(f"cannot serialise {type(value).__name__} to JSON")


def json_reply(status: int, doc: Any, headers: Iterable[tuple[str, str]] = ()) -> Reply:
    body = json.dumps(doc, default=_json_default).encode()
    base = [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
    return Reply(status, [*base, *headers], body)


def aws_json_error(code: str, message: str, status: int) -> Reply:
    body = json.dumps({"__type": code, "message": message}).encode()
    return Reply(
        status,
        [
            ("Content-Type", JSON_CONTENT_TYPE),
            ("x-amzn-RequestId", str(uuid.uuid4())),
            ("x-amzn-ErrorType", code),
            ("Content-Length", str(len(body))),
        ],
        body,
    )


def fault_reply(fault: ApiFault, service: str) -> Reply:
    """An injected error in the wire format of ``service``'s protocol."""
    import botocore.session

    try:
        protocol = botocore.session.get_session().get_service_model(service).protocol
    except Exception:
        protocol = "json"
    request_id = str(uuid.uuid4())
    if protocol == "json":
        return aws_json_error(fault.code, fault.message, fault.status)
    if protocol == "ec2":
        body = (
            f"<Response><Errors><Error><Code>{fault.code}</Code><Message>{fault.message}"
            f"</Message></Error></Errors><RequestID>{request_id}</RequestID></Response>"
        )
    else:  # query, rest-xml (and CloudWatch's query fallback)
        body = (
            f"<ErrorResponse><Error><Type>Sender</Type><Code>{fault.code}</Code>"
            f"<Message>{fault.message}</Message></Error><RequestId>{request_id}</RequestId>"
            "</ErrorResponse>"
        )
    data = body.encode()
    return Reply(
        fault.status,
        [("Content-Type", "text/xml"), ("Content-Length", str(len(data)))],
        data,
    )


def status_line(status: int) -> str:
    """``200 OK``; a status without a standard phrase is sent bare (``599``)."""
    try:
        return f"{status} {HTTPStatus(status).phrase}"
    except ValueError:
        return str(status)


# -- the front app ---------------------------------------------------------------------------
class FrontApp:
    """The WSGI application every sandbox client talks to. See the module docstring."""

    def __init__(self, world: World) -> None:
        from moto.moto_server.werkzeug_app import (
            DomainDispatcherApplication,
            create_backend_app,
        )

        self.world = world
        self.moto_app = DomainDispatcherApplication(create_backend_app)
        self.admin = AdminApi(world)

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        body = get_input_stream(environ).read()
        environ["wsgi.input"] = io.BytesIO(body)
        environ["CONTENT_LENGTH"] = str(len(body))
        environ.pop("HTTP_TRANSFER_ENCODING", None)
        path = environ.get("PATH_INFO", "")
        try:
            if path.startswith(ADMIN_PREFIX):
                reply = self.admin.handle(environ, body)
            else:
                reply = self.handle_aws(environ, body)
        except Exception as exc:
            log.exception("sandbox: unhandled error answering %s", path)
            reply = aws_json_error("InternalFailure", f"sandbox internal error: {exc}", 500)
        start_response(status_line(reply.status), reply.headers)
        return [reply.body]

    def handle_aws(self, environ: dict[str, Any], body: bytes) -> Reply:
        service, operation, region = identify(environ, body, self.world.region)
        world = self.world
        with world.lock:
            sim_time = world.catch_up()
            fault = world.api_faults.take(service, operation)
            if fault is not None:
                reply = fault_reply(fault, service)
            elif service == "ecs":
                reply = self._ecs(operation, body, region)
            elif service == "route53":
                reply = self._route53(environ, body)
            else:
                reply = self._moto(environ)
        world.recorder.record(
            RecordedCall(
                service=service,
                operation=operation,
                sim_time=sim_time,
                wall_time=time.time(),
                status=reply.status,
                mutating=is_mutating(operation),
                region=region,
                error_code=_error_code(reply),
            )
        )
        return reply

    def _ecs(self, operation: str, body: bytes, region: str) -> Reply:
        from rollout.sandbox.errors import ApiError

        try:
            params = json.loads(body) if body.strip() else {}
        except ValueError:
            return aws_json_error("SerializationException", "The request body is not JSON.", 400)
        if not isinstance(params, dict):
            return aws_json_error(
                "SerializationException", "The request body is not an object.", 400
            )
        try:
            result = self.world.sim.dispatch(
                operation, params, region=region, account=self.world.account
            )
        except ApiError as exc:
            return aws_json_error(exc.code, exc.message, exc.status)
        except NotImplementedError:
            return aws_json_error(
                "UnknownOperationException",
                f"The sandbox does not implement ECS {operation}.",
                400,
            )
        data = json.dumps(result, default=_json_default).encode()
        return Reply(
            200,
            [
                ("Content-Type", JSON_CONTENT_TYPE),
                ("x-amzn-RequestId", str(uuid.uuid4())),
                ("Content-Length", str(len(data))),
            ],
            data,
        )

    def _route53(self, environ: dict[str, Any], body: bytes) -> Reply:
        method = environ.get("REQUEST_METHOD", "GET")
        path = environ.get("PATH_INFO", "")
        overlay = self.world.route53
        early = overlay.before(method, path, body)
        if early is not None:
            return early
        return overlay.after(method, path, body, self._moto(environ))

    def _moto(self, environ: dict[str, Any]) -> Reply:
        try:
            app_iter, status, headers = run_wsgi_app(self.moto_app, environ, buffered=True)
            data = b"".join(app_iter)
        except Exception as exc:
            log.exception("sandbox: moto failed")
            return aws_json_error("InternalFailure", f"moto failed: {exc}", 500)
        return Reply(int(status.split(" ", 1)[0]), list(headers.items()), data)


# -- admin API -------------------------------------------------------------------------------
class AdminApi:
    """``/_sandbox/...``: for processes that cannot reach the :class:`~rollout.sandbox.Sandbox`.

    ====== ============================ ====================================================
    GET    /_sandbox/health             ``{"status": "ok", "region": ..., "clock": ...}``
    GET    /_sandbox/calls              recorded calls; query ``service``, ``operation``,
                                        ``mutating`` (true/false)
    DELETE /_sandbox/calls              forget recorded calls
    GET    /_sandbox/timeline           the simulation's timeline; query ``kind``
    GET    /_sandbox/faults             the fault plan's rules
    POST   /_sandbox/faults             add rules: ``{"fault": [{...}, ...]}`` (as the file)
    DELETE /_sandbox/faults             clear the fault plan
    POST   /_sandbox/api-faults         inject API errors: ``{"service": "ecs", "operation":
                                        "DescribeServices", "code": ..., "times": 2}``
    DELETE /_sandbox/api-faults         drop pending API errors
    GET    /_sandbox/clock              ``{"now": ..., "mode": "virtual"|"realtime", ...}``
    POST   /_sandbox/clock/advance      ``{"seconds": N}``: virtual clock only (409 otherwise)
    GET    /_sandbox/alb/<lb>/<path>    the canned ALB data plane (``rollout.sandbox.alb``)
    GET    /_sandbox/albs               the local ALB listeners: ``{"load_balancers": {name:
                                        url}, "listeners": [...]}`` (``rollout.sandbox.dataplane``)
    POST   /_sandbox/images             ``rollout sandbox build``: ``{"tag": ..., "source":
                                        "/abs/dir", "patch": "<git diff text>",
                                        "repository": "voj-backend"}`` → ``{"digest", "image",
                                        ...}``; 400 with ``error`` when it cannot be built
    ====== ============================ ====================================================
    """

    def __init__(self, world: World) -> None:
        from rollout.sandbox.alb import AlbDataPlane

        self.world = world
        self.alb = AlbDataPlane(world)

    def handle(self, environ: Mapping[str, Any], body: bytes) -> Reply:
        method = str(environ.get("REQUEST_METHOD", "GET"))
        path = str(environ.get("PATH_INFO", ""))[len(ADMIN_PREFIX) :]
        query = {k: v[0] for k, v in parse_qs(str(environ.get("QUERY_STRING", ""))).items()}
        if path.startswith("alb/"):
            lb_name, _, rest = path[len("alb/") :].partition("/")
            return self.alb.handle(method, lb_name, "/" + rest)
        route = (method, path.rstrip("/"))
        try:
            handler = self._routes()[route]
        except KeyError:
            return json_reply(404, {"error": f"no admin endpoint {method} /_sandbox/{path}"})
        try:
            return handler(query, body)
        except (ValueError, TypeError) as exc:
            return json_reply(400, {"error": str(exc)})

    def _routes(self) -> dict[tuple[str, str], Callable[[dict[str, str], bytes], Reply]]:
        return {
            ("GET", "health"): self._health,
            ("GET", "calls"): self._calls,
            ("DELETE", "calls"): self._clear_calls,
            ("GET", "timeline"): self._timeline,
            ("GET", "faults"): self._faults,
            ("POST", "faults"): self._add_faults,
            ("DELETE", "faults"): self._clear_faults,
            ("POST", "api-faults"): self._add_api_fault,
            ("DELETE", "api-faults"): self._clear_api_faults,
            ("GET", "clock"): self._clock,
            ("GET", "albs"): self._albs,
            ("POST", "clock/advance"): self._advance,
            ("POST", "images"): self._build_image,
        }

    def _clock_doc(self) -> dict[str, Any]:
        clock = self.world.clock
        doc: dict[str, Any] = {
            "now": clock.now(),
            "mode": "virtual" if self.world.virtual else "realtime",
        }
        speed = getattr(clock, "speed", None)
        if speed is not None:
            doc["speed"] = speed
        return doc

    def _health(self, query: dict[str, str], body: bytes) -> Reply:
        return json_reply(
            200,
            {
                "status": "ok",
                "region": self.world.region,
                "runtime": self.world.runtime_name,
                "preset": self.world.preset or "aws",
                "clock": self._clock_doc(),
            },
        )

    def _build_image(self, query: dict[str, str], body: bytes) -> Reply:
        from pathlib import Path

        from rollout.errors import RolloutError

        doc = _json_object(body)
        tag = str(doc.get("tag") or "")
        if not tag:
            raise ValueError("'tag' is required")
        repository = str(doc.get("repository") or "voj-backend")
        source = doc.get("source")
        patch = doc.get("patch")
        try:
            built = self.world.build_image(
                tag,
                source=Path(str(source)) if source else None,
                patch=str(patch) if patch is not None else None,
                repository=repository,
            )
        except RolloutError as exc:
            return json_reply(400, {"error": exc.message, "hint": exc.hint or ""})
        registry = f"{self.world.account}.dkr.ecr.{self.world.region}.amazonaws.com"
        return json_reply(
            200,
            {
                "repository": repository,
                "tag": tag,
                "digest": built.digest,
                "image": f"{registry}/{repository}@{built.digest}",
                "tagged": f"{registry}/{repository}:{tag}",
                "files": built.files,
            },
        )

    def _calls(self, query: dict[str, str], body: bytes) -> Reply:
        mutating = query.get("mutating")
        calls = self.world.recorder.calls(
            query.get("service"),
            query.get("operation"),
            mutating=None if mutating is None else mutating.lower() in ("1", "true", "yes"),
        )
        return json_reply(200, {"calls": [c.to_json() for c in calls]})

    def _clear_calls(self, query: dict[str, str], body: bytes) -> Reply:
        self.world.recorder.clear()
        return json_reply(200, {"calls": []})

    def _timeline(self, query: dict[str, str], body: bytes) -> Reply:
        with self.world.lock:
            self.world.catch_up()
            entries = self.world.timeline(query.get("kind"))
        return json_reply(200, {"timeline": [timeline_json(e) for e in entries]})

    def _faults(self, query: dict[str, str], body: bytes) -> Reply:
        rules = list(self.world.fault_plan.rules)
        return json_reply(200, {"fault": [_plain(r) for r in rules]})

    def _add_faults(self, query: dict[str, str], body: bytes) -> Reply:
        from rollout.sandbox.faults import FaultPlan

        doc = _json_object(body)
        plan = FaultPlan.from_mapping(doc)
        for rule in plan.rules:
            self.world.fault_plan.add(rule)
        return self._faults(query, b"")

    def _clear_faults(self, query: dict[str, str], body: bytes) -> Reply:
        self.world.fault_plan.clear()
        return json_reply(200, {"fault": []})

    def _add_api_fault(self, query: dict[str, str], body: bytes) -> Reply:
        doc = _json_object(body)
        allowed = set(ApiFault.__dataclass_fields__)
        unknown = set(doc) - allowed
        if unknown:
            raise ValueError(f"unknown keys {sorted(unknown)}; allowed: {sorted(allowed)}")
        fault = ApiFault(**doc)
        self.world.api_faults.add(fault)
        return json_reply(200, {"pending": len(self.world.api_faults)})

    def _clear_api_faults(self, query: dict[str, str], body: bytes) -> Reply:
        self.world.api_faults.clear()
        return json_reply(200, {"pending": 0})

    def _albs(self, query: dict[str, str], body: bytes) -> Reply:
        proxy = self.world.alb
        if proxy is None:
            return json_reply(200, {"load_balancers": {}, "listeners": [], "serving": False})
        proxy.sync()
        return json_reply(
            200, {"load_balancers": proxy.urls(), "listeners": proxy.listeners(), "serving": True}
        )

    def _clock(self, query: dict[str, str], body: bytes) -> Reply:
        return json_reply(200, self._clock_doc())

    def _advance(self, query: dict[str, str], body: bytes) -> Reply:
        if not self.world.virtual:
            return json_reply(
                409,
                {"error": "the clock runs in real time (sandbox up --speed); it cannot advance"},
            )
        seconds = float(_json_object(body).get("seconds", 0))
        self.world.clock.advance(seconds)
        with self.world.lock:
            self.world.catch_up()
        return json_reply(200, self._clock_doc())


def _json_object(body: bytes) -> dict[str, Any]:
    try:
        doc = json.loads(body or b"{}")
    except ValueError as exc:
        raise ValueError(f"the request body is not JSON: {exc}") from exc
    if not isinstance(doc, dict):
        raise ValueError("the request body must be a JSON object")
    return doc


def _plain(value: Any) -> Any:
    """A JSON-ready copy of a dataclass, mapping, sequence or scalar."""
    import dataclasses

    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            f.name: _plain(getattr(value, f.name))
            for f in dataclasses.fields(value)
            if not f.name.startswith("_")
        }
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    return str(value)


def timeline_json(entry: Any) -> dict[str, Any]:
    """One timeline entry as JSON: ``time``, ``kind``, ``detail`` (and any other fields)."""
    doc = _plain(entry)
    if isinstance(doc, dict):
        return doc
    return {
        "time": getattr(entry, "time", None),
        "kind": getattr(entry, "kind", None),
        "detail": _plain(getattr(entry, "detail", None)),
    }


# -- HTTP ------------------------------------------------------------------------------------
class EndpointServer:
    """werkzeug's threaded server (as ``ThreadedMotoServer`` uses) around a :class:`FrontApp`."""

    def __init__(self, app: FrontApp, host: str = "127.0.0.1", port: int = 0) -> None:
        from moto.moto_server.werkzeug_app import MotoRequestHandler

        # Bind here, so a busy port or an unknown host raises OSError for the caller to report:
        # werkzeug, binding itself, prints the error and calls sys.exit(1).
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        listener = socket.create_server((host, port), family=family)
        try:
            self._server: BaseWSGIServer = make_server(
                host,
                port,
                app,
                threaded=True,
                request_handler=_QuietHandler.based_on(MotoRequestHandler),
                fd=listener.fileno(),
            )
        finally:
            listener.close()  # the server holds its own duplicate of the descriptor
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="sandbox-endpoint", daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        host_text = host.decode() if isinstance(host, bytes) else str(host)
        return f"http://{host_text}:{port}"

    def start(self) -> str:
        self._thread.start()
        return self.url

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread.is_alive():
            self._thread.join(timeout=5)


class _QuietHandler:
    """Makes a request handler class that logs through ``logging`` instead of stderr."""

    @staticmethod
    def based_on(base: type) -> type:
        def log_request(self: Any, code: Any = "-", size: Any = "-") -> None:
            log.debug("%s %s", getattr(self, "requestline", "?"), code)

        return type("SandboxRequestHandler", (base,), {"log_request": log_request})
