"""The one-time GitHub settings the AWS roles rely on, checked from GitHub's REST answers.

infra/voj.yaml trusts a *customised* OIDC subject (``repo``, ``context``, ``job_workflow_ref``,
in that order) and two environments, ``production`` and ``build``. Their protection is set by
hand in GitHub (docs/operations.md, section 2.4); this module reads what GitHub reports and says
what is missing. It is pure: :func:`check_github_settings` takes ``get(path)``, which returns the
decoded JSON of ``GET https://api.github.com<path>`` or None for a 404, so it can run against
GitHub (``infra/check_github_settings.py``, or ``rollout doctor``) or against recorded answers.

What is checked (each path is a documented REST endpoint):

- ``/repos/{o}/{r}/actions/oidc/customization/sub``: ``use_default`` false and
  ``include_claim_keys == ["repo", "context", "job_workflow_ref"]`` (the order makes the
  format the roles' conditions spell out);
- ``/repos/{o}/{r}/environments/{env}`` for ``production`` and ``build``: the environment
  exists, deploys are limited to selected branches and tags (``deployment_branch_policy``
  with ``custom_branch_policies``), admins cannot bypass; ``production`` has required
  reviewers (a warning when not: merges then deploy without a human);
- ``/repos/{o}/{r}/environments/{env}/deployment-branch-policies``: exactly the branch ``main``
  and the tag pattern ``v*.*.*``;
- ``/repos/{o}/{r}/rulesets`` and ``/repos/{o}/{r}/rulesets/{id}``: an active tag ruleset
  covering ``refs/tags/v*`` that restricts creation, update and deletion.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

Get = Callable[[str], Any]

SUB_CLAIM_KEYS = ("repo", "context", "job_workflow_ref")
ENVIRONMENTS = ("production", "build")
DEPLOYMENT_REFS = {("main", "branch"), ("v*.*.*", "tag")}
TAG_RULES = {"creation", "update", "deletion"}


@dataclass(frozen=True)
class Finding:
    level: Literal["error", "warning"]
    what: str
    fix: str


def _oidc(base: str, get: Get) -> list[Finding]:
    answer = get(f"{base}/actions/oidc/customization/sub")
    keys: Sequence[str] = (answer or {}).get("include_claim_keys") or ()
    if answer is None or answer.get("use_default", True) or tuple(keys) != SUB_CLAIM_KEYS:
        default = None if answer is None else answer.get("use_default")
        return [
            Finding(
                "error",
                "the repository's OIDC subject is not customised to "
                f"{list(SUB_CLAIM_KEYS)} (found use_default={default}, "
                f"include_claim_keys={list(keys)}): no job can assume the deploy or build role",
                f"PUT {base}/actions/oidc/customization/sub with "
                '{"use_default": false, "include_claim_keys": ["repo", "context", '
                '"job_workflow_ref"]} (docs/operations.md, section 2.4)',
            )
        ]
    return []


def _environment(base: str, name: str, get: Get) -> list[Finding]:
    env = get(f"{base}/environments/{name}")
    if env is None:
        return [
            Finding(
                "error",
                f"environment {name} does not exist",
                f"Settings -> Environments -> New environment {name!r} (section 2.4)",
            )
        ]
    found: list[Finding] = []
    policy: Mapping[str, Any] | None = env.get("deployment_branch_policy")
    if not policy or not policy.get("custom_branch_policies"):
        found.append(
            Finding(
                "error",
                f"environment {name} lets any branch or tag deploy",
                f"{name}: Deployment branches and tags -> Selected branches and tags",
            )
        )
    else:
        answer = get(f"{base}/environments/{name}/deployment-branch-policies") or {}
        refs = {(p.get("name"), p.get("type", "branch")) for p in answer.get("branch_policies", [])}
        if refs != DEPLOYMENT_REFS:
            found.append(
                Finding(
                    "error",
                    f"environment {name} deploys from {sorted(refs)}, not exactly the branch "
                    "main and the tag pattern v*.*.*",
                    f"{name}: allow only branch 'main' and tag 'v*.*.*'",
                )
            )
    if env.get("can_admins_bypass", True):
        found.append(
            Finding(
                "warning",
                f"administrators may bypass the protection of environment {name}",
                f"{name}: untick 'Allow administrators to bypass configured protection rules'",
            )
        )
    rules = {rule.get("type") for rule in env.get("protection_rules", [])}
    if name == "production" and "required_reviewers" not in rules:
        found.append(
            Finding(
                "warning",
                "environment production has no required reviewers: every merge to main deploys "
                "without a human approving it",
                "production: Required reviewers (a maintainer team); section 2.4",
            )
        )
    return found


def _covers_release_tags(ruleset: Mapping[str, Any]) -> bool:
    include = ruleset.get("conditions", {}).get("ref_name", {}).get("include", [])
    return any(p in ("~ALL", "refs/tags/v*", "refs/tags/v*.*.*") for p in include)


def _tag_rulesets(base: str, get: Get) -> list[Finding]:
    listed = get(f"{base}/rulesets?includes_parents=true") or []
    for summary in listed:
        if summary.get("target") != "tag" or summary.get("enforcement") != "active":
            continue
        detail = get(f"{base}/rulesets/{summary['id']}")
        if not detail or not _covers_release_tags(detail):
            continue
        if {rule.get("type") for rule in detail.get("rules", [])} >= TAG_RULES:
            return []
    return [
        Finding(
            "error",
            "no active tag ruleset restricts who creates, moves or deletes v* tags: anyone with "
            "write access can push a release tag, which deploys",
            "Settings -> Rules -> New tag ruleset: target refs/tags/v*, restrict creations, "
            "updates and deletions, bypass only for maintainers (section 2.4)",
        )
    ]


def check_github_settings(owner: str, repo: str, get: Get) -> list[Finding]:
    """Everything that differs from the settings docs/operations.md section 2.4 asks for."""
    base = f"/repos/{owner}/{repo}"
    found = _oidc(base, get)
    for name in ENVIRONMENTS:
        found += _environment(base, name, get)
    found += _tag_rulesets(base, get)
    return found
