"""CloudWatch Logs gateway: log groups, and reading log events (one stream, or filtered)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence
from typing import Any

from rollout.aws import ClientFactory
from rollout.errors import AwsError
from rollout.gateways._base import aws_errors
from rollout.model import LogEvent

#: FilterLogEvents takes at most 100 stream names per call.
MAX_STREAMS_PER_FILTER = 100
#: GetLogEvents pages read per stream_events call (the rest on the next call)
MAX_PAGES = 50


class LogsGateway:
    def __init__(self, factory: ClientFactory) -> None:
        self._factory = factory

    def _logs(self, region: str | None) -> Any:
        if region is None or region == self._factory.region:
            return self._factory.client("logs")
        return dataclasses.replace(self._factory, region=region).client("logs")

    def log_group_exists(self, name: str, *, region: str | None = None) -> bool:
        with aws_errors(f"describe log group {name}"):
            resp = self._logs(region).describe_log_groups(logGroupNamePrefix=name, limit=50)
        return any(g.get("logGroupName") == name for g in resp.get("logGroups", []))

    def stream_events(
        self, group: str, stream: str, token: str | None, *, region: str | None = None
    ) -> tuple[list[LogEvent], str | None]:
        """The events of one stream after ``token`` (from the head when None), and the token to
        read on from. A stream that does not exist yet has no events (the task may not have
        written anything).

        GetLogEvents returns the same forward token when there is nothing new; pages are read
        until that happens (a page may be empty while the token still moves on), at most
        ``MAX_PAGES`` per call.
        """
        events: list[LogEvent] = []
        logs = self._logs(region)
        for _ in range(MAX_PAGES):
            kwargs: dict[str, Any] = {
                "logGroupName": group,
                "logStreamName": stream,
                "startFromHead": True,
            }
            if token is not None:
                kwargs["nextToken"] = token
            try:
                with aws_errors(f"read log stream {group}/{stream}"):
                    resp = logs.get_log_events(**kwargs)
            except AwsError as exc:
                if exc.code == "ResourceNotFoundException":
                    return events, token
                raise
            page = [
                LogEvent(
                    at=float(e.get("timestamp", 0)) / 1000.0,
                    message=str(e.get("message", "")).rstrip("\n"),
                    stream=stream,
                )
                for e in resp.get("events", [])
            ]
            events.extend(page)
            nxt = resp.get("nextForwardToken")
            if nxt is None or nxt == token:
                return events, nxt or token
            token = nxt
        return events, token

    def filter_events(
        self,
        group: str,
        *,
        streams: Sequence[str] = (),
        stream_prefix: str | None = None,
        start: float | None = None,
        end: float | None = None,
        region: str | None = None,
    ) -> Iterator[LogEvent]:
        """Events of ``group`` from the named streams (or those starting with ``stream_prefix``)
        between ``start`` and ``end`` (epoch seconds), oldest first within each call, every page.

        Stream names go 100 per call (the API's limit). A missing group yields nothing.
        """
        batches: list[list[str] | None] = (
            [list(streams[i : i + MAX_STREAMS_PER_FILTER]) for i in range(0, len(streams), 100)]
            if streams
            else [None]
        )
        paginator = self._logs(region).get_paginator("filter_log_events")
        for batch in batches:
            kwargs: dict[str, Any] = {"logGroupName": group}
            if batch is not None:
                kwargs["logStreamNames"] = batch
            elif stream_prefix:
                kwargs["logStreamNamePrefix"] = stream_prefix
            if start is not None:
                kwargs["startTime"] = int(start * 1000)
            if end is not None:
                kwargs["endTime"] = int(end * 1000)
            try:
                with aws_errors(f"filter log events of {group}"):
                    for page in paginator.paginate(**kwargs):
                        for e in page.get("events", []):
                            yield LogEvent(
                                at=float(e.get("timestamp", 0)) / 1000.0,
                                message=str(e.get("message", "")).rstrip("\n"),
                                stream=str(e.get("logStreamName", "")),
                                event_id=e.get("eventId"),
                            )
            except AwsError as exc:
                if exc.code == "ResourceNotFoundException":
                    return
                raise

    def last_lines(
        self, group: str, stream: str, *, region: str | None = None, limit: int = 10
    ) -> list[str]:
        """The last ``limit`` messages of a log stream, oldest first ([] when it does not
        exist)."""
        try:
            with aws_errors(f"read log stream {group} {stream}"):
                resp = self._logs(region).get_log_events(
                    logGroupName=group, logStreamName=stream, limit=limit, startFromHead=False
                )
        except AwsError as exc:
            if exc.code == "ResourceNotFoundException":
                return []
            raise
        return [str(e.get("message", "")) for e in resp.get("events", [])]
