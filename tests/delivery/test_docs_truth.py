"""docs/operations.md's security section (and the rollback section's concurrency claims) against
the files that can prove them: roles and trust, cache use per job, what is cancelled, which
images are kept, TLS, checkov and its skips. A claim changed on one side only fails here."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from .test_ecr_lifecycle import Image, expired, rules
from .test_infra import RESOURCES, TEMPLATE, as_list, resolver, statements
from .test_workflows import _uses_a_cache
from .workflows import load_workflow

ROOT = Path(__file__).resolve().parents[2]
DOC = (ROOT / "docs" / "operations.md").read_text(encoding="utf-8")
SECURITY = DOC[DOC.index("## 7. Security notes and known limits") :]
ROLLBACK = DOC[DOC.index("## 4. Rolling back") : DOC.index("## 5. Exit codes")]
WORKFLOWS = ROOT / ".github" / "workflows"
DEPLOY = load_workflow(WORKFLOWS / "backend-deploy.yml")
UNDO = load_workflow(WORKFLOWS / "backend-rollback.yml")


def _bullet(text: str, start: str) -> str:
    """The top-level bullet of ``text`` that starts with ``start`` (to the next one)."""
    at = text.index(start)
    end = text.find("\n- ", at)
    return text[at : end if end != -1 else len(text)]


def _role_policy_actions(role: str) -> set[str]:
    return {
        action
        for policy in resolver(EnablePrune="true").resolve(RESOURCES[role]["Properties"])[
            "Policies"
        ]
        for statement in statements(policy["PolicyDocument"])
        for action in as_list(statement["Action"])
    }


# ---- trust ------------------------------------------------------------------------------------


def _trusted_jobs(role: str) -> set[tuple[str, str, str]]:
    """(workflow file, environment, ref or ref pattern) from the role's trust policy."""
    trust = resolver().resolve(RESOURCES[role]["Properties"]["AssumeRolePolicyDocument"])
    found = set()
    for statement in statements(trust):
        for block in statement["Condition"].values():
            for sub in as_list(block.get("token.actions.githubusercontent.com:sub", [])):
                match = re.fullmatch(
                    r"repo:acme/voj:environment:(\w+):job_workflow_ref:acme/voj/"
                    r"\.github/workflows/([\w.-]+)@(.+)",
                    sub,
                )
                assert match, sub
                env, workflow, ref = match.groups()
                found.add((workflow, env, ref))
    return found


def _documented_jobs(role_name: str) -> set[tuple[str, str, str]]:
    trust = _bullet(SECURITY, "- **Trust bound to what runs.**")
    line = trust[trust.index(f"`{role_name}`") :]
    line = line[: line.find("\n  - ", 1) if "\n  - " in line[1:] else len(line)]
    found = set()
    for workflow, env, refs in re.findall(
        r"`([\w-]+\.yml)` in\s+environment `(\w+)`\s+from\s+(.*?)(?=, and |;|\n\n|$)",
        line,
        flags=re.DOTALL,
    ):
        for ref in re.findall(r"`(refs/[^`]+)`", refs):
            found.add((workflow, env, ref))
    return found


@pytest.mark.parametrize(
    ("role", "name"),
    [("DeployRole", "voj-backend-github-deploy"), ("BuildRole", "voj-backend-github-build")],
)
def test_the_documented_trust_is_the_templates(role: str, name: str) -> None:
    """Each role's trusted (workflow, environment, ref) triples are exactly those the doc lists."""
    assert RESOURCES[role]["Properties"]["RoleName"] == name
    assert _documented_jobs(name) == _trusted_jobs(role)
    assert _documented_jobs(name)


def test_the_documented_oidc_claim_keys_are_the_checked_ones() -> None:
    """Section 2.4's PUT names the claim keys, in order, that the settings check expects."""
    from rollout.decisions.github_settings import SUB_CLAIM_KEYS

    setup = DOC[DOC.index("### 2.4 Connect GitHub") : DOC.index("### 2.5")]
    assert tuple(re.findall(r"include_claim_keys\[\]=(\w+)", setup)) == SUB_CLAIM_KEYS


# ---- roles ------------------------------------------------------------------------------------


def test_the_build_role_grants_exactly_the_documented_actions() -> None:
    """The build role's bullet lists every action of its policy, and nothing else."""
    bullet = _bullet(SECURITY, "- **Build role, push only**")
    assert set(re.findall(r"`(ecr:\w+)`", bullet)) == _role_policy_actions("BuildRole")


def test_the_deploy_role_cannot_push_or_change_a_listener() -> None:
    """The deploy role's only ECR action is DescribeImages, and no ELBv2 write, as documented."""
    bullet = _bullet(SECURITY, "- **Deploy role, exactly what rollout calls**")
    actions = _role_policy_actions("DeployRole")
    assert {a for a in actions if a.startswith("ecr:")} == {"ecr:DescribeImages"}
    assert (
        "ECR: `ecr:DescribeImages` on `voj-backend` (verify reads the image); it cannot push"
        in (" ".join(bullet.split()))
    )
    assert not {a for a in actions if a.startswith("elasticloadbalancing:Modify")}
    assert "It cannot change a listener." in bullet


# ---- TLS and the load balancer ------------------------------------------------------------------


def test_tls_claims() -> None:
    """Rule name, opt-out name, TLS policy, redirect code, log bucket and deletion protection."""
    bullet = " ".join(_bullet(SECURITY, "- **TLS by default.**").split())
    assert set(TEMPLATE["Rules"]) == {"TlsRequired"}
    assert "rule `TlsRequired`" in bullet
    assert "`AllowPlainHttp=true`" in bullet
    assert "AllowPlainHttp" in TEMPLATE["Parameters"]
    listener = resolver(CertificateArn="arn:cert").resolve(RESOURCES["Listener"]["Properties"])
    assert f"`{listener['SslPolicy']}`" in bullet
    redirect = RESOURCES["HttpRedirectListener"]["Properties"]["DefaultActions"][0]
    assert f"`{redirect['RedirectConfig']['StatusCode']}`" in bullet
    attributes = {
        a["Key"]: a["Value"]
        for a in resolver().resolve(
            RESOURCES["LoadBalancer"]["Properties"]["LoadBalancerAttributes"]
        )
    }
    assert attributes["deletion_protection.enabled"] == "true"
    assert attributes["routing.http.drop_invalid_header_fields.enabled"] == "true"
    assert attributes["access_logs.s3.bucket"] == "<AccessLogsBucket>"
    days = RESOURCES["AccessLogsBucket"]["Properties"]["LifecycleConfiguration"]["Rules"][0][
        "ExpirationInDays"
    ]
    assert f"`AccessLogsBucket` (private, SSE-S3, TLS-only, {days} days)" in bullet


# ---- images kept --------------------------------------------------------------------------------


def test_the_documented_image_retention_is_what_ecr_would_do() -> None:
    """ "every image with a v tag" is kept, "the newest 100 sha-" are kept, untagged go after 7
    days: the numbers are the rules', and evaluating the rules agrees."""
    bullet = " ".join(_bullet(SECURITY, "- **Images kept.**").split())
    by_prefix = {
        tuple(r["selection"].get("tagPrefixList", ())) or r["selection"]["tagStatus"]: r[
            "selection"
        ]
        for r in rules()
    }
    keep = by_prefix[("sha-",)]["countNumber"]
    days = by_prefix["untagged"]["countNumber"]
    assert f"keep the newest {keep} `sha-` images" in bullet
    assert f"expire untagged images after {days} days" in bullet
    assert "keep every image with a `v` tag" in bullet
    images = [
        Image(f"sha256:{n:064x}", (f"sha-{n:07x}",) + ((f"v1.{n}.0",) if n % 7 == 0 else ()), n)
        for n in range(3 * keep)
    ]
    gone = expired(rules(), images, now=float(10**9))
    assert not {i.digest for i in images if len(i.tags) == 2} & gone
    assert {i.digest for i in images[-keep:]} & gone == set()


# ---- workflows: cache, cancellation, zizmor -----------------------------------------------------


def _credentialed_jobs() -> list[tuple[str, dict[str, Any]]]:
    return [
        (f"{path.name}/{job_id}", job)
        for path in sorted(WORKFLOWS.glob("*.yml"))
        for job_id, job in load_workflow(path)["jobs"].items()
        if job.get("permissions", {}).get("id-token") == "write"
    ]


def test_no_cache_in_credentialed_jobs_as_documented() -> None:
    """ "No cache in any job that can get AWS credentials": every such job (there are three)
    uses none, the build builds with no-cache: true, and setup-uv has enable-cache: false."""
    bullet = " ".join(_bullet(SECURITY, "- **Workflows.**").split())
    assert "No cache in any job that can get AWS credentials" in bullet
    jobs = _credentialed_jobs()
    assert [name for name, _ in jobs] == [
        "backend-deploy.yml/build",
        "backend-deploy.yml/deploy",
        "backend-rollback.yml/undo",
    ]
    for name, job in jobs:
        for step in job["steps"]:
            assert not _uses_a_cache(step), name
            uses = str(step.get("uses", ""))
            if uses.startswith("docker/build-push-action@"):
                assert step["with"]["no-cache"] is True
                assert "`no-cache: true`" in bullet
            if uses.startswith("astral-sh/setup-uv@"):
                assert step["with"]["enable-cache"] is False
                assert "`enable-cache: false`" in bullet


def _groups() -> dict[str, bool]:
    """Every concurrency group of the deploy and rollback workflows (as the doc writes them)
    -> its cancel-in-progress."""
    found: dict[str, bool] = {}
    for workflow in (DEPLOY, UNDO):
        blocks = [workflow.get("concurrency")] + [
            job.get("concurrency") for job in workflow["jobs"].values()
        ]
        for block in blocks:
            if block:
                group = block["group"].replace("${{ github.ref }}", "<ref>")
                group = group.replace(
                    "${{ inputs.environment == 'prod' && 'production' || inputs.environment }}",
                    "production",
                )
                found[group] = block["cancel-in-progress"]
    return found


def test_what_is_cancelled_is_what_the_doc_says() -> None:
    """The doc names every concurrency group of the deploy and rollback workflows, says none
    cancels, and the workflows agree; ci.yml is the only one that cancels, without
    credentials."""
    groups = _groups()
    assert set(groups) == {"backend-deploy-<ref>", "voj-production", "voj-production-rollback"}
    assert not any(groups.values())
    bullet = " ".join(_bullet(SECURITY, "- **Workflows.**").split())
    assert "What is cancelled in the deploy and rollback workflows: nothing." in bullet
    for group in groups:
        assert f"`{group}`" in bullet
    ci = load_workflow(WORKFLOWS / "ci.yml")
    assert ci["concurrency"]["cancel-in-progress"] is True
    assert all(j["permissions"].get("id-token") is None for j in ci["jobs"].values())
    rollback = " ".join(ROLLBACK.split())
    assert (
        "Its concurrency group is `voj-production-rollback`, not the deploy's `voj-production`"
        in (rollback)
    )
    assert "What is cancelled: nothing, by GitHub or by rollout." in rollback


def test_zizmor_runs_with_no_ignores() -> None:
    """ "reports nothing, with no ignores": no zizmor config and no inline ignore comment."""
    assert "zizmor (offline, pedantic persona) reports nothing, with no ignores" in " ".join(
        SECURITY.split()
    )
    for config in ("zizmor.yml", ".github/zizmor.yml", ".zizmor.yml"):
        assert not (ROOT / config).exists()
    for path in WORKFLOWS.glob("*.yml"):
        assert "zizmor: ignore" not in path.read_text(encoding="utf-8")


# ---- checkov and its skips ----------------------------------------------------------------------

# Each skipped check -> the words the doc's checkov bullet uses for it.
SKIP_REASONS = {
    "CKV_AWS_136": "ECR",
    "CKV_AWS_158": "Logs",
    "CKV_AWS_119": "DynamoDB",
    "CKV_AWS_18": "S3 access logs",
    "CKV_AWS_260": "port 80 open only to redirect",
    "CKV_AWS_2": "`Fn::If`",
    "CKV_AWS_103": "`Fn::If`",
    "CKV_GHA_7": "`workflow_dispatch`",
    "CKV_DOCKER_7": "`ARG`",
}
SCANNED = [
    ROOT / "infra" / "voj.yaml",
    *sorted(WORKFLOWS.glob("*.yml")),
    ROOT / "backend" / "Dockerfile",
]


def _skips() -> list[tuple[str, str, str]]:
    """(file, check id, reason) for every checkov skip in the scanned files."""
    found: list[tuple[str, str, str]] = []
    for logical_id, resource in RESOURCES.items():
        for skip in resource.get("Metadata", {}).get("checkov", {}).get("skip", []):
            found.append((f"voj.yaml/{logical_id}", skip["id"], str(skip.get("comment", ""))))
    for path in SCANNED[1:]:
        for check, reason in re.findall(
            r"checkov:skip=([A-Z0-9_]+):?(.*)$", path.read_text(encoding="utf-8"), re.M
        ):
            found.append((path.name, check, reason))
    return found


def test_every_checkov_skip_is_justified_where_it_is_made() -> None:
    """Each skip carries a reason of a sentence or more, and each skipped check is one the doc
    explains."""
    skips = _skips()
    assert skips
    for where, check, reason in skips:
        assert len(reason.split()) >= 8, (where, check, reason)
    assert {check for _, check, _ in skips} == set(SKIP_REASONS)
    bullet = " ".join(_bullet(SECURITY, "- **checkov**").split())
    for words in SKIP_REASONS.values():
        assert words in bullet


def test_the_documented_checkov_run_is_the_makefiles() -> None:
    """Version, offline switches and scanned paths in the doc are the Makefile's."""
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    version = re.search(r"^CHECKOV := (checkov==[\d.]+)$", makefile, re.M)
    assert version
    bullet = " ".join(_bullet(SECURITY, "- **checkov**").split())
    assert f"`{version.group(1)}`" in bullet
    assert "--skip-download" in makefile
    assert "BC_SKIP_MAPPING=TRUE" in makefile
    assert "(`--skip-download`, `BC_SKIP_MAPPING=TRUE`)" in bullet
    assert re.search(r"^test: .*\bsecurity\b", makefile, re.M)
    assert "-d infra -d .github -d backend" in makefile


# ---- egress, and the forwarded-for trust ---------------------------------------------------------

ENDPOINT_WORDS = {
    "ecr.api": "ECR api and dkr",
    "ecr.dkr": "ECR api and dkr",
    "logs": "CloudWatch Logs",
    "ssm": "SSM",
    "s3": "S3 and DynamoDB (gateway)",
    "dynamodb": "S3 and DynamoDB (gateway)",
}


def test_the_egress_table_names_the_templates_endpoints() -> None:
    """The private variant's endpoints in the doc are exactly the template's."""
    services = {
        r["Properties"]["ServiceName"]["Fn::Sub"].rsplit("}.", 1)[1]
        for r in RESOURCES.values()
        if r["Type"] == "AWS::EC2::VPCEndpoint"
    }
    assert services == set(ENDPOINT_WORDS)
    egress = " ".join(_bullet(SECURITY, "- **Egress").split())
    for words in ENDPOINT_WORDS.values():
        assert words in egress


def test_forwarded_for_is_trusted_from_the_templates_vpc() -> None:
    """gunicorn's default trusted network is the template's VpcCidr, as both docs say."""
    conf = (ROOT / "backend" / "gunicorn.conf.py").read_text(encoding="utf-8")
    cidr = re.search(r'^VPC_CIDR = "([\d./]+)"$', conf, re.M)
    assert cidr
    assert cidr.group(1) == TEMPLATE["Parameters"]["VpcCidr"]["Default"]
    assert f"`{cidr.group(1)}`" in SECURITY
    assert f"`{cidr.group(1)}`" in (ROOT / "docs" / "backend.md").read_text(encoding="utf-8")
