"""`rollout sandbox build`: content-addressed images from source, pushed to the sandbox's ECR."""

from __future__ import annotations

import difflib
import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from rollout.errors import ConfigError
from rollout.sandbox import Sandbox
from rollout.sandbox.runtime.images import parse_final_stage, runtime_env

REPO = Path(__file__).resolve().parents[2]
BACKEND = REPO / "backend"


def diff(path: str, old: str, new: str) -> str:
    """A unified diff of ``path`` (relative to the repository root) as `git diff` writes it."""
    return "".join(
        difflib.unified_diff(old.splitlines(True), new.splitlines(True), f"a/{path}", f"b/{path}")
    )


def crash_at_import_patch() -> str:
    """backend/app/main.py raising at import (a release that crashes on start)."""
    main = (BACKEND / "app" / "main.py").read_text()
    anchor = "_built: dict[str, HealthFirst] = {}\n"
    assert anchor in main
    broken = main.replace(anchor, anchor + '\nraise RuntimeError("voj: boom at import")\n')
    return diff("backend/app/main.py", main, broken)


@pytest.fixture
def sb() -> Iterator[Sandbox]:
    with Sandbox() as sandbox:
        sandbox.client_factory().client("ecr").create_repository(repositoryName="voj-backend")
        yield sandbox


def test_final_stage_gives_cmd_workdir_user_env_and_copies() -> None:
    """CMD, WORKDIR, USER and ENV come from the Dockerfile's final stage; ARG fills ENV."""
    text = (BACKEND / "Dockerfile").read_text()
    config = parse_final_stage(text, {"APP_VERSION": "v9"})
    assert config.cmd[:2] == ("gunicorn", "app.main:app")
    assert config.workdir == "/app"
    assert config.user == "10001:10001"
    env = dict(config.env)
    assert env["APP_VERSION"] == "v9"
    assert env["PATH"].startswith("/app/.venv/bin:/usr/local/")
    assert ("backend/app", "./app") in config.copies
    assert parse_final_stage(text).env[0] == ("APP_VERSION", "unknown")


def test_runtime_env_maps_the_image_paths_onto_this_machine(tmp_path: Path) -> None:
    """/app/.venv is the sandbox's venv and /app the snapshot."""
    config = parse_final_stage("FROM x\nWORKDIR /app\nENV PATH=/app/.venv/bin:$PATH A=/app/b\n")
    env = runtime_env(config, tmp_path / "rootfs", tmp_path / "venv")
    assert env["PATH"].startswith(f"{tmp_path / 'venv'}/bin:")
    assert env["A"] == f"{tmp_path / 'rootfs'}/b"


def test_same_content_same_digest_and_any_change_a_new_one(sb: Sandbox, tmp_path: Path) -> None:
    """Building the same source twice gives one digest; a changed file, a patch or another
    tag (APP_VERSION) gives another; ignored files (__pycache__) change nothing."""
    source = tmp_path / "backend"
    shutil.copytree(BACKEND, source, ignore=shutil.ignore_patterns("__pycache__"))
    first = sb.build_image("v1", source=source).digest
    (source / "app" / "__pycache__").mkdir(exist_ok=True)
    (source / "app" / "__pycache__" / "x.pyc").write_bytes(b"noise")
    assert sb.build_image("v1", source=source).digest == first
    assert sb.build_image("v2", source=source).digest != first
    (source / "app" / "api.py").write_text((source / "app" / "api.py").read_text() + "\n# x\n")
    changed = sb.build_image("v1", source=source).digest
    assert changed != first
    patched = sb.build_image("v1", source=source, patch=crash_at_import_patch()).digest
    assert patched not in (first, changed)


def test_built_image_is_in_ecr_like_a_pushed_one(sb: Sandbox) -> None:
    """DescribeImages, BatchGetImage and a digest pin see the image; its digest is the
    manifest's sha256 and the manifest names the config and layer by content."""
    import hashlib

    built = sb.build_image("v1")
    ecr = sb.client_factory().client("ecr")
    detail = ecr.describe_images(repositoryName="voj-backend", imageIds=[{"imageTag": "v1"}])[
        "imageDetails"
    ][0]
    assert detail["imageDigest"] == built.digest
    got = ecr.batch_get_image(
        repositoryName="voj-backend", imageIds=[{"imageDigest": built.digest}]
    )
    manifest = got["images"][0]["imageManifest"]
    assert "sha256:" + hashlib.sha256(manifest.encode()).hexdigest() == built.digest
    doc = json.loads(manifest)
    assert doc["config"]["digest"].startswith("sha256:")
    assert (built.rootfs / "app" / "main.py").is_file()
    assert (built.rootfs / "gunicorn.conf.py").is_file()
    sb.build_image("v1")  # the same push again is a no-op, not ImageAlreadyExists


def test_a_patch_that_does_not_apply_is_a_clear_error_and_registers_nothing(sb: Sandbox) -> None:
    """A diff whose context is not in the source fails with ConfigError; ECR stays empty."""
    bad = diff("backend/app/main.py", "not the file\n", "something else\n")
    with pytest.raises(ConfigError, match="failed to apply the patch"):
        sb.build_image("bad", patch=bad)
    with pytest.raises(ConfigError, match="changes no file under backend/"):
        sb.build_image("bad", patch=diff("README.md", "a\n", "b\n"))
    ecr = sb.client_factory().client("ecr")
    assert ecr.describe_images(repositoryName="voj-backend")["imageDetails"] == []


@pytest.mark.parametrize("tag", ["bad tag!", "-v1", ".v1", "", "x" * 129, "v1:latest"])
def test_a_tag_docker_would_refuse_is_a_clear_error_and_builds_nothing(
    sb: Sandbox, tag: str
) -> None:
    """`docker build -t` refuses a tag outside its grammar ([A-Za-z0-9_][A-Za-z0-9_.-]{0,127}),
    so `sandbox build` does too, before any work; ECR stays empty."""
    with pytest.raises(ConfigError, match="not a valid image tag"):
        sb.build_image(tag)
    ecr = sb.client_factory().client("ecr")
    assert ecr.describe_images(repositoryName="voj-backend")["imageDetails"] == []


def test_build_into_a_missing_repository_says_to_provision(tmp_path: Path) -> None:
    """No repository: a ConfigError naming it and what to do."""
    with Sandbox() as sandbox, pytest.raises(ConfigError, match="no repository voj-backend"):
        sandbox.build_image("v1")


def test_snapshots_are_removed_with_the_sandbox(sb: Sandbox) -> None:
    """The image cache is the sandbox's own directory and goes away with it."""
    built = sb.build_image("v1")
    assert built.rootfs.is_dir()
    sb.close()
    assert not built.rootfs.exists()
