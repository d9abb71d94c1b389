"""``rollout deploy --image IMAGE``: render, verify, lock, register, update, watch, roll back.

The verb reads the config, builds the engine's settings and gateways, and hands the engine a
``prepare`` callable that renders and verifies the task definition (read-only). Everything after
that is :class:`rollout.engine.deploy.DeployRun`. ``rollout watch`` is a preset of the same run
that adopts the deployment in flight (to resume after an interrupt) instead of starting one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from rollout.config import EnvConfig
from rollout.context import Context
from rollout.decisions.image_policy import OVERRIDE_TAG
from rollout.decisions.taskdef import tag_value
from rollout.engine.deploy import DeployRequest, DeployRun, Prepared, PreRunResult
from rollout.engine.interrupt import Interrupt
from rollout.engine.oneoff import OneOffRequest, pre_run_command, run_one_off
from rollout.engine.outcome import Outcome
from rollout.engine.probe import Prober, http_probe
from rollout.engine.session import Session
from rollout.engine.settings import EngineSettings, settings_from_config
from rollout.verbs.render import check_image, render_task_definition
from rollout.verbs.verify import run_checks


@dataclass(frozen=True)
class DeployOptions:
    image: str
    env: str = "prod"
    timeout: float | None = None  # overrides timeouts.deploy
    no_rollback: bool = False
    dry_run: bool = False
    rollback_on_timeout: bool = False
    #: Deploy an image the environment's image policy rejects; the reason is logged and tagged.
    image_policy_override: str | None = None
    #: ``--pre-run "CMD"``: a one-off task on the new revision before UpdateService
    pre_run: str | None = None


@dataclass(frozen=True)
class WatchOptions:
    env: str = "prod"
    timeout: float | None = None
    no_rollback: bool = False
    rollback_on_timeout: bool = False


def engine_settings(
    cfg: EnvConfig, timeout: float | None = None, *, healthy: float | None = None
) -> EngineSettings:
    """The engine's settings for ``cfg``; ``timeout`` overrides ``timeouts.deploy`` and
    ``healthy`` ``timeouts.healthy`` (None: the config's)."""
    settings = settings_from_config(cfg)
    if timeout is not None:
        settings = replace(settings, timeouts=replace(settings.timeouts, deploy=float(timeout)))
    if healthy is not None:
        settings = replace(settings, timeouts=replace(settings.timeouts, healthy=float(healthy)))
    return settings


def prepare(
    cfg: EnvConfig, image: str, ctx: Context, *, image_policy_override: str | None = None
) -> Prepared:
    """Render and verify (read-only); the engine's Preflight step. An image-policy override
    that was needed is recorded on the revision (``rollout:image-policy-override``)."""
    # a missing image is a failed preflight check (exit 10), not a config error
    rendered = render_task_definition(cfg, image, ctx, require_image=False)
    report = run_checks(cfg, rendered, ctx, image_policy_override=image_policy_override)
    tags = dict(rendered.tags)
    if report.image_policy_override:
        tags[OVERRIDE_TAG] = tag_value(report.image_policy_override)
    return Prepared(
        document=rendered.document,
        tags=tags,
        image=rendered.image,
        digest=rendered.digest,
        ok=report.ok,
        problems=tuple(f"{c.name}: {c.message}" for c in report.failed),
    )


def pre_run(command: str) -> Callable[[Session, str], PreRunResult]:
    """The engine's PreRun step: ``command`` as a one-off task on the registered revision."""
    argv = pre_run_command(command)

    def step(s: Session, task_definition: str) -> PreRunResult:
        result = run_one_off(
            s,
            OneOffRequest(
                task_definition=task_definition,
                command=argv,
                timeout=s.settings.timeouts.deploy,
                started_by="rollout-pre-run",
            ),
        )
        return PreRunResult(
            result.ok, result.reason, result.exit_code, result.task_arn, result.state
        )

    return step


def _retention(cfg: EnvConfig, ctx: Context) -> None:
    from rollout.verbs import prune

    prune.apply(cfg, ctx, keep=cfg.retention.keep, dry_run=False)


def run(
    options: DeployOptions,
    ctx: Context,
    *,
    interrupt: Interrupt | None = None,
    prober: Prober = http_probe,
) -> Outcome:
    check_image(options.image)  # a malformed --image is a usage error before any AWS call
    cfg = ctx.load_env(options.env)
    session = Session.from_context(
        ctx,
        engine_settings(cfg, options.timeout),
        interrupt=interrupt,
        prober=prober,
        dry_run=options.dry_run,
    )
    request = DeployRequest(
        image=options.image,
        prepare=lambda: prepare(
            cfg, options.image, ctx, image_policy_override=options.image_policy_override
        ),
        no_rollback=options.no_rollback,
        rollback_on_timeout=options.rollback_on_timeout,
        retention=lambda: _retention(cfg, ctx),
        pre_run=pre_run(options.pre_run) if options.pre_run else None,
    )
    return DeployRun(session, request).run()


def run_watch(
    options: WatchOptions,
    ctx: Context,
    *,
    interrupt: Interrupt | None = None,
    prober: Prober = http_probe,
) -> Outcome:
    cfg = ctx.load_env(options.env)
    session = Session.from_context(
        ctx, engine_settings(cfg, options.timeout), interrupt=interrupt, prober=prober
    )
    request = DeployRequest(
        image="",
        prepare=lambda: Prepared(document={}, tags={}, image=""),
        no_rollback=options.no_rollback,
        rollback_on_timeout=options.rollback_on_timeout,
        verb="watch",
    )
    return DeployRun(session, request).run()
