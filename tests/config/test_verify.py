"""verify against a provisioned sandbox: each seeded misconfiguration is named, nothing is written.

All tests share one provisioned stack (see conftest); the few that change it put it back.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from rollout.cli import _register, app
from rollout.context import Context
from rollout.errors import CredentialsError
from rollout.events import EventLog
from rollout.verbs import verify
from rollout.verbs.verify import VerifyOptions, VerifyReport, format_report

from .conftest import edit_template

GOOD_IMAGE = "sha-0000002"


def run_verify(
    stack: Any, workdir: Path, image: str = GOOD_IMAGE, **environ: str
) -> tuple[int, VerifyReport, EventLog, list[Any]]:
    """Run the verify verb in-process; returns exit code, report, events and the API calls."""
    before = len(stack.calls())
    events = EventLog()
    ctx = Context(
        stack.client_factory(),
        clock=stack.clock,
        emit=events,
        config_path=workdir / "rollout.toml",
        environ=environ,
    )
    outcome = verify.run(VerifyOptions(env="prod", image=image), ctx)
    return outcome.exit_code, outcome.details["report"], events, stack.calls()[before:]


def failed_names(report: VerifyReport) -> set[str]:
    return {c.name for c in report.failed}


def assert_read_only(calls: list[Any]) -> None:
    writes = [f"{c.service}.{c.operation}" for c in calls if c.mutating]
    assert writes == []
    assert calls, "verify made no API calls at all"


def test_clean_stack_passes(stack: Any, workdir: Path) -> None:
    """The provisioned stack with a pushed image passes every check: exit 0, reads only."""
    code, report, events, calls = run_verify(stack, workdir)
    assert failed_names(report) == set()
    assert code == 0
    assert report.ok
    assert_read_only(calls)
    names = {c.name for c in report.checks}
    assert {
        "image: in ECR",
        "fargate: cpu/memory",
        "env: no secrets in environment",
        "role: execution",
        "role: task",
        "secret: api.CORS_ORIGINS",
        "logs: api",
        "service: exists",
        "deploy: circuit breaker",
        "deploy: min/max percent",
        "service: network",
        "alb: container and port",
        "speed: health checks and draining",
    } <= names
    # every check was emitted as a `check` event with its status
    emitted = [(e.data["name"], e.data["status"]) for e in events.of("check")]
    assert emitted == [(c.name, c.status) for c in report.checks]
    # render resolved the tag in ECR; the image check reuses that lookup
    assert [c.operation for c in calls if c.service == "ecr"] == ["DescribeImages"]


def test_missing_image_fails(stack: Any, workdir: Path) -> None:
    """An image tag never pushed fails the image check with exit 10, and nothing is written."""
    code, report, _, calls = run_verify(stack, workdir, image="sha-9999999")
    assert failed_names(report) == {"image: in ECR"}
    assert code == 10
    check = report.failed[0]
    assert "sha-9999999 is not in ECR" in check.message
    assert check.fix
    assert_read_only(calls)


@pytest.fixture
def without_parameter(stack: Any) -> Iterator[str]:
    """Delete /voj/prod/CORS_ORIGINS for one test, then put it back."""
    ssm = stack.client_factory().client("ssm")
    name = "/voj/prod/CORS_ORIGINS"
    old = ssm.get_parameter(Name=name)["Parameter"]
    ssm.delete_parameter(Name=name)
    try:
        yield name
    finally:
        ssm.put_parameter(Name=name, Value=old["Value"], Type=old["Type"])


def test_missing_ssm_parameter_fails(stack: Any, workdir: Path, without_parameter: str) -> None:
    """A secret whose SSM parameter does not exist fails that secret's check (exit 10)."""
    code, report, _, calls = run_verify(stack, workdir)
    assert failed_names(report) == {"secret: api.CORS_ORIGINS"}
    assert f"SSM parameter {without_parameter} does not exist" in report.failed[0].message
    assert code == 10
    assert_read_only(calls)


@pytest.fixture
def breaker_off(stack: Any) -> Iterator[None]:
    """Turn the service's circuit breaker off for one test, then back on."""
    ecs = stack.client_factory().client("ecs")
    p = stack.provisioned

    def breaker(on: bool) -> None:
        ecs.update_service(
            cluster=p.cluster,
            service=p.service,
            deploymentConfiguration={
                "minimumHealthyPercent": 100,
                "maximumPercent": 200,
                "deploymentCircuitBreaker": {"enable": on, "rollback": on},
            },
        )

    breaker(False)
    try:
        yield
    finally:
        breaker(True)


def test_circuit_breaker_off_fails(stack: Any, workdir: Path, breaker_off: None) -> None:
    """With detection.circuit_breaker = require, a service without the breaker fails (exit 10)."""
    code, report, _, calls = run_verify(stack, workdir)
    assert failed_names(report) == {"deploy: circuit breaker"}
    assert code == 10
    assert "deploymentCircuitBreaker={enable=true,rollback=true}" in report.failed[0].fix
    assert_read_only(calls)


def test_circuit_breaker_off_only_warns_when_configured(
    stack: Any, workdir: Path, breaker_off: None
) -> None:
    """With circuit_breaker = warn the same service gets ! and verify still exits 0."""
    code, report, _, _ = run_verify(stack, workdir, ROLLOUT_CIRCUIT_BREAKER="warn")
    assert code == 0
    statuses = {c.name: c.status for c in report.checks}
    assert statuses["deploy: circuit breaker"] == "warn"


def set_port(port: int) -> Callable[[dict[str, Any]], None]:
    def change(doc: dict[str, Any]) -> None:
        mapping = doc["containerDefinitions"][0]["portMappings"][0]
        mapping["containerPort"] = mapping["hostPort"] = port

    return change


def add_env(name: str, value: str) -> Callable[[dict[str, Any]], None]:
    def change(doc: dict[str, Any]) -> None:
        doc["containerDefinitions"][0]["environment"].append({"name": name, "value": value})

    return change


def set_size(cpu: str, memory: str) -> Callable[[dict[str, Any]], None]:
    def change(doc: dict[str, Any]) -> None:
        doc.update(cpu=cpu, memory=memory)

    return change


def set_log_group(group: str, create: bool) -> Callable[[dict[str, Any]], None]:
    def change(doc: dict[str, Any]) -> None:
        options = doc["containerDefinitions"][0]["logConfiguration"]["options"]
        options["awslogs-group"] = group
        if create:
            options["awslogs-create-group"] = "true"

    return change


def set_role(key: str, name: str) -> Callable[[dict[str, Any]], None]:
    def change(doc: dict[str, Any]) -> None:
        doc[key] = f"arn:aws:iam::<account>:role/{name}"

    return change


def add_secret(value_from: str) -> Callable[[dict[str, Any]], None]:
    def change(doc: dict[str, Any]) -> None:
        doc["containerDefinitions"][0]["secrets"].append({"name": "DB", "valueFrom": value_from})

    return change


@pytest.mark.parametrize(
    ("change", "failed", "phrase"),
    [
        (
            set_port(8080),
            {"alb: container and port"},
            "expects api:8000, the container maps port(s) 8080",
        ),
        (
            set_size("512", "512"),
            {"fargate: cpu/memory"},
            "memory 512 MiB is not valid with cpu 512",
        ),
        (set_size("333", "777"), {"fargate: cpu/memory"}, "cpu 333 is not a Fargate size"),
        (add_env("API_TOKEN", "abc"), {"env: no secrets in environment"}, "api.API_TOKEN"),
        (
            set_log_group("/ecs/nope-prod", False),
            {"logs: api"},
            "log group /ecs/nope-prod does not exist",
        ),
        (set_role("executionRoleArn", "ghost"), {"role: execution"}, "role/ghost does not exist"),
        (
            set_role("taskRoleArn", "voj-backend-github-deploy"),
            {"role: task"},
            "does not trust ecs-tasks",
        ),
        (
            add_secret("arn:aws:secretsmanager:ap-northeast-2:<account>:secret:prod/db-AbCdEf"),
            {"secret: api.DB"},
            "does not exist",
        ),
    ],
    ids=[
        "wrong-port",
        "bad-memory",
        "bad-cpu",
        "secret-in-env",
        "log-group",
        "no-role",
        "untrusted-role",
        "no-secret",
    ],
)
def test_seeded_template_problem_fails(
    stack: Any,
    workdir: Path,
    change: Callable[[dict[str, Any]], None],
    failed: set[str],
    phrase: str,
) -> None:
    """Each misconfiguration seeded in the template fails exactly its own check (exit 10)."""
    edit_template(workdir, change)
    code, report, _, calls = run_verify(stack, workdir)
    assert failed_names(report) == failed
    assert code == 10
    assert phrase in report.failed[0].message
    assert all(c.fix for c in report.failed)
    assert_read_only(calls)


def test_missing_log_group_with_create_group_passes(stack: Any, workdir: Path) -> None:
    """awslogs-create-group=true makes a missing log group acceptable."""
    edit_template(workdir, set_log_group("/ecs/new-prod", True))
    code, report, _, _ = run_verify(stack, workdir)
    assert code == 0
    assert any("will be created" in c.message for c in report.checks if c.name == "logs: api")


def test_unknown_service_fails(stack: Any, workdir: Path) -> None:
    """A service that does not exist fails `service: exists` instead of crashing."""
    code, report, _, _ = run_verify(stack, workdir, ROLLOUT_SERVICE="nope")
    assert failed_names(report) == {"service: exists"}
    assert code == 10


def test_format_report_marks_each_check(stack: Any, workdir: Path) -> None:
    """The human report has ✓ for passes, ✗ plus a fix line for failures, and a verdict."""
    edit_template(workdir, add_env("DB_PASSWORD", "hunter2"))
    _, report, _, _ = run_verify(stack, workdir)
    text = format_report(report)
    assert "✓ image: in ECR" in text
    assert "✗ env: no secrets in environment" in text
    assert "fix: move them to `secrets`" in text
    assert text.rstrip().splitlines()[-1].startswith("FAILED: ")
    assert "hunter2" not in text  # values of plain env never appear


@pytest.fixture(scope="module")
def endpoint(stack: Any) -> Iterator[dict[str, str]]:
    """The stack served over HTTP, as environment variables for a CLI run."""
    _register()
    environ = stack.env()
    try:
        yield environ
    finally:
        stack.stop()


def test_cli_verify_exit_codes(stack: Any, workdir: Path, endpoint: dict[str, str]) -> None:
    """`rollout verify` exits 0 on the clean stack (and writes the GitHub step summary) and 10,
    with JSON output, for a missing image."""
    runner = CliRunner()
    config = str(workdir / "rollout.toml")
    summary = workdir / "summary.md"
    ok = runner.invoke(
        app,
        ["verify", "--config", config, "--image", GOOD_IMAGE],
        env={**endpoint, "GITHUB_STEP_SUMMARY": str(summary)},
    )
    assert ok.exit_code == 0, ok.output
    assert "✓ image: in ECR" in ok.output
    assert "| ✓ | image: in ECR |" in summary.read_text()
    bad = runner.invoke(
        app,
        ["verify", "--config", config, "--image", "sha-9999999", "--output", "json"],
        env=endpoint,
    )
    assert bad.exit_code == 10, bad.output
    doc = json.loads(bad.stdout)
    assert doc["ok"] is False
    assert [c["name"] for c in doc["checks"] if c["status"] == "fail"] == ["image: in ECR"]


def test_cli_config_error_exit_2(workdir: Path, endpoint: dict[str, str]) -> None:
    """A bad rollout.toml gives exit 2 and a one-line error naming the key, no traceback."""
    (workdir / "rollout.toml").write_text(
        (workdir / "rollout.toml").read_text() + "[env.prod.watch]\npoll_interval = 'x'\n"
    )
    result = CliRunner().invoke(
        app, ["verify", "--config", str(workdir / "rollout.toml")], env=endpoint
    )
    assert result.exit_code == 2
    assert "watch.poll_interval" in result.output
    assert "Traceback" not in result.output


def test_cli_render_prints_pinned_definition(
    stack: Any, workdir: Path, endpoint: dict[str, str]
) -> None:
    """`rollout render --image <tag>` prints the definition with the account and digest filled."""
    p = stack.provisioned
    result = CliRunner().invoke(
        app,
        ["render", "--config", str(workdir / "rollout.toml"), "--image", GOOD_IMAGE],
        env=endpoint,
    )
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    container = doc["containerDefinitions"][0]
    assert container["image"] == f"{p.repository_uri}@{p.digests[GOOD_IMAGE]}"
    assert doc["executionRoleArn"] == f"arn:aws:iam::{p.account}:role/voj-backend-execution"
    assert {"key": "rollout:digest", "value": p.digests[GOOD_IMAGE]} in doc["tags"]


def test_cli_render_writes_file_and_refuses_missing_image(
    workdir: Path, endpoint: dict[str, str]
) -> None:
    """`--out-file FILE` writes the JSON; an image not in ECR is refused with exit 2."""
    out = workdir / "rendered.json"
    config = str(workdir / "rollout.toml")
    runner = CliRunner()
    ok = runner.invoke(
        app,
        ["render", "--config", config, "--image", GOOD_IMAGE, "--out-file", str(out)],
        env=endpoint,
    )
    assert ok.exit_code == 0, ok.output
    assert json.loads(out.read_text())["family"] == "voj-backend-prod"
    bad = runner.invoke(app, ["render", "--config", config, "--image", "sha-9999999"], env=endpoint)
    assert bad.exit_code == 2
    assert "sha-9999999 is not in ECR" in bad.output


@pytest.fixture
def other_parameter(stack: Any) -> Iterator[str]:
    """An SSM parameter (prod's, by name) outside /voj/prod/*, which the execution role may not
    read."""
    ssm = stack.client_factory().client("ssm")
    name = "/voj/other/prod/DB_URL"
    ssm.put_parameter(Name=name, Value="x", Type="SecureString")
    try:
        yield name
    finally:
        ssm.delete_parameter(Name=name)


def test_unreadable_secret_warns(stack: Any, workdir: Path, other_parameter: str) -> None:
    """A secret the execution role's policies do not grant gets ! (not ✗), with the grant as fix."""
    arn = f"arn:aws:ssm:ap-northeast-2:<account>:parameter{other_parameter}"
    edit_template(workdir, add_secret(arn))
    code, report, _, calls = run_verify(stack, workdir)
    assert code == 0
    check = next(c for c in report.checks if c.name == "secret: api.DB")
    assert check.status == "warn"
    assert "do not visibly grant ssm:GetParameters" in check.message
    assert check.fix.startswith("grant ssm:GetParameters on arn:aws:ssm:ap-northeast-2:")
    readable = next(c for c in report.checks if c.name == "secret: api.CORS_ORIGINS")
    assert readable.status == "pass"
    assert "readable by the execution role" in readable.message
    assert_read_only(calls)


def test_aws_error_in_one_group_fails_that_group_only(stack: Any, workdir: Path) -> None:
    """AccessDenied on iam:GetRole becomes a failed role check; the other checks still run."""
    stack.inject_api_error("iam", "GetRole", code="AccessDenied", message="not allowed", status=403)
    code, report, _, _ = run_verify(stack, workdir)
    assert code == 10
    assert failed_names(report) == {"roles"}
    assert "AccessDenied" in report.failed[0].message
    assert "alb: container and port" in {c.name for c in report.checks}


def test_expired_credentials_abort_verify(stack: Any, workdir: Path) -> None:
    """Expired credentials are not a finding: verify raises CredentialsError (exit 1)."""
    stack.inject_api_error("iam", "GetRole", code="ExpiredTokenException", message="expired")
    with pytest.raises(CredentialsError, match="expired or invalid"):
        run_verify(stack, workdir)
