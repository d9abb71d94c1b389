"""Who may assume the deploy and build roles (issue 13, findings 1 and 2).

GitHub's OIDC subject is customised for the repository (include_claim_keys ``repo``, ``context``,
``job_workflow_ref``; docs/operations.md, section 2.4). A job's ``sub`` is then

    repo:<org>/<repo>:environment:<env>:job_workflow_ref:<org>/<repo>/<workflow path>@<ref>

(``context`` is ``environment:<env>`` for a job that names an environment, else
``ref:<ref>``, or ``pull_request``; GitHub writes any ``:`` inside a value as ``%3A``, so a value
cannot forge another field). These tests evaluate the roles' trust policies the way STS does
(``StringEquals`` exact and case-sensitive; ``StringLike`` with ``*`` = any run of characters and
``?`` = one; a list of values matches if any does; every operator of a statement must match; any
statement may allow) against subjects for every repository, environment, workflow and ref, and
show that exactly the intended jobs match.
"""

from __future__ import annotations

import json
import re
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from .test_infra import RESOURCES, as_list, resolver, statements

AUD = "token.actions.githubusercontent.com:aud"
SUB = "token.actions.githubusercontent.com:sub"
DEPLOY_WORKFLOW = ".github/workflows/backend-deploy.yml"
ROLLBACK_WORKFLOW = ".github/workflows/backend-rollback.yml"
MAIN = "refs/heads/main"
# The release tags the workflow's `tags: ["v*.*.*"]` filter starts deploys for; an independent
# statement of the intent (a regex), not a copy of the IAM pattern.
RELEASE_TAG = re.compile(r"refs/tags/v[^:]*\.[^:]*\.[^:]*")


def _escape(value: str) -> str:
    return value.replace(":", "%3A")


def github_sub(
    org: str, repo: str, *, environment: str | None, workflow: str, ref: str, owner: str = ""
) -> str:
    """The customised subject GitHub puts in a job's token. ``owner`` is the repository that
    holds the workflow file (a reusable workflow may live elsewhere); default: the same one."""
    context = f"environment:{_escape(environment)}" if environment else f"ref:{_escape(ref)}"
    holder = owner or f"{org}/{repo}"
    return f"repo:{org}/{repo}:{context}:job_workflow_ref:{_escape(f'{holder}/{workflow}@{ref}')}"


def _like(pattern: str, value: str) -> bool:
    """IAM StringLike: ``*`` any run of characters (none included), ``?`` exactly one."""
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, value, flags=re.DOTALL) is not None


def _operator_matches(operator: str, block: dict[str, Any], claims: dict[str, str]) -> bool:
    for key, wanted in block.items():
        if key not in claims:
            return False
        values = as_list(wanted)
        if operator == "StringEquals":
            if claims[key] not in values:
                return False
        elif operator == "StringLike":
            if not any(_like(v, claims[key]) for v in values):
                return False
        else:
            raise AssertionError(f"unexpected condition operator {operator}")
    return True


def allows(trust: dict[str, Any], claims: dict[str, str]) -> bool:
    """Whether any Allow statement of ``trust`` lets a token with ``claims`` assume the role."""
    for statement in statements(trust):
        if statement["Effect"] != "Allow":
            continue
        if statement["Action"] != "sts:AssumeRoleWithWebIdentity":
            continue
        conditions = statement.get("Condition", {})
        if all(_operator_matches(op, block, claims) for op, block in conditions.items()):
            return True
    return False


def _trust(role: str, org: str = "acme", repo: str = "voj") -> dict[str, Any]:
    doc: dict[str, Any] = resolver(GitHubOrg=org, GitHubRepo=repo).resolve(
        RESOURCES[role]["Properties"]["AssumeRolePolicyDocument"]
    )
    return doc


def _token(sub: str) -> dict[str, str]:
    return {AUD: "sts.amazonaws.com", SUB: sub}


def intended(role: str, environment: str | None, workflow: str, ref: str) -> bool:
    """The jobs each role is for (docs/operations.md, sections 2.4 and 7)."""
    if role == "DeployRole":
        return environment == "production" and (
            (workflow == DEPLOY_WORKFLOW and (ref == MAIN or bool(RELEASE_TAG.fullmatch(ref))))
            or (workflow == ROLLBACK_WORKFLOW and ref == MAIN)
        )
    return (
        environment == "build"
        and workflow == DEPLOY_WORKFLOW
        and (ref == MAIN or bool(RELEASE_TAG.fullmatch(ref)))
    )


ROLES = ("DeployRole", "BuildRole")


def test_every_statement_checks_the_audience_and_a_subject() -> None:
    """Each trust statement allows only AssumeRoleWithWebIdentity from the GitHub provider, and
    requires aud = sts.amazonaws.com and a sub condition."""
    for role in ROLES:
        for statement in statements(_trust(role)):
            assert statement["Principal"] == {"Federated": "<GitHubOidcProvider>"}
            assert statement["Condition"]["StringEquals"][AUD] == "sts.amazonaws.com"
            subs = [
                v for block in statement["Condition"].values() for k, v in block.items() if k == SUB
            ]
            assert len(subs) == 1, (role, statement)


def test_the_intended_jobs_can_assume_their_role() -> None:
    """Deploy from main and from a release tag, rollback from main (deploy role); the build job
    from main and from a release tag (build role)."""
    deploy, build = _trust("DeployRole"), _trust("BuildRole")
    for workflow, ref in (
        (DEPLOY_WORKFLOW, MAIN),
        (DEPLOY_WORKFLOW, "refs/tags/v1.2.3"),
        (ROLLBACK_WORKFLOW, MAIN),
    ):
        sub = github_sub("acme", "voj", environment="production", workflow=workflow, ref=ref)
        assert allows(deploy, _token(sub)), sub
        assert not allows(build, _token(sub)), sub
    for ref in (MAIN, "refs/tags/v10.0.1"):
        sub = github_sub("acme", "voj", environment="build", workflow=DEPLOY_WORKFLOW, ref=ref)
        assert allows(build, _token(sub)), sub
        assert not allows(deploy, _token(sub)), sub


def test_the_default_subject_no_longer_matches() -> None:
    """Without the one-time OIDC customisation, GitHub sends repo:<org>/<repo>:environment:
    production; neither role accepts it, so a forgotten setting fails closed."""
    for role in ROLES:
        for env in ("production", "build"):
            assert not allows(_trust(role), _token(f"repo:acme/voj:environment:{env}"))


def test_the_wrong_audience_is_refused() -> None:
    """A token for another audience is refused even with the right subject."""
    sub = github_sub("acme", "voj", environment="production", workflow=DEPLOY_WORKFLOW, ref=MAIN)
    assert not allows(_trust("DeployRole"), {AUD: "https://github.com/acme", SUB: sub})


def test_wildcards_appear_only_in_the_release_tag_pattern() -> None:
    """The only `*` in either trust policy is the v*.*.* of the release tag, under StringLike."""
    for role in ROLES:
        for statement in statements(_trust(role)):
            for operator, block in statement["Condition"].items():
                for value in (v for vs in block.values() for v in as_list(vs)):
                    if set("*?") & set(value):
                        assert operator == "StringLike"
                        assert value.endswith("@refs/tags/v*.*.*")
                        assert set("*?") & set(value.removesuffix("@refs/tags/v*.*.*")) == set()


ORG = st.from_regex(r"\A[A-Za-z0-9][A-Za-z0-9-]{0,38}\Z")
REPO = st.from_regex(r"\A[A-Za-z0-9._-]{1,100}\Z")
TEXT = st.text(st.characters(codec="ascii", exclude_categories=("Cc",)), max_size=20)
ENVIRONMENT = st.one_of(
    st.none(), st.sampled_from(["production", "build", "Production", "staging", "prod"]), TEXT
)
WORKFLOW = st.one_of(
    st.sampled_from(
        [
            DEPLOY_WORKFLOW,
            ROLLBACK_WORKFLOW,
            ".github/workflows/ci.yml",
            ".github/workflows/evil.yml",
            ".github/workflows/backend-deploy.yaml",
        ]
    ),
    TEXT.map(lambda t: f".github/workflows/{t}.yml"),
)
REF = st.one_of(
    st.sampled_from(
        [
            MAIN,
            "refs/heads/main-evil",
            "refs/heads/feature",
            "refs/pull/7/merge",
            "refs/tags/v1.2.3",
            "refs/tags/v1.2",
            "refs/tags/1.2.3",
            "refs/tags/release-1.2.3",
        ]
    ),
    st.builds(lambda t: f"refs/heads/{t}", TEXT),
    st.builds(lambda t: f"refs/tags/{t}", TEXT),
    st.builds(lambda a, b, c: f"refs/tags/v{a}.{b}.{c}", *(st.integers(0, 999),) * 3),
)


@given(
    org=ORG,
    repo=REPO,
    other_org=st.one_of(st.none(), ORG),
    other_repo=st.one_of(st.none(), REPO),
    environment=ENVIRONMENT,
    workflow=WORKFLOW,
    ref=REF,
    foreign_workflow=st.booleans(),
)
def test_only_the_intended_repository_environment_workflow_and_ref_match(
    org: str,
    repo: str,
    other_org: str | None,
    other_repo: str | None,
    environment: str | None,
    workflow: str,
    ref: str,
    foreign_workflow: bool,
) -> None:
    """For any repository the parameters accept, a token can assume a role exactly when it comes
    from that repository, the role's environment, the role's workflow file held in that same
    repository, and main (or a v*.*.* tag where allowed). Another repository, environment,
    workflow, branch, tag, or a reusable workflow from elsewhere never matches."""
    token_org, token_repo = other_org or org, other_repo or repo
    owner = "someone/else" if foreign_workflow else ""
    sub = github_sub(
        token_org, token_repo, environment=environment, workflow=workflow, ref=ref, owner=owner
    )
    same_repo = (token_org, token_repo) == (org, repo) and not foreign_workflow
    for role in ROLES:
        expected = same_repo and intended(role, environment, workflow, ref)
        assert allows(_trust(role, org, repo), _token(sub)) is expected, (role, sub)
    # and no accepted org/repo value smuggles a wildcard into a trust policy
    assert "*" not in json.dumps(_trust("DeployRole", org, repo)).replace("v*.*.*", "")
