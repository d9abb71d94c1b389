"""Call recording, injected API errors and the admin endpoints of the sandbox."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from botocore.exceptions import ClientError

from rollout.sandbox import Sandbox, is_mutating

from .conftest import CLUSTER, SERVICE, MiniStack


def admin(url: str, path: str, method: str = "GET", body: Any = None) -> tuple[int, Any]:
    """Call an admin endpoint over HTTP; (status, JSON document)."""
    response = httpx.request(method, f"{url}/_sandbox/{path}", json=body, timeout=10)
    return response.status_code, response.json()


@pytest.mark.parametrize(
    ("operation", "mutating"),
    [
        ("UpdateService", True),
        ("RegisterTaskDefinition", True),
        ("ChangeResourceRecordSets", True),
        ("PutParameter", True),
        ("TagResource", True),
        ("StopServiceDeployment", True),
        ("BatchDeleteImage", True),
        ("BatchGetImage", False),
        ("TransactWriteItems", True),
        ("DescribeServices", False),
        ("ListTasks", False),
        ("GetChange", False),
        ("GetCallerIdentity", False),
        ("DescribeTargetHealth", False),
        ("AssumeRole", False),
    ],
)
def test_is_mutating_by_operation_name(operation: str, mutating: bool) -> None:
    """Write operations are told apart from reads by their name."""
    assert is_mutating(operation) is mutating


def test_calls_are_counted_per_operation(sandbox: Sandbox, mini: MiniStack) -> None:
    """``calls(service, operation)`` counts exactly the requests made, tagged with time."""
    sandbox.clear_calls()
    ecs = mini.client("ecs")
    for _ in range(3):
        ecs.describe_services(cluster=CLUSTER, services=[SERVICE])
        sandbox.clock.advance(10)
    ecs.update_service(cluster=CLUSTER, service=SERVICE, forceNewDeployment=True)
    mini.client("elbv2").describe_target_health(TargetGroupArn=mini.target_group_arn)

    described = sandbox.calls("ecs", "DescribeServices")
    assert len(described) == 3
    assert [c.sim_time - described[0].sim_time for c in described] == [0, 10, 20]
    assert all(not c.mutating and c.status == 200 for c in described)
    (update,) = sandbox.calls("ecs", "UpdateService")
    assert update.mutating
    assert [c.operation for c in sandbox.calls("elbv2")] == ["DescribeTargetHealth"]
    assert len(sandbox.calls(mutating=True)) == 1
    assert len(sandbox.calls()) == 5


def test_injected_throttle_is_retried_by_botocore(sandbox: Sandbox, mini: MiniStack) -> None:
    """Two injected throttles are answered over the wire; botocore retries them and succeeds on
    the third attempt, and each attempt is recorded (and counted by the ClientFactory)."""
    factory = sandbox.client_factory()
    ecs = factory.client("ecs")
    sandbox.clear_calls()
    sandbox.inject_api_error("ecs", "DescribeServices", times=2)
    answer = ecs.describe_services(cluster=CLUSTER, services=[SERVICE])
    assert answer["ResponseMetadata"]["RetryAttempts"] == 2
    attempts = sandbox.calls("ecs", "DescribeServices")
    assert [(c.status, c.error_code) for c in attempts] == [
        (400, "ThrottlingException"),
        (400, "ThrottlingException"),
        (200, None),
    ]
    assert factory.api_calls["ecs.DescribeServices"] == 3


def test_injected_client_error_is_not_retried(sandbox: Sandbox, mini: MiniStack) -> None:
    """An injected ExpiredTokenException reaches the caller after one attempt (reference §9)."""
    sandbox.clear_calls()
    sandbox.inject_api_error(
        "ecs",
        "UpdateService",
        code="ExpiredTokenException",
        message="The security token included in the request is expired",
    )
    with pytest.raises(ClientError) as caught:
        mini.client("ecs").update_service(cluster=CLUSTER, service=SERVICE, desiredCount=3)
    assert caught.value.response["Error"]["Code"] == "ExpiredTokenException"
    assert len(sandbox.calls("ecs", "UpdateService")) == 1
    assert mini.service()["desiredCount"] == 2


def test_injected_error_in_query_protocol(sandbox: Sandbox) -> None:
    """An injected error on a query-protocol service (ELBv2) parses as that error in boto3."""
    sandbox.inject_api_error("elbv2", code="Throttling", times=10)
    elbv2 = sandbox.client_factory(max_attempts=2).client("elbv2")
    with pytest.raises(ClientError) as caught:
        elbv2.describe_load_balancers()
    assert caught.value.response["Error"]["Code"] == "Throttling"
    assert len(sandbox.calls("elbv2")) == 2


def test_admin_calls_and_timeline_over_http(served: tuple[Sandbox, MiniStack]) -> None:
    """GET /_sandbox/calls and /_sandbox/timeline return what the sandbox recorded."""
    sb, _ = served
    url = sb.url
    assert url is not None
    status, doc = admin(url, "calls?service=ecs&operation=CreateService")
    assert status == 200
    assert [c["operation"] for c in doc["calls"]] == ["CreateService"]
    assert doc["calls"][0]["mutating"] is True
    status, doc = admin(url, "timeline?kind=task.")
    assert status == 200
    assert doc["timeline"]
    assert all(e["kind"].startswith("task.") for e in doc["timeline"])
    assert len(doc["timeline"]) == len(sb.timeline("task."))
    assert admin(url, "calls", "DELETE")[0] == 200
    assert sb.calls() == []


def test_admin_clock_advances_a_virtual_clock(sandbox: Sandbox) -> None:
    """POST /_sandbox/clock/advance moves the virtual clock; GET /_sandbox/clock reports it."""
    url = sandbox.serve()
    before = sandbox.clock.now()
    status, doc = admin(url, "clock/advance", "POST", {"seconds": 90})
    assert status == 200
    assert doc["now"] == before + 90
    assert doc["mode"] == "virtual"
    assert admin(url, "clock")[1]["now"] == sandbox.clock.now() == before + 90


def test_admin_clock_cannot_advance_real_time() -> None:
    """A real-time sandbox refuses clock/advance with 409 and leaves time alone."""
    with Sandbox(speed=1) as sb:
        url = sb.serve()
        status, doc = admin(url, "clock/advance", "POST", {"seconds": 3600})
        assert status == 409
        assert "real time" in doc["error"]
        assert admin(url, "clock")[1]["now"] < sb.clock.now() + 1


def test_admin_faults_add_list_and_clear(sandbox: Sandbox) -> None:
    """POST /_sandbox/faults adds rules to the fault plan, GET lists them, DELETE clears."""
    url = sandbox.serve()
    rules = {"fault": [{"effect": "crash", "image": "*:bad-*", "after": 5, "exit_code": 3}]}
    status, doc = admin(url, "faults", "POST", rules)
    assert status == 200
    assert doc["fault"][0]["effect"] == "crash"
    assert [r.image for r in sandbox.faults.rules] == ["*:bad-*"]
    assert admin(url, "faults")[1]["fault"][0]["exit_code"] == 3
    assert admin(url, "faults", "DELETE")[0] == 200
    assert sandbox.faults.rules == []


def test_admin_rejects_bad_fault_documents(sandbox: Sandbox) -> None:
    """A fault document with an unknown effect is a 400 naming the problem; nothing is added."""
    url = sandbox.serve()
    status, doc = admin(url, "faults", "POST", {"fault": [{"effect": "explode"}]})
    assert status == 400
    assert "explode" in doc["error"]
    assert sandbox.faults.rules == []
    assert admin(url, "nope")[0] == 404


def test_admin_api_faults_inject_errors_for_other_processes(sandbox: Sandbox) -> None:
    """POST /_sandbox/api-faults makes the next matching call fail as AWS would."""
    url = sandbox.serve()
    status, _ = admin(url, "api-faults", "POST", {"service": "ecs", "operation": "ListClusters"})
    assert status == 200
    ecs = sandbox.client_factory(max_attempts=1).client("ecs")
    with pytest.raises(ClientError) as caught:
        ecs.list_clusters()
    assert caught.value.response["Error"]["Code"] == "ThrottlingException"
    assert ecs.list_clusters()["clusterArns"] == []


def test_request_answered_by_an_earlier_hook_never_reaches_the_sandbox(
    sandbox: Sandbox, mini: MiniStack
) -> None:
    """A test's own before-send hook that answers (a throttle) wins: the sandbox neither applies
    nor records that attempt; botocore's retry then reaches the sandbox exactly once."""
    from botocore.awsrequest import AWSResponse

    from rollout.sandbox.inprocess import RawBody

    ecs = mini.client("ecs")
    throttles = [2]

    def throttle(request: Any, **_: Any) -> AWSResponse | None:
        if throttles[0] == 0:
            return None
        throttles[0] -= 1
        body = b'{"__type": "ThrottlingException", "message": "Rate exceeded"}'
        return AWSResponse(request.url, 400, {}, RawBody(body))

    ecs.meta.events.register("before-send.ecs.UpdateService", throttle)
    sandbox.clear_calls()
    answer = ecs.update_service(cluster=CLUSTER, service=SERVICE, forceNewDeployment=True)
    assert answer["ResponseMetadata"]["RetryAttempts"] == 2
    assert [c.status for c in sandbox.calls("ecs", "UpdateService")] == [200]
    assert len(sandbox.timeline("deployment.created")) == 2  # the service's first + this one
