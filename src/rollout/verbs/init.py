"""``rollout init --cluster C --service S``: write ``rollout.toml`` and a task-definition template
from a live service.

Reads like a script: read the service, its task definition (with tags) and the account id; make
the template and the config (:mod:`rollout.decisions.scaffold`); refuse to overwrite an existing
file unless ``--force``; write both (or, in a dry run, print them and write nothing). Only local
files are written; AWS is only read.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass
from pathlib import Path

from rollout.context import Context
from rollout.decisions.scaffold import config_text, scaffold
from rollout.engine.outcome import Outcome
from rollout.errors import ConfigError, UsageError
from rollout.events import Event
from rollout.gateways.ecs import EcsGateway
from rollout.gateways.sts import StsGateway

OK = "OK"


@dataclass(frozen=True)
class InitOptions:
    cluster: str
    service: str
    region: str
    env: str = "prod"
    config: Path = Path("rollout.toml")  # where to write rollout.toml
    template: str = "ecs/taskdef.json"  # relative to rollout.toml's folder
    force: bool = False
    dry_run: bool = False


def run(options: InitOptions, ctx: Context) -> Outcome:
    started = ctx.clock.now()
    ctx.emit(
        Event(
            "run.started",
            started,
            f"init from {options.cluster}/{options.service} [{options.region}]"
            + (" (dry run)" if options.dry_run else ""),
            data={
                "verb": "init",
                "env": options.env,
                "cluster": options.cluster,
                "service": options.service,
                "dry_run": options.dry_run,
            },
            level="debug",
        )
    )
    if Path(options.template).is_absolute() or ".." in Path(options.template).parts:
        raise UsageError(
            f"failed to init: --template {options.template} must be a path inside rollout.toml's "
            "folder."
        )
    config_path = options.config
    template_path = options.config.parent / options.template
    existing = [p for p in (config_path, template_path) if p.exists()]
    if existing and not options.force:
        raise ConfigError(
            f"failed to init: {', '.join(str(p) for p in existing)} already exist(s); nothing "
            "was written.",
            hint="Pass --force to overwrite, or --config to write elsewhere.",
        )
    factory = ctx.factory
    if factory.region != options.region:
        from dataclasses import replace

        factory = replace(factory, region=options.region)
    ecs = EcsGateway(factory)
    svc = ecs.describe_service(options.cluster, options.service)
    td = ecs.describe_task_definition(svc.task_definition)
    account = StsGateway(factory).caller_identity().account
    made = scaffold(td.document, td.tags, account)
    if not made.containers:
        raise ConfigError(f"failed to init: {td.family_revision} has no containers.")
    files = {
        template_path: json.dumps(made.template, indent=2) + "\n",
        config_path: config_text(
            env=options.env,
            region=options.region,
            cluster=options.cluster,
            service=options.service,
            containers=made.containers,
            template=options.template,
            ecr_repository=made.ecr_repository,
            source=f"{options.cluster}/{options.service} ({td.family_revision})",
        ),
    }
    overwrites = {path: path.exists() for path in files}
    if not options.dry_run:
        _write_all(files)
    for path, text in files.items():
        overwrite = overwrites[path]
        if options.dry_run:
            ctx.emit(
                Event(
                    "write.dry_run",
                    ctx.clock.now(),
                    f"would write {path}" + (" (overwriting it)" if overwrite else ""),
                    data={
                        "service": "file",
                        "operation": "write",
                        "path": str(path),
                        "content": text,
                    },
                )
            )
            continue
        ctx.emit(
            Event(
                "write",
                ctx.clock.now(),
                f"wrote {path}" + (" (overwrote it)" if overwrite else ""),
                data={"service": "file", "operation": "write", "summary": str(path)},
            )
        )
    ctx.emit(
        Event(
            "init",
            ctx.clock.now(),
            f"{td.family_revision}: containers {', '.join(made.containers)} swap the image of "
            f"{made.ecr_repository}; next: `rollout render --env {options.env}` then "
            f"`rollout verify --env {options.env}`",
            level="success",
            data={
                "task_definition": td.arn,
                "containers": list(made.containers),
                "ecr_repository": made.ecr_repository,
                "files": [str(p) for p in files],
            },
        )
    )
    now = ctx.clock.now()
    message = "DRY RUN OK" if options.dry_run else "done"
    ctx.emit(
        Event(
            "run.finished",
            now,
            message,
            level="debug",
            data={"verdict": OK, "exit_code": 0, "seconds": round(now - started, 3)},
        )
    )
    return Outcome(verdict=OK, exit_code=0, task_definition_arn=td.arn)


def _write_all(files: dict[Path, str]) -> None:
    """Write every file or none: each goes to a temporary file beside its target (creating
    missing folders), and only when all are written are they renamed into place. On any
    OSError the temporary files and the folders made for them are removed, and ConfigError
    (exit 2) names the path that could not be written."""
    made_dirs: list[Path] = []
    staged: list[tuple[Path, Path]] = []
    current = next(iter(files))
    try:
        for path, text in files.items():
            current = path
            for folder in reversed(path.parents):
                if not folder.exists():
                    folder.mkdir()
                    made_dirs.append(folder)
            tmp = path.with_name(f".{path.name}.rollout-init.tmp")
            tmp.write_text(text, encoding="utf-8")
            staged.append((tmp, path))
        for tmp, path in staged:
            current = path
            tmp.replace(path)
    except OSError as exc:
        for tmp, _ in staged:
            tmp.unlink(missing_ok=True)
        for folder in reversed(made_dirs):
            with contextlib.suppress(OSError):
                folder.rmdir()
        raise ConfigError(
            f"failed to init: cannot write {current}: {exc.strerror or exc}; nothing was written.",
            hint="Pass --config with a path in a folder you can write to.",
        ) from None
