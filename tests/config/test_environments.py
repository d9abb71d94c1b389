"""One configuration, many environments; the image policy. Pure decisions (tables), then
verify and deploy against a provisioned sandbox."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from rollout.cli import _register, app
from rollout.decisions.image_policy import (
    allowed_registries,
    check_image_policy,
    violations,
)
from rollout.decisions.isolation import belongs, check_isolation, owners, tokens
from rollout.decisions.reference import parse_reference

from .conftest import edit_template

ENVS: Mapping[str, Sequence[str]] = {"prod": ("prod",), "staging": ("staging", "stg")}
D = "sha256:" + "c" * 64
ECR = "123456789012.dkr.ecr.ap-northeast-2.amazonaws.com"


@pytest.mark.parametrize(
    ("name", "env", "expected"),
    [
        ("voj-backend-prod", "prod", True),
        ("voj/prod/S3_BUCKET_NAME", "prod", True),
        ("/ecs/voj-backend-prod", "prod", True),
        ("/ecs/voj-backend", "prod", False),  # names no environment
        ("voj-backend-prod", "staging", False),  # prod's
        ("voj-backend-stg", "staging", True),  # an alias
        ("voj-staging-prod", "prod", False),  # names two environments
        ("voj-staging-prod", "staging", False),
        ("voj-production", "prod", False),  # substrings do not count
        ("voj-preprod", "prod", False),
        ("VOJ_PROD_API", "prod", True),  # tokens are case-insensitive
    ],
)
def test_belongs_table(name: str, env: str, expected: bool) -> None:
    """A name belongs to an environment when it has the environment's name (or an alias) as a
    whole word and no other environment's."""
    assert belongs(name, env, ENVS) is expected


def test_multi_word_environment_names() -> None:
    """With prod and prod-eu, `voj-prod-eu` is prod-eu's only; `voj-prod` is prod's only."""
    envs = {"prod": ("prod",), "prod-eu": ("prod-eu",)}
    assert owners("voj-prod-eu", envs) == ("prod-eu",)
    assert owners("voj-prod", envs) == ("prod",)
    assert tokens("/ecs/voj-Backend_prod") == ("ecs", "voj", "backend", "prod")


def _doc(family: str, secret: str, group: str) -> dict[str, Any]:
    return {
        "family": family,
        "containerDefinitions": [
            {
                "name": "api",
                "image": "x",
                "secrets": [{"name": "S", "valueFrom": secret}],
                "logConfiguration": {"logDriver": "awslogs", "options": {"awslogs-group": group}},
            }
        ],
    }


@pytest.mark.parametrize(
    ("doc", "mode", "status", "phrase"),
    [
        (
            _doc("voj-prod", "arn:aws:ssm:r:1:parameter/voj/prod/A", "/ecs/voj-prod"),
            "require",
            "pass",
            "are staging's",
        ),
        (
            _doc("voj-backend-prod", "/voj/prod/A", "/ecs/voj-backend"),
            "require",
            "fail",
            "family 'voj-backend-prod' (family) belongs to prod",
        ),
        (
            _doc("voj-staging", "/voj/prod/A", "/ecs/voj-staging"),
            "require",
            "fail",
            "secret '/voj/prod/A' (api.S) belongs to prod",
        ),
        (
            _doc("voj-staging", "/voj/staging/A", "/ecs/voj"),
            "warn",
            "warn",
            "log group '/ecs/voj' (api) does not name staging",
        ),
        (
            _doc(
                "voj-staging",
                "arn:aws:secretsmanager:r:123456789012:secret:prod/db-AbCdEf",
                "/ecs/voj-staging",
            ),
            "require",
            "fail",
            "secret 'prod/db-AbCdEf'",
        ),
        (_doc("anything", "/x", "/y"), "off", "pass", "not checked"),
    ],
)
def test_check_isolation_table(doc: dict[str, Any], mode: str, status: str, phrase: str) -> None:
    """Staging's family, secrets and log group are checked; each offender is named."""
    if status == "pass" and mode != "off":
        doc = _doc("voj-staging", "/voj/staging/A", "/ecs/voj-staging")
    check = check_isolation(doc, "staging", ENVS, mode)
    assert check.status == status
    assert phrase in check.message
    if status != "pass":
        assert "[env.staging.vars]" in check.fix


@pytest.mark.parametrize(
    ("image", "allowed", "require_digest", "problems"),
    [
        (f"{ECR}/voj-backend@{D}", (ECR,), True, []),
        (f"{ECR}/voj-backend:sha-1", (ECR,), True, ["not pinned by digest"]),
        (f"{ECR}/voj-backend:sha-1", (ECR,), False, []),
        (f"evil.example.com/x@{D}", (ECR,), True, ["not from an allowed registry"]),
        ("evil.example.com/x:1", (ECR,), True, ["allowed registry", "not pinned"]),
        ("nginx:1.27", (ECR,), True, ["allowed registry", "not pinned"]),  # Docker Hub, by tag
        (f"nginx@{D}", ("docker.io/library",), True, []),
        (f"nginx@{D}", ("docker.io/acme",), True, ["allowed registry"]),
        (f"ghcr.io/acme/app@{D}", ("ghcr.io/acme",), True, []),
        (f"ghcr.io/acmex/app@{D}", ("ghcr.io/acme",), True, ["allowed registry"]),
        (f"GHCR.io/acme/app@{D}", ("ghcr.io",), True, []),
        (f"{ECR.replace('ap-northeast-2', 'us-east-1')}/v@{D}", (ECR,), True, ["allowed"]),
        ("Bad:Ref", (ECR,), True, ["must be lowercase"]),
    ],
)
def test_image_policy_table(
    image: str, allowed: tuple[str, ...], require_digest: bool, problems: list[str]
) -> None:
    """Registries by host or host/namespace prefix; Docker Hub is docker.io(/library);
    pinning means a digest in the rendered reference."""
    found = violations([("api", image)], allowed, require_digest=require_digest)
    assert len(found) == len(problems)
    for text, phrase in zip(found, problems, strict=True):
        assert phrase in text


def test_default_allow_list_is_the_accounts_ecr_in_the_region() -> None:
    """No registries configured: the account's own ECR in the environment's region only."""
    assert allowed_registries((), account="123456789012", region="ap-northeast-2") == (ECR,)
    assert allowed_registries(
        ("<account>.dkr.ecr.<region>.amazonaws.com", "ghcr.io/acme/"),
        account="1",
        region="eu-west-1",
    ) == ("1.dkr.ecr.eu-west-1.amazonaws.com", "ghcr.io/acme")


def test_override_turns_the_failure_into_a_recorded_warning() -> None:
    """With a reason, a violation is a warning naming the reason; without, a failure."""
    images = [("api", "evil.example.com/x:1")]
    failed = check_image_policy(images, (ECR,), require_digest=True)
    assert failed.status == "fail"
    assert "--image-policy-override" in failed.fix
    warned = check_image_policy(images, (ECR,), require_digest=True, override="INC-42 hotfix")
    assert warned.status == "warn"
    assert warned.message.startswith("overridden (INC-42 hotfix): ")
    assert parse_reference(images[0][1]).domain == "evil.example.com"


# -- against the provisioned sandbox ------------------------------------------------------------


@pytest.fixture(scope="module")
def endpoint(stack: Any) -> Iterator[dict[str, str]]:
    """The stack served over HTTP, as environment variables for a CLI run."""
    environ = stack.env()
    try:
        yield environ
    finally:
        stack.stop()


def _verify(endpoint: dict[str, str], workdir: Path, *args: str) -> tuple[int, dict[str, Any], str]:
    _register()
    result = CliRunner().invoke(
        app,
        ["verify", "--config", str(workdir / "rollout.toml"), "-o", "json", *args],
        env={**endpoint, "ROLLOUT_ENV": None},
    )
    doc = json.loads(result.stdout) if result.stdout.startswith("{") else {}
    return result.exit_code, doc, result.output


def _failed(doc: Mapping[str, Any]) -> list[str]:
    return [c["name"] for c in doc["checks"] if c["status"] == "fail"]


def test_verify_fails_a_registry_outside_the_allow_list(
    endpoint: dict[str, str], workdir: Path
) -> None:
    """An image from another registry fails `image: policy` (exit 10) in the default policy."""
    code, doc, out = _verify(endpoint, workdir, "--image", "evil.example.com/x:1")
    assert code == 10, out
    assert "image: policy" in _failed(doc)
    (policy,) = [c for c in doc["checks"] if c["name"] == "image: policy"]
    assert "not from an allowed registry" in policy["message"]
    assert "not pinned by digest" in policy["message"]
    assert doc["image_policy_override"] is None


def test_verify_override_is_a_warning_and_is_reported(
    endpoint: dict[str, str], workdir: Path
) -> None:
    """--image-policy-override REASON passes the policy as a warning, reported in the JSON."""
    code, doc, out = _verify(
        endpoint,
        workdir,
        "--image",
        f"public.ecr.aws/nginx/nginx@{D}",
        "--image-policy-override",
        "vendor image, INC-7",
    )
    assert "image: policy" not in _failed(doc), out
    (policy,) = [c for c in doc["checks"] if c["name"] == "image: policy"]
    assert policy["status"] == "warn"
    assert doc["image_policy_override"] == "vendor image, INC-7"
    assert code == 0, out


def test_allow_list_in_the_config(endpoint: dict[str, str], workdir: Path) -> None:
    """[env.prod.image_policy] registries admits a registry (and only it)."""
    toml = workdir / "rollout.toml"
    toml.write_text(
        toml.read_text()
        + '\n[env.prod.image_policy]\nregistries = ["<account>.dkr.ecr.<region>.amazonaws.com",'
        ' "public.ecr.aws/nginx"]\n'
    )
    _, doc, out = _verify(endpoint, workdir, "--image", f"public.ecr.aws/nginx/nginx@{D}")
    assert "image: policy" not in _failed(doc), out
    _, doc, out = _verify(endpoint, workdir, "--image", f"public.ecr.aws/other/x@{D}")
    assert "image: policy" in _failed(doc), out


def test_verify_fails_when_the_template_renders_another_environments_names(
    endpoint: dict[str, str], workdir: Path
) -> None:
    """A shared log group (no environment in its name) fails `env: resources belong`."""

    def shared_group(doc: dict[str, Any]) -> None:
        options = doc["containerDefinitions"][0]["logConfiguration"]["options"]
        options["awslogs-group"] = "/ecs/voj-backend"
        options["awslogs-create-group"] = "true"

    edit_template(workdir, shared_group)
    code, doc, out = _verify(endpoint, workdir, "--image", "sha-0000002")
    assert code == 10, out
    assert _failed(doc) == ["env: resources belong"]


@pytest.mark.parametrize(
    "image",
    ["", "repo:", "Voj-Backend:1", "voj@sha256:abc", "x@sha256:" + "A" * 64, "-bad"],
)
@pytest.mark.parametrize("verb", ["deploy", "verify", "render", "diff"])
def test_bad_image_is_a_usage_error_before_any_aws_call(verb: str, image: str) -> None:
    """A malformed --image exits 2 with the reason, before any AWS call (no endpoint, no
    credentials and no config are reachable, and the message is the reference's)."""
    _register()
    result = CliRunner().invoke(
        app,
        [verb, "--image", image, "--config", "/nonexistent/rollout.toml"],
        env={"AWS_ENDPOINT_URL": "http://127.0.0.1:9", "ROLLOUT_ENV": None},
    )
    assert result.exit_code == 2, result.output
    assert "failed to parse the image" in result.output
    assert "rollout.toml" not in result.output  # refused before the config was even read
