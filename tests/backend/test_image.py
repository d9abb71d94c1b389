"""What the image would run, without a Docker engine: the Dockerfile's own steps, replayed.

The build context is exactly what .dockerignore allows; the build stage's `uv sync` command runs
on it (offline, from uv's cache) into a fresh venv that has no dev dependencies; the runtime
stage's files are laid out as its COPY lines say; and the CMD runs there. This catches an app
that imports a dev-only package, a dependency layer that needs more files than the context
holds, or a CMD that does not serve.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from .conftest import GOOD_ENV, REPO
from .processes import free_port, process_env, start_gunicorn
from .test_dockerfile import DOCKERFILE, DOCKERIGNORE, parse_stages

pytestmark = pytest.mark.slow


def _uv() -> str:
    found = os.environ.get("UV") or shutil.which("uv")
    assert found, "uv not found (make test runs the suite under `uv run`, which sets $UV)"
    return found


def _context(tmp: Path) -> Path:
    """Copy the allow-listed files of the build context."""
    context = tmp / "context"
    for line in DOCKERIGNORE.read_text().splitlines():
        if not line.startswith("!"):
            continue
        source = REPO / line[1:].rstrip("/")
        target = context / line[1:].rstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, target)
    return context


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(runtime WORKDIR, venv) built by replaying the Dockerfile's steps."""
    tmp = tmp_path_factory.mktemp("image")
    stages = parse_stages(DOCKERFILE.read_text())
    build = next(stage for stage in stages if any("uv sync" in r for r in stage.all("RUN")))
    sync = shlex.split(next(r for r in build.all("RUN") if "uv sync" in r))
    assert sync[0] == "uv"
    venv = tmp / "venv"
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", str(tmp)),
        "UV_PROJECT_ENVIRONMENT": str(venv),
        "UV_PYTHON": sys.executable,
        "UV_OFFLINE": "1",
        "UV_LINK_MODE": "copy",
        "UV_NO_PROGRESS": "1",
    }
    if os.environ.get("UV_CACHE_DIR"):
        env["UV_CACHE_DIR"] = os.environ["UV_CACHE_DIR"]
    result = subprocess.run(
        [_uv(), *sync[1:]],
        cwd=_context(tmp),
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    workdir = tmp / "runtime"
    workdir.mkdir()
    for copy in stages[-1].all("COPY"):
        words = shlex.split(copy)
        if words[0].startswith("--"):
            continue  # the venv, from the build stage: built above
        source, target = REPO / words[0], workdir / words[1]
        if source.is_dir():
            shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, target if words[1] not in ("./", ".") else workdir)
    return workdir, venv


def test_image_venv_has_runtime_dependencies_only(image: tuple[Path, Path]) -> None:
    """The dependency layer holds gunicorn, uvicorn and boto3, and no dev tool such as moto."""
    _, venv = image
    python = venv / "bin" / "python"
    check = (
        "import importlib.util as u;"
        "print([m for m in ('gunicorn', 'uvicorn', 'fastapi', 'boto3', 'moto', 'pytest', 'rollout')"
        " if u.find_spec(m)])"
    )
    out = subprocess.run([str(python), "-c", check], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "['gunicorn', 'uvicorn', 'fastapi', 'boto3']", out.stderr


def test_image_command_serves(image: tuple[Path, Path]) -> None:
    """The final stage's CMD, in its WORKDIR layout and venv, serves /health, /version, /ready."""
    workdir, venv = image
    final = parse_stages(DOCKERFILE.read_text())[-1]
    command = json.loads(final.all("CMD")[0])
    port = free_port()
    command[command.index("-b") + 1] = f"127.0.0.1:{port}"
    env = process_env(
        {
            **GOOD_ENV,
            "PYTHONDONTWRITEBYTECODE": "1",
            "PATH": f"{venv / 'bin'}:/usr/bin:/bin",
            "AWS_ENDPOINT_URL": f"http://127.0.0.1:{free_port()}",  # nobody listens there
        }
    )
    server = start_gunicorn(command, port, workdir, env)
    try:
        assert httpx.get(f"{server.base_url}/version").json()["version"] == "1.2.3"
        # AWS is unreachable: /ready must say so (503), which needs boto3 importable and working.
        assert httpx.get(f"{server.base_url}/ready", timeout=30).status_code == 503
        assert server.stop() == 0
    finally:
        server.stop()
    assert not any("ModuleNotFoundError" in line for line in server.seen)
