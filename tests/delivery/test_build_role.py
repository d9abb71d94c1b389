"""The build job's role grants exactly the calls the build job makes (issue 13, finding 2).

The calls are read from the workflow itself: each ``aws ecr <command>`` in a ``run:`` script is
the ECR action of that name, and each action the job uses makes the calls its documentation
lists. The deploy and rollback jobs assume the deploy role and only run rollout, whose calls
tests/delivery/test_deploy_role_covers_rollout.py derives by running it in the sandbox.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from .test_infra import RESOURCES, as_list, resolver, statements
from .workflows import load_workflow

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = load_workflow(ROOT / ".github" / "workflows" / "backend-deploy.yml")

# What each action used in a credentialed job calls in ECR (their READMEs and the ECR docs,
# "Required IAM permissions for pushing an image").
ACTION_CALLS = {
    # amazon-ecr-login: GetAuthorizationToken, then `docker login` with the token.
    "aws-actions/amazon-ecr-login": {"ecr:GetAuthorizationToken"},
    # A docker push (build-push-action with push: true) to an ECR repository.
    "docker/build-push-action": {
        "ecr:BatchCheckLayerAvailability",
        "ecr:InitiateLayerUpload",
        "ecr:UploadLayerPart",
        "ecr:CompleteLayerUpload",
        "ecr:PutImage",
        "ecr:BatchGetImage",
    },
    # These call no AWS API with the job's credentials.
    "actions/checkout": set(),
    "aws-actions/configure-aws-credentials": set(),  # sts:AssumeRoleWithWebIdentity: trust
    "docker/setup-buildx-action": set(),
}


def _camel(command: str) -> str:
    return "".join(part.capitalize() for part in command.split("-"))


def calls_of(job: dict[str, Any]) -> set[str]:
    """Every ECR action the job's steps call."""
    calls: set[str] = set()
    for step in job["steps"]:
        uses = str(step.get("uses", ""))
        if uses:
            name = uses.split("@", 1)[0]
            assert name in ACTION_CALLS, f"unknown action {name}: say what it calls"
            if name == "docker/build-push-action":
                assert step["with"]["push"] is True
            calls |= ACTION_CALLS[name]
        for command in re.findall(r"\baws ecr ([a-z-]+)", str(step.get("run", ""))):
            calls.add(f"ecr:{_camel(command)}")
        assert "aws " not in re.sub(r"\baws ecr [a-z-]+", "", str(step.get("run", ""))), (
            "an AWS CLI call outside ECR: add it here and to the build role"
        )
    return calls


def granted(role: str) -> set[str]:
    props = resolver().resolve(RESOURCES[role]["Properties"])
    return {
        action
        for policy in props["Policies"]
        for statement in statements(policy["PolicyDocument"])
        for action in as_list(statement["Action"])
    }


def test_the_build_job_calls_what_its_steps_say() -> None:
    """The workflow's build job: ECR login, describe-images, a push, batch-get-image and
    put-image for re-tagging a release."""
    assert calls_of(DEPLOY["jobs"]["build"]) == {
        "ecr:GetAuthorizationToken",
        "ecr:DescribeImages",
        "ecr:BatchGetImage",
        "ecr:PutImage",
        "ecr:BatchCheckLayerAvailability",
        "ecr:InitiateLayerUpload",
        "ecr:UploadLayerPart",
        "ecr:CompleteLayerUpload",
    }


def test_the_build_role_grants_exactly_the_build_jobs_calls() -> None:
    """Nothing the build job calls is missing from the build role, and the role grants nothing
    the job does not call."""
    assert granted("BuildRole") == calls_of(DEPLOY["jobs"]["build"])


def test_only_the_build_job_uses_the_build_environment() -> None:
    """The build role's environment is used by the build job alone, and the deploy and rollback
    jobs use production (the deploy role's)."""
    environments = {job_id: job.get("environment") for job_id, job in DEPLOY["jobs"].items()}
    assert [j for j, env in environments.items() if env == "build"] == ["build"]
    assert environments["deploy"] == "production"
    undo = load_workflow(ROOT / ".github" / "workflows" / "backend-rollback.yml")["jobs"]["undo"]
    assert "production" in undo["environment"]
