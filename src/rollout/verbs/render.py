"""``rollout render``: the template with the image swapped, ready for RegisterTaskDefinition.

Steps, in order (docs/configuration.md describes each and the differences from the
aws-actions render action):

1. read the template JSON (``template`` in rollout.toml, relative to that file);
2. expand ``${NAME}`` / ``${NAME:-default}`` variables (:mod:`rollout.templating`);
3. fill ``<account>`` from STS GetCallerIdentity (only called when a placeholder needs it);
4. set the image of every container named in ``containers``;
5. when the image is in ECR, resolve its tag to a digest and pin ``repo@sha256:…``;
6. add docker labels and task-definition tags (git sha, image and tag, source, run URL);
7. strip read-only fields; move a template ``tags`` list into :attr:`Rendered.tags`.

Nothing is written to AWS: the calls are sts:GetCallerIdentity and ecr:DescribeImages.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rollout.aws import ClientFactory
from rollout.config import EnvConfig
from rollout.context import Context
from rollout.decisions.progressive import (
    NATIVE,
    analysis_summary,
    deployment_configuration,
    shape_of,
    strategy_summary,
)
from rollout.decisions.reference import ReferenceError, check_image_argument
from rollout.decisions.taskdef import (
    ImageRef,
    container_names,
    expand_image,
    missing_containers,
    parse_image,
    provenance_from_environ,
    release_labels,
    release_tags,
    strip_read_only,
    swap_images,
    tag_value,
    tags_to_dict,
    tags_to_list,
)
from rollout.engine.outcome import Outcome
from rollout.engine.settings import thresholds_from
from rollout.errors import AwsError, ConfigError, UsageError
from rollout.gateways.ecr import EcrGateway, EcrImage
from rollout.gateways.sts import StsGateway
from rollout.templating import contains, fill_placeholders, lookup_from, substitute_document

ACCOUNT_PLACEHOLDER = "<account>"


@dataclass(frozen=True)
class Rendered:
    """A rendered task definition.

    ``document`` is ready for RegisterTaskDefinition (no read-only fields, no ``tags``: those are
    in ``tags``). ``image`` is what the containers run: ``repo@sha256:…`` when pinned.
    """

    document: dict[str, Any]
    image: str
    digest: str | None
    tags: dict[str, str]
    labels: dict[str, str]
    requested_image: str = ""
    #: render looked the image up in ECR and found it (verify need not look again)
    in_ecr: bool = False
    #: render looked the image up in ECR and it is not there: "image" or "repository" (verify
    #: reports it without asking ECR a second time)
    ecr_missing: str | None = None
    account: str | None = None
    template: Path | None = None
    #: Non-fatal findings (e.g. the ECR image was not found, so nothing was pinned).
    warnings: tuple[str, ...] = field(default=())

    @property
    def image_ref(self) -> ImageRef:
        return parse_image(self.requested_image or self.image)

    def registration_document(self) -> dict[str, Any]:
        """The document with its tags inline, the file shape ``aws ecs register-task-definition
        --cli-input-json`` and the aws-actions deploy action accept."""
        doc = dict(self.document)
        if self.tags:
            doc["tags"] = tags_to_list(self.tags)
        return doc

    def to_json(self) -> str:
        return json.dumps(self.registration_document(), indent=2, sort_keys=False) + "\n"


def load_template(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            f"failed to render: the template {path} does not exist.",
            hint="Set `template` in rollout.toml (relative to that file) or create the file.",
        ) from None
    except OSError as exc:
        raise ConfigError(f"failed to render: cannot read the template {path}: {exc}.") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"failed to render: the template {path} is not UTF-8 text ({exc.reason} at byte "
            f"{exc.start}).",
            hint="A task-definition template is JSON, which is UTF-8: save it as UTF-8, or check "
            "`template` in rollout.toml.",
        ) from None
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(
            f"failed to render: the template {path} is not valid JSON "
            f"(line {exc.lineno}, column {exc.colno}: {exc.msg}).",
            hint="Fix the JSON syntax.",
        ) from None
    if not isinstance(doc, dict) or not isinstance(doc.get("containerDefinitions"), list):
        raise ConfigError(
            f"failed to render: the template {path} has no containerDefinitions list.",
            hint="The template must be a task-definition JSON object (as register-task-"
            "definition --cli-input-json takes).",
        )
    return doc


def check_image(image: str | None) -> None:
    """Raise :class:`UsageError` (exit 2) when ``image`` is not an image reference or shorthand
    (the OCI reference grammar, :mod:`rollout.decisions.reference`). No I/O: callers run it
    before any AWS call."""
    if image is None:
        return
    try:
        check_image_argument(image)
    except ReferenceError as exc:
        raise UsageError(f"failed to parse the image {image!r}: {exc}.", hint=exc.hint) from None


def render_task_definition(
    cfg: EnvConfig,
    image: str | None,
    ctx: Context,
    *,
    require_image: bool = False,
) -> Rendered:
    """Render ``cfg.template`` for ``image`` (``None``: keep the template's image).

    ``image`` may be a full reference or a shorthand: a bare tag (``sha-1a2b3c4``) or digest
    (``sha256:…``) in ``cfg.ecr_repository`` of this account and region.

    When an ECR image cannot be found the result is left unpinned with a warning (so ``verify``
    can report it beside every other problem); ``require_image=True`` raises instead.
    """
    check_image(image)
    template = load_template(cfg.template)
    lookup = lookup_from(ctx.environ, cfg.vars)
    document = substitute_document(template, lookup, source=f"the template {cfg.template}")

    missing = missing_containers(document, cfg.containers)
    if missing:
        raise ConfigError(
            f"failed to render: container(s) {', '.join(missing)} not found in the template "
            f"{cfg.template} (it has: {', '.join(container_names(document)) or 'none'}).",
            hint="Fix `containers` in rollout.toml or the containerDefinitions names.",
        )

    account: str | None = None
    needs_account = contains(document, ACCOUNT_PLACEHOLDER) or (
        image is not None
        and ("/" not in image or ACCOUNT_PLACEHOLDER in image)  # shorthand or placeholder
    )
    if needs_account:
        account = StsGateway(ctx.factory).caller_identity().account
        document = fill_placeholders(document, {ACCOUNT_PLACEHOLDER: account})

    if image is None:
        requested = _template_image(document, cfg.containers)
    else:
        requested = expand_image(
            image.replace(ACCOUNT_PLACEHOLDER, account or ACCOUNT_PLACEHOLDER),
            account=account,
            region=cfg.region,
            repository=cfg.ecr_repository,
        )
    try:
        ref = parse_image(requested)
    except ValueError as exc:
        raise ConfigError(
            f"failed to render: {exc}.",
            hint="Pass --image as registry/repository:tag, repository@sha256:..., or a bare tag.",
        ) from None

    warnings: list[str] = []
    digest, final_image, in_ecr, ecr_missing = _pin(ref, ctx, warnings, require_image)

    provenance = provenance_from_environ(ctx.environ)
    labels = release_labels(ref, provenance)
    tags = tags_to_dict(document.pop("tags", None))
    tags.update(release_tags(ref, digest, provenance))
    document = swap_images(strip_read_only(document), cfg.containers, final_image, labels)
    return Rendered(
        document=document,
        image=final_image,
        digest=digest,
        in_ecr=in_ecr,
        ecr_missing=ecr_missing,
        tags={k: tag_value(v) for k, v in tags.items()},
        labels=labels,
        requested_image=str(ref),
        account=account,
        template=cfg.template,
        warnings=tuple(warnings),
    )


def _template_image(document: dict[str, Any], containers: tuple[str, ...]) -> str:
    images = {
        str(c.get("image"))
        for c in document["containerDefinitions"]
        if c.get("name") in containers and c.get("image")
    }
    if len(images) != 1:
        shown = ", ".join(sorted(images)) or "none"
        raise ConfigError(
            "failed to render: no --image given and the template's containers "
            f"{', '.join(containers)} do not share one image ({shown}).",
            hint="Pass --image.",
        )
    return images.pop()


def find_in_ecr(ref: ImageRef, factory: ClientFactory) -> tuple[EcrImage | None, bool]:
    """The ECR image ``ref`` names, by digest or else tag (None: not there), and whether its
    repository exists."""
    try:
        found = EcrGateway(factory).find_image(
            ref.repository,
            tag=(ref.tag or "latest") if ref.digest is None else None,
            digest=ref.digest,
            registry_id=ref.ecr_account,
            region=ref.ecr_region,
        )
    except AwsError as exc:
        if exc.code != "RepositoryNotFoundException":
            raise
        return None, False
    return found, True


def _pin(
    ref: ImageRef, ctx: Context, warnings: list[str], require_image: bool
) -> tuple[str | None, str, bool, str | None]:
    """(digest, image to run, found in ECR, what ECR lacks: "image", "repository" or None).
    Pins ECR tags to their digest; other registries stay as given."""
    if not ref.is_ecr:
        if ref.digest is None:
            warnings.append(
                f"{ref} is not in ECR, so it is not pinned by digest; a rollback may pull "
                "different bytes if the tag moves."
            )
        return ref.digest, str(ref), False, None
    found, repository_exists = find_in_ecr(ref, ctx.factory)
    if found is None:
        missing = "image" if repository_exists else "repository"
        problem = (
            f"{ref} is not in ECR"
            if repository_exists
            else f"the ECR repository {ref.repository} does not exist"
        )
        if require_image:
            raise ConfigError(
                f"failed to render: {problem}.",
                hint="Push the image first (or check the tag), then render again.",
            )
        warnings.append(f"{problem}; the image is not pinned by digest.")
        return ref.digest, str(ref), False, missing
    return found.digest, ref.pinned(found.digest), True, None


# -- verb ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RenderOptions:
    env: str
    image: str | None = None
    output: Path | None = None  # write the JSON here; None: the caller prints it
    overrides: Mapping[str, Any] = field(default_factory=dict)


def run(options: RenderOptions, ctx: Context) -> Outcome:
    """Load the config, render (an ECR image that is not found is an error here), write the file
    when asked. ``details["json"]`` holds the registration document as JSON text."""
    cfg = ctx.load_env(options.env, options.overrides)
    rendered = render_task_definition(cfg, options.image, ctx, require_image=True)
    text = rendered.to_json()
    if options.output is not None:
        try:
            options.output.write_text(text, encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"failed to write {options.output}: {exc}.") from None
    return Outcome(
        verdict="rendered",
        exit_code=0,
        details={
            "json": text,
            "image": rendered.image,
            "digest": rendered.digest,
            "warnings": list(rendered.warnings),
            "deployment": deployment_summary(cfg),
        },
    )


def deployment_summary(cfg: EnvConfig) -> dict[str, Any]:
    """How this environment ships a release: the strategy, what UpdateService sets and the
    analysis (``render`` shows it beside the task definition)."""
    shape = shape_of(cfg.shift)
    thresholds = thresholds_from(cfg.analysis)
    native = cfg.strategy in NATIVE
    return {
        "strategy": cfg.strategy,
        "summary": strategy_summary(cfg.strategy, shape),
        "deployment_configuration": deployment_configuration({}, cfg.strategy, shape)
        if native and cfg.shift.set_on_deploy
        else None,
        "set_on_deploy": cfg.shift.set_on_deploy,
        "analysis": analysis_summary(thresholds, cfg.analysis.window) if native else None,
        "test_url": cfg.test_url,
        "test_headers": shown_headers(cfg.test_headers),
        "smoke": smoke_summary(cfg) if native else None,
    }


#: header names whose values render never shows (they may carry a shared secret)
SECRET_HEADER_WORDS = ("AUTH", "COOKIE", "KEY", "SECRET", "TOKEN", "PASSWORD", "SIGNATURE")


def shown_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """``test_headers`` as render shows them: a secret-looking name's value as ``***``."""
    return {
        name: "***" if any(w in name.upper() for w in SECRET_HEADER_WORDS) else value
        for name, value in headers.items()
    }


def smoke_summary(cfg: EnvConfig) -> str:
    """One line: the smoke probe a native strategy runs before production traffic."""
    if not cfg.test_url:
        return "smoke probe: none before production traffic (no test_url)"
    shown = shown_headers(cfg.test_headers)
    sent = ", ".join(f"{n}: {v}" for n, v in shown.items())
    return (
        f"smoke probe: GET {cfg.test_url}"
        + (f" with {sent}" if sent else " (no test_headers)")
        + ", through the test listener rule, before production traffic"
    )
