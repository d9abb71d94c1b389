"""A provisioned voj sandbox shared by one scenario module, and a deploy driver for it.

Provisioning costs seconds of wall time, so one sandbox serves a module's scenarios in turn:
before each, :meth:`World.reset` clears faults and the lock and lets the service settle on its
current revision. Faults target the NEXT revision (``FaultRule(revision=...)``), so each scenario
breaks only what it deploys.
"""

from __future__ import annotations

import contextlib
import io
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from botocore.awsrequest import AWSResponse

from rollout.aws import ClientFactory
from rollout.config import load_config
from rollout.context import Context
from rollout.decisions import ledger
from rollout.engine.deploy import DeployRequest, DeployRun, Prepared
from rollout.engine.gateways import Gateways
from rollout.engine.interrupt import Interrupt
from rollout.engine.outcome import Outcome
from rollout.engine.probe import Prober, ProbeResult
from rollout.engine.session import Session
from rollout.engine.settings import EngineSettings, settings_from_config
from rollout.engine.undo import UndoRequest, run_undo
from rollout.events import Event, EventLog
from rollout.gateways.ecs import EcsGateway
from rollout.sandbox import FaultRule, Sandbox
from rollout.sandbox.provisioning.stack import ProvisionResult
from rollout.verbs import deploy as deploy_verb

REPO = Path(__file__).resolve().parents[2]
CONFIG = REPO / "rollout.toml"


def passing_probe(url: str, headers: Mapping[str, str] | None = None) -> ProbeResult:
    return ProbeResult("pass", 200, f"GET {url} -> 200")


@dataclass
class Run:
    outcome: Outcome
    events: list[Event]
    wall: float
    sim_seconds: float
    calls_before: int

    def kinds(self, kind: str) -> list[Event]:
        return [e for e in self.events if e.kind == kind]


@dataclass
class World:
    sb: Sandbox
    prov: ProvisionResult
    hooks: list[Callable[[Event], None]] = field(default_factory=list)
    _factory: ClientFactory | None = None

    @property
    def factory(self) -> ClientFactory:
        """The client factory the next runs use (fresh per test; hooks can be added to it)."""
        if self._factory is None:
            self._factory = self.sb.client_factory()
        return self._factory

    @property
    def ecs(self) -> EcsGateway:
        return EcsGateway(self.sb.client_factory())

    def settings(self, **changes: Any) -> EngineSettings:
        cfg = load_config(CONFIG, "prod", environ={})
        base = replace(settings_from_config(cfg), bake_seconds=0.0, traffic=None)
        return replace(base, **changes)

    def current_revision(self) -> int:
        svc = self.ecs.describe_service(self.prov.cluster, self.prov.service)
        primary = svc.primary
        assert primary is not None
        rev = ledger.revision_of(primary.task_definition)
        assert rev is not None
        return rev

    def next_revision(self) -> int:
        return (
            len(self.ecs.list_task_definitions(self.prov.family, status="ACTIVE"))
            + len(self.ecs.list_task_definitions(self.prov.family, status="INACTIVE"))
            + 1
        )

    def break_next(self, effect: str, **kw: Any) -> int:
        rev = self.next_revision()
        self.sb.faults.add(FaultRule(effect=effect, family=self.prov.family, revision=rev, **kw))  # type: ignore[arg-type]
        return rev

    def steady(self) -> bool:
        svc = self.ecs.describe_service(self.prov.cluster, self.prov.service)
        p = svc.primary
        return (
            p is not None
            and p.rollout_state == "COMPLETED"
            and len(svc.deployments) == 1
            and p.running == p.desired
        )

    def reset(self) -> None:
        self.sb.faults.clear()
        self.hooks.clear()
        self._factory = None
        ssm = self.sb.client_factory().client("ssm")
        with contextlib.suppress(ssm.exceptions.ParameterNotFound):
            ssm.delete_parameter(Name=f"/rollout/lock/{self.prov.cluster}/{self.prov.service}")
        self.sb.advance_until(lambda: True if self.steady() else None, timeout=3600, step=10)
        self.sb.clear_calls()

    def context(self, sink: Callable[[Event], None] | None = None) -> tuple[Context, EventLog]:
        log = EventLog()
        for hook in self.hooks:
            log.add_sink(hook)
        if sink is not None:
            log.add_sink(sink)
        ctx = Context(
            factory=self.factory,
            clock=self.sb.clock,
            emit=log,
            config_path=CONFIG,
            environ={"USER": "tester", "GITHUB_SHA": "abc1234"},
        )
        return ctx, log

    def session(
        self,
        ctx: Context,
        settings: EngineSettings | None = None,
        *,
        interrupt: Interrupt | None = None,
        prober: Prober = passing_probe,
        dry_run: bool = False,
    ) -> Session:
        return Session(
            ctx,
            Gateways.from_factory(ctx.factory),
            settings or self.settings(),
            interrupt or Interrupt(),
            prober,
            dry_run,
        )

    def deploy(
        self,
        tag: str = "sha-0000002",
        *,
        settings: EngineSettings | None = None,
        interrupt: Interrupt | None = None,
        prober: Prober = passing_probe,
        dry_run: bool = False,
        no_rollback: bool = False,
        sink: Callable[[Event], None] | None = None,
        prepare: Callable[[Context], Prepared] | None = None,
        retention: Callable[[], None] | None = None,
    ) -> Run:
        ctx, log = self.context(sink)
        image = self.prov.images.get(tag, tag)
        cfg = load_config(CONFIG, "prod", environ={})
        session = self.session(ctx, settings, interrupt=interrupt, prober=prober, dry_run=dry_run)
        request = DeployRequest(
            image=image,
            prepare=(lambda: prepare(ctx))
            if prepare
            else (lambda: deploy_verb.prepare(cfg, image, ctx)),
            no_rollback=no_rollback,
            retention=retention,
        )
        return self._timed(lambda: DeployRun(session, request).run(), log)

    def undo(self, to_revision: int | None = None, *, dry_run: bool = False) -> Run:
        ctx, log = self.context()
        session = self.session(ctx, dry_run=dry_run)
        return self._timed(lambda: run_undo(session, UndoRequest(to_revision)), log)

    def _timed(self, fn: Callable[[], Outcome], log: EventLog) -> Run:
        before = len(self.sb.calls())
        t0, s0 = time.perf_counter(), self.sb.clock.now()
        outcome = fn()
        return Run(outcome, log.events, time.perf_counter() - t0, self.sb.clock.now() - s0, before)

    def writes(self, since: int = 0) -> list[str]:
        return [f"{c.service}.{c.operation}" for c in self.sb.calls(mutating=True)[since:]]

    def ops(self, operation: str) -> int:
        return len(self.sb.calls(operation=operation))


class _Raw(io.BytesIO):
    def stream(self, amt: int = 65536, **_: Any) -> Any:
        while chunk := self.read(amt):
            yield chunk


def throttle_response() -> AWSResponse:
    body = json.dumps({"__type": "ThrottlingException", "message": "Rate exceeded"}).encode()
    return AWSResponse(
        "http://sandbox.invalid/",
        400,
        {"Content-Type": "application/x-amz-json-1.1", "x-amzn-RequestId": "throttled"},
        _Raw(body),
    )


def denied_response() -> AWSResponse:
    body = json.dumps(
        {"__type": "AccessDeniedException", "message": "not authorized to perform this"}
    ).encode()
    return AWSResponse(
        "http://sandbox.invalid/",
        400,
        {"Content-Type": "application/x-amz-json-1.1", "x-amzn-RequestId": "denied"},
        _Raw(body),
    )


def conflict_response() -> AWSResponse:
    body = json.dumps(
        {"__type": "ConflictException", "message": "The service deployment is not in progress"}
    ).encode()
    return AWSResponse(
        "http://sandbox.invalid/",
        400,
        {"Content-Type": "application/x-amz-json-1.1", "x-amzn-RequestId": "conflict"},
        _Raw(body),
    )


def expired_response() -> AWSResponse:
    body = json.dumps(
        {
            "__type": "ExpiredTokenException",
            "message": "The security token included in the request is expired",
        }
    ).encode()
    return AWSResponse(
        "http://sandbox.invalid/",
        400,
        {"Content-Type": "application/x-amz-json-1.1", "x-amzn-RequestId": "expired"},
        _Raw(body),
    )
