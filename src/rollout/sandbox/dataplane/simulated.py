"""A tiny ALB data plane, so smoke probes have something to hit.

``GET <endpoint>/_sandbox/alb/<load-balancer-name>/<path>`` answers as the load balancer would:

- the load balancer is looked up by name in moto's ELBv2 backend; the first listener's default
  ``forward`` action gives the target groups (a weighted ``ForwardConfig`` is honoured; a group
  with weight 0 gets nothing);
- only ``healthy`` targets receive requests (the health the simulation layered onto moto; a
  target that is ``initial``, ``unhealthy`` or ``draining`` gets none). With none:
  ``503 Service Temporarily Unavailable`` (the ALB's own HTML page);
- targets take turns (round robin across the groups, by weight);
- the chosen target comes from ``EcsSimulation.serving_targets``: if a ``serve_5xx`` fault is
  active on its task, the answer is that status; otherwise ``200`` with a small JSON body naming
  the task and its image.
  ``/version`` answers like voj's ``GET /version`` (``version`` is the image tag) plus ``image``.

Not modelled: listener rules other than the default action, stickiness, slow start, 502/504
from dying targets, and fail-open (reference §6.1: a real ALB routes to every target when all are
unhealthy; here that case answers 503, as the sandbox issue asks, so a probe never reaches a task
that failed its health checks).
"""

from __future__ import annotations

import itertools
import json
import threading
from dataclasses import dataclass
from typing import Any, Protocol

from rollout.sandbox.wire import Reply, iso8601

_ALB_503 = (
    b"<html>\r\n<head><title>503 Service Temporarily Unavailable</title></head>\r\n<body>\r\n"
    b"<center><h1>503 Service Temporarily Unavailable</h1></center>\r\n</body>\r\n</html>\r\n"
)


class SandboxView(Protocol):
    """What the canned answers need from the sandbox (the front door passes its ``World``):
    where it is, its lock, the present, and the simulation's ``serving_targets`` and
    ``DescribeTasks``. A Protocol, so the data plane imports neither the world nor the ECS model.
    """

    account: str
    region: str
    lock: Any
    sim: Any

    def catch_up(self) -> float: ...


@dataclass(frozen=True)
class Serving:
    """What the simulation says about the task behind a target, at the present moment."""

    task_arn: str | None
    image: str | None
    status_code: int  # 200, or the status of an active serve_5xx fault
    started_at: float | None = None


def _json(status: int, doc: Any, extra: list[tuple[str, str]]) -> Reply:
    body = json.dumps(doc).encode()
    headers = [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
    return Reply(status, headers + extra, body)


def image_tag(image: str | None) -> str | None:
    """``repo/name:tag@sha256:..`` -> ``tag`` (None without a tag)."""
    if not image:
        return None
    ref = image.split("@", 1)[0]
    last = ref.rsplit("/", 1)[-1]
    return last.partition(":")[2] or None


class AlbDataPlane:
    """Answers ``/_sandbox/alb/...`` requests from moto's ELBv2 state and the simulation."""

    def __init__(self, world: SandboxView) -> None:
        self.world = world
        self._turn = itertools.count()
        self._lock = threading.Lock()

    def _backend(self) -> Any:
        from moto.backends import get_backend

        return get_backend("elbv2")[self.world.account][self.world.region]

    def target_groups(self, lb_name: str) -> list[tuple[str, int]] | None:
        """(target group ARN, weight) the load balancer forwards to; None if there is no LB."""
        backend = self._backend()
        lb = next((b for b in backend.load_balancers.values() if b.name == lb_name), None)
        if lb is None:
            return None
        listeners = sorted(lb.listeners.values(), key=lambda li: int(li.port or 0))
        for listener in listeners:
            for action in listener.default_actions:
                data = action.data
                if data.get("Type") != "forward":
                    continue
                groups = data.get("ForwardConfig", {}).get("TargetGroups")
                if groups:
                    return [(g["TargetGroupArn"], int(g.get("Weight", 1))) for g in groups]
                if data.get("TargetGroupArn"):
                    return [(data["TargetGroupArn"], 1)]
        return []

    def healthy_targets(self, tg_arn: str) -> list[Any]:
        """The simulation's targets of ``tg_arn`` that are ``healthy`` now (they get traffic)."""
        targets = self.world.sim.serving_targets(tg_arn)
        return [t for t in targets if t.state == "healthy"]

    def serving(self, target: Any) -> Serving:
        """The task behind ``target``: its image and start time (from DescribeTasks)."""
        arn = str(target.task_arn)
        # arn:aws:ecs:<region>:<account>:task/<cluster>/<id>
        parts = arn.split(":", 5)
        resource = parts[5] if len(parts) == 6 else ""
        cluster = resource.split("/")[1] if resource.count("/") >= 2 else "default"
        region = parts[3] if len(parts) == 6 else self.world.region
        image: str | None = None
        started_at: float | None = None
        try:
            doc = self.world.sim.dispatch(
                "DescribeTasks",
                {"cluster": cluster, "tasks": [arn]},
                region=region,
                account=self.world.account,
            )
        except Exception:  # the answer still goes out, without the image
            doc = {}
        for task in doc.get("tasks") or []:
            containers = task.get("containers") or []
            if containers:
                image = containers[0].get("image")
            started = task.get("startedAt")
            if isinstance(started, int | float):
                started_at = float(started)
        return Serving(arn, image, int(target.status_code), started_at)

    def handle(self, method: str, lb_name: str, path: str) -> Reply:
        with self.world.lock:
            now = self.world.catch_up()
            groups = self.target_groups(lb_name)
            if groups is None:
                return _json(404, {"error": f"no load balancer named {lb_name!r}"}, [])
            candidates: list[Any] = []
            for tg_arn, weight in groups:
                if weight > 0:
                    targets = self.healthy_targets(tg_arn)
                    candidates.extend(t for t in targets for _ in range(weight))
            if not candidates:
                return Reply(
                    503,
                    [("Content-Type", "text/html"), ("Content-Length", str(len(_ALB_503)))],
                    _ALB_503,
                )
            with self._lock:
                turn = next(self._turn)
            target = candidates[turn % len(candidates)]
            serving = self.serving(target)
        return answer(serving, target, method, path, now)


def simulated_reply(
    world: SandboxView, tg_arn: str, ip: str, method: str, path: str
) -> Reply | None:
    """The canned answer of the simulated task behind target ``ip`` of ``tg_arn`` (None: the
    simulation has no such target, or its task's container no longer accepts connections: it
    exited, or was told to stop). The ALB listener uses it for simulated tasks, whose
    addresses are not reachable sockets."""
    plane = AlbDataPlane(world)
    with world.lock:
        now = world.catch_up()
        target = next((t for t in world.sim.serving_targets(tg_arn) if t.ip == ip), None)
        if target is None or not getattr(target, "answering", True):
            return None
        serving = plane.serving(target)
    return answer(serving, target, method, path, now)


def answer(serving: Serving, target: Any, method: str, path: str, now: float) -> Reply:
    """What a simulated task answers: its ``serve_5xx`` status, ``/version``, or a small JSON."""
    extra = [("X-Sandbox-Target", f"{target.ip}:{target.port}")]
    if serving.task_arn:
        extra.append(("X-Sandbox-Task", serving.task_arn))
    if serving.status_code >= 400:
        return _json(
            serving.status_code,
            {"detail": "Internal Server Error", "sandbox_fault": "serve_5xx"},
            extra,
        )
    if method == "HEAD":
        return Reply(200, [("Content-Length", "0"), *extra], b"")
    if path.rstrip("/") == "/version":
        tag = image_tag(serving.image)
        doc: dict[str, Any] = {
            "version": tag or "unknown",
            "git_sha": tag[4:] if tag and tag.startswith("sha-") else None,
            "environment": "sandbox",
            "started_at": iso8601(serving.started_at or now),
            "image": serving.image,
        }
        return _json(200, doc, extra)
    return _json(
        200,
        {"status": "ok", "path": path, "task": serving.task_arn, "image": serving.image},
        extra,
    )
