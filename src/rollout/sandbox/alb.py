"""A tiny ALB data plane, so smoke probes have something to hit.

``GET <endpoint>/_sandbox/alb/<load-balancer-name>/<path>`` answers as the load balancer would:

- the load balancer is looked up by name in moto's ELBv2 backend; the first listener's default
  ``forward`` action gives the target groups (a weighted ``ForwardConfig`` is honoured; a group
  with weight 0 gets nothing);
- only ``healthy`` targets receive requests (the health the simulation layered onto moto; a
  target that is ``initial``, ``unhealthy`` or ``draining`` gets none). With none:
  ``503 Service Temporarily Unavailable`` (the ALB's own HTML page);
- targets take turns (round robin across the groups, by weight);
- the chosen target's task is asked from the simulation: if a ``serve_5xx`` fault is active on it,
  the answer is that status; otherwise ``200`` with a small JSON body naming the task and its image.
  ``/version`` answers like voj's ``GET /version`` (``version`` is the image tag) plus ``image``.

Not modelled: listener rules other than the default action, ALB fail-open (real ALBs route to all
targets when every target is unhealthy), stickiness, slow start, 502/504 from dying targets.
"""

from __future__ import annotations

import itertools
import json
import threading
from dataclasses import dataclass
from typing import Any

from rollout.sandbox.route53 import Reply, iso8601
from rollout.sandbox.world import World

_ALB_503 = (
    b"<html>\r\n<head><title>503 Service Temporarily Unavailable</title></head>\r\n<body>\r\n"
    b"<center><h1>503 Service Temporarily Unavailable</h1></center>\r\n</body>\r\n</html>\r\n"
)


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

    def __init__(self, world: World) -> None:
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

    def healthy_targets(self, tg_arn: str) -> list[tuple[str, int]]:
        """(ip, port) of the targets in ``healthy`` state (simulation's health, via moto)."""
        backend = self._backend()
        statuses = backend.describe_target_health(tg_arn, [])
        return [(str(s.instance_id), int(s.port)) for s in statuses if s.status == "healthy"]

    def serving(self, tg_arn: str, ip: str, port: int) -> Serving:
        """Ask the simulation what the task behind ``ip`` answers now."""
        query = getattr(self.world.sim, "serving_status", None)
        if query is None:
            return Serving(None, None, 200)
        answer = query(tg_arn, ip)
        if answer is None:
            return Serving(None, None, 200)
        if isinstance(answer, Serving):
            return answer
        return Serving(
            task_arn=getattr(answer, "task_arn", None),
            image=getattr(answer, "image", None),
            status_code=int(getattr(answer, "status_code", 200)),
            started_at=getattr(answer, "started_at", None),
        )

    def handle(self, method: str, lb_name: str, path: str) -> Reply:
        with self.world.lock:
            now = self.world.catch_up()
            groups = self.target_groups(lb_name)
            if groups is None:
                return _json(404, {"error": f"no load balancer named {lb_name!r}"}, [])
            candidates: list[tuple[str, str, int]] = []
            for tg_arn, weight in groups:
                if weight <= 0:
                    continue
                targets = self.healthy_targets(tg_arn)
                candidates.extend((tg_arn, ip, port) for ip, port in targets for _ in range(weight))
            if not candidates:
                return Reply(
                    503,
                    [("Content-Type", "text/html"), ("Content-Length", str(len(_ALB_503)))],
                    _ALB_503,
                )
            with self._lock:
                turn = next(self._turn)
            tg_arn, ip, port = candidates[turn % len(candidates)]
            serving = self.serving(tg_arn, ip, port)
        extra = [("X-Sandbox-Target", f"{ip}:{port}")]
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
