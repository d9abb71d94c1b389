"""Listener rules and actions, as an ALB evaluates them for each request.

- Rules are evaluated in priority order (lowest number first); the first rule whose conditions
  all match decides; the listener's default action applies when none does.
- ``path-pattern``: case-sensitive, ``*`` matches any characters and ``?`` exactly one, matched
  against the path without the query string; ``host-header``: case-insensitive, same wildcards,
  the port is ignored. Several values in one condition: any may match; several conditions: all
  must (ALB User Guide, listener rules; the matching details are UNVERIFIED in the references).
- ``http-header`` (``HttpHeaderConfig``): the header name is case-insensitive, without
  wildcards; the values are case-insensitive with ``*``/``?``; a header sent several times is
  searched in order until one matches (ELBv2 API Reference, HttpHeaderConditionConfig;
  CloudFormation ListenerRule HttpHeaderConfig). This is how blue/green test listener rules
  (e.g. voj's ``X-Rollout-Test: 1``) are reached.
- ``http-request-method`` (``HttpRequestMethodConfig``): exact and case-sensitive, no
  wildcards (HttpRequestMethodConditionConfig).
- ``query-string`` (``QueryStringConfig``): ``{Key, Value}`` pairs, ``Key`` optional (then any
  parameter's value may match); case-insensitive with ``*``/``?``, a ``\\*`` or ``\\?`` in a
  value is the literal character; any pair found in the query string satisfies the condition
  (QueryStringConditionConfig). Parameters are compared percent-decoded (UNVERIFIED).
- ``source-ip`` conditions and ``RegexValues`` never match here.
- ``forward`` goes to one target group or a weighted ``ForwardConfig`` (traffic-shifting.md §2.1:
  a group with weight 20 gets twice the requests of one with weight 10; weight 0 gets none).
  The sandbox splits deterministically (smooth weighted round robin, so the shares are exact
  over every cycle of Σw requests) rather than at random as AWS does.
- ``fixed-response`` answers from the load balancer; ``redirect`` and authentication actions are
  not modelled (the listener answers 500 and says so).

Everything is read from moto's objects at each request, so ``ModifyListener`` / ``ModifyRule`` /
``CreateRule`` take effect on the next request.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any


@dataclass(frozen=True)
class Forward:
    groups: tuple[tuple[str, int], ...]  # (target group ARN, weight)


@dataclass(frozen=True)
class FixedResponse:
    status: int
    content_type: str
    body: str


@dataclass(frozen=True)
class Unsupported:
    type: str


Action = Forward | FixedResponse | Unsupported


def action_of(data: Mapping[str, Any]) -> Action:
    """The action an ELBv2 ``Action`` structure describes."""
    kind = str(data.get("Type", ""))
    if kind == "forward":
        groups = (data.get("ForwardConfig") or {}).get("TargetGroups") or []
        if groups:
            return Forward(
                tuple((str(g["TargetGroupArn"]), int(g.get("Weight", 1))) for g in groups)
            )
        if data.get("TargetGroupArn"):
            return Forward(((str(data["TargetGroupArn"]), 1),))
        return Forward(())
    if kind == "fixed-response":
        config = data.get("FixedResponseConfig") or {}
        return FixedResponse(
            int(config.get("StatusCode", 200)),
            str(config.get("ContentType") or "text/plain"),
            str(config.get("MessageBody") or ""),
        )
    return Unsupported(kind)


@dataclass(frozen=True)
class RequestView:
    """What listener rules look at in a request (beyond host and path)."""

    method: str = "GET"
    #: every header line, in order (a repeated header appears several times)
    headers: tuple[tuple[str, str], ...] = ()
    #: every query parameter, percent-decoded, in order
    query: tuple[tuple[str, str], ...] = ()


GET = RequestView()


@lru_cache(maxsize=1024)
def _wildcard(pattern: str, ignore_case: bool, escapes: bool = False) -> re.Pattern[str]:
    """``*``/``?`` wildcards; with ``escapes``, ``\\*``/``\\?`` are the literal characters."""
    parts: list[str] = []
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if escapes and ch == "\\" and i + 1 < len(pattern) and pattern[i + 1] in "*?\\":
            parts.append(re.escape(pattern[i + 1]))
            i += 2
            continue
        parts.append(".*" if ch == "*" else "." if ch == "?" else re.escape(ch))
        i += 1
    return re.compile(f"^{''.join(parts)}$", re.DOTALL | (re.IGNORECASE if ignore_case else 0))


def path_matches(pattern: str, path: str) -> bool:
    return _wildcard(pattern, False).match(path) is not None


def host_matches(pattern: str, host: str) -> bool:
    return (
        _wildcard(pattern, True).match(host.rsplit(":", 1)[0] if ":" in host else host) is not None
    )


def _values(condition: Mapping[str, Any], config_key: str) -> list[str]:
    config = condition.get(config_key) or {}
    values = config.get("Values") if isinstance(config, Mapping) else None
    return [str(v) for v in (values or condition.get("Values") or [])]


def header_matches(config: Mapping[str, Any], headers: Sequence[tuple[str, str]]) -> bool:
    """An ``HttpHeaderConfig`` against the request's header lines."""
    name = str(config.get("HttpHeaderName") or "").lower()
    patterns = [str(v) for v in config.get("Values") or []]
    return any(
        _wildcard(p, True).match(value) is not None
        for key, value in headers
        if key.lower() == name
        for p in patterns
    )


def query_matches(pairs: Sequence[Mapping[str, Any]], query: Sequence[tuple[str, str]]) -> bool:
    """A ``QueryStringConfig``'s key/value pairs against the request's parameters."""
    for pair in pairs:
        key = pair.get("Key")
        value = _wildcard(str(pair.get("Value") or ""), True, True)
        for k, v in query:
            if key is not None and _wildcard(str(key), True, True).match(k) is None:
                continue
            if value.match(v) is not None:
                return True
    return False


def _config(condition: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    config = condition.get(key)
    return config if isinstance(config, Mapping) else {}


def condition_matches(
    condition: Mapping[str, Any], host: str, path: str, request: RequestView = GET
) -> bool:
    field = condition.get("Field")
    if field == "path-pattern":
        return any(path_matches(v, path) for v in _values(condition, "PathPatternConfig"))
    if field == "host-header":
        return any(host_matches(v, host) for v in _values(condition, "HostHeaderConfig"))
    if field == "http-header":
        return header_matches(_config(condition, "HttpHeaderConfig"), request.headers)
    if field == "http-request-method":
        methods = _values(condition, "HttpRequestMethodConfig")
        return request.method in methods
    if field == "query-string":
        pairs = _config(condition, "QueryStringConfig").get("Values") or []
        return query_matches([p for p in pairs if isinstance(p, Mapping)], request.query)
    return False


def _priority(rule: Any) -> float:
    try:
        return float(rule.priority)
    except (TypeError, ValueError):
        return float("inf")  # "default"


def has_rules(listener: Any) -> bool:
    """Whether moto's ``FakeListener`` has rules besides its default action (when it has none,
    :func:`select_action` looks at nothing of the request)."""
    extra = getattr(listener, "_non_default_rules", None)  # moto 5.2.5's rules (no default)
    if extra is not None:
        return bool(extra)
    return any(not getattr(r, "is_default", False) for r in listener.rules.values())


def select_action(listener: Any, host: str, path: str, request: RequestView = GET) -> Action:
    """The action moto's ``FakeListener`` takes for a request (first matching rule, else the
    default action). ``request`` carries the method, headers and query string (a bare ``GET``
    with none by default)."""
    extra = getattr(listener, "_non_default_rules", None)  # moto 5.2.5's rules (no default)
    if extra is not None and not extra:
        return _first(list(listener.default_actions))
    candidates = list(extra.values()) if extra is not None else list(listener.rules.values())
    rules = sorted(
        (r for r in candidates if not getattr(r, "is_default", False)),
        key=_priority,
    )
    for rule in rules:
        conditions: Sequence[Mapping[str, Any]] = rule.conditions or []
        if conditions and all(condition_matches(c, host, path, request) for c in conditions):
            return _first(list(rule.actions))
    return _first(list(listener.default_actions))


def _first(actions: Sequence[Any]) -> Action:
    if len(actions) == 1 and actions[0].data.get("Type") in ("forward", "fixed-response"):
        return action_of(actions[0].data)
    ordered = sorted(actions, key=lambda a: int(a.data.get("Order", 0) or 0))
    for action in ordered:
        if action.data.get("Type") in ("forward", "fixed-response", "redirect"):
            return action_of(action.data)
    return Unsupported(ordered[0].data.get("Type", "") if ordered else "none")


class WeightedPicker:
    """Smooth weighted round robin over target groups (exact shares every Σw picks)."""

    def __init__(self) -> None:
        self._current: dict[tuple[tuple[str, int], ...], dict[str, int]] = {}
        self._lock = threading.Lock()

    def pick(self, groups: Sequence[tuple[str, int]]) -> str | None:
        live = tuple((arn, w) for arn, w in groups if w > 0)
        if not live:
            return None
        if len(live) == 1:
            return live[0][0]
        total = sum(w for _, w in live)
        with self._lock:
            current = self._current.setdefault(live, {arn: 0 for arn, _ in live})
            for arn, w in live:
                current[arn] += w
            best = max(live, key=lambda g: current[g[0]])[0]
            current[best] -= total
            return best


class RoundRobin:
    """Takes turns among a target group's routable targets."""

    def __init__(self) -> None:
        self._turns: dict[str, int] = {}
        self._lock = threading.Lock()

    def pick(self, tg_arn: str, candidates: Sequence[Any]) -> Any:
        ordered = sorted(candidates, key=lambda t: (t.ip, t.port))
        with self._lock:
            turn = self._turns.get(tg_arn, 0)
            self._turns[tg_arn] = turn + 1
        return ordered[turn % len(ordered)]
