"""backend/Dockerfile (no Docker engine here): hadolint, and what its final stage runs."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from .conftest import REPO, SEED_COMMAND

DOCKERFILE = REPO / "backend" / "Dockerfile"
DOCKERIGNORE = REPO / ".dockerignore"


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def all(self, keyword: str) -> list[str]:
        return [args for key, args in self.instructions if key == keyword]


def parse_stages(text: str) -> list[Stage]:
    """Split a Dockerfile into stages of (INSTRUCTION, arguments), joining continued lines."""
    joined = re.sub(r"\\\n", " ", text)
    stages: list[Stage] = []
    for raw in joined.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        keyword, _, args = line.partition(" ")
        keyword = keyword.upper()
        args = args.strip()
        if keyword == "FROM":
            words = args.split()
            name = words[2] if len(words) >= 3 and words[1].upper() == "AS" else None
            stages.append(Stage(base=words[0], name=name))
        elif stages:
            stages[-1].instructions.append((keyword, args))
    return stages


@pytest.fixture(scope="module")
def stages() -> list[Stage]:
    return parse_stages(DOCKERFILE.read_text())


def test_hadolint_passes() -> None:
    """hadolint reports nothing on backend/Dockerfile."""
    hadolint = Path(sys.executable).parent / "hadolint"
    result = subprocess.run(
        [str(hadolint), str(DOCKERFILE)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_parser_sees_a_user_switch() -> None:
    """The parser finds USER in the stage where it appears (so the next tests can fail)."""
    parsed = parse_stages("FROM a AS one\nUSER 0\nFROM b\nRUN x \\\n  y\nUSER 1000:1000\n")
    assert [stage.all("USER") for stage in parsed] == [["0"], ["1000:1000"]]
    assert parsed[1].all("RUN") == ["x    y"]


def test_multi_stage_with_uv_and_the_lock(stages: list[Stage]) -> None:
    """A build stage installs from uv.lock (frozen) before the code; the runtime copies the venv."""
    assert len(stages) >= 2
    build = next(stage for stage in stages if any("uv sync" in run for run in stage.all("RUN")))
    copies = build.all("COPY")
    assert any("uv.lock" in copy for copy in copies)
    sync = next(run for run in build.all("RUN") if "uv sync" in run)
    assert "--frozen" in sync
    assert "--no-dev" in sync
    assert not any("backend/app" in copy for copy in copies), "code must come after deps"
    final = stages[-1]
    assert any("/app/.venv" in copy and "--from=build" in copy for copy in final.all("COPY"))


def test_final_stage_runs_as_non_root_numeric_user(stages: list[Stage]) -> None:
    """The final stage's last USER is a numeric, non-zero uid (and gid)."""
    users = stages[-1].all("USER")
    assert users, "final stage has no USER"
    uid, _, gid = users[-1].partition(":")
    assert uid.isdigit()
    assert int(uid) > 0
    assert not gid or (gid.isdigit() and int(gid) > 0)


def test_final_stage_command_is_the_seed_command(stages: list[Stage]) -> None:
    """CMD (exec form) is exactly the seed's gunicorn command line."""
    (cmd,) = stages[-1].all("CMD")
    assert json.loads(cmd) == SEED_COMMAND
    assert not stages[-1].all("ENTRYPOINT")


def test_final_stage_layout(stages: list[Stage]) -> None:
    """WORKDIR holds app/ and gunicorn.conf.py (so the seed command finds both), port 8000."""
    final = stages[-1]
    (workdir,) = final.all("WORKDIR")
    copies = [shlex.split(copy) for copy in final.all("COPY")]
    targets = {words[-2]: words[-1] for words in copies if not words[0].startswith("--")}
    assert targets["backend/gunicorn.conf.py"] in ("./", workdir, workdir + "/")
    assert targets["backend/app"] in ("./app", f"{workdir}/app")
    assert final.all("EXPOSE") == ["8000"]
    env = " ".join(final.all("ENV"))
    assert "PYTHONDONTWRITEBYTECODE=1" in env


def test_no_secrets_in_the_image_definition() -> None:
    """No ENV or ARG looks like a credential (settings come from the task definition)."""
    for stage in parse_stages(DOCKERFILE.read_text()):
        for keyword in ("ENV", "ARG"):
            for args in stage.all(keyword):
                assert not re.search(r"(SECRET|PASSWORD|TOKEN|ACCESS_KEY)", args, re.I), args


def test_dockerignore_keeps_the_context_small() -> None:
    """.dockerignore allow-lists what the build copies: no .git, .venv, tests or caches."""
    lines = [
        line.strip()
        for line in DOCKERIGNORE.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert lines[0] == "*"
    allowed = {line[1:] for line in lines if line.startswith("!")}
    assert allowed >= {"pyproject.toml", "uv.lock", "backend/pyproject.toml"}
    assert not any(name.startswith((".git", ".venv", "tests")) for name in allowed)
