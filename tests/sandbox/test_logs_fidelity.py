"""CloudWatch Logs in the sandbox answers FilterLogEvents the way AWS does (moto does not)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from rollout.sandbox import Sandbox

GROUP = "/ecs/demo"


@pytest.fixture(scope="module")
def logs() -> Iterator[Any]:
    with Sandbox() as sb:
        client = sb.client_factory().client("logs")
        client.create_log_group(logGroupName=GROUP)
        ms = int(time.time() * 1000)
        for stream in ("api/api/aaa", "api/api/bbb", "worker/worker/ccc"):
            client.create_log_stream(logGroupName=GROUP, logStreamName=stream)
            client.put_log_events(
                logGroupName=GROUP,
                logStreamName=stream,
                logEvents=[{"timestamp": ms, "message": f"line of {stream}"}],
            )
        yield client


def _streams(answer: dict[str, Any]) -> set[str]:
    return {e["logStreamName"] for e in answer["events"]}


def test_a_stream_prefix_selects_the_streams(logs: Any) -> None:
    """What `aws logs tail --log-stream-name-prefix` and `rollout logs --task` send."""
    answer = logs.filter_log_events(logGroupName=GROUP, logStreamNamePrefix="api/api/")
    assert _streams(answer) == {"api/api/aaa", "api/api/bbb"}
    one = logs.filter_log_events(logGroupName=GROUP, logStreamNamePrefix="api/api/bbb")
    assert [e["message"] for e in one["events"]] == ["line of api/api/bbb"]


def test_a_prefix_that_matches_no_stream_answers_nothing(logs: Any) -> None:
    answer = logs.filter_log_events(logGroupName=GROUP, logStreamNamePrefix="nope/")
    assert answer["events"] == []


def test_no_prefix_reads_every_stream(logs: Any) -> None:
    assert len(_streams(logs.filter_log_events(logGroupName=GROUP))) == 3


def test_names_and_prefix_together_are_refused(logs: Any) -> None:
    with pytest.raises(ClientError) as caught:
        logs.filter_log_events(
            logGroupName=GROUP, logStreamNames=["api/api/aaa"], logStreamNamePrefix="api/"
        )
    assert caught.value.response["Error"]["Code"] == "InvalidParameterException"


def test_a_prefix_in_a_missing_group_is_not_found(logs: Any) -> None:
    with pytest.raises(ClientError) as caught:
        logs.filter_log_events(logGroupName="/ecs/none", logStreamNamePrefix="api/")
    assert caught.value.response["Error"]["Code"] == "ResourceNotFoundException"
