"""Fixtures for the config/render/verify/diff tests.

``stack`` is one provisioned voj sandbox shared by the tests of one module (provisioning takes
several seconds; moto holds one world per process, so it cannot outlive its module while other
modules use ``moto_factory``); tests that change it put it back. ``moto_factory`` is a bare moto
world for the fast render tests.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from rollout.aws import ClientFactory

REPO = Path(__file__).resolve().parents[2]
TASKDEF = REPO / ".github" / "ecs" / "taskdef.json"
REGION = "ap-northeast-2"

CONFIG = """\
[defaults]
region = "ap-northeast-2"
containers = ["api"]
template = "taskdef.json"
ecr_repository = "voj-backend"

[env.prod]
cluster = "voj-prod"
service = "voj-backend-api"

[env.prod.vars]
TASK_FAMILY = "voj-backend-prod"
APP_ENVIRONMENT = "production"
SSM_PATH = "voj/prod"
LOG_GROUP = "/ecs/voj-backend-prod"
EXECUTION_ROLE_NAME = "voj-backend-execution"
TASK_ROLE_NAME = "voj-backend-task"
"""


def manifest(seed: str) -> str:
    """A distinct image manifest per seed (so each pushed tag has its own digest)."""
    return json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
            "config": {
                "mediaType": "application/vnd.docker.container.image.v1+json",
                "size": len(seed),
                "digest": "sha256:" + (seed.encode().hex() * 64)[:64],
            },
            "layers": [],
        }
    )


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    """A directory with rollout.toml and a copy of the delivery task-definition template."""
    shutil.copy(TASKDEF, tmp_path / "taskdef.json")
    (tmp_path / "rollout.toml").write_text(CONFIG, encoding="utf-8")
    return tmp_path


def edit_template(workdir: Path, change: Any) -> None:
    """Apply ``change(document)`` to the template copy in ``workdir``."""
    path = workdir / "taskdef.json"
    doc = json.loads(path.read_text())
    change(doc)
    path.write_text(json.dumps(doc))


@pytest.fixture
def moto_factory(monkeypatch: pytest.MonkeyPatch) -> Iterator[ClientFactory]:
    """A ClientFactory on a fresh moto world with an ECR repository voj-backend."""
    from moto import mock_aws

    for var in ("AWS_ENDPOINT_URL", "AWS_PROFILE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        factory = ClientFactory(region=REGION)
        factory.client("ecr").create_repository(repositoryName="voj-backend")
        yield factory


def push(factory: ClientFactory, tag: str, repository: str = "voj-backend") -> str:
    """Push a manifest under ``tag``; returns its digest."""
    resp = factory.client("ecr").put_image(
        repositoryName=repository, imageTag=tag, imageManifest=manifest(tag)
    )
    return str(resp["image"]["imageId"]["imageDigest"])


@pytest.fixture(scope="module")
def stack() -> Iterator[Any]:
    """A sandbox with the voj stack provisioned and steady on revision 1 (shared; restore what
    you change)."""
    from rollout.sandbox import Sandbox

    sb = Sandbox(region=REGION)
    try:
        sb.provision_voj()
        yield sb
    finally:
        sb.close()
