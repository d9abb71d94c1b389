"""tools/uv.py, the uv bootstrap `make` runs with whatever `python3` is at hand: the pinned uv
from $UV, PATH or the project cache, else the pinned wheel from the index, hash-checked.

The failure cases use a local fake index (http.server on 127.0.0.1 serving a fake wheel whose
`uv` is a shell script), so nothing here needs the network. Where a test needs the bootstrap to
accept that fake wheel, it runs a copy of the script whose pinned sha256 is the fake wheel's:
the code path is the real one, only the pin differs.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import io
import os
import re
import socket
import subprocess
import sys
import threading
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "tools" / "uv.py"


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("uv_bootstrap", SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


uvb = _load()
VERSION: str = uvb.UV_VERSION
TAG: str = uvb.platform_tag() if sys.platform.startswith(("linux", "darwin")) else ""
FILENAME = f"uv-{VERSION}-py3-none-{TAG}.whl"


def fake_wheel(version: str = VERSION) -> bytes:
    """A wheel whose `uv` is a shell script that prints `uv <version> (fake)`."""
    buffer = io.BytesIO()

    # fixed timestamps: the same bytes (and sha256) whenever it is built; `writestr` with a bare
    # name stamps the current time, so two builds a second apart hashed differently (a flake)
    def entry(name: str) -> zipfile.ZipInfo:
        return zipfile.ZipInfo(name, date_time=(2026, 1, 1, 0, 0, 0))

    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(
            entry(f"uv-{VERSION}.data/scripts/uv"),
            f'#!/bin/sh\necho "uv {version} (fake)"\necho "args: $*"\n',
        )
        archive.writestr(
            entry(f"uv-{VERSION}.dist-info/METADATA"), f"Name: uv\nVersion: {VERSION}\n"
        )
    return buffer.getvalue()


@dataclass
class FakeIndex:
    url: str
    requests: list[str] = field(default_factory=list)
    auth: list[str | None] = field(default_factory=list)


@pytest.fixture
def index() -> Iterator[FakeIndex]:
    """A PEP 503 simple index on 127.0.0.1 with one project, uv, and one file, the fake wheel."""
    wheel = fake_wheel()
    state = FakeIndex(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            state.requests.append(self.path)
            state.auth.append(self.headers.get("Authorization"))
            if self.path == "/simple/uv/":
                sha = hashlib.sha256(wheel).hexdigest()
                body = f'<a href="../../files/{FILENAME}#sha256={sha}">{FILENAME}</a>'.encode()
                content_type = "text/html"
            elif self.path == f"/files/{FILENAME}":
                body, content_type = wheel, "application/octet-stream"
            else:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/simple"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def pinned_to_fake_wheel(tmp_path: Path) -> Path:
    """A copy of tools/uv.py whose pin for this platform is the fake wheel's sha256."""
    text = SCRIPT.read_text(encoding="utf-8")
    real = uvb.WHEELS[TAG]
    assert text.count(real) == 1
    copy = tmp_path / "tools" / "uv.py"
    copy.parent.mkdir(parents=True)
    copy.write_text(text.replace(real, hashlib.sha256(fake_wheel()).hexdigest()))
    return copy


def run(
    script: Path,
    *args: str,
    python: str = sys.executable,
    path: str,
    **env: str,
) -> subprocess.CompletedProcess[str]:
    environ = {
        k: v
        for k, v in os.environ.items()
        if k not in ("UV", "UV_DEFAULT_INDEX", "UV_INDEX_URL", "PIP_INDEX_URL", "ROLLOUT_UV_DIR")
    }
    environ.update(PATH=path, **env)
    return subprocess.run(
        [python, str(script), *args],
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def on_path(tmp_path: Path, version: str) -> Path:
    """A directory holding only a `uv` that reports ``version``."""
    bindir = tmp_path / f"bin-{version}"
    bindir.mkdir()
    uv = bindir / "uv"
    uv.write_text(f'#!/bin/sh\necho "uv {version} (on PATH)"\n')
    uv.chmod(0o755)
    return bindir


def pep668_interpreter() -> str | None:
    """A Python >= 3.11 whose stdlib carries EXTERNALLY-MANAGED (PEP 668), if one is here."""
    probe = (
        "import os, sys, sysconfig; "
        "print(sys.version_info >= (3, 11) and "
        "os.path.exists(os.path.join(sysconfig.get_path('stdlib'), 'EXTERNALLY-MANAGED')))"
    )
    for candidate in ("/usr/bin/python3", "/usr/local/bin/python3", sys.executable):
        if not os.access(candidate, os.X_OK):
            continue
        out = subprocess.run(
            [candidate, "-c", probe], capture_output=True, text=True, timeout=30, check=False
        )
        if out.stdout.strip() == "True":
            return candidate
    return None


pytestmark = pytest.mark.skipif(not TAG, reason="the bootstrap supports Linux and macOS only")


def test_bootstrap_on_a_pep668_interpreter(tmp_path: Path, index: FakeIndex) -> None:
    """On an externally-managed interpreter (Debian's /usr/bin/python3), with no uv anywhere,
    the bootstrap fetches the wheel, checks it, unpacks `uv` into the cache and runs it; the
    next run uses the cache without touching the index. No pip, no venv."""
    python = pep668_interpreter()
    if python is None:
        pytest.skip("no PEP 668 (EXTERNALLY-MANAGED) Python >= 3.11 on this machine")
    script = pinned_to_fake_wheel(tmp_path)
    cache = tmp_path / "cache"
    empty = tmp_path / "empty"
    empty.mkdir()
    env = {"UV_DEFAULT_INDEX": index.url, "ROLLOUT_UV_DIR": str(cache)}

    first = run(script, "sync", "--frozen", python=python, path=str(empty), **env)
    assert first.returncode == 0, first.stderr
    assert first.stdout == f"uv {VERSION} (fake)\nargs: sync --frozen\n"
    assert f"fetching uv {VERSION}" in first.stderr
    assert (cache / VERSION / "uv").stat().st_mode & 0o111
    assert index.requests == ["/simple/uv/", f"/files/{FILENAME}"]

    again = run(script, "--which", python=python, path=str(empty), **env)
    assert again.stdout == f"{cache / VERSION / 'uv'}\tcache\n"
    assert len(index.requests) == 2  # nothing fetched the second time


def test_uv_on_path_with_the_pinned_version_is_used(tmp_path: Path, index: FakeIndex) -> None:
    """A `uv` on PATH that is the pinned version runs as is: nothing is downloaded."""
    bindir = on_path(tmp_path, VERSION)
    result = run(
        SCRIPT,
        "--which",
        path=str(bindir),
        UV_DEFAULT_INDEX=index.url,
        ROLLOUT_UV_DIR=str(tmp_path / "cache"),
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"{bindir / 'uv'}\tPATH\n"
    assert index.requests == []


def test_uv_on_path_with_another_version_is_not_used(tmp_path: Path, index: FakeIndex) -> None:
    """A `uv` on PATH of another version is passed over (with a note) for the pinned one."""
    script = pinned_to_fake_wheel(tmp_path)
    bindir = on_path(tmp_path, "0.4.0")
    cache = tmp_path / "cache"
    result = run(
        script, "--version", path=str(bindir), UV_DEFAULT_INDEX=index.url, ROLLOUT_UV_DIR=str(cache)
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"uv {VERSION} (fake)")
    assert f"is uv 0.4.0, not the pinned {VERSION}" in result.stderr
    assert index.requests == ["/simple/uv/", f"/files/{FILENAME}"]


def test_uv_env_var_wins(tmp_path: Path, index: FakeIndex) -> None:
    """$UV names the uv to run, whatever its version; nothing is downloaded."""
    bindir = on_path(tmp_path, "0.4.0")
    result = run(
        SCRIPT,
        "--which",
        path=str(tmp_path),
        UV=str(bindir / "uv"),
        UV_DEFAULT_INDEX=index.url,
        ROLLOUT_UV_DIR=str(tmp_path / "cache"),
    )
    assert result.stdout == f"{bindir / 'uv'}\t$UV\n"
    assert index.requests == []
    missing = run(SCRIPT, "--which", path=str(tmp_path), UV=str(tmp_path / "nope"))
    assert missing.returncode == 1
    assert missing.stderr.count("\n") == 1
    assert "is not an executable" in missing.stderr


def test_a_hash_mismatch_is_refused(tmp_path: Path, index: FakeIndex) -> None:
    """The real pin against a wheel with other bytes: refused in one line, nothing installed."""
    cache = tmp_path / "cache"
    result = run(
        SCRIPT,
        "--version",
        path=str(tmp_path),
        UV_DEFAULT_INDEX=index.url,
        ROLLOUT_UV_DIR=str(cache),
    )
    assert result.returncode == 1
    error = [line for line in result.stderr.splitlines() if "fetching" not in line]
    assert len(error) == 1, result.stderr
    assert f"not the pinned {uvb.WHEELS[TAG]}: refused" in error[0]
    assert not (cache / VERSION / "uv").exists()
    assert list((cache / VERSION).iterdir()) == []  # the download was removed too


def test_no_network_is_one_clear_line(tmp_path: Path) -> None:
    """An unreachable index: one line saying so and what to do instead."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    result = run(
        SCRIPT,
        "--version",
        path=str(tmp_path),
        UV_DEFAULT_INDEX=f"http://127.0.0.1:{closed}/simple",
        ROLLOUT_UV_DIR=str(tmp_path / "cache"),
    )
    assert result.returncode == 1
    last = result.stderr.splitlines()[-1]
    assert "cannot reach the package index" in last
    assert "set UV=/path/to/uv" in last
    assert "Traceback" not in result.stderr


def test_an_index_without_the_file_says_so(tmp_path: Path, index: FakeIndex) -> None:
    """UV_INDEX_URL (or PIP_INDEX_URL) is respected; an index lacking the wheel is named."""
    result = run(
        SCRIPT,
        "--version",
        path=str(tmp_path),
        PIP_INDEX_URL=index.url.replace("/simple", "/other"),
        ROLLOUT_UV_DIR=str(tmp_path / "cache"),
    )
    assert result.returncode == 1
    assert "answered HTTP 404" in result.stderr
    assert index.requests == ["/other/uv/"]


def test_index_credentials_are_sent_but_never_shown(tmp_path: Path, index: FakeIndex) -> None:
    """user:password in the index URL becomes Basic auth and is redacted from messages."""
    url = index.url.replace("http://", "http://deploy:s3cret@")
    result = run(
        SCRIPT, "--version", path=str(tmp_path), UV_INDEX_URL=url, ROLLOUT_UV_DIR=str(tmp_path)
    )
    assert result.returncode == 1  # the real pin refuses the fake wheel
    assert "s3cret" not in result.stderr
    assert "***@127.0.0.1" in result.stderr
    token = base64.b64encode(b"deploy:s3cret").decode()
    assert index.auth[0] == f"Basic {token}"


@pytest.mark.parametrize(
    ("system", "machine", "tag"),
    [
        ("Linux", "x86_64", "manylinux_2_17_x86_64.manylinux2014_x86_64"),
        ("Linux", "aarch64", "manylinux_2_17_aarch64.manylinux2014_aarch64.musllinux_1_1_aarch64"),
        ("Darwin", "arm64", "macosx_11_0_arm64"),
        ("Darwin", "x86_64", "macosx_10_12_x86_64"),
        ("Linux", "riscv64", None),
        ("Windows", "AMD64", None),
    ],
)
def test_platform_tags(system: str, machine: str, tag: str | None) -> None:
    """Each supported platform maps to a pinned wheel; others get one line with the way out."""
    if tag is None:
        with pytest.raises(uvb.BootstrapError, match=r"no pinned uv .* set UV=/path/to/uv"):
            uvb.platform_tag(system, machine)
    elif system == "Linux" and machine == "x86_64" and uvb._is_musl():
        assert uvb.platform_tag(system, machine) == "musllinux_1_1_x86_64"
    else:
        assert uvb.platform_tag(system, machine) == tag
        assert re.fullmatch(r"[0-9a-f]{64}", uvb.WHEELS[tag])


def test_every_uv_pin_in_the_repository_is_the_bootstrap_pin() -> None:
    """tools/uv.py holds the version; the workflows' setup-uv and the Dockerfile's uv image must
    name the same one (a bump changes them together, or this fails)."""
    versions: dict[str, str] = {}
    for workflow in sorted((ROOT / ".github" / "workflows").glob("*.yml")):
        doc = yaml.safe_load(workflow.read_text(encoding="utf-8"))
        for job_name, job in doc.get("jobs", {}).items():
            for step in job.get("steps", []):
                if str(step.get("uses", "")).startswith("astral-sh/setup-uv@"):
                    key = f"{workflow.name}:{job_name}"
                    versions[key] = str((step.get("with") or {}).get("version", "unpinned"))
    dockerfile = (ROOT / "backend" / "Dockerfile").read_text(encoding="utf-8")
    for match in re.finditer(r"ghcr\.io/astral-sh/uv:([0-9][^\s@]*)", dockerfile):
        versions["backend/Dockerfile"] = match.group(1)
    assert versions, "no uv pin found outside tools/uv.py"
    assert versions == dict.fromkeys(versions, VERSION)


def test_the_makefile_runs_uv_only_through_the_bootstrap() -> None:
    """No `pip install uv`, no `python -m uv`: every uv command goes through tools/uv.py."""
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert "pip install" not in makefile
    assert "-m uv" not in makefile
    assert "UVCMD := $(PYTHON) tools/uv.py" in makefile


def test_make_demo_installs_only_what_the_demo_runs() -> None:
    """`make demo`'s selection (RUNTIME in the Makefile) has rollout's sandbox extra and the voj
    backend, and none of the dev group's tools."""
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    flags = re.search(r"^RUNTIME := (.*)$", makefile, re.MULTILINE)
    assert flags is not None
    assert re.search(r"^sync-runtime:\n\t.*sync --frozen --inexact \$\(RUNTIME\)", makefile, re.M)
    assert re.search(r"^demo: sync-runtime$", makefile, re.MULTILINE)
    exported = subprocess.run(
        [sys.executable, str(SCRIPT), "export", "--frozen", "--no-hashes", *flags.group(1).split()],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    names = {
        line.split("==")[0].strip()
        for line in exported.splitlines()
        if line and not line.startswith((" ", "#", "-e"))
    }
    assert {"moto", "aiohttp", "fastapi", "gunicorn", "uvicorn", "boto3", "typer"} <= names
    dev_only = {"mypy", "boto3-stubs", "pytest", "hypothesis", "ruff", "awscli", "ecs-deploy"}
    assert not names & dev_only
