#!/usr/bin/env python3
"""Find or fetch the pinned uv, then run it: `python3 tools/uv.py <uv arguments>`.

The Makefile runs every uv command through this script, with whatever `python3` is at hand:
Debian's externally-managed interpreter (PEP 668), an activated `.venv` without pip, pyenv, ...
It needs only the standard library: no pip, no venv.

Which uv runs, first match wins:
1. `$UV`, if set (your choice, any version);
2. `uv` on PATH, if its version is the pin below;
3. a copy this script fetched before, in `.cache/uv/<version>/` (git-ignored;
   `$ROLLOUT_UV_DIR` moves it);
4. the pinned wheel for this platform, downloaded from the package index (`$UV_DEFAULT_INDEX`,
   `$UV_INDEX_URL` or `$PIP_INDEX_URL`, else PyPI), checked against the sha256 below, and its
   `uv` binary extracted into that cache.

The uv version is pinned here and only here. To move it: set UV_VERSION and replace WHEELS with
the sha256 of each file from https://pypi.org/pypi/uv/<version>/json (same platform tags).
"""

from __future__ import annotations

import base64
import hashlib
import html.parser
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from pathlib import Path

UV_VERSION = "0.13.9"

# Platform tag of each supported wheel -> its sha256 (PyPI's JSON API for uv 0.13.9).
WHEELS = {
    "manylinux_2_17_x86_64.manylinux2014_x86_64": (
        "d7f459fe4fd247d830351c75686d3996ace3c6f3f728eb0e85a30b7ada0cef19"
    ),
    "manylinux_2_17_aarch64.manylinux2014_aarch64.musllinux_1_1_aarch64": (
        "5435c5ce14a56431208ca0996416d310f1598e8c2c8ba707688985a16bb82dbe"
    ),
    "musllinux_1_1_x86_64": "2c45530751517d6c3bbc69a19473f6effe47cce047bede01ffd8af7ea7b36b25",
    "macosx_10_12_x86_64": "c16ed11e013557536b3e60065f1b912f6407bd6518e041b961e23ef9e6b4fbf5",
    "macosx_11_0_arm64": "66c512266d633bef48384a1f53003f41f2a8e7b36fe6e7fbfd3e0fd52d96fa63",
}

DEFAULT_INDEX = "https://pypi.org/simple"
ROOT = Path(__file__).resolve().parent.parent
TIMEOUT = 60.0
INSTALL_UV = (
    "install uv {v} yourself (https://docs.astral.sh/uv/getting-started/installation/) and put "
    "it on PATH, or set UV=/path/to/uv"
)


class BootstrapError(Exception):
    """A one-line reason the pinned uv could not be found or fetched, with what to do."""


def wheel_name(tag: str) -> str:
    return f"uv-{UV_VERSION}-py3-none-{tag}.whl"


def platform_tag(system: str | None = None, machine: str | None = None) -> str:
    """The WHEELS key for this machine, or BootstrapError if uv has no supported wheel here."""
    system = system or platform.system()
    machine = (machine or platform.machine()).lower()
    arch = {"amd64": "x86_64", "x86_64": "x86_64", "arm64": "aarch64", "aarch64": "aarch64"}
    cpu = arch.get(machine)
    tag: str | None = None
    if system == "Linux" and cpu == "x86_64":
        tag = "musllinux_1_1_x86_64" if _is_musl() else "manylinux_2_17_x86_64.manylinux2014_x86_64"
    elif system == "Linux" and cpu == "aarch64":
        tag = "manylinux_2_17_aarch64.manylinux2014_aarch64.musllinux_1_1_aarch64"
    elif system == "Darwin" and cpu == "x86_64":
        tag = "macosx_10_12_x86_64"
    elif system == "Darwin" and cpu == "aarch64":
        tag = "macosx_11_0_arm64"
    if tag is None:
        raise BootstrapError(
            f"no pinned uv {UV_VERSION} wheel for {system} {machine} "
            f"(supported: Linux and macOS on x86_64 or aarch64); {INSTALL_UV.format(v=UV_VERSION)}"
        )
    return tag


def _is_musl() -> bool:
    libc, _ = platform.libc_ver()
    if libc == "glibc":
        return False
    return any(Path("/lib").glob("ld-musl-*")) or libc == "musl"


def version_of(binary: str) -> str | None:
    """`uv --version` says `uv 0.13.9 (x86_64-unknown-linux-gnu)`; None if it cannot run."""
    try:
        out = subprocess.run(
            [binary, "--version"], capture_output=True, text=True, timeout=30, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    words = out.stdout.split()
    if out.returncode != 0 or len(words) < 2 or words[0] != "uv":
        return None
    return words[1]


def cache_dir() -> Path:
    configured = os.environ.get("ROLLOUT_UV_DIR")
    base = Path(configured) if configured else ROOT / ".cache" / "uv"
    return base / UV_VERSION


def index_url() -> str:
    for name in ("UV_DEFAULT_INDEX", "UV_INDEX_URL", "PIP_INDEX_URL"):
        value = os.environ.get(name, "").strip()
        if value:
            return value.split()[0]
    return DEFAULT_INDEX


def redact(url: str) -> str:
    """The URL without any user:password (index URLs may carry credentials)."""
    parts = urllib.parse.urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urllib.parse.urlunsplit(parts._replace(netloc=f"***@{host}"))


def _request(url: str, accept: str | None = None) -> urllib.request.Request:
    parts = urllib.parse.urlsplit(url)
    headers = {"User-Agent": f"rollout-uv-bootstrap/{UV_VERSION}"}
    if accept:
        headers["Accept"] = accept
    if parts.username is not None:
        user = urllib.parse.unquote(parts.username)
        password = urllib.parse.unquote(parts.password or "")
        token = base64.b64encode(f"{user}:{password}".encode()).decode()
        headers["Authorization"] = f"Basic {token}"
        host = parts.hostname or ""
        if parts.port:
            host = f"{host}:{parts.port}"
        url = urllib.parse.urlunsplit(parts._replace(netloc=host))
    if parts.scheme == "file" and Path(urllib.parse.unquote(parts.path)).is_dir():
        url = url.rstrip("/") + "/index.html"
    return urllib.request.Request(url, headers=headers)  # noqa: S310 - the index's own scheme


class _Links(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: dict[str, str] = {}
        self._href: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self._href = dict(attrs).get("href")

    def handle_data(self, data: str) -> None:
        if self._href is not None and data.strip():
            self.links[data.strip()] = self._href
            self._href = None


def find_wheel_url(index: str, filename: str) -> str:
    """The URL of `filename` on the index's project page for uv (PEP 691 JSON or PEP 503 HTML)."""
    page = index.rstrip("/") + "/uv/"
    request = _request(page, accept="application/vnd.pypi.simple.v1+json, text/html;q=0.1")
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT) as response:  # noqa: S310
            content_type = response.headers.get("Content-Type", "")
            body = response.read()
            base = str(response.geturl())
    except urllib.error.HTTPError as exc:
        raise BootstrapError(
            f"the package index {redact(page)} answered HTTP {exc.code}; check UV_DEFAULT_INDEX "
            f"/ PIP_INDEX_URL (a PEP 503 simple index is expected), or "
            f"{INSTALL_UV.format(v=UV_VERSION)}"
        ) from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise BootstrapError(
            f"cannot reach the package index {redact(page)} ({reason}); check the network or "
            f"proxy (HTTPS_PROXY), or {INSTALL_UV.format(v=UV_VERSION)}"
        ) from None
    links: dict[str, str] = {}
    if "json" in content_type:
        try:
            files = json.loads(body)["files"]
            links = {str(f["filename"]): str(f["url"]) for f in files}
        except (ValueError, KeyError, TypeError):
            links = {}
    else:
        parser = _Links()
        parser.feed(body.decode("utf-8", "replace"))
        links = parser.links
    href = links.get(filename)
    if href is None:
        raise BootstrapError(
            f"the package index {redact(page)} does not list {filename}; point UV_DEFAULT_INDEX "
            f"at an index that mirrors PyPI, or {INSTALL_UV.format(v=UV_VERSION)}"
        )
    return urllib.parse.urljoin(base, href.split("#", 1)[0])


def download(url: str, target: Path, sha256: str) -> None:
    """Stream `url` into `target`, refusing it unless its sha256 is the pinned one."""
    digest = hashlib.sha256()
    try:
        with (
            urllib.request.urlopen(_request(url), timeout=TIMEOUT) as response,  # noqa: S310
            target.open("wb") as out,
        ):
            while chunk := response.read(1 << 20):
                digest.update(chunk)
                out.write(chunk)
    except (urllib.error.URLError, OSError) as exc:
        target.unlink(missing_ok=True)
        reason = getattr(exc, "reason", exc)
        raise BootstrapError(
            f"downloading {redact(url)} failed ({reason}); retry, check the network or proxy, "
            f"or {INSTALL_UV.format(v=UV_VERSION)}"
        ) from None
    if digest.hexdigest() != sha256:
        target.unlink(missing_ok=True)
        raise BootstrapError(
            f"{target.name} from {redact(url)} has sha256 {digest.hexdigest()}, not the pinned "
            f"{sha256}: refused (a tampered index or a broken mirror); nothing was installed"
        )


def bootstrap(directory: Path) -> Path:
    """Download, verify and unpack the pinned uv into `directory`; return the binary's path."""
    tag = platform_tag()
    filename = wheel_name(tag)
    index = index_url()
    print(f"uv bootstrap: fetching uv {UV_VERSION} from {redact(index)}", file=sys.stderr)
    url = find_wheel_url(index, filename)
    directory.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=directory, prefix=".fetch-") as scratch:
        wheel = Path(scratch) / filename
        download(url, wheel, WHEELS[tag])
        member = f"uv-{UV_VERSION}.data/scripts/uv"
        try:
            with zipfile.ZipFile(wheel) as archive, archive.open(member) as src:
                unpacked = Path(scratch) / "uv"
                with unpacked.open("wb") as dst:
                    shutil.copyfileobj(src, dst)
        except (KeyError, zipfile.BadZipFile) as exc:
            raise BootstrapError(f"{filename} holds no usable {member} ({exc})") from None
        unpacked.chmod(0o755)
        binary = directory / "uv"
        os.replace(unpacked, binary)
    print(f"uv bootstrap: uv {UV_VERSION} is in {binary}", file=sys.stderr)
    return binary


def find_uv() -> tuple[str, str]:
    """The uv to run and how it was chosen."""
    chosen = os.environ.get("UV", "").strip()
    if chosen:
        resolved = shutil.which(chosen)
        if resolved is None:
            raise BootstrapError(f"UV={chosen} is not an executable; fix UV or unset it")
        return resolved, "$UV"
    on_path = shutil.which("uv")
    if on_path is not None:
        found = version_of(on_path)
        if found == UV_VERSION:
            return on_path, "PATH"
        print(
            f"uv bootstrap: {on_path} is uv {found or '(unknown version)'}, not the pinned "
            f"{UV_VERSION}; using the project's own copy",
            file=sys.stderr,
        )
    binary = cache_dir() / "uv"
    if binary.is_file() and os.access(binary, os.X_OK):
        return str(binary), "cache"
    return str(bootstrap(cache_dir())), "download"


def main(argv: list[str]) -> int:
    try:
        uv, how = find_uv()
    except BootstrapError as exc:
        print(f"uv bootstrap: {exc}", file=sys.stderr)
        return 1
    if argv[:1] == ["--which"]:
        print(f"{uv}\t{how}")
        return 0
    os.execv(uv, [uv, *argv])  # noqa: S606
    return 1  # not reached: execv replaces this process


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
