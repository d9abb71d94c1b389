"""The smoke probe: one HTTP GET through the load balancer, with three outcomes.

``pass``: a 2xx/3xx answer. ``fail``: the release answered badly (5xx, or 4xx other than 429):
the release is bad. ``error``: the probe could not run (DNS, connection, timeout, 429): not a
reason to roll back. The prober is injected so tests (and the sandbox) can replace it.
"""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

ProbeOutcome = Literal["pass", "fail", "error"]


@dataclass(frozen=True)
class ProbeResult:
    outcome: ProbeOutcome
    status: int | None
    detail: str


Prober = Callable[[str], ProbeResult]


def classify_status(status: int) -> ProbeOutcome:
    if 200 <= status < 400:
        return "pass"
    if status == 429:
        return "error"
    return "fail"


def http_probe(url: str, *, timeout: float = 5.0) -> ProbeResult:
    """GET ``url`` once with urllib (no retries)."""
    if not url.startswith(("http://", "https://")):
        return ProbeResult("error", None, f"not an http(s) URL: {url}")
    request = urllib.request.Request(url, headers={"User-Agent": "rollout-smoke"})  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=timeout) as resp:  # noqa: S310
            status = int(resp.status)
    except urllib.error.HTTPError as exc:
        status = int(exc.code)
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        return ProbeResult("error", None, f"could not reach {url}: {exc}")
    return ProbeResult(classify_status(status), status, f"GET {url} -> {status}")
