"""render_task_definition: placeholders, variables, containers, digest pinning, parity."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from rollout.aws import ClientFactory
from rollout.config import load_config
from rollout.context import Context
from rollout.errors import ConfigError
from rollout.templating import lookup_from, substitute_document
from rollout.verbs.render import render_task_definition

from .conftest import REGION, edit_template, push

ACCOUNT = "123456789012"  # moto's account
REGISTRY = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com"


def ctx_for(factory: ClientFactory, **environ: str) -> Context:
    return Context(factory, environ=environ)


def load(workdir: Path, **environ: str) -> Any:
    return load_config(workdir / "rollout.toml", "prod", environ=environ)


def test_account_placeholders_filled_from_sts(workdir: Path, moto_factory: ClientFactory) -> None:
    """Every <account> in the template becomes the caller's account id from GetCallerIdentity."""
    push(moto_factory, "sha-0000001")
    rendered = render_task_definition(load(workdir), "sha-0000001", ctx_for(moto_factory))
    text = json.dumps(rendered.document)
    assert "<account>" not in text
    assert rendered.account == ACCOUNT
    assert (
        rendered.document["executionRoleArn"]
        == f"arn:aws:iam::{ACCOUNT}:role/voj-backend-execution"
    )
    secrets = rendered.document["containerDefinitions"][0]["secrets"]
    assert secrets[0]["valueFrom"].startswith(f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter/voj/prod/")
    assert moto_factory.api_calls["sts.GetCallerIdentity"] == 1


def test_ecr_tag_pinned_to_digest_and_kept_as_label(
    workdir: Path, moto_factory: ClientFactory
) -> None:
    """An ECR tag is resolved to its digest; the container runs repo@digest, the tag is a label."""
    digest = push(moto_factory, "sha-0000002")
    push(moto_factory, "sha-0000003")
    rendered = render_task_definition(load(workdir), "sha-0000002", ctx_for(moto_factory))
    container = rendered.document["containerDefinitions"][0]
    assert container["image"] == f"{REGISTRY}/voj-backend@{digest}"
    assert rendered.image == container["image"]
    assert rendered.digest == digest
    assert container["dockerLabels"]["rollout.image-tag"] == "sha-0000002"
    assert rendered.tags["rollout:digest"] == digest
    assert rendered.tags["rollout:image"] == f"{REGISTRY}/voj-backend:sha-0000002"


def test_full_reference_and_digest_shorthand(workdir: Path, moto_factory: ClientFactory) -> None:
    """A full ECR reference and a bare sha256 digest both resolve to the same pinned image."""
    digest = push(moto_factory, "v1")
    cfg = load(workdir)
    by_uri = render_task_definition(cfg, f"{REGISTRY}/voj-backend:v1", ctx_for(moto_factory))
    by_digest = render_task_definition(cfg, digest, ctx_for(moto_factory))
    assert by_uri.image == by_digest.image == f"{REGISTRY}/voj-backend@{digest}"


def test_missing_ecr_image_is_a_warning_or_an_error(
    workdir: Path, moto_factory: ClientFactory
) -> None:
    """An unpushed tag is left unpinned with a warning, or refused with require_image."""
    cfg = load(workdir)
    rendered = render_task_definition(cfg, "sha-9999999", ctx_for(moto_factory))
    assert rendered.digest is None
    assert rendered.image == f"{REGISTRY}/voj-backend:sha-9999999"
    assert any("is not in ECR" in w for w in rendered.warnings)
    with pytest.raises(ConfigError, match="sha-9999999 is not in ECR"):
        render_task_definition(cfg, "sha-9999999", ctx_for(moto_factory), require_image=True)


def test_missing_repository_is_reported(workdir: Path, moto_factory: ClientFactory) -> None:
    """An image in an ECR repository that does not exist says so instead of crashing."""
    rendered = render_task_definition(load(workdir), f"{REGISTRY}/nope:1", ctx_for(moto_factory))
    assert rendered.warnings == (
        "the ECR repository nope does not exist; the image is not pinned by digest.",
    )


def test_several_containers_swapped_others_untouched(
    workdir: Path, moto_factory: ClientFactory
) -> None:
    """Every container named in `containers` gets the image; a sidecar keeps its own."""

    def add(doc: dict[str, Any]) -> None:
        worker = copy.deepcopy(doc["containerDefinitions"][0])
        worker["name"] = "worker"
        worker.pop("portMappings")
        sidecar = {"name": "log-router", "image": "public.ecr.aws/aws-observability/fluent-bit:2"}
        doc["containerDefinitions"] += [worker, sidecar]

    edit_template(workdir, add)
    (workdir / "rollout.toml").write_text(
        (workdir / "rollout.toml").read_text().replace('["api"]', '["api", "worker"]')
    )
    digest = push(moto_factory, "sha-0000004")
    rendered = render_task_definition(load(workdir), "sha-0000004", ctx_for(moto_factory))
    images = {c["name"]: c["image"] for c in rendered.document["containerDefinitions"]}
    assert images["api"] == images["worker"] == f"{REGISTRY}/voj-backend@{digest}"
    assert images["log-router"] == "public.ecr.aws/aws-observability/fluent-bit:2"
    sidecar = rendered.document["containerDefinitions"][2]
    assert "dockerLabels" not in sidecar


def test_unknown_container_is_an_error(workdir: Path, moto_factory: ClientFactory) -> None:
    """Naming a container the template lacks fails and lists the containers it has."""
    cfg = load(workdir, ROLLOUT_CONTAINERS="web")
    with pytest.raises(ConfigError, match=r"container\(s\) web not found.*it has: api"):
        render_task_definition(cfg, "sha-1", ctx_for(moto_factory))


def test_variables_required_defaulted_and_from_vars(
    workdir: Path, moto_factory: ClientFactory
) -> None:
    """${NAME} comes from the environment, then `vars`; ${NAME:-d} falls back; $${ escapes."""

    def env(doc: dict[str, Any]) -> None:
        doc["containerDefinitions"][0]["environment"] += [
            {"name": "RELEASE", "value": "${RELEASE}"},
            {"name": "LOG_LEVEL", "value": "${LOG_LEVEL:-info}"},
            {"name": "TIER", "value": "${TIER}"},
            {"name": "LITERAL", "value": "$${HOME}"},
        ]

    edit_template(workdir, env)
    toml = workdir / "rollout.toml"
    toml.write_text(
        toml.read_text().replace(
            "[env.prod.vars]\n", '[env.prod.vars]\nTIER = "gold"\nRELEASE = "from-vars"\n'
        )
    )
    push(moto_factory, "t")
    rendered = render_task_definition(load(workdir), "t", ctx_for(moto_factory, RELEASE="r42"))
    values = {
        e["name"]: e["value"] for e in rendered.document["containerDefinitions"][0]["environment"]
    }
    assert values["RELEASE"] == "r42"
    assert values["LOG_LEVEL"] == "info"
    assert values["TIER"] == "gold"
    assert values["LITERAL"] == "${HOME}"


def test_missing_required_variables_are_named(workdir: Path, moto_factory: ClientFactory) -> None:
    """Every unset required variable is named in one ConfigError, before any AWS call."""
    edit_template(
        workdir,
        lambda d: d["containerDefinitions"][0]["environment"].extend(
            [{"name": "A", "value": "${FEATURE_FLAGS}"}, {"name": "B", "value": "${RELEASE_NAME}"}]
        ),
    )
    with pytest.raises(
        ConfigError, match=r"required variable\(s\) not set: FEATURE_FLAGS, RELEASE_NAME"
    ):
        render_task_definition(load(workdir), "t", ctx_for(moto_factory))
    assert moto_factory.api_call_total == 1  # the fixture's CreateRepository only


def test_read_only_fields_stripped_and_template_tags_kept(
    workdir: Path, moto_factory: ClientFactory
) -> None:
    """Fields DescribeTaskDefinition adds are removed; template tags move to Rendered.tags."""

    def described(doc: dict[str, Any]) -> None:
        doc.update(
            taskDefinitionArn="arn:aws:ecs:x:1:task-definition/voj-backend-prod:7",
            revision=7,
            status="ACTIVE",
            requiresAttributes=[{"name": "ecs.capability.execution-role-awslogs"}],
            compatibilities=["EC2", "FARGATE"],
            registeredAt="2026-01-01T00:00:00Z",
            registeredBy="arn:aws:iam::1:user/x",
            deregisteredAt=None,
            tags=[{"key": "team", "value": "voj"}],
        )

    edit_template(workdir, described)
    push(moto_factory, "t")
    rendered = render_task_definition(load(workdir), "t", ctx_for(moto_factory))
    for field in (
        "taskDefinitionArn",
        "revision",
        "status",
        "requiresAttributes",
        "compatibilities",
        "registeredAt",
        "registeredBy",
        "deregisteredAt",
        "tags",
    ):
        assert field not in rendered.document
    assert rendered.tags["team"] == "voj"
    assert {"key": "team", "value": "voj"} in rendered.registration_document()["tags"]


def test_provenance_labels_and_tags_from_github_env(
    workdir: Path, moto_factory: ClientFactory
) -> None:
    """In GitHub Actions the git sha, source repository and run URL become labels and tags."""
    push(moto_factory, "sha-abc")
    environ = {
        "GITHUB_SHA": "abc1234def",
        "GITHUB_REPOSITORY": "org/voj",
        "GITHUB_SERVER_URL": "https://github.com",
        "GITHUB_RUN_ID": "77",
        "GITHUB_RUN_ATTEMPT": "2",
        "GITHUB_ACTOR": "dev",
    }
    rendered = render_task_definition(load(workdir), "sha-abc", ctx_for(moto_factory, **environ))
    labels = rendered.document["containerDefinitions"][0]["dockerLabels"]
    assert labels["org.opencontainers.image.revision"] == "abc1234def"
    assert labels["org.opencontainers.image.source"] == "https://github.com/org/voj"
    run_url = "https://github.com/org/voj/actions/runs/77/attempts/2"
    assert labels["rollout.run-url"] == run_url
    assert rendered.tags["rollout:git-sha"] == "abc1234def"
    assert rendered.tags["rollout:run-url"] == run_url
    assert rendered.tags["rollout:actor"] == "dev"


def test_existing_labels_are_kept(workdir: Path, moto_factory: ClientFactory) -> None:
    """Labels already in the template survive; ours are added beside them."""
    edit_template(
        workdir, lambda d: d["containerDefinitions"][0].update(dockerLabels={"team": "voj"})
    )
    push(moto_factory, "t")
    rendered = render_task_definition(load(workdir), "t", ctx_for(moto_factory))
    labels = rendered.document["containerDefinitions"][0]["dockerLabels"]
    assert labels["team"] == "voj"
    assert labels["rollout.image-tag"] == "t"


# The render action's IGNORED_TASK_DEFINITION_ATTRIBUTES (index.js), deleted before it writes.
ACTION_IGNORED = (
    "compatibilities",
    "taskDefinitionArn",
    "requiresAttributes",
    "revision",
    "status",
    "registeredAt",
    "deregisteredAt",
    "registeredBy",
)


def render_action(template: dict[str, Any], container_names: str, image: str) -> dict[str, Any]:
    """The aws-actions render-task-definition semantics for file + container-name + image:
    parse the file, set ``image`` on each named container (comma-separated in v1.9), delete the
    ignored attributes, keep everything else in its order."""
    doc = copy.deepcopy(template)
    for name in (n.strip() for n in container_names.split(",")):
        matches = [c for c in doc["containerDefinitions"] if c["name"] == name]
        if not matches:
            raise ValueError("Invalid task definition: Could not find container definition")
        matches[0]["image"] = image
    return {k: v for k, v in doc.items() if k not in ACTION_IGNORED}


def test_parity_with_the_render_action(workdir: Path, moto_factory: ClientFactory) -> None:
    """Without placeholders or ECR, render equals the aws-actions render action's output (same
    keys, same order, read-only fields deleted) apart from the labels rollout adds."""

    def described(doc: dict[str, Any]) -> None:
        """The template as DescribeTaskDefinition would return it (account filled)."""
        text = json.dumps(doc).replace("<account>", ACCOUNT)
        doc.clear()
        doc.update(json.loads(text))
        doc.update(revision=4, status="ACTIVE", compatibilities=["EC2", "FARGATE"])
        doc["taskDefinitionArn"] = "arn:aws:ecs:ap-northeast-2:1:task-definition/voj:4"

    edit_template(workdir, described)
    # the action takes a file with no variables: the template as rendered for prod
    template = substitute_document(
        json.loads((workdir / "taskdef.json").read_text()), lookup_from(load(workdir).vars)
    )
    image = "ghcr.io/org/voj-backend:1.2.3"
    expected = render_action(template, "api", image)

    rendered = render_task_definition(load(workdir), image, ctx_for(moto_factory))
    ours = copy.deepcopy(rendered.document)
    for c in ours["containerDefinitions"]:
        c.pop("dockerLabels")
    assert json.dumps(ours) == json.dumps(expected)
    assert moto_factory.api_call_total == 1  # CreateRepository only: no STS or ECR call
    assert any("not pinned by digest" in w for w in rendered.warnings)


def test_image_in_another_region_is_pinned_there(
    workdir: Path, moto_factory: ClientFactory
) -> None:
    """An ECR image in another region's registry is looked up in that region and pinned."""
    other = ClientFactory(region="us-east-1")
    other.client("ecr").create_repository(repositoryName="shared")
    digest = push(other, "v9", repository="shared")
    image = f"{ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com/shared:v9"
    rendered = render_task_definition(load(workdir), image, ctx_for(moto_factory))
    assert rendered.image == f"{ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com/shared@{digest}"
    assert rendered.warnings == ()


def test_render_shows_the_smoke_probe_with_its_headers_and_hides_secret_values() -> None:
    """`render` says how a native strategy's smoke probe reaches green: test_url and
    test_headers, a secret-looking header's value as ***."""
    from rollout.verbs.render import deployment_summary

    repo = Path(__file__).resolve().parents[2]
    environ = {
        "ROLLOUT_STRATEGY": "blue-green",
        "ROLLOUT_TEST_URL": "https://api.voj.example.com/health",
        "ROLLOUT_TEST_HEADERS": "X-Rollout-Test: 1, X-Api-Token: hunter2",
    }
    summary = deployment_summary(load_config(repo / "rollout.toml", "prod", environ=environ))
    assert summary["test_headers"] == {"X-Rollout-Test": "1", "X-Api-Token": "***"}
    assert summary["smoke"] == (
        "smoke probe: GET https://api.voj.example.com/health with X-Rollout-Test: 1, "
        "X-Api-Token: ***, through the test listener rule, before production traffic"
    )
    assert "hunter2" not in json.dumps(summary)
    bare = deployment_summary(
        load_config(repo / "rollout.toml", "prod", environ={"ROLLOUT_STRATEGY": "canary"})
    )
    assert bare["smoke"] == "smoke probe: none before production traffic (no test_url)"
    rolling = deployment_summary(load_config(repo / "rollout.toml", "prod", environ={}))
    assert rolling["smoke"] is None
