"""Install benchmark: what a cold `make demo` and `make test` download, and how long it takes.

    python3 bench/install.py            # print the section
    python3 bench/install.py --write    # also update docs/benchmarks.md

For each selection (the dependency set one make target installs) it clones the repository's
HEAD into a temporary directory and runs that target's `uv sync` there with an empty
`UV_CACHE_DIR`, so every wheel is downloaded: nothing is shared with the machine's cache. uv's
traffic goes through a small counting HTTPS proxy on 127.0.0.1 (CONNECT tunnels; the TLS stays
end to end), which gives the bytes received from the network. The wheel sizes recorded in
`uv.lock` for this platform give the same number without the network (the `lock` column).

The "before" row is the selection `make demo` installed until the bootstrap moved to
tools/uv.py: the whole workspace with the dev group. Standard library only, plus `packaging`
(from the project's environment) for the lock column.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path

from _shared import write_section as shared_write_section

REPO = Path(__file__).resolve().parents[1]
DOC = REPO / "docs" / "benchmarks.md"
UV = [sys.executable, str(REPO / "tools" / "uv.py")]

# name -> the `uv sync` flags of the make target (see the Makefile).
SELECTIONS = {
    "whole workspace + dev group: `make test`, and `make demo` before": [
        "--all-packages",
        "--compile-bytecode",
    ],
    "rollout[sandbox] + voj-backend, bytecode compiled at install": [
        "--inexact",
        "--no-dev",
        "--all-packages",
        "--extra",
        "sandbox",
        "--compile-bytecode",
    ],
    "rollout[sandbox] + voj-backend: `make demo` now": [
        "--inexact",
        "--no-dev",
        "--all-packages",
        "--extra",
        "sandbox",
    ],
}


@dataclass
class Result:
    name: str
    packages: int
    lock_bytes: int
    wire_bytes: int
    seconds: float
    venv_bytes: int


class CountingProxy:
    """An HTTP CONNECT proxy on 127.0.0.1 that counts the bytes it relays to the client."""

    def __init__(self) -> None:
        self.received = 0
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> CountingProxy:
        self._thread.start()
        self._ready.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        server = self._loop.run_until_complete(asyncio.start_server(self._client, "127.0.0.1", 0))
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        self._loop.run_forever()
        server.close()

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            method, target, _ = head.split(b"\r\n", 1)[0].split(b" ", 2)
            if method != b"CONNECT":
                writer.write(b"HTTP/1.1 405 Method Not Allowed\r\n\r\n")
                return
            host, port = target.decode().rsplit(":", 1)
            up_reader, up_writer = await asyncio.open_connection(host, int(port))
            writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
            await asyncio.gather(
                self._pipe(reader, up_writer, count=False),
                self._pipe(up_reader, writer, count=True),
            )
        except (OSError, ValueError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    async def _pipe(
        self, src: asyncio.StreamReader, dst: asyncio.StreamWriter, *, count: bool
    ) -> None:
        try:
            while data := await src.read(1 << 16):
                if count:
                    self.received += len(data)
                dst.write(data)
                await dst.drain()
        except OSError:
            pass
        finally:
            dst.close()


def exported(flags: list[str]) -> list[tuple[str, str, str]]:
    """(name, version, marker) of each package the selection installs, from `uv export`."""
    args = [f for f in flags if f not in ("--inexact", "--compile-bytecode")]
    out = subprocess.run(
        [*UV, "export", "--frozen", "--no-hashes", "--no-emit-workspace", "--quiet", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rows = []
    for line in out.splitlines():
        line = line.strip()
        if not line or line.startswith("#") or line.startswith("-e"):
            continue
        req, _, marker = line.partition(";")
        name, _, version = req.strip().partition("==")
        rows.append((name.strip(), version.strip(), marker.strip()))
    return rows


def lock_bytes(rows: list[tuple[str, str, str]]) -> tuple[int, int]:
    """Packages installed here and the size of the wheel (or sdist) uv picks for each."""
    from packaging.markers import Marker
    from packaging.tags import sys_tags
    from packaging.utils import canonicalize_name, parse_wheel_filename

    lock = tomllib.loads((REPO / "uv.lock").read_text(encoding="utf-8"))
    by_key = {(canonicalize_name(p["name"]), p.get("version")): p for p in lock["package"]}
    priority = {tag: i for i, tag in enumerate(sys_tags())}
    count = total = 0
    for name, version, marker in rows:
        if marker and not Marker(marker).evaluate():
            continue
        package = by_key[(canonicalize_name(name), version)]
        best: tuple[int, int] | None = None
        for wheel in package.get("wheels", []):
            filename = wheel["url"].rsplit("/", 1)[-1]
            _, _, _, tags = parse_wheel_filename(filename)
            rank = min((priority[t] for t in tags if t in priority), default=None)
            if rank is not None and (best is None or rank < best[0]):
                best = (rank, int(wheel["size"]))
        if best is None:
            best = (0, int(package["sdist"]["size"]))
        count += 1
        total += best[1]
    return count, total


def du(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file() and not f.is_symlink())


def measure(name: str, flags: list[str]) -> Result:
    packages, locked = lock_bytes(exported(flags))
    with tempfile.TemporaryDirectory(prefix="bench-install-") as tmp:
        clone = Path(tmp) / "clone"
        subprocess.run(["git", "clone", "-q", str(REPO), str(clone)], check=True)
        env = {k: v for k, v in os.environ.items() if not k.startswith("VIRTUAL_ENV")}
        env["UV_CACHE_DIR"] = str(Path(tmp) / "uv-cache")
        with CountingProxy() as proxy:
            env["HTTPS_PROXY"] = env["https_proxy"] = f"http://127.0.0.1:{proxy.port}"
            env.pop("NO_PROXY", None)
            env.pop("no_proxy", None)
            started = time.monotonic()
            subprocess.run(
                [*UV, "sync", "--frozen", "--quiet", *flags],
                cwd=clone,
                env=env,
                check=True,
            )
            seconds = time.monotonic() - started
            wire = proxy.received
        venv = du(clone / ".venv")
        shutil.rmtree(clone, ignore_errors=True)
    return Result(name, packages, locked, wire, seconds, venv)


def mb(n: int) -> str:
    return f"{n / 1e6:.0f} MB"


def section(results: list[Result]) -> str:
    lines = [
        "## Install",
        "",
        "What the first `make demo` / `make test` download and how long their `uv sync` takes "
        "from a fresh clone with an empty uv cache (the uv bootstrap itself, one 17 MB wheel, "
        "is not included). `wire` is what came over the network (counted by a CONNECT proxy "
        "on 127.0.0.1); `lock` is the size of the wheels uv.lock lists for this platform.",
        "",
        f"Measured on {platform.machine()} Linux, Python {platform.python_version()}, "
        f"{os.cpu_count()} cores shared with other jobs (times vary with the load and the "
        "network; the sizes do not), one run each:",
        "",
        "| install | packages | wire | lock | time | .venv on disk |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        lines.append(
            f"| {r.name} | {r.packages} | {mb(r.wire_bytes)} | {mb(r.lock_bytes)} | "
            f"{r.seconds:.0f} s | {mb(r.venv_bytes)} |"
        )
    lines += [
        "",
        "`make demo` skips `--compile-bytecode` (the second row has it): compiling all of "
        "moto and botocore at install costs more than Python compiling, on first import, the "
        "modules the demo uses. `make test` keeps it (pytest imports nearly everything).",
        "",
        "Reproduce: `python3 bench/install.py` (add `--write` to update this section; it "
        "downloads everything once per row, so it needs the network and a few minutes).",
        "",
    ]
    return "\n".join(lines)


def write_section(text: str, doc: Path = DOC) -> None:
    """Replace the `## Install` section of the doc in place, or append it."""
    shared_write_section(text, "## Install", doc)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="update docs/benchmarks.md")
    parser.add_argument("--only", help="measure only the selections whose name contains this text")
    args = parser.parse_args()
    results = []
    for name, flags in SELECTIONS.items():
        if args.only and args.only not in name:
            continue
        results.append(measure(name, flags))
        print(results[-1], file=sys.stderr)
    text = section(results)
    print(text)
    if args.write:
        write_section(text)


if __name__ == "__main__":
    main()
