"""The process runtime's and the ALB health checker's pure rules (tables, no processes)."""

from __future__ import annotations

import http.server
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest

from rollout.sandbox.dataplane.health import Probe, TargetState, matches, probe
from rollout.sandbox.images import ImageStore
from rollout.sandbox.runtime import ContainerSpec, StartFailure, TaskSpec, signal_exit_code
from rollout.sandbox.runtime.process import ProcessRuntime, local_address, rewrite_binds

IP = "127.80.0.2"


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["gunicorn", "-b", "0.0.0.0:8000"], ["gunicorn", "-b", f"{IP}:8000"]),
        (["gunicorn", "--bind", "[::]:8000"], ["gunicorn", "--bind", f"{IP}:8000"]),
        (["gunicorn", "--bind=0.0.0.0:9000"], ["gunicorn", f"--bind={IP}:9000"]),
        (
            ["uvicorn", "--host", "0.0.0.0", "--port", "80"],
            ["uvicorn", "--host", IP, "--port", "80"],
        ),
        (["uvicorn", "--host=0.0.0.0"], ["uvicorn", f"--host={IP}"]),
        (["gunicorn", "-b", "10.1.2.3:8000"], ["gunicorn", "-b", "10.1.2.3:8000"]),
        (["gunicorn", "-b", "unix:/tmp/s"], ["gunicorn", "-b", "unix:/tmp/s"]),
        (["sh", "-c", "echo 0.0.0.0:1"], ["sh", "-c", "echo 0.0.0.0:1"]),
    ],
)
def test_wildcard_binds_become_the_task_address(argv: list[str], expected: list[str]) -> None:
    """Only wildcard addresses in bind/host options are rewritten."""
    assert rewrite_binds(argv, IP) == expected


def test_health_check_commands_reach_the_task_for_localhost() -> None:
    """127.0.0.1 and localhost in a healthCheck mean the task's own address."""
    assert local_address(["curl http://localhost:8000/ && wget 127.0.0.1:8000"], IP) == [
        f"curl http://{IP}:8000/ && wget {IP}:8000"
    ]


@pytest.mark.parametrize(
    ("status", "matcher", "ok"),
    [
        (200, "200", True),
        (204, "200", False),
        (204, "200,204", True),
        (302, "200-399", True),
        (404, "200-399", False),
    ],
)
def test_matcher(status: int, matcher: str, ok: bool) -> None:
    """Matcher.HttpCode: a code, a list, or a range."""
    assert matches(status, matcher) is ok


PASS = Probe(True)
FAIL = Probe(False, "Target.ResponseCodeMismatch", "Health checks failed with these codes: [503]")


@pytest.mark.parametrize(
    ("first_healthy", "results", "states"),
    [
        ("one_check", [PASS], ["healthy"]),
        ("threshold", [PASS, PASS], [None, "healthy"]),
        ("one_check", [FAIL, FAIL], [None, "unhealthy"]),
        ("one_check", [FAIL, PASS], [None, "healthy"]),
        # from unhealthy it takes HealthyThresholdCount passes in a row
        (
            "one_check",
            [FAIL, FAIL, PASS, FAIL, PASS, PASS],
            [None, "unhealthy", None, None, None, "healthy"],
        ),
        # from healthy, UnhealthyThresholdCount fails in a row
        ("one_check", [PASS, FAIL, PASS, FAIL, FAIL], ["healthy", None, None, None, "unhealthy"]),
    ],
)
def test_target_state_machine(
    first_healthy: str, results: list[Probe], states: list[str | None]
) -> None:
    """Thresholds as §6.1 of the reference; each change carries the failing probe's reason."""
    machine = TargetState(healthy_threshold=2, unhealthy_threshold=2, first_healthy=first_healthy)  # type: ignore[arg-type]
    seen = []
    for at, result in enumerate(results):
        change = machine.feed(result, float(at))
        seen.append(change.state if change else None)
        if change is not None and change.state == "unhealthy":
            assert change.reason == "Target.ResponseCodeMismatch"
    assert seen == states


@pytest.fixture
def server() -> Iterator[tuple[str, int]]:
    """A loopback HTTP server: /ok → 200, /bad → 503, /slow → answers after 2 s."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path == "/slow":
                threading.Event().wait(2)
            self.send_response(200 if self.path in ("/ok", "/slow") else 503)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield "127.0.0.1", int(httpd.server_address[1])
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_probe_reasons(server: tuple[str, int]) -> None:
    """A real request: pass, ResponseCodeMismatch with the code, Timeout, FailedHealthChecks."""
    host, port = server
    assert probe(host, port, "/ok", 1.0, "200").passed
    bad = probe(host, port, "/bad", 1.0, "200")
    assert (bad.reason, bad.description) == (
        "Target.ResponseCodeMismatch",
        "Health checks failed with these codes: [503]",
    )
    assert probe(host, port, "/slow", 0.3, "200").reason == "Target.Timeout"
    assert probe("127.0.0.1", 1, "/", 0.5, "200").reason == "Target.FailedHealthChecks"


@pytest.mark.parametrize(("returncode", "code"), [(0, 0), (3, 3), (-15, 143), (-9, 137)])
def test_exit_codes_as_docker_reports_them(returncode: int, code: int) -> None:
    """A process killed by signal n exits 128 + n."""
    assert signal_exit_code(returncode) == code


def _spec(digest: str | None = "sha256:" + "0" * 64) -> TaskSpec:
    container = ContainerSpec(
        name="api",
        image="123456789012.dkr.ecr.ap-northeast-2.amazonaws.com/voj-backend:v1",
        image_digest=digest,
        essential=True,
        command=None,
        entry_point=None,
        environment={},
        secrets=(),
        ports=(8000,),
        health_check=None,
        stop_timeout=30.0,
        log_configuration=None,
    )
    return TaskSpec(
        task_id="t1",
        task_arn="arn:aws:ecs:ap-northeast-2:123456789012:task/c/t1",
        cluster="c",
        family="f",
        revision=1,
        account="123456789012",
        region="ap-northeast-2",
        ip=IP,
        containers=(container,),
    )


@pytest.fixture
def runtime(tmp_path: Path) -> Iterator[ProcessRuntime]:
    rt = ProcessRuntime(
        images=ImageStore(tmp_path),
        endpoint=lambda: "http://127.0.0.1:1",
        clock_now=time.time,
        max_tasks=1,
    )
    try:
        yield rt
    finally:
        rt.close()


def test_an_image_not_built_from_source_cannot_be_pulled(runtime: ProcessRuntime) -> None:
    """Process mode runs only snapshots `rollout sandbox build` made."""
    with pytest.raises(StartFailure, match=r"^CannotPullContainerError: .*sandbox build"):
        runtime.start(_spec(), events=None)  # type: ignore[arg-type]


def test_past_the_cap_a_task_fails_to_start_saying_so(runtime: ProcessRuntime) -> None:
    """With max_tasks live task processes, the next start fails with a reason naming the cap."""
    busy = SimpleNamespace(done=threading.Event())
    runtime._tasks["other"] = busy  # type: ignore[assignment]
    try:
        with pytest.raises(StartFailure, match=r"already runs 1 task processes .*--max-tasks"):
            runtime.start(_spec(), events=None)  # type: ignore[arg-type]
    finally:
        del runtime._tasks["other"]


def test_addresses_are_loopback_and_skip_busy_ones(runtime: ProcessRuntime) -> None:
    """Task addresses are 127.x.y.z; one whose port is taken is skipped."""
    import socket

    first = runtime.address(1, [8000])
    assert first.startswith("127.")
    with socket.socket() as held:
        held.bind((first, 8000))
        held.listen()
        assert runtime.address(1, [8000]) != first


def test_secrets_resolve_from_ssm_and_secrets_manager_as_the_agent_does() -> None:
    """SSM by name or ARN (SecureString decrypted), Secrets Manager whole or one JSON key."""
    from rollout.sandbox import Sandbox
    from rollout.sandbox.runtime.process import resolve_secrets

    with Sandbox() as sb:
        factory = sb.client_factory()
        ssm = factory.client("ssm")
        ssm.put_parameter(Name="/app/plain", Value="p1", Type="String")
        ssm.put_parameter(Name="/app/secure", Value="s3cr3t", Type="SecureString")
        arn = factory.client("secretsmanager").create_secret(
            Name="db", SecretString='{"user": "u", "password": "pw"}'
        )["ARN"]
        resolved = resolve_secrets(
            [
                ("PLAIN", "/app/plain"),
                ("SECURE", f"arn:aws:ssm:{sb.region}:{sb.account}:parameter/app/secure"),
                ("WHOLE", arn),
                ("PASSWORD", f"{arn}:password::"),
            ],
            account=sb.account,
            region=sb.region,
        )
    assert resolved == {
        "PLAIN": "p1",
        "SECURE": "s3cr3t",
        "WHOLE": '{"user": "u", "password": "pw"}',
        "PASSWORD": "pw",
    }
