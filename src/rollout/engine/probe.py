"""The smoke probe: one HTTP GET through the load balancer, with three outcomes.

``pass``: a 2xx/3xx answer. ``fail``: the release answered badly (5xx, or 4xx other than 429):
the release is bad. ``error``: the probe could not run (DNS, connection, timeout, 429): not a
reason to roll back. The prober is injected so tests (and the sandbox) can replace it.

``headers`` are extra request headers (``test_headers`` in rollout.toml: what the test
listener rule matches on, e.g. ``X-Rollout-Test: 1``). Their values never appear in a result's
``detail`` (only their names).
"""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal, Protocol

ProbeOutcome = Literal["pass", "fail", "error"]


@dataclass(frozen=True)
class ProbeResult:
    outcome: ProbeOutcome
    status: int | None
    detail: str


class Prober(Protocol):
    """``prober(url)`` or ``prober(url, headers={...})``: one GET, no retries."""

    def __call__(self, url: str, headers: Mapping[str, str] | None = None) -> ProbeResult: ...


def classify_status(status: int) -> ProbeOutcome:
    if 200 <= status < 400:
        return "pass"
    if status == 429:
        return "error"
    return "fail"


def with_headers(detail: str, headers: Mapping[str, str] | None) -> str:
    """``detail`` naming the headers sent (names only: a value may be a shared secret)."""
    if not headers:
        return detail
    return f"{detail} (headers {', '.join(sorted(headers))})"


def http_probe(
    url: str, headers: Mapping[str, str] | None = None, *, timeout: float = 5.0
) -> ProbeResult:
    """GET ``url`` once with urllib (no retries), with ``headers`` added."""
    if not url.startswith(("http://", "https://")):
        return ProbeResult("error", None, f"not an http(s) URL: {url}")
    sent = {"User-Agent": "rollout-smoke", **(headers or {})}
    request = urllib.request.Request(url, headers=sent)  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=timeout) as resp:  # noqa: S310
            status = int(resp.status)
    except urllib.error.HTTPError as exc:
        status = int(exc.code)
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        return ProbeResult("error", None, with_headers(f"could not reach {url}: {exc}", headers))
    return ProbeResult(
        classify_status(status), status, with_headers(f"GET {url} -> {status}", headers)
    )
