"""CloudWatch Logs gateway (read-only): does a log group exist, a stream's last lines."""

from __future__ import annotations

import dataclasses
from typing import Any

from rollout.aws import ClientFactory
from rollout.errors import AwsError
from rollout.gateways._base import aws_errors


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
