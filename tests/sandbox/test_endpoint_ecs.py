"""ECS through the sandbox's HTTP endpoint with plain boto3: deploys behave as the reference says.

Every test drives a real socket (``sb.serve()``) and a virtual clock: the test advances time, the
simulation runs lazily, boto3 sees AWS's shapes, events and stop reasons.
"""

from __future__ import annotations

import re
from typing import Any

from rollout.sandbox import Sandbox

from .conftest import (
    CLUSTER,
    GOOD_TAGS,
    SERVICE,
    MiniStack,
    build_mini_stack,
    http_clients,
)

TASK = r"\(task [0-9a-f]{32}\)"
TG = r"\(target-group arn:aws:elasticloadbalancing:[^)]+:targetgroup/mini-tg/[0-9a-f]+\)"


def events_since(service: dict[str, Any], t0: float) -> list[str]:
    """The service's event messages created at or after ``t0``, oldest first."""
    return [e["message"] for e in reversed(service["events"]) if _ts(e["createdAt"]) >= t0]


def _ts(value: Any) -> float:
    return value.timestamp() if hasattr(value, "timestamp") else float(value)


def assert_in_order(messages: list[str], patterns: list[str]) -> None:
    """Each pattern matches some message, in this order (other messages may come between)."""
    position = 0
    for pattern in patterns:
        for index in range(position, len(messages)):
            if re.fullmatch(pattern, messages[index]):
                position = index + 1
                break
        else:
            raise AssertionError(f"no message after #{position} matches {pattern!r}:\n{messages}")


def primary_id(service: dict[str, Any]) -> str:
    return next(d["id"] for d in service["deployments"] if d["status"] == "PRIMARY")


def test_good_deploy_completes_with_aws_events(served: tuple[Sandbox, MiniStack]) -> None:
    """A good image rolls out over HTTP with the rolling update's events, in AWS's order."""
    sb, stack = served
    t0 = sb.clock.now()
    stack.deploy(stack.image(GOOD_TAGS[1]))
    sb.wait_steady(CLUSTER, SERVICE, revision=2)
    service = stack.service()
    new_id = primary_id(service)
    s = rf"\(service {SERVICE}\)"
    assert_in_order(
        events_since(service, t0),
        [
            rf"{s} has started 2 tasks: {TASK} {TASK}\.",
            rf"{s} registered 2 targets in {TG}",
            rf"{s} has stopped 2 running tasks: {TASK} {TASK}\.",
            rf"{s} deregistered 2 targets in {TG}",
            rf"\(service {SERVICE}, taskSet ecs-svc/\d+\) "
            r"has begun draining connections on 2 tasks\.",
            rf"{s} \(deployment {re.escape(new_id)}\) deployment completed\.",
            rf"{s} has reached a steady state\.",
        ],
    )
    (deployment,) = service["deployments"]
    assert deployment["rolloutState"] == "COMPLETED"
    assert deployment["taskDefinition"].endswith(":2")
    assert service["runningCount"] == 2


def test_missing_image_fails_and_rolls_back(served: tuple[Sandbox, MiniStack]) -> None:
    """An image missing from ECR stops tasks with CannotPullContainerError and the breaker rolls
    back to the previous deployment's id."""
    sb, stack = served
    old_id = primary_id(stack.service())
    t0 = sb.clock.now()
    stack.deploy(stack.image("sha-missing"))
    sb.wait_steady(CLUSTER, SERVICE, revision=1, timeout=3600)
    service = stack.service()
    s = rf"\(service {SERVICE}\)"
    assert_in_order(
        events_since(service, t0),
        [
            rf"{s} has started 2 tasks: {TASK} {TASK}\.",
            rf"{s} \(deployment ecs-svc/\d+\) deployment failed: tasks failed to start\.",
            rf"{s} rolling back to deployment {re.escape(old_id)}\.",
            rf"{s} \(deployment {re.escape(old_id)}\) deployment completed\.",
        ],
    )
    assert primary_id(service) == old_id
    ecs = stack.client("ecs")
    stopped = ecs.list_tasks(cluster=CLUSTER, desiredStatus="STOPPED")["taskArns"]
    tasks = ecs.describe_tasks(cluster=CLUSTER, tasks=stopped)["tasks"]
    assert len(tasks) >= 3  # the breaker's threshold for desired 2 is clamp(1, 3, 200) = 3
    image = re.escape(stack.image("sha-missing"))
    for task in tasks:
        assert task["stopCode"] == "TaskFailedToStart"
        assert re.fullmatch(
            "CannotPullContainerError: pull image manifest has been retried 5 time\\(s\\): "
            f"failed to resolve ref {image}: {image}: not found",
            task["stoppedReason"],
        )


def test_missing_secret_fails_and_rolls_back(served: tuple[Sandbox, MiniStack]) -> None:
    """A secret that is not in SSM stops tasks with ResourceInitializationError and the breaker
    rolls back."""
    sb, stack = served
    old_id = primary_id(stack.service())
    missing = stack.secret_arn.replace("db-password", "no-such-parameter")
    stack.deploy(stack.image(GOOD_TAGS[1]), secret=missing)
    sb.wait_steady(CLUSTER, SERVICE, revision=1, timeout=3600)
    service = stack.service()
    assert primary_id(service) == old_id
    assert any(
        m["message"] == f"(service {SERVICE}) rolling back to deployment {old_id}."
        for m in service["events"]
    )
    ecs = stack.client("ecs")
    stopped = ecs.list_tasks(cluster=CLUSTER, desiredStatus="STOPPED")["taskArns"]
    reasons = {
        t["stoppedReason"] for t in ecs.describe_tasks(cluster=CLUSTER, tasks=stopped)["tasks"]
    }
    assert reasons == {
        "ResourceInitializationError: unable to pull secrets or registry auth: execution resource "
        "retrieval failed: unable to retrieve secrets from ssm: service call has been retried 1 "
        "time(s): invalid ssm parameters: /mini/prod/no-such-parameter"
    }


def _normalise(text: str) -> str:
    # moto draws target-group ids at random; everything the simulation draws is seeded.
    return re.sub(r"targetgroup/mini-tg/[0-9a-f]+", "targetgroup/mini-tg/ID", text)


def _bad_deploy_story(sb: Sandbox, clients: Any) -> list[tuple[float, str]]:
    stack = build_mini_stack(clients, sb.region)
    sb.wait_steady(CLUSTER, SERVICE, revision=1)
    stack.deploy(stack.image("sha-missing"))
    sb.wait_steady(CLUSTER, SERVICE, revision=1, timeout=3600)
    start = sb.clock.now()
    events = [
        (_ts(e["createdAt"]) - start, _normalise(e["message"])) for e in stack.service()["events"]
    ]
    timeline = [(e.time - start, e.kind) for e in sb.timeline()]
    return events + [(t, f"timeline:{kind}") for t, kind in timeline]


def test_in_process_and_http_give_the_same_story() -> None:
    """The same calls in-process and over HTTP produce the same events and timeline."""
    with Sandbox() as sb:
        in_process = _bad_deploy_story(sb, sb.client_factory().client)
    with Sandbox() as sb:
        over_http = _bad_deploy_story(sb, http_clients(sb.serve(), sb.region))
    assert in_process == over_http
    assert any("rolling back to deployment" in message for _, message in in_process)


def test_timings_passed_to_the_sandbox_reach_the_simulation() -> None:
    """``Sandbox(timings=...)`` changes simulated durations (here: deployment start delay)."""
    from dataclasses import replace

    from rollout.sandbox import Timings

    with Sandbox(timings=replace(Timings(), deployment_start_delay=2.0)) as sb:
        t0 = sb.clock.now()
        stack = build_mini_stack(sb.client_factory().client, sb.region)
        sb.advance_until(lambda: True if stack.service()["events"] else None, step=1, timeout=60)
        (first,) = stack.service()["events"]
        assert _ts(first["createdAt"]) - t0 == 2.0
        assert "has started 2 tasks" in first["message"]
