""".github/ecs/taskdef.json: hardened as issue 6 asks, consistent with the stack, the image and
gunicorn's settings, and it renders and verifies against the provisioned sandbox."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result
from typer.testing import CliRunner

from rollout.cli import _register, app
from rollout.config import environment_names, load_config
from rollout.decisions.isolation import check_isolation, environment_resources
from rollout.sandbox import Sandbox
from rollout.sandbox.provision import ProvisionResult, load_template
from rollout.templating import lookup_from, substitute_document

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE: dict[str, Any] = json.loads((ROOT / ".github/ecs/taskdef.json").read_text())
CONFIG = ROOT / "rollout.toml"


def rendered_for(env: str) -> dict[str, Any]:
    """The template with ``env``'s `vars` filled in (placeholders such as <account> left)."""
    values = load_config(CONFIG, env, environ={}).vars
    document: dict[str, Any] = substitute_document(TEMPLATE, lookup_from(values))
    return document


TASKDEF = rendered_for("prod")
(CONTAINER,) = TASKDEF["containerDefinitions"]
RESOURCES = load_template(ROOT / "infra" / "voj.yaml")["Resources"]
SEED_COMMAND = (
    "gunicorn app.main:app -k uvicorn.workers.UvicornWorker -b 0.0.0.0:8000 --workers 2 "
    "--timeout 60"
)
SECRETS = (
    "S3_BUCKET_NAME",
    "BOOKS_TABLE_NAME",
    "AUDIO_CHAPTERS_TABLE_NAME",
    "CORS_ORIGINS",
    "ALLOWED_HOSTS",
)


def test_seed_shape() -> None:
    """Family, Fargate/awsvpc 512/1024, container api on 8000 running the seed's command."""
    assert TASKDEF["family"] == "voj-backend-prod"
    assert TASKDEF["requiresCompatibilities"] == ["FARGATE"]
    assert TASKDEF["networkMode"] == "awsvpc"
    assert (TASKDEF["cpu"], TASKDEF["memory"]) == ("512", "1024")
    assert CONTAINER["name"] == "api"
    assert [p["containerPort"] for p in CONTAINER["portMappings"]] == [8000]
    assert " ".join(CONTAINER["command"]) == SEED_COMMAND
    assert TASKDEF["executionRoleArn"] == "arn:aws:iam::<account>:role/voj-backend-execution"
    assert TASKDEF["taskRoleArn"].startswith("arn:aws:iam::<account>:role/")


def test_environment_and_secrets() -> None:
    """ENVIRONMENT and AWS_REGION are plain settings; the five SSM settings are secrets under
    /voj/prod/ (account left as a placeholder)."""
    env = {e["name"]: e["value"] for e in CONTAINER["environment"]}
    assert env == {"ENVIRONMENT": "production", "AWS_REGION": "ap-northeast-2"}
    assert {s["name"]: s["valueFrom"] for s in CONTAINER["secrets"]} == {
        name: f"arn:aws:ssm:ap-northeast-2:<account>:parameter/voj/prod/{name}" for name in SECRETS
    }


@pytest.mark.parametrize("env", sorted(environment_names(CONFIG)))
def test_every_environment_renders_its_own_names(env: str) -> None:
    """Each environment in rollout.toml fills every variable of the template, and its family,
    secrets and log group belong to it (the check verify runs, docs/configuration.md)."""
    document = rendered_for(env)
    assert "${" not in json.dumps(document)
    check = check_isolation(document, env, environment_names(CONFIG))
    assert check.status == "pass", check.message
    names = {r.kind: r.name for r in environment_resources(document)}
    assert env in names["family"]
    assert f"/{env}/" in f"/{names['secret']}/" or f"/{env}" in names["secret"]


def test_environments_share_no_family_secret_or_log_group() -> None:
    """No two environments render the same family, secret path or log group."""
    seen: dict[str, str] = {}
    for env in environment_names(CONFIG):
        for resource in environment_resources(rendered_for(env)):
            assert seen.setdefault(resource.name, env) == env, resource


def test_filesystem_is_read_only_with_a_scratch_volume_at_tmp() -> None:
    """The root filesystem is read-only; /tmp is a writable mount of a declared task volume."""
    assert CONTAINER["readonlyRootFilesystem"] is True
    (mount,) = CONTAINER["mountPoints"]
    assert mount["containerPath"] == "/tmp"
    assert mount["readOnly"] is False
    assert mount["sourceVolume"] in {v["name"] for v in TASKDEF["volumes"]}


def test_runs_as_the_images_non_root_user() -> None:
    """The container runs as a numeric non-root uid:gid, the same USER as backend/Dockerfile."""
    user = CONTAINER["user"]
    assert re.fullmatch(r"[1-9]\d{3,}:[1-9]\d{3,}", user)
    dockerfile = (ROOT / "backend" / "Dockerfile").read_text()
    users = re.findall(r"^USER\s+(\S+)", dockerfile, flags=re.MULTILINE)
    assert users[-1] == user


def test_stop_timeout_covers_gunicorns_graceful_timeout() -> None:
    """stopTimeout >= gunicorn's graceful_timeout (backend/gunicorn.conf.py) + 5 s, <= 120."""
    conf = (ROOT / "backend" / "gunicorn.conf.py").read_text()
    match = re.search(r"^graceful_timeout\s*=\s*(\d+)", conf, flags=re.MULTILINE)
    graceful = int(match.group(1)) if match else 30  # gunicorn's default
    assert graceful + 5 <= CONTAINER["stopTimeout"] <= 120


def test_health_check_probes_health_with_python() -> None:
    """The container health check calls /health on 8000 with Python's urllib (no curl in slim
    images), and its start period fits inside the service's grace period."""
    check = CONTAINER["healthCheck"]
    assert check["command"][:3] == ["CMD", "python", "-c"]
    assert "urllib.request" in check["command"][3]
    assert "http://127.0.0.1:8000/health" in check["command"][3]
    assert "curl" not in json.dumps(check)
    grace = RESOURCES["Service"]["Properties"]["HealthCheckGracePeriodSeconds"]
    assert check["startPeriod"] <= grace


def test_taskdef_matches_the_stack() -> None:
    """Role names, log group, repository, container name/port and health path are the ones
    infra/voj.yaml creates and wires, so the template and the stack cannot drift apart."""
    role_names = {
        r["Properties"]["RoleName"] for r in RESOURCES.values() if r["Type"] == "AWS::IAM::Role"
    }
    for arn in (TASKDEF["executionRoleArn"], TASKDEF["taskRoleArn"]):
        assert arn.rsplit("/", 1)[1] in role_names
    assert RESOURCES["ExecutionRole"]["Properties"]["RoleName"] == "voj-backend-execution"
    logs = CONTAINER["logConfiguration"]
    assert logs["logDriver"] == "awslogs"
    assert logs["options"]["awslogs-group"] == "/ecs/voj-backend-prod"
    assert logs["options"]["awslogs-group"] == RESOURCES["LogGroup"]["Properties"]["LogGroupName"]
    repository = RESOURCES["Repository"]["Properties"]["RepositoryName"]
    assert CONTAINER["image"].split("/", 1)[1].split(":")[0] == repository
    (binding,) = RESOURCES["Service"]["Properties"]["LoadBalancers"]
    assert (binding["ContainerName"], binding["ContainerPort"]) == (
        CONTAINER["name"],
        CONTAINER["portMappings"][0]["containerPort"],
    )
    assert RESOURCES["TargetGroupBlue"]["Properties"]["HealthCheckPath"] == "/health"
    parameters = {
        r["Properties"]["Name"] for r in RESOURCES.values() if r["Type"] == "AWS::SSM::Parameter"
    }
    assert parameters == {f"/voj/prod/{name}" for name in SECRETS}


# ---------------------------------------------------------------------------- render / verify


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[Sandbox, ProvisionResult, dict[str, str]]]:
    """A provisioned sandbox served over HTTP, and the environment the CLI needs to reach it."""
    sb = Sandbox()
    try:
        result = sb.provision_voj()
        sb.serve()
        yield sb, result, sb.env()
    finally:
        sb.close()


def _rollout(env: dict[str, str], *args: str) -> Result:
    """Run the rollout CLI in-process (typer's runner), talking HTTP to the served sandbox."""
    _register()
    return CliRunner().invoke(
        app, [*args, "--config", str(ROOT / "rollout.toml")], env={**env, "ROLLOUT_ENV": None}
    )


def test_renders_with_only_the_image_swapped(
    served: tuple[Sandbox, ProvisionResult, dict[str, str]],
) -> None:
    """`rollout render` fills <account> and pins the image by digest; every other container
    setting is the template's."""
    _, result, env = served
    proc = _rollout(env, "render", "--env", "prod", "--image", "sha-0000002")
    assert proc.exit_code == 0, proc.output
    rendered = json.loads(proc.stdout)
    (container,) = rendered["containerDefinitions"]
    assert container["image"] == f"{result.repository_uri}@{result.digests['sha-0000002']}"
    expected = json.loads(json.dumps(CONTAINER).replace("<account>", result.account))  # prod
    for key, value in expected.items():
        if key != "image":
            assert container[key] == value, key
    assert rendered["executionRoleArn"] == result.execution_role_arn
    assert rendered["taskRoleArn"] == result.task_role_arn


def test_verifies_against_the_provisioned_sandbox(
    served: tuple[Sandbox, ProvisionResult, dict[str, str]],
) -> None:
    """`rollout verify` passes every check (image, roles, secrets, logs, wiring, breaker...)."""
    _, _, env = served
    proc = _rollout(env, "verify", "--env", "prod", "--image", "sha-0000002", "--output", "json")
    assert proc.exit_code == 0, proc.output
    report = json.loads(proc.stdout)
    assert report["ok"] is True
    assert report["summary"]["fail"] == 0
    names = {check["name"] for check in report["checks"]}
    assert {"role: execution", "role: task", "logs: api", "alb: container and port"} <= names
    assert sum(name.startswith("secret: ") for name in names) == len(SECRETS)


def test_verify_catches_an_image_that_was_never_pushed(
    served: tuple[Sandbox, ProvisionResult, dict[str, str]],
) -> None:
    """Against the same sandbox, an unknown tag fails verify with exit 10 (the check is real)."""
    _, _, env = served
    proc = _rollout(env, "verify", "--env", "prod", "--image", "sha-9999999", "--output", "json")
    assert proc.exit_code == 10, proc.output
    failed = [c["name"] for c in json.loads(proc.stdout)["checks"] if c["status"] == "fail"]
    assert failed == ["image: in ECR"]
