"""The seed's exact gunicorn command line, run as a subprocess from backend/ (the image's WORKDIR).

Only the bind address changes (a free loopback port). The app talks to a moto server started in
this test process. These tests wait on a real process (boot, a slow request, shutdown), so they
take a few seconds of wall time; nothing here sleeps for a fixed time.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from moto.server import ThreadedMotoServer

from app.catalog import make_clients
from app.seed import seed
from app.settings import load_settings

from .conftest import BACKEND, FAKE_CREDENTIALS, GOOD_ENV, SEED_COMMAND
from .processes import Gunicorn, free_port, process_env, start_gunicorn

pytestmark = pytest.mark.slow


def seed_command(port: int) -> list[str]:
    """The seed's command line with only the -b value replaced, gunicorn from this venv."""
    command = list(SEED_COMMAND)
    command[command.index("-b") + 1] = f"127.0.0.1:{port}"
    command[0] = str(Path(sys.executable).parent / "gunicorn")
    return command


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    """A moto server on a free loopback port, with the sample catalogue seeded."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    with pytest.MonkeyPatch.context() as patch:
        for name, value in FAKE_CREDENTIALS.items():
            patch.setenv(name, value)
        settings = load_settings({**GOOD_ENV, "AWS_ENDPOINT_URL": endpoint})
        dynamodb, s3 = make_clients(settings)
        seed(
            dynamodb,
            s3,
            books_table=settings.BOOKS_TABLE_NAME,
            chapters_table=settings.AUDIO_CHAPTERS_TABLE_NAME,
            bucket=settings.S3_BUCKET_NAME,
            region=settings.AWS_REGION,
            create=True,
        )
    yield endpoint
    server.stop()


def start_seed_command(env: dict[str, str]) -> Gunicorn:
    port = free_port()
    return start_gunicorn(seed_command(port), port, BACKEND, process_env(env))


@pytest.fixture(scope="module")
def gunicorn(moto_endpoint: str) -> Iterator[Gunicorn]:
    server = start_seed_command({**GOOD_ENV, "AWS_ENDPOINT_URL": moto_endpoint})
    yield server
    server.stop()


def test_seed_command_serves_health_for_any_host(gunicorn: Gunicorn) -> None:
    """Under the seed's command, /health is 200 with the ALB checker's Host (a private IP)."""
    response = httpx.get(f"{gunicorn.base_url}/health", headers={"Host": "10.0.1.23:8000"})
    assert response.status_code == 200


def test_seed_command_is_ready_and_serves_books(gunicorn: Gunicorn) -> None:
    """Under the seed's command, /ready is 200 against moto and /books lists seeded books."""
    assert httpx.get(f"{gunicorn.base_url}/ready", timeout=10).status_code == 200
    body = httpx.get(f"{gunicorn.base_url}/books", params={"limit": 3}, timeout=10).json()
    assert len(body["items"]) == 3
    assert body["next_cursor"]


def test_seed_command_picks_up_the_config_file(gunicorn: Gunicorn) -> None:
    """gunicorn.conf.py is read without being named: gunicorn's own log lines are JSON."""
    httpx.get(f"{gunicorn.base_url}/version", headers={"X-Request-ID": "config-check"})
    gunicorn.wait_for_line(
        lambda r: r.get("logger") == "app.access" and r.get("request_id") == "config-check",
        timeout=10,
    )
    records = [json.loads(line) for line in gunicorn.seen if line.startswith("{")]
    assert any(
        r["logger"] == "gunicorn.error" and r["message"].startswith("Booting worker")
        for r in records
    )


def test_sigterm_lets_in_flight_request_complete(moto_endpoint: str) -> None:
    """SIGTERM during a slow request: the request still gets its 200, then gunicorn exits 0."""
    server = start_seed_command({**GOOD_ENV, "AWS_ENDPOINT_URL": moto_endpoint})
    try:
        outcome: dict[str, httpx.Response | BaseException] = {}

        def slow_request() -> None:
            try:
                outcome["response"] = httpx.get(
                    f"{server.base_url}/_test/sleep",
                    params={"seconds": 1.5},
                    headers={"X-Request-ID": "in-flight-1"},
                    timeout=30,
                )
            except BaseException as exc:  # reported below
                outcome["response"] = exc

        worker = threading.Thread(target=slow_request)
        worker.start()
        server.wait_for_line(
            lambda r: (
                r.get("message") == "test sleep started" and r.get("request_id") == "in-flight-1"
            ),
            timeout=20,
        )
        server.process.send_signal(signal.SIGTERM)
        worker.join(timeout=30)
        response = outcome["response"]
        assert isinstance(response, httpx.Response), response
        assert response.status_code == 200
        assert response.json() == {"slept": 1.5}
        assert server.process.wait(timeout=30) == 0
    finally:
        server.stop()


@pytest.mark.parametrize(
    ("overrides", "variable"),
    [
        ({"ENVIRONMENT": "prod"}, "ENVIRONMENT"),
        ({"S3_BUCKET_NAME": "Not A Bucket"}, "S3_BUCKET_NAME"),
        ({"ALLOWED_HOSTS": ""}, "ALLOWED_HOSTS"),
    ],
)
def test_bad_setting_exits_fast_naming_the_variable(
    overrides: dict[str, str], variable: str
) -> None:
    """With a bad setting the seed's command exits non-zero within seconds, naming it, no trace."""
    started = time.monotonic()
    result = subprocess.run(
        seed_command(free_port()),
        cwd=BACKEND,
        env=process_env({**GOOD_ENV, **overrides}),
        capture_output=True,
        text=True,
        timeout=30,
    )
    elapsed = time.monotonic() - started
    assert result.returncode != 0
    assert elapsed < 10
    problem_lines = [line for line in result.stderr.splitlines() if line.startswith("  ")]
    assert [line.split(":")[0].strip() for line in problem_lines] == [variable]
    assert "Traceback" not in result.stderr + result.stdout


def test_worker_boot_failure_also_stops_gunicorn(tmp_path: Path) -> None:
    """Without preloading (another config), workers that cannot boot make gunicorn exit fast.

    The exit status is 3, or 1 with a gunicorn traceback when the second worker's failure is
    reaped while the master is already halting (a race in gunicorn's arbiter): one reason the
    real config preloads the app, so bad settings stop the master before any worker exists.
    """
    empty_config = tmp_path / "plain.conf.py"
    empty_config.write_text("")
    started = time.monotonic()
    result = subprocess.run(
        [*seed_command(free_port()), "-c", str(empty_config)],
        cwd=BACKEND,
        env=process_env({**GOOD_ENV, "AWS_REGION": "moon-1"}),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode in (1, 3)  # 3 = gunicorn's "worker failed to boot"
    assert time.monotonic() - started < 15
    assert "Worker failed to boot" in result.stderr
    assert "  AWS_REGION: must be an AWS region name" in result.stderr
