"""Images from source: ``rollout sandbox build`` without a Docker engine.

An image here is a content-addressed *snapshot* of the backend's source plus an image config read
from the source's ``Dockerfile``:

- the files are what the Dockerfile's final stage copies from the build context (``COPY
  backend/app ./app``...; ``COPY --from=...`` lines are the dependency layer, see below), minus
  what ``.dockerignore`` excludes (``__pycache__``, ``*.pyc``);
- ``CMD``, ``ENTRYPOINT``, ``WORKDIR``, ``USER``, ``ENV``, ``EXPOSE``, ``STOPSIGNAL`` and
  ``ARG`` come from the final stage; ``--build-arg``-style values fill declared ``ARG``\\ s (the
  build passes ``APP_VERSION=<tag>`` when the Dockerfile declares it);
- the Python environment (the ``COPY --from=build /app/.venv`` layer) is the project's locked
  environment, the venv the sandbox itself runs in; its identity (``uv.lock``'s hash and the
  Python version) is part of the image config, so a lock change makes a new digest;
- ``RUN`` lines of the final stage are not replayed (voj's only one compiles bytecode).

The layer is a deterministic tar (sorted names, mtime 0, uid/gid 0) gzip'd with mtime 0, the config
a canonical JSON document, and the manifest a Docker v2 manifest naming both by their sha256; the
image digest is the manifest's sha256, as ECR computes it. Same content → same digest; any change
to a copied file, the Dockerfile's final stage, a build argument or the lock → a new digest.

The snapshot's files are kept under ``<cache>/images/<digest hex>/rootfs`` (the image's WORKDIR),
and the image is registered in the sandbox's ECR with PutImage semantics (the manifest, the tag,
the digest), so DescribeImages, BatchGetImage and digest pinning behave as for a pushed image.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fnmatch
import gzip
import hashlib
import io
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rollout.errors import ConfigError

REPO_ROOT = Path(__file__).resolve().parents[4]
DEFAULT_SOURCE = REPO_ROOT / "backend"
MANIFEST_MEDIA_TYPE = "application/vnd.docker.distribution.manifest.v2+json"
CONFIG_MEDIA_TYPE = "application/vnd.docker.container.image.v1+json"
LAYER_MEDIA_TYPE = "application/vnd.docker.image.rootfs.diff.tar.gzip"
#: PATH of the python base images, what ``$PATH`` expands to in the final stage's ENV.
BASE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
#: The path the image's venv lives at (``COPY --from=build /app/.venv /app/.venv``).
IMAGE_VENV = "/app/.venv"


#: docker's tag grammar (the distribution reference's ``tag``), what `docker build -t` accepts
_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")


class BuildError(ConfigError):
    """An image could not be built from the given source (nothing was registered)."""


@dataclass(frozen=True)
class ImageConfig:
    """What the final stage says about running the image."""

    cmd: tuple[str, ...] = ()
    entrypoint: tuple[str, ...] = ()
    workdir: str = "/"
    user: str | None = None
    env: tuple[tuple[str, str], ...] = ()
    exposed_ports: tuple[str, ...] = ()
    stop_signal: str = "SIGTERM"
    labels: tuple[tuple[str, str], ...] = ()
    copies: tuple[tuple[str, str], ...] = ()

    def to_json(self) -> dict[str, Any]:
        """The ``config`` member of a Docker image config."""
        doc: dict[str, Any] = {
            "Cmd": list(self.cmd),
            "Env": [f"{k}={v}" for k, v in self.env],
            "WorkingDir": self.workdir,
            "ExposedPorts": {p: {} for p in self.exposed_ports},
            "StopSignal": self.stop_signal,
            "Labels": dict(self.labels),
        }
        if self.entrypoint:
            doc["Entrypoint"] = list(self.entrypoint)
        if self.user:
            doc["User"] = self.user
        return doc


@dataclass(frozen=True)
class BuiltImage:
    """A snapshot in the image cache."""

    digest: str
    manifest: str
    config: ImageConfig
    rootfs: Path
    files: int = 0
    tags: tuple[str, ...] = field(default_factory=tuple)


# ---------------------------------------------------------------- Dockerfile


def _join_lines(text: str) -> list[str]:
    joined = re.sub(r"\\\n", " ", text)
    return [
        line.strip()
        for line in joined.splitlines()
        if line.strip() and not line.strip().startswith("#")
    ]


def _expand(value: str, variables: Mapping[str, str]) -> str:
    def repl(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        return variables.get(name, "")

    return re.sub(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)", repl, value)


def _exec_form(args: str) -> tuple[str, ...]:
    text = args.strip()
    if text.startswith("["):
        try:
            words = json.loads(text)
        except ValueError as exc:
            raise BuildError(
                f"failed to read the Dockerfile: {text!r} is not JSON: {exc}."
            ) from exc
        return tuple(str(w) for w in words)
    return ("/bin/sh", "-c", text)


def parse_final_stage(text: str, build_args: Mapping[str, str] | None = None) -> ImageConfig:
    """The final stage of a Dockerfile as an :class:`ImageConfig` (see the module docstring)."""
    lines = _join_lines(text)
    starts = [i for i, line in enumerate(lines) if line.split(" ", 1)[0].upper() == "FROM"]
    if not starts:
        raise BuildError("failed to read the Dockerfile: it has no FROM line.")
    args = dict(build_args or {})
    variables: dict[str, str] = {"PATH": BASE_PATH}
    env: dict[str, str] = {}
    cmd: tuple[str, ...] = ()
    entrypoint: tuple[str, ...] = ()
    workdir = "/"
    user: str | None = None
    exposed: list[str] = []
    stop_signal = "SIGTERM"
    labels: dict[str, str] = {}
    copies: list[tuple[str, str]] = []
    for line in lines[starts[-1] + 1 :]:
        keyword, _, rest = line.partition(" ")
        keyword = keyword.upper()
        rest = rest.strip()
        if keyword == "ARG":
            name, sep, default = rest.partition("=")
            value = args.get(name, default if sep else "")
            variables[name] = value
        elif keyword == "ENV":
            words = shlex.split(rest)
            pairs = (
                [w.partition("=") for w in words]
                if words and "=" in words[0]
                else [(words[0], "=", " ".join(words[1:]))]
            )
            for name, _, value in pairs:
                expanded = _expand(value, variables)
                env[name] = expanded
                variables[name] = expanded
        elif keyword == "CMD":
            cmd = _exec_form(rest)
        elif keyword == "ENTRYPOINT":
            entrypoint = _exec_form(rest)
        elif keyword == "WORKDIR":
            workdir = os.path.join(workdir, _expand(rest, variables))
        elif keyword == "USER":
            user = _expand(rest, variables)
        elif keyword == "EXPOSE":
            exposed += [p if "/" in p else f"{p}/tcp" for p in rest.split()]
        elif keyword == "STOPSIGNAL":
            stop_signal = rest
        elif keyword == "LABEL":
            for word in shlex.split(rest):
                name, _, value = word.partition("=")
                labels[name] = value
        elif keyword in ("COPY", "ADD"):
            words = shlex.split(rest)
            if any(w.startswith("--from") for w in words):
                continue  # the dependency layer: the project's locked environment
            words = [w for w in words if not w.startswith("--")]
            *sources, dest = words
            for source in sources:
                copies.append((source, dest))
    return ImageConfig(
        cmd=cmd,
        entrypoint=entrypoint,
        workdir=workdir,
        user=user,
        env=tuple(env.items()),
        exposed_ports=tuple(exposed),
        stop_signal=stop_signal,
        labels=tuple(sorted(labels.items())),
        copies=tuple(copies),
    )


def _ignore_patterns(dockerignore: Path) -> list[str]:
    """The exclusion patterns of a .dockerignore, except ``*`` (voj's is an allow-list)."""
    if not dockerignore.is_file():
        return ["**/__pycache__", "**/*.pyc"]
    patterns = []
    for line in dockerignore.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line and not line.startswith(("#", "!")) and line != "*":
            patterns.append(line)
    return patterns


def _ignored(relative: str, patterns: list[str]) -> bool:
    parts = relative.split("/")
    for pattern in patterns:
        bare = pattern[3:] if pattern.startswith("**/") else pattern
        if fnmatch.fnmatchcase(relative, pattern):
            return True
        if pattern.startswith("**/") and any(fnmatch.fnmatchcase(p, bare) for p in parts):
            return True
    return False


# ---------------------------------------------------------------- building


def _copy_source(source: Path, context: Path, patterns: list[str]) -> None:
    """``source`` (laid out like the repository's ``backend/``) → ``context/backend``."""
    target = context / "backend"
    for path in sorted(source.rglob("*")):
        relative = path.relative_to(source).as_posix()
        if _ignored("backend/" + relative, patterns) or path.is_dir():
            continue
        if any(
            part in (".venv", "node_modules", ".git") for part in path.parts[len(source.parts) :]
        ):
            continue
        destination = target / relative
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, destination)


def apply_patch(context: Path, patch: str) -> list[str]:
    """Apply a ``git diff`` (from the repository root) to ``context``; the files it changed.

    Only paths under ``backend/`` are applied. Raises BuildError when it does not apply or touches
    nothing the image is built from.
    """
    git = shutil.which("git")
    if git is None:
        raise BuildError("failed to apply the patch: git is not installed.", hint="Install git.")
    patch_file = context.parent / "change.patch"
    patch_file.write_text(patch if patch.endswith("\n") else patch + "\n", encoding="utf-8")
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "GIT_CEILING_DIRECTORIES": str(context.parent),
        "HOME": str(context.parent),
    }
    common = [git, "apply", "--include=backend/*", "--whitespace=nowarn"]
    listed = subprocess.run(
        [*common, "--numstat", str(patch_file)],
        cwd=context,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    changed = [line.split("\t")[-1] for line in listed.stdout.splitlines() if line.strip()]
    if listed.returncode != 0 or not changed:
        why = listed.stderr.strip() or "it changes no file under backend/"
        raise BuildError(
            f"failed to apply the patch: {why}.",
            hint="Pass a unified diff written by `git diff` from the repository root.",
        )
    result = subprocess.run(
        [*common, str(patch_file)], cwd=context, env=env, capture_output=True, text=True, timeout=60
    )
    if result.returncode != 0:
        raise BuildError(
            f"failed to apply the patch to the backend snapshot: {result.stderr.strip()}.",
            hint="Write the diff against the source being built (`git diff` from the repo root).",
        )
    return changed


def _layer(files: dict[str, Path]) -> tuple[bytes, str]:
    """(gzip'd deterministic tar, sha256 of the uncompressed tar) of ``files``."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name in sorted(files):
            data = files[name].read_bytes()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o755 if os.access(files[name], os.X_OK) else 0o644
            info.mtime = 0
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            tar.addfile(info, io.BytesIO(data))
    tar_bytes = raw.getvalue()
    packed = io.BytesIO()
    with gzip.GzipFile(fileobj=packed, mode="wb", mtime=0) as gz:
        gz.write(tar_bytes)
    return packed.getvalue(), "sha256:" + hashlib.sha256(tar_bytes).hexdigest()


def _sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _python_identity(lock: Path | None) -> dict[str, str]:
    labels = {"rollout.sandbox.python": ".".join(map(str, sys.version_info[:3]))}
    if lock is not None and lock.is_file():
        labels["rollout.sandbox.uv-lock"] = _sha(lock.read_bytes())
    return labels


class ImageStore:
    """The sandbox's image cache: build snapshots, find them by digest, register them in ECR."""

    def __init__(self, cache_dir: Path) -> None:
        self.root = Path(cache_dir) / "images"
        self.root.mkdir(parents=True, exist_ok=True)

    def path(self, digest: str) -> Path:
        return self.root / digest.split(":", 1)[-1]

    def lookup(self, digest: str | None) -> BuiltImage | None:
        """The snapshot with this manifest digest, or None (not built by this sandbox)."""
        if not digest:
            return None
        base = self.path(digest)
        try:
            doc = json.loads((base / "image.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        config = ImageConfig(
            cmd=tuple(doc["cmd"]),
            entrypoint=tuple(doc["entrypoint"]),
            workdir=doc["workdir"],
            user=doc["user"],
            env=tuple((k, v) for k, v in doc["env"]),
            exposed_ports=tuple(doc["exposed_ports"]),
            stop_signal=doc["stop_signal"],
            labels=tuple((k, v) for k, v in doc["labels"]),
        )
        return BuiltImage(digest, doc["manifest"], config, base / "rootfs", int(doc["files"]))

    def build(
        self,
        *,
        tag: str,
        source: Path | None = None,
        patch: str | None = None,
        build_args: Mapping[str, str] | None = None,
    ) -> BuiltImage:
        """Snapshot ``source`` (default: the working tree's ``backend/``), patched if asked."""
        if not _TAG.fullmatch(tag):
            raise BuildError(
                f"failed to build: {tag!r} is not a valid image tag (letters, digits, _ . -; "
                "at most 128, not starting with . or -), which `docker build -t` would refuse.",
                hint="Pass a tag such as v2 or sha-abc1234.",
            )
        source = Path(source or DEFAULT_SOURCE).resolve()
        if not (source / "Dockerfile").is_file():
            raise BuildError(
                f"failed to build {tag}: {source} has no Dockerfile.",
                hint="Pass --source a directory laid out like the repository's backend/.",
            )
        patterns = _ignore_patterns(source.parent / ".dockerignore")
        with tempfile.TemporaryDirectory(prefix="build-", dir=self.root) as tmp:
            context = Path(tmp) / "context"
            context.mkdir()
            _copy_source(source, context, patterns)
            if patch is not None:
                apply_patch(context, patch)
            text = (context / "backend" / "Dockerfile").read_text(encoding="utf-8")
            probe = parse_final_stage(text)
            declared_args = {k for k, _ in probe.env} | set(
                re.findall(r"(?m)^\s*ARG\s+(\w+)", text)
            )
            args = {"APP_VERSION": tag} if "APP_VERSION" in declared_args else {}
            args.update(build_args or {})
            config = parse_final_stage(text, args)
            identity = _python_identity(source.parent / "uv.lock")
            config = dataclasses.replace(
                config, labels=tuple(sorted({**dict(config.labels), **identity}.items()))
            )
            files = self._select(context, config, patterns)
            if not files:
                raise BuildError(
                    f"failed to build {tag}: the Dockerfile's final stage copies no file."
                )
            layer, diff_id = _layer(files)
            config_doc = {
                "architecture": "amd64",
                "os": "linux",
                "config": config.to_json(),
                "rootfs": {"type": "layers", "diff_ids": [diff_id]},
            }
            config_bytes = json.dumps(config_doc, sort_keys=True, separators=(",", ":")).encode()
            manifest = json.dumps(
                {
                    "schemaVersion": 2,
                    "mediaType": MANIFEST_MEDIA_TYPE,
                    "config": {
                        "mediaType": CONFIG_MEDIA_TYPE,
                        "size": len(config_bytes),
                        "digest": _sha(config_bytes),
                    },
                    "layers": [
                        {"mediaType": LAYER_MEDIA_TYPE, "size": len(layer), "digest": _sha(layer)}
                    ],
                },
                separators=(",", ":"),
            )
            digest = _sha(manifest.encode())
            base = self.path(digest)
            if not (base / "image.json").is_file():
                staging = Path(tmp) / "image"
                rootfs = staging / "rootfs"
                for name, path in files.items():
                    destination = rootfs / name
                    destination.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(path, destination)
                _readable(staging)
                doc = {
                    "manifest": manifest,
                    "cmd": list(config.cmd),
                    "entrypoint": list(config.entrypoint),
                    "workdir": config.workdir,
                    "user": config.user,
                    "env": [list(p) for p in config.env],
                    "exposed_ports": list(config.exposed_ports),
                    "stop_signal": config.stop_signal,
                    "labels": [list(p) for p in config.labels],
                    "files": len(files),
                }
                (staging / "image.json").write_text(json.dumps(doc, indent=1), encoding="utf-8")
                shutil.rmtree(base, ignore_errors=True)
                staging.rename(base)
        return BuiltImage(digest, manifest, config, base / "rootfs", len(files), (tag,))

    @staticmethod
    def _select(context: Path, config: ImageConfig, patterns: list[str]) -> dict[str, Path]:
        """Image path (relative to WORKDIR) → file in the context, per the final stage's COPYs."""
        files: dict[str, Path] = {}
        for source, dest in config.copies:
            origin = context / source
            if not origin.exists():
                raise BuildError(
                    f"failed to build: COPY {source} {dest}: {source} is not in the build context."
                )
            target = dest if dest.startswith("/") else os.path.join(config.workdir, dest)
            relative_dest = os.path.relpath(target, config.workdir)
            if relative_dest.startswith(".."):
                raise BuildError(
                    f"failed to build: COPY {source} {dest} writes outside WORKDIR "
                    f"{config.workdir}."
                )
            if origin.is_file():
                name = (
                    os.path.join(relative_dest, origin.name)
                    if dest.endswith("/") or dest in (".", "./")
                    else relative_dest
                )
                files[os.path.normpath(name)] = origin
                continue
            for path in sorted(origin.rglob("*")):
                rel = path.relative_to(context).as_posix()
                if path.is_dir() or _ignored(rel, patterns):
                    continue
                name = os.path.join(relative_dest, path.relative_to(origin).as_posix())
                files[os.path.normpath(name)] = path
        return files


def _readable(root: Path) -> None:
    """World-readable files and directories (tasks may run as the image's USER)."""
    for path in [root, *root.rglob("*")]:
        mode = 0o755 if path.is_dir() or os.access(path, os.X_OK) else 0o644
        path.chmod(mode)


def register_in_ecr(
    image: BuiltImage, *, account: str, region: str, repository: str, tag: str
) -> None:
    """PutImage into the sandbox's (moto's) ECR with the manifest's own digest.

    Pushing the same content under the same tag again is a no-op (as ``docker push`` is).
    Raises BuildError when the repository does not exist.
    """
    from moto.backends import get_backend
    from moto.ecr.exceptions import ImageAlreadyExistsException

    backend = get_backend("ecr")[account][region]
    if repository not in backend.repositories:
        raise BuildError(
            f"failed to push {repository}:{tag}: the sandbox's ECR has no repository {repository}.",
            hint="Run `rollout sandbox provision` first, or pass the repository that exists.",
        )
    with contextlib.suppress(ImageAlreadyExistsException):
        backend.put_image(repository, image.manifest, tag, MANIFEST_MEDIA_TYPE, image.digest)


def runtime_env(config: ImageConfig, rootfs: Path, venv: Path) -> dict[str, str]:
    """The image's ENV with the image's paths mapped onto this machine (venv, WORKDIR)."""
    out: dict[str, str] = {}
    for name, value in config.env:
        value = value.replace(IMAGE_VENV, str(venv))
        if config.workdir not in ("", "/"):
            value = re.sub(rf"(?<![\w/]){re.escape(config.workdir)}(?=$|[/:])", str(rootfs), value)
        out[name] = value
    # the image's Python is the project's locked environment: first on PATH, whatever ENV says
    path = out.get("PATH", BASE_PATH)
    if f"{venv}/bin" not in path.split(":"):
        out["PATH"] = f"{venv}/bin:{path}"
    return out
