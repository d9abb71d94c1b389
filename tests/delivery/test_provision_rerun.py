"""provision_voj converges: run twice, or after an interruption, it finishes the stack or finds
it complete, and creates nothing twice (its own module: each test builds a fresh sandbox).

The second run used to die with `EntityAlreadyExists ... CreateOpenIDConnectProvider`, leaving a
new sandbox as the only way out.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

import pytest

from rollout.errors import Interrupted
from rollout.sandbox import Sandbox, provision_remote
from rollout.sandbox.provisioning.stack import ProvisionError, provision_voj

# What must exist once, however many runs it took.
CREATED_ONCE = (
    ("ecs", "RegisterTaskDefinition"),
    ("iam", "CreateOpenIDConnectProvider"),
    ("cloudformation", "CreateStack"),
    ("ecs", "CreateService"),
)


@pytest.fixture
def sb() -> Iterator[Sandbox]:
    sandbox = Sandbox()
    try:
        yield sandbox
    finally:
        sandbox.close()


def _succeeded(sb: Sandbox, service: str, operation: str) -> int:
    return sum(1 for c in sb.calls(service, operation) if c.status < 300)


def _assert_built_once(sb: Sandbox) -> None:
    for service, operation in CREATED_ONCE:
        assert _succeeded(sb, service, operation) == 1, operation
    tags = [
        image["imageTags"]
        for image in sb.client_factory()
        .client("ecr")
        .describe_images(repositoryName="voj-backend")["imageDetails"]
    ]
    assert sorted(t for ts in tags for t in ts) == ["sha-0000001", "sha-0000002", "sha-0000003"]


def test_a_second_run_reports_the_stack_complete_and_creates_nothing(sb: Sandbox) -> None:
    first_lines: list[str] = []
    first = provision_voj(sb.client_factory(), progress=first_lines.append)
    sb.wait_steady(first.cluster, first.service, revision=1)
    assert first.reused == ()
    assert not first.complete_before
    assert "stack voj-prod: CREATE_COMPLETE" in first_lines

    lines: list[str] = []
    second = provision_voj(sb.client_factory(), progress=lines.append)
    assert second.complete_before
    assert set(second.reused) == {"task definition", "OIDC provider", "stack", "images", "service"}
    assert dataclasses.replace(second, reused=()) == first  # the same stack, described the same
    assert "task definition voj-backend-prod:1: already registered" in lines
    assert "stack voj-prod: already CREATE_COMPLETE" in lines
    assert "service voj-backend-api: already ACTIVE" in lines
    _assert_built_once(sb)
    service = sb.describe_service(first.cluster, first.service)
    assert service is not None
    assert service["taskDefinition"].endswith(":1")
    assert len(service["deployments"]) == 1  # the second run started no deployment


@pytest.mark.parametrize(
    "stop_after",
    [
        "task definition voj-backend-prod:1: registered",
        "OIDC provider https://token.actions.githubusercontent.com: created",
        "stack voj-prod: CREATE_COMPLETE",
        "properties moto's CloudFormation ignores: applied",
    ],
)
def test_an_interrupted_run_is_finished_by_the_next(sb: Sandbox, stop_after: str) -> None:
    """Ctrl-C (KeyboardInterrupt) after any step: the next run reuses what the first made and
    builds the rest; the result is one of everything."""

    def progress(line: str) -> None:
        if line == stop_after:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        provision_voj(sb.client_factory(), progress=progress)
    result = provision_voj(sb.client_factory())
    assert not result.complete_before
    assert "task definition" in result.reused
    sb.wait_steady(result.cluster, result.service, revision=1)
    _assert_built_once(sb)


def test_an_interruption_inside_a_call_is_finished_by_the_next(sb: Sandbox) -> None:
    """Ctrl-C in the middle of pushing the images (the second PutImage): the next run finds the
    images that made it, pushes the rest and creates the service."""
    factory = sb.client_factory()
    pushes: list[str] = []

    def interrupt_second_push(**_: Any) -> None:
        pushes.append("PutImage")
        if len(pushes) == 2:
            raise KeyboardInterrupt

    factory.session.events.register("before-call.ecr.PutImage", interrupt_second_push)
    with pytest.raises(KeyboardInterrupt):
        provision_voj(factory)
    lines: list[str] = []
    result = provision_voj(sb.client_factory(), progress=lines.append)
    assert "images sha-0000001, sha-0000002, sha-0000003: pushed 2, 1 already there" in lines
    assert "service voj-backend-api: created" in lines
    sb.wait_steady(result.cluster, result.service, revision=1)
    _assert_built_once(sb)


def test_a_stack_left_failed_is_reported_with_the_way_out(sb: Sandbox) -> None:
    """A stack that is neither complete nor absent cannot be finished: say so, and what to do."""
    cfn = sb.client_factory().client("cloudformation")
    cfn.create_stack(
        StackName="voj-prod",
        TemplateBody='{"Resources": {"T": {"Type": "AWS::SNS::Topic"}}}',
    )
    original = cfn.describe_stacks

    def failed(**kwargs: Any) -> Any:
        doc = original(**kwargs)
        doc["Stacks"][0]["StackStatus"] = "ROLLBACK_COMPLETE"
        return doc

    factory = sb.client_factory()
    factory.client("cloudformation").describe_stacks = failed
    with pytest.raises(ProvisionError, match="is ROLLBACK_COMPLETE") as info:
        provision_voj(factory)
    assert "Start a fresh sandbox" in str(info.value)


def test_provision_remote_says_what_ctrl_c_left_and_the_rerun_finishes(sb: Sandbox) -> None:
    """Over HTTP, as `rollout sandbox provision` runs it: Ctrl-C is Interrupted (exit 40) with
    the steps that were done and the command that finishes the job; that command does."""
    url = sb.serve()
    lines: list[str] = []

    def echo(line: str) -> None:
        lines.append(line)
        if line.startswith("  stack voj-prod"):
            raise KeyboardInterrupt

    with pytest.raises(Interrupted) as info:
        provision_remote(url, echo=echo, clock=sb.clock, interval=5)
    message = str(info.value)
    assert info.value.exit_code == 40
    assert "task definition voj-backend-prod:1: registered" in message
    assert "stack voj-prod: CREATE_COMPLETE" in message
    assert "Run `rollout sandbox provision` again" in message

    rerun: list[str] = []
    result = provision_remote(url, echo=rerun.append, clock=sb.clock, interval=5)
    assert "  stack voj-prod: already CREATE_COMPLETE" in rerun
    assert "  service voj-backend-api: created" in rerun
    assert "created:" in rerun
    again: list[str] = []
    provision_remote(url, echo=again.append, clock=sb.clock, interval=5)
    assert "voj was already provisioned on this sandbox: nothing to create." in again
    service = sb.describe_service(result.cluster, result.service)
    assert service is not None
    assert service["runningCount"] == 2
    _assert_built_once(sb)


# -- another environment beside prod (`rollout sandbox provision --env staging`) ----------------
STAGING_ONCE = (
    ("ecs", "RegisterTaskDefinition"),  # prod's revision 1, then staging's
    ("ecs", "CreateService"),
    ("elbv2", "CreateTargetGroup"),
    ("elbv2", "CreateRule"),
    ("iam", "CreateRole"),
)


def _staging_counts(sb: Sandbox) -> dict[str, int]:
    return {op: _succeeded(sb, service, op) for service, op in STAGING_ONCE}


def test_provision_env_staging_builds_beside_prod_and_converges(sb: Sandbox) -> None:
    """`rollout sandbox provision --env staging` builds prod (if missing) then staging, waits for
    staging's service; run again, it reports staging complete and creates nothing."""
    url = sb.serve()
    lines: list[str] = []
    result = provision_remote(url, echo=lines.append, clock=sb.clock, interval=5, env="staging")
    assert result.cluster == "voj-staging"
    assert result.family == "voj-backend-staging"
    assert result.reused == ()
    assert "  service voj-staging/voj-backend-api: created" in lines
    first = _staging_counts(sb)
    assert first["RegisterTaskDefinition"] == 2  # prod's revision 1 and staging's
    assert first["CreateService"] == 2

    again: list[str] = []
    second = provision_remote(url, echo=again.append, clock=sb.clock, interval=5, env="staging")
    assert "staging was already provisioned on this sandbox: nothing to create." in again
    assert second.complete_before
    assert dataclasses.replace(second, reused=()) == result
    assert _staging_counts(sb) == first  # nothing created twice
    service = sb.describe_service("voj-staging", "voj-backend-api")
    assert service is not None
    assert service["runningCount"] == 2
    assert len(service["deployments"]) == 1


def test_an_interrupted_staging_run_is_finished_by_the_next(sb: Sandbox) -> None:
    """Ctrl-C after staging's roles: Interrupted (exit 40) names what was done and the exact
    command; that command finishes staging without a second role, rule or revision."""
    url = sb.serve()

    def echo(line: str) -> None:
        if line.startswith("  roles voj-backend-staging-execution"):
            raise KeyboardInterrupt

    with pytest.raises(Interrupted) as info:
        provision_remote(url, echo=echo, clock=sb.clock, interval=5, env="staging")
    assert info.value.exit_code == 40
    assert "rollout sandbox provision --env staging" in str(info.value)
    assert "log group /ecs/voj-backend-staging" in str(info.value)
    result = provision_remote(url, echo=lambda _: None, clock=sb.clock, interval=5, env="staging")
    assert "roles" in result.reused
    counts = _staging_counts(sb)
    assert counts["CreateService"] == 2
    assert counts["CreateRule"] == 1
    assert counts["CreateTargetGroup"] == 1  # staging's (prod's come from its stack)


def test_an_unknown_environment_fails_before_any_write(sb: Sandbox) -> None:
    from rollout.errors import ConfigError

    url = sb.serve()
    with pytest.raises(ConfigError, match="'qa' is not defined"):
        provision_remote(url, echo=lambda _: None, clock=sb.clock, env="qa")
    assert sb.calls(mutating=True) == []
