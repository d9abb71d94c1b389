"""The only place rollout creates boto3 clients.

A :class:`ClientFactory` fixes region, endpoint (``AWS_ENDPOINT_URL`` or ``--endpoint-url``) and
retry mode once; gateways ask it for clients and never build their own. No network calls
happen here: clients are created lazily and cached per service.

Tests and the sandbox's in-process mode pass a ``botocore`` session with extra event handlers
(for example a ``before-send`` hook that answers requests without a socket); retries still run
because such handlers sit below botocore's retry handler.
"""

from __future__ import annotations

import os
import re
import urllib.parse
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Literal

import boto3
import botocore.session
from botocore.config import Config

from rollout.errors import ConfigError

RetryMode = Literal["standard", "adaptive"]

USER_AGENT_EXTRA = "rollout"

# A region is one DNS label (botocore.utils.validate_region_name checks the same); whether AWS
# has such a region only the endpoint can tell.
REGION_NAME = re.compile(r"^(?![0-9]+$)(?!-)[a-zA-Z0-9-]{1,63}(?<!-)$")


def check_endpoint_url(url: str) -> None:
    """Raise :class:`ConfigError` unless ``url`` is an http(s) URL with a host (and a valid port).

    botocore would raise a bare ``ValueError`` while creating the first client, or fail at the
    first request with an unclear message.
    """
    if not _is_http_url(url):
        raise ConfigError(
            f"the AWS endpoint URL {url!r} (AWS_ENDPOINT_URL or --endpoint-url) is not an "
            "http(s)://host[:port] URL.",
            hint="Use the URL `rollout sandbox up` prints (e.g. http://127.0.0.1:4566), or "
            "unset AWS_ENDPOINT_URL to talk to AWS.",
        )


def _is_http_url(url: str) -> bool:
    try:
        parts = urllib.parse.urlsplit(url)
        _ = parts.port  # ValueError when it is not a number or out of range
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def check_region(region: str) -> None:
    """Raise :class:`ConfigError` unless ``region`` has the form of an AWS region name."""
    if not REGION_NAME.match(region):
        raise ConfigError(
            f"the AWS region {region!r} is not a region name.",
            hint="Set `region` in rollout.toml, --region or AWS_REGION to a region such as "
            "eu-west-1.",
        )


@dataclass
class ClientFactory:
    region: str
    endpoint_url: str | None = None
    retry_mode: RetryMode = "standard"
    max_attempts: int = 8
    connect_timeout: float = 5.0
    read_timeout: float = 30.0
    botocore_session: botocore.session.Session | None = None
    _clients: dict[str, Any] = field(default_factory=dict, init=False, repr=False)
    _session: boto3.Session | None = field(default=None, init=False, repr=False)
    #: HTTP attempts sent per "service.Operation" (retries included), for reports and benches.
    api_calls: Counter[str] = field(default_factory=Counter, init=False, repr=False)

    def __post_init__(self) -> None:
        check_region(self.region)
        if self.endpoint_url is not None:
            check_endpoint_url(self.endpoint_url)

    @classmethod
    def from_env(
        cls,
        region: str | None = None,
        endpoint_url: str | None = None,
        retry_mode: RetryMode | None = None,
    ) -> ClientFactory:
        env_mode = os.environ.get("ROLLOUT_RETRY_MODE", "standard")
        mode: RetryMode = retry_mode or ("adaptive" if env_mode == "adaptive" else "standard")
        return cls(
            region=region
            or os.environ.get("AWS_REGION")
            or os.environ.get("AWS_DEFAULT_REGION")
            or "us-east-1",
            endpoint_url=endpoint_url or os.environ.get("AWS_ENDPOINT_URL") or None,
            retry_mode=mode,
        )

    @property
    def config(self) -> Config:
        return Config(
            region_name=self.region,
            retries={"mode": self.retry_mode, "total_max_attempts": self.max_attempts},
            connect_timeout=self.connect_timeout,
            read_timeout=self.read_timeout,
            user_agent_extra=USER_AGENT_EXTRA,
        )

    @property
    def session(self) -> boto3.Session:
        if self._session is None:
            self._session = boto3.Session(
                region_name=self.region, botocore_session=self.botocore_session
            )
            self._session.events.register("before-send", self._count)
        return self._session

    def _count(self, request: Any = None, event_name: str = "", **_: Any) -> None:
        # event_name is "before-send.<service-id>.<Operation>"
        parts = event_name.split(".")
        if len(parts) >= 3:
            self.api_calls[f"{parts[1]}.{parts[2]}"] += 1

    @property
    def api_call_total(self) -> int:
        return sum(self.api_calls.values())

    def no_retry_client(self, service: str) -> Any:
        """A client that makes exactly one attempt, for calls that must never be repeated.

        ``UpdateService(forceNewDeployment=True)`` is the case: a retry after a lost response
        would start a second deployment.
        """
        key = f"{service}#once"
        if key not in self._clients:
            self._clients[key] = self.session.client(
                service,  # type: ignore[call-overload]
                region_name=self.region,
                endpoint_url=self.endpoint_url,
                config=self.config.merge(Config(retries={"total_max_attempts": 1})),
            )
        return self._clients[key]

    def client(self, service: str) -> Any:
        """A cached client for ``service`` with this factory's region, endpoint and retries."""
        if service not in self._clients:
            self._clients[service] = self.session.client(
                service,  # type: ignore[call-overload]
                region_name=self.region,
                endpoint_url=self.endpoint_url,
                config=self.config,
            )
        return self._clients[service]
