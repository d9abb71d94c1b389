"""The GitHub workflows: offline linters, and the hardening rules of issue 6 as properties."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from .workflows import expressions, load_workflow, rollout_commands, rollout_steps, run_steps

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = ROOT / ".github" / "workflows"
FILES = sorted(WORKFLOWS.glob("*.yml"))
BIN = Path(sys.executable).parent
PINNED = re.compile(r"^[\w.-]+/[\w./-]+@[0-9a-f]{40}$")


def _workflow(name: str) -> dict[str, Any]:
    return load_workflow(WORKFLOWS / name)


def _uses_lines(path: Path) -> list[tuple[str, str]]:
    """(uses value, trailing comment) for every `uses:` line in the file."""
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        match = re.match(r"^\s*(?:-\s+)?uses:\s*(\S+)\s*(?:#\s*(.*))?$", line)
        if match:
            out.append((match.group(1), match.group(2) or ""))
    return out


def test_the_three_workflows_exist() -> None:
    """Deploy, rollback and CI workflows are all present (the linters below cover them)."""
    assert {p.name for p in FILES} >= {"backend-deploy.yml", "backend-rollback.yml", "ci.yml"}


def test_zizmor_offline_finds_nothing() -> None:
    """zizmor (offline, pedantic persona) reports no finding on any workflow."""
    result = subprocess.run(
        [str(BIN / "zizmor"), "--offline", "--persona=pedantic", "--no-progress", str(WORKFLOWS)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "No findings to report" in result.stdout + result.stderr


def test_workflows_match_the_github_workflow_schema() -> None:
    """check-jsonschema validates every workflow against its vendored (offline) schema."""
    result = subprocess.run(
        [
            str(BIN / "check-jsonschema"),
            "--builtin-schema",
            "vendor.github-workflows",
            *map(str, FILES),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_every_action_is_pinned_to_a_commit_sha_with_its_version(path: Path) -> None:
    """Every `uses:` names a full 40-hex commit and a `# vX.Y.Z` comment, never a tag."""
    uses = _uses_lines(path)
    assert uses, "expected at least one action"
    for ref, comment in uses:
        assert PINNED.match(ref), ref
        assert re.match(r"^v\d+\.\d+\.\d+", comment), f"{ref} lacks a version comment"


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_permissions_are_empty_at_top_and_minimal_per_job(path: Path) -> None:
    """Top-level permissions are {}; each job grants only contents: read and, if it talks to
    AWS, id-token: write."""
    workflow = load_workflow(path)
    assert workflow["permissions"] == {}
    for job_id, job in workflow["jobs"].items():
        perms = job.get("permissions")
        assert isinstance(perms, dict), f"{job_id} has no explicit permissions"
        assert set(perms.items()) <= {("contents", "read"), ("id-token", "write")}, job_id
        uses_aws = any(
            "configure-aws-credentials" in str(step.get("uses", "")) for step in job["steps"]
        )
        assert (perms.get("id-token") == "write") == uses_aws, job_id


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_checkouts_do_not_persist_credentials(path: Path) -> None:
    """Every actions/checkout step sets persist-credentials: false."""
    workflow = load_workflow(path)
    checkouts = [
        step
        for job in workflow["jobs"].values()
        for step in job["steps"]
        if str(step.get("uses", "")).startswith("actions/checkout@")
    ]
    assert checkouts
    for step in checkouts:
        assert step.get("with", {}).get("persist-credentials") is False


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_no_expression_is_interpolated_into_run_scripts(path: Path) -> None:
    """`run:` scripts contain no ${{ }} at all (event text, inputs and outputs go through env)."""
    for step in run_steps(load_workflow(path), path.name):
        assert not expressions(step.run), f"{step.job}/{step.name}"


def test_deploy_workflow_triggers() -> None:
    """Pushes to main (with the path filters), v*.*.* tags and manual dispatch trigger deploys."""
    on = _workflow("backend-deploy.yml")["on"]
    assert on["push"]["branches"] == ["main"]
    assert on["push"]["tags"] == ["v*.*.*"]
    assert {"backend/**", "uv.lock", "src/rollout/**", "infra/**", ".github/ecs/**"} <= set(
        on["push"]["paths"]
    )
    assert "workflow_dispatch" in on


def test_deploy_jobs_chain_and_protect_production() -> None:
    """test → build → deploy; the build job runs in environment build (its push-only role), the
    deploy in production; deploys are serialised and never cancelled half-way."""
    jobs = _workflow("backend-deploy.yml")["jobs"]
    assert jobs["build"]["needs"] == "test"
    assert jobs["deploy"]["needs"] == "build"
    assert jobs["build"]["environment"] == "build"
    assert jobs["deploy"]["environment"] == "production"
    assert jobs["deploy"]["concurrency"] == {
        "group": "voj-production",
        "cancel-in-progress": False,
    }


def test_a_rollback_neither_waits_behind_a_deploy_nor_can_be_displaced_by_one() -> None:
    """The rollback job's concurrency group is its own (not the deploy's): GitHub keeps one
    pending run per group, so sharing it would let a queued deploy replace a queued rollback,
    and a rollback would wait behind a running deploy. Rollbacks are never cancelled."""
    deploy = _workflow("backend-deploy.yml")
    rollback = _workflow("backend-rollback.yml")["jobs"]["undo"]["concurrency"]
    assert rollback["cancel-in-progress"] is False
    group = rollback["group"]
    assert (
        group
        == "voj-${{ inputs.environment == 'prod' && 'production' || inputs.environment }}-rollback"
    )
    deploy_groups = {deploy["concurrency"]["group"]} | {
        job.get("concurrency", {}).get("group") for job in deploy["jobs"].values()
    }
    for environment in ("production", "staging"):
        resolved = group.replace(
            "${{ inputs.environment == 'prod' && 'production' || inputs.environment }}",
            environment,
        )
        assert resolved not in deploy_groups
    assert deploy["concurrency"]["cancel-in-progress"] is False


CACHE_ACTIONS = ("actions/cache@", "actions/cache/restore@", "actions/cache/save@")


def _uses_a_cache(step: dict[str, Any]) -> bool:
    uses = str(step.get("uses", ""))
    with_ = step.get("with", {}) or {}
    if uses.startswith(CACHE_ACTIONS):
        return True
    if uses.startswith("docker/build-push-action@"):
        return (
            bool(with_.get("cache-from") or with_.get("cache-to"))
            or with_.get("no-cache") is not True
        )
    if uses.startswith("astral-sh/setup-uv@"):
        return with_.get("enable-cache") is not False
    if uses.startswith("actions/setup-python@"):
        return bool(with_.get("cache"))
    return False


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_jobs_holding_aws_credentials_use_no_cache(path: Path) -> None:
    """No job that can get AWS credentials (id-token: write) reads or writes any cache: the
    GitHub Actions cache is shared across the repository's runs, pull requests included."""
    for job_id, job in load_workflow(path)["jobs"].items():
        if job.get("permissions", {}).get("id-token") != "write":
            continue
        for step in job["steps"]:
            assert not _uses_a_cache(step), f"{path.name}/{job_id}: {step.get('uses')}"


def test_build_pushes_an_amd64_image_tagged_with_the_short_sha_and_outputs_its_digest() -> None:
    """buildx builds backend/Dockerfile for linux/amd64 without a cache, tags sha-<short sha> (and
    the version on release tags), and the job outputs repo@digest."""
    build = _workflow("backend-deploy.yml")["jobs"]["build"]
    steps = {step.get("id"): step for step in build["steps"]}
    push = steps["build"]["with"]
    assert push["platforms"] == "linux/amd64"
    assert push["file"] == "backend/Dockerfile"
    assert push["context"] == "."
    assert push["no-cache"] is True
    assert "cache-from" not in push
    assert "cache-to" not in push
    assert "steps.tags.outputs.sha_tag" in push["tags"]
    assert "steps.tags.outputs.version" in push["tags"]
    assert "sha_tag=sha-${GITHUB_SHA::7}" in steps["tags"]["run"]
    assert build["outputs"]["image"] == "${{ steps.image.outputs.image }}"
    assert "@$digest" in steps["image"]["run"]


def test_oidc_role_comes_from_the_secret_and_the_session_names_the_run() -> None:
    """Every configure-aws-credentials step assumes secrets.AWS_IAM_ROLE_ARN with a session
    name derived from the run id (no stored AWS keys anywhere)."""
    for path in FILES:
        text = path.read_text(encoding="utf-8")
        assert "aws-access-key-id" not in text
        for job in load_workflow(path)["jobs"].values():
            for step in job["steps"]:
                if "configure-aws-credentials" in str(step.get("uses", "")):
                    assert step["with"]["role-to-assume"] == "${{ secrets.AWS_IAM_ROLE_ARN }}"
                    assert "github.run_id" in step["with"]["role-session-name"]


def test_deploy_and_rollback_call_rollout_as_specified() -> None:
    """The deploy runs `rollout deploy --image <digest> --env prod`; the rollback runs
    `rollout undo --env <input>` with an optional --to-revision."""
    deploy = _workflow("backend-deploy.yml")
    (step,) = rollout_steps(deploy, "backend-deploy.yml")
    assert step.id == "deploy"
    assert rollout_commands(step.run) == [
        ["rollout", "deploy", "--image", "$IMAGE", "--env", "prod"]
    ]
    assert step.env["IMAGE"] == "${{ needs.build.outputs.image }}"
    rollback = _workflow("backend-rollback.yml")
    (undo,) = rollout_steps(rollback, "backend-rollback.yml")
    assert rollout_commands(undo.run) == [
        ["rollout", "undo", "--env", "$ROLLOUT_ENV", "${args[@]}"]
    ]
    assert "--to-revision" in undo.run
    inputs = rollback["on"]["workflow_dispatch"]["inputs"]
    assert set(inputs) == {"environment", "revision"}
    assert inputs["revision"]["required"] is False


def test_ci_runs_make_test_on_pull_requests() -> None:
    """ci.yml runs `make test` (lint, types, the suite with these checks) for pull requests."""
    ci = _workflow("ci.yml")
    assert "pull_request" in ci["on"]
    assert any(step.run.strip() == "make test" for step in run_steps(ci))
