"""Which environment a resource name belongs to: the ``env: resources belong`` preflight check.

One template serves every environment, so a missing or wrong ``${NAME}`` value can make staging
register revisions in prod's family, read prod's secrets or write into prod's logs. ``verify``
therefore checks the rendered task definition's **family**, every **secret** (SSM parameter name
or Secrets Manager secret name) and every **awslogs group** against the environment.

Definition. A name's *tokens* are its runs of letters and digits, lowercased
(``/ecs/voj-backend-prod`` → ``ecs voj backend prod``). An environment's *names* are its own name
and its ``aliases`` in rollout.toml, each tokenised the same way. A name **belongs** to
environment E when

1. one of E's names occurs in the name's tokens as a contiguous run (``prod`` in
   ``voj backend prod``; ``eu prod`` in ``voj eu prod api``), and
2. no name of another environment in the file occurs there outside E's own runs (so
   ``voj-staging-prod`` belongs to neither prod nor staging, and with environments ``prod`` and
   ``prod-eu``, ``voj-prod-eu`` belongs to ``prod-eu`` only).

Substrings do not count: ``production`` is not ``prod``, ``preprod`` is not ``prod``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from rollout.decisions.checks import Check, awslogs_targets, secret_refs

_TOKEN = re.compile(r"[A-Za-z0-9]+")

CHECK_NAME = "env: resources belong"


def tokens(name: str) -> tuple[str, ...]:
    return tuple(t.lower() for t in _TOKEN.findall(name))


def _runs(haystack: Sequence[str], needle: Sequence[str]) -> list[range]:
    n = len(needle)
    if n == 0:
        return []
    return [
        range(i, i + n)
        for i in range(len(haystack) - n + 1)
        if tuple(haystack[i : i + n]) == tuple(needle)
    ]


def owners(name: str, environments: Mapping[str, Sequence[str]]) -> tuple[str, ...]:
    """The environments ``name`` belongs to (at most one, unless two share a name)."""
    toks = tokens(name)
    found = []
    for env, names in environments.items():
        own = [r for n in names for r in _runs(toks, tokens(n))]
        if not own:
            continue
        mine = {i for r in own for i in r}
        foreign = [
            r
            for other, other_names in environments.items()
            if other != env
            for n in other_names
            for r in _runs(toks, tokens(n))
            if not set(r) <= mine
        ]
        if not foreign:
            found.append(env)
    return tuple(found)


def belongs(name: str, env: str, environments: Mapping[str, Sequence[str]]) -> bool:
    """Whether ``name`` belongs to ``env`` (see the module doc); ``env`` need not be listed."""
    envs = dict(environments)
    envs.setdefault(env, (env,))
    return env in owners(name, envs)


@dataclass(frozen=True)
class Resource:
    kind: str  # family | secret | log group
    label: str  # where it is: "family", "api.S3_BUCKET_NAME", "api"
    name: str


def environment_resources(document: Mapping[str, Any]) -> list[Resource]:
    """The names the check looks at: family, each secret's parameter/secret name, log groups."""
    found = [Resource("family", "family", str(document.get("family") or ""))]
    for ref in secret_refs(document):
        target = ref.target
        if ref.kind == "secretsmanager":
            target = target.split(":secret:", 1)[-1]
        found.append(Resource("secret", f"{ref.container}.{ref.name}", target))
    for log in awslogs_targets(document):
        if log.group:
            found.append(Resource("log group", log.container, log.group))
    return found


def check_isolation(
    document: Mapping[str, Any],
    env: str,
    environments: Mapping[str, Sequence[str]],
    mode: str = "require",
) -> Check:
    """``mode`` is the environment's ``isolation``: require (✗), warn (!) or off."""
    if mode == "off":
        return Check(CHECK_NAME, "pass", "not checked (isolation = off)")
    envs = dict(environments)
    envs.setdefault(env, (env,))
    problems = []
    for res in environment_resources(document):
        if belongs(res.name, env, envs):
            continue
        others = [o for o in owners(res.name, envs) if o != env]
        whose = f"belongs to {', '.join(others)}" if others else f"does not name {env}"
        problems.append(f"{res.kind} {res.name!r} ({res.label}) {whose}")
    names = " or ".join(repr(n) for n in envs[env])
    if problems:
        return Check(
            CHECK_NAME,
            "fail" if mode == "require" else "warn",
            "; ".join(problems),
            f"give [env.{env}.vars] this environment's values (names containing {names} as a "
            "whole word) or add the word to the environment's `aliases`",
        )
    count = len(environment_resources(document))
    return Check(CHECK_NAME, "pass", f"family, secrets and log groups ({count}) are {env}'s")
