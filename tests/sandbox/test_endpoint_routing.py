"""The front app routes every supported service to moto (ECS to the simulation), in-process and
over HTTP, and every Sandbox starts from empty state."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from botocore.config import Config

from rollout.sandbox import RealtimeClock, Sandbox, VirtualClock
from rollout.sandbox.inprocess import IN_PROCESS_ENDPOINT
from rollout.sandbox.world import Ticker, World

from .conftest import http_clients


def _sts(c: Callable[[str], Any]) -> Any:
    return c("sts").get_caller_identity()["Account"]


def _s3(c: Callable[[str], Any]) -> Any:
    s3 = c("s3")
    s3.create_bucket(
        Bucket="voj-audio", CreateBucketConfiguration={"LocationConstraint": "ap-northeast-2"}
    )
    s3.put_object(Bucket="voj-audio", Key="books/1/ch1.mp3", Body=b"ID3")
    return s3.get_object(Bucket="voj-audio", Key="books/1/ch1.mp3")["Body"].read()


def _dynamodb(c: Callable[[str], Any]) -> Any:
    ddb = c("dynamodb")
    ddb.create_table(
        TableName="books",
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    ddb.put_item(TableName="books", Item={"id": {"S": "b1"}})
    return ddb.get_item(TableName="books", Key={"id": {"S": "b1"}})["Item"]["id"]["S"]


def _secretsmanager(c: Callable[[str], Any]) -> Any:
    sm = c("secretsmanager")
    sm.create_secret(Name="voj/db", SecretString="pw")
    return sm.get_secret_value(SecretId="voj/db")["SecretString"]


def _ssm(c: Callable[[str], Any]) -> Any:
    c("ssm").put_parameter(Name="/voj/prod/x", Value="1", Type="String")
    return c("ssm").get_parameter(Name="/voj/prod/x")["Parameter"]["Value"]


def _cloudwatch(c: Callable[[str], Any]) -> Any:
    cw = c("cloudwatch")
    cw.put_metric_alarm(
        AlarmName="voj-5xx",
        MetricName="HTTPCode_Target_5XX_Count",
        Namespace="AWS/ApplicationELB",
        Statistic="Sum",
        Period=60,
        EvaluationPeriods=1,
        Threshold=5,
        ComparisonOperator="GreaterThanThreshold",
    )
    return [a["AlarmName"] for a in cw.describe_alarms()["MetricAlarms"]]


def _logs(c: Callable[[str], Any]) -> Any:
    c("logs").create_log_group(logGroupName="/ecs/voj")
    return [g["logGroupName"] for g in c("logs").describe_log_groups()["logGroups"]]


def _iam(c: Callable[[str], Any]) -> Any:
    c("iam").create_role(RoleName="voj-task", AssumeRolePolicyDocument="{}")
    return c("iam").get_role(RoleName="voj-task")["Role"]["RoleName"]


def _ecr(c: Callable[[str], Any]) -> Any:
    return c("ecr").create_repository(repositoryName="voj-backend")["repository"]["repositoryName"]


def _cloudformation(c: Callable[[str], Any]) -> Any:
    return c("cloudformation").list_stacks()["StackSummaries"]


def _ecs(c: Callable[[str], Any]) -> Any:
    c("ecs").create_cluster(clusterName="voj-prod")
    return c("ecs").list_clusters()["clusterArns"]


CASES: list[tuple[str, Callable[[Callable[[str], Any]], Any], Any]] = [
    ("sts", _sts, "123456789012"),
    ("s3", _s3, b"ID3"),
    ("dynamodb", _dynamodb, "b1"),
    ("secretsmanager", _secretsmanager, "pw"),
    ("ssm", _ssm, "1"),
    ("cloudwatch", _cloudwatch, ["voj-5xx"]),
    ("logs", _logs, ["/ecs/voj"]),
    ("iam", _iam, "voj-task"),
    ("ecr", _ecr, "voj-backend"),
    ("cloudformation", _cloudformation, []),
    ("ecs", _ecs, ["arn:aws:ecs:ap-northeast-2:123456789012:cluster/voj-prod"]),
]


@pytest.mark.parametrize("mode", ["in-process", "http"])
@pytest.mark.parametrize(("service", "scenario", "expected"), CASES, ids=[c[0] for c in CASES])
def test_service_round_trip(
    sandbox: Sandbox,
    mode: str,
    service: str,
    scenario: Callable[[Callable[[str], Any]], Any],
    expected: Any,
) -> None:
    """Each supported service answers through the sandbox and the calls are recorded as it."""
    clients = (
        sandbox.client_factory().client
        if mode == "in-process"
        else http_clients(sandbox.serve(), sandbox.region)
    )
    assert scenario(clients) == expected
    assert {c.service for c in sandbox.calls()} == {service}
    assert "Unknown" not in {c.operation for c in sandbox.calls()}


def test_s3_virtual_hosted_addressing_works_in_process(sandbox: Sandbox) -> None:
    """An S3 client forced to virtual-hosted addressing still reaches the right bucket."""
    factory = sandbox.client_factory()
    factory.botocore_session.set_default_client_config(  # type: ignore[union-attr]
        Config(s3={"addressing_style": "virtual"})
    )
    s3 = factory.client("s3")
    s3.create_bucket(
        Bucket="voj-audio", CreateBucketConfiguration={"LocationConstraint": sandbox.region}
    )
    s3.put_object(Bucket="voj-audio", Key="k", Body=b"v")
    assert s3.get_object(Bucket="voj-audio", Key="k")["Body"].read() == b"v"


def test_each_sandbox_starts_empty() -> None:
    """Resources made in one sandbox are gone in the next (moto is reset)."""
    with Sandbox() as first:
        _ecr(first.client_factory().client)
        _ssm(first.client_factory().client)
    with Sandbox() as second:
        clients = second.client_factory().client
        assert clients("ecr").describe_repositories()["repositories"] == []
        assert clients("ssm").describe_parameters()["Parameters"] == []
        assert clients("ecs").list_clusters()["clusterArns"] == []


def test_in_process_endpoint_cannot_resolve(sandbox: Sandbox) -> None:
    """In-process clients point at a `.invalid` host, which no resolver answers (RFC 2606)."""
    factory = sandbox.client_factory()
    assert factory.endpoint_url == IN_PROCESS_ENDPOINT
    assert IN_PROCESS_ENDPOINT.endswith(".invalid")
    assert factory.client("sts").meta.endpoint_url == IN_PROCESS_ENDPOINT


def test_ticker_runs_the_simulation_without_requests() -> None:
    """A ticker catches the simulation up with the clock while nobody calls the API."""
    clock = VirtualClock()
    world = World(region="ap-northeast-2", clock=clock)
    moved = threading.Event()
    original = world.sim.run_until

    def run_until(t: float) -> None:
        original(t)
        if t >= clock.now() and t > 1_767_225_600.0:
            moved.set()

    world.sim.run_until = run_until
    ticker = Ticker(world, interval=0.001)
    ticker.start()
    try:
        clock.advance(600)
        assert moved.wait(timeout=10)
        assert world.sim.now == clock.now()
    finally:
        ticker.stop()
        world.close()


def test_realtime_sandbox_runs_a_ticker() -> None:
    """``Sandbox(speed=N)`` uses a real-time clock running N times faster than the wall."""
    with Sandbox(speed=50) as sb:
        assert isinstance(sb.clock, RealtimeClock)
        assert sb.clock.speed == 50
        with pytest.raises(TypeError):
            sb.advance(10)


def test_presigned_s3_url_is_served_and_recorded(sandbox: Sandbox) -> None:
    """A presigned GET (no Authorization header, as voj hands to browsers) reaches S3 over HTTP
    and is recorded as s3 GetObject."""
    import httpx

    clients = http_clients(sandbox.serve(), sandbox.region)
    _s3(clients)
    url = clients("s3").generate_presigned_url(
        "get_object", Params={"Bucket": "voj-audio", "Key": "books/1/ch1.mp3"}, ExpiresIn=60
    )
    sandbox.clear_calls()
    response = httpx.get(url, timeout=10)
    assert response.status_code == 200
    assert response.content == b"ID3"
    assert [(c.service, c.operation) for c in sandbox.calls()] == [("s3", "GetObject")]


def test_overlapping_sandboxes_warn() -> None:
    """Opening a second Sandbox while one is open warns (moto's state is shared and reset)."""
    with Sandbox(), pytest.warns(RuntimeWarning, match="still open"), Sandbox():
        pass
