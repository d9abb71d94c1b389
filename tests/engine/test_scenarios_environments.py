"""One configuration, many environments: prod and staging side by side on one sandbox, each
deployed from the same template with its own family, settings, log group and roles."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from rollout.context import Context
from rollout.decisions import ledger
from rollout.decisions.image_policy import OVERRIDE_TAG
from rollout.events import EventLog
from rollout.gateways.ecs import EcsGateway
from rollout.sandbox import Sandbox
from rollout.sandbox.provision import ProvisionResult
from rollout.sandbox.provision_env import EnvironmentResult
from rollout.verbs import deploy, verify

from .scenario import CONFIG, World, passing_probe

ENVIRON = {"ROLLOUT_SMOKE_URL": "", "GITHUB_SHA": "abc1234"}


@pytest.fixture(scope="module")
def both(world_module: World) -> Iterator[tuple[Sandbox, ProvisionResult, EnvironmentResult]]:
    """The package's voj prod (from infra/voj.yaml; moto holds one world per process, so this
    module shares it), and staging provisioned beside it from rollout.toml; staging is scaled
    to zero and deleted afterwards so the other modules see prod alone."""
    world_module.reset()
    sb, prod = world_module.sb, world_module.prov
    staging = sb.provision_environment("staging")
    try:
        yield sb, prod, staging
    finally:
        ecs = sb.client_factory().client("ecs")
        ecs.update_service(cluster=staging.cluster, service=staging.service, desiredCount=0)
        ecs.delete_service(cluster=staging.cluster, service=staging.service, force=True)
        world_module.reset()


def _ctx(sb: Sandbox, environ: dict[str, str] | None = None) -> tuple[Context, EventLog]:
    log = EventLog()
    ctx = Context(
        factory=sb.client_factory(),
        clock=sb.clock,
        emit=log,
        config_path=CONFIG,
        environ={**ENVIRON, **(environ or {})},
    )
    return ctx, log


def _container(sb: Sandbox, arn: str) -> dict[str, Any]:
    td = sb.client_factory().client("ecs").describe_task_definition(taskDefinition=arn)
    container: dict[str, Any] = td["taskDefinition"]["containerDefinitions"][0]
    return container


def test_staging_is_provisioned_beside_prod(
    both: tuple[Sandbox, ProvisionResult, EnvironmentResult],
) -> None:
    """Staging has its own cluster, family, log group, settings and roles, steady on rev 1."""
    sb, prod, staging = both
    assert (staging.cluster, staging.family) == ("voj-staging", "voj-backend-staging")
    assert staging.log_group == "/ecs/voj-backend-staging"
    assert all(p.startswith("/voj/staging/") for p in staging.parameters)
    assert staging.execution_role_arn != prod.execution_role_arn
    container = _container(sb, staging.task_definition_arn)
    env = {e["name"]: e["value"] for e in container["environment"]}
    assert env["ENVIRONMENT"] == "staging"


def test_one_template_deploys_to_both_environments(
    both: tuple[Sandbox, ProvisionResult, EnvironmentResult],
) -> None:
    """The same template and image go to prod and to staging: each lands in its own family with
    its own settings, and neither environment's history holds the other's revisions."""
    sb, prod, staging = both
    outcomes = {}
    for env, tag in (("prod", "sha-0000002"), ("staging", "sha-0000003")):
        ctx, log = _ctx(sb)
        outcome = deploy.run(
            deploy.DeployOptions(image=prod.images[tag], env=env), ctx, prober=passing_probe
        )
        assert outcome.verdict == "SUCCEEDED", (env, outcome.reason, log.events[-5:])
        outcomes[env] = outcome
    ecs = EcsGateway(sb.client_factory())
    prod_arn = outcomes["prod"].task_definition_arn or ""
    assert ":task-definition/voj-backend-prod:" in prod_arn
    assert ecs.describe_service(prod.cluster, prod.service).task_definition == prod_arn
    assert ecs.describe_service(staging.cluster, staging.service).task_definition.endswith(
        "task-definition/voj-backend-staging:2"
    )
    arn = outcomes["staging"].task_definition_arn or ""
    container = _container(sb, arn)
    assert {e["name"]: e["value"] for e in container["environment"]}["ENVIRONMENT"] == "staging"
    assert all("/voj/staging/" in s["valueFrom"] for s in container["secrets"])
    assert container["logConfiguration"]["options"]["awslogs-group"] == staging.log_group
    assert container["image"].endswith(prod.digests["sha-0000003"])
    assert ledger.parse(ecs.describe_task_definition(arn)).good
    prod_env = {e["name"]: e["value"] for e in _container(sb, prod_arn)["environment"]}
    assert prod_env["ENVIRONMENT"] == "production"
    client = sb.client_factory().client("ecs")
    arns = client.list_task_definitions(familyPrefix="voj-backend-staging")["taskDefinitionArns"]
    assert [a.rsplit(":", 1)[-1] for a in arns] == ["1", "2"]  # staging's own history only


def test_verify_passes_for_staging_and_fails_on_prods_names(
    both: tuple[Sandbox, ProvisionResult, EnvironmentResult],
) -> None:
    """verify --env staging passes on staging's own stack; rendered with prod's family (a
    variable exported in CI, which wins over rollout.toml), it fails `env: resources belong`."""
    sb, prod, _ = both
    ctx, _ = _ctx(sb)
    image = prod.images["sha-0000002"]
    report = verify.run(verify.VerifyOptions(env="staging", image=image), ctx).details["report"]
    assert [c.name for c in report.failed] == [], report.failed
    ctx, _ = _ctx(sb, {"TASK_FAMILY": "voj-backend-prod"})
    outcome = verify.run(verify.VerifyOptions(env="staging", image=image), ctx)
    assert outcome.exit_code == 10
    (failed,) = outcome.details["report"].failed
    assert failed.name == "env: resources belong"
    assert "family 'voj-backend-prod' (family) belongs to prod" in failed.message


def test_image_policy_override_is_logged_and_tagged(
    both: tuple[Sandbox, ProvisionResult, EnvironmentResult],
) -> None:
    """A tag-only image from another registry stops in preflight (exit 10, no write); with
    --image-policy-override it deploys, the reason in an event, the JSON and the revision's tags."""
    sb, _, staging = both
    image = "ghcr.io/acme/voj-backend:1.0"
    ctx, _ = _ctx(sb)
    before = len(sb.calls(mutating=True))
    refused = deploy.run(
        deploy.DeployOptions(image=image, env="staging"), ctx, prober=passing_probe
    )
    assert (refused.verdict, refused.exit_code) == ("PREFLIGHT_FAILED", 10)
    assert "image: policy" in (refused.reason or "")
    assert len(sb.calls(mutating=True)) == before
    ctx, log = _ctx(sb)
    outcome = deploy.run(
        deploy.DeployOptions(image=image, env="staging", image_policy_override="INC-7 vendor"),
        ctx,
        prober=passing_probe,
    )
    assert outcome.verdict == "SUCCEEDED", outcome.reason
    overrides = [e for e in log.events if e.kind == "image_policy.override"]
    assert [e.data["reason"] for e in overrides] == ["INC-7 vendor"]
    tags = ledger_tags(sb, outcome.task_definition_arn or "")
    assert tags[OVERRIDE_TAG] == "INC-7 vendor"
    from rollout.report import build_result

    result = build_result(log.events)
    assert result["image_policy_override"]["reason"] == "INC-7 vendor"
    assert json.dumps(result)  # JSON-safe
    assert staging.cluster == "voj-staging"


def ledger_tags(sb: Sandbox, arn: str) -> dict[str, str]:
    tags = sb.client_factory().client("ecs").list_tags_for_resource(resourceArn=arn)["tags"]
    return {t["key"]: t["value"] for t in tags}
