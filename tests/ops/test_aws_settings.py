"""Bad AWS settings, as a new user makes them, end in one clear line that says what is wrong and
what to do: never a traceback, never "retry; if it persists, report it" for a local mistake.

Everything here fails before a request leaves the process (validation, or botocore resolving the
profile, credentials or config), so no test needs a network or an endpoint.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from botocore.exceptions import (
    ConfigParseError,
    CredentialRetrievalError,
    InvalidRegionError,
    PartialCredentialsError,
    ProfileNotFound,
    SSOTokenLoadError,
)
from typer.testing import CliRunner

from rollout.aws import ClientFactory
from rollout.cli import _register, app
from rollout.errors import AwsError, ConfigError, CredentialsError
from rollout.gateways._base import aws_errors, botocore_error
from rollout.gateways.sts import StsGateway

from .conftest import REPO

REPORT_IT = "if it persists, report it"


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    """No AWS settings from the machine: empty config and credentials files, no IMDS."""
    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    (tmp_path / "config").write_text("[profile real]\nregion = eu-west-1\n")
    (tmp_path / "credentials").write_text("")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    return monkeypatch


# ------------------------------------------------------------------ endpoint URL and region


@pytest.mark.parametrize(
    "url", ["not-a-url", "http://", "ftp://sandbox:4566", "http://127.0.0.1:99999", "localhost:45"]
)
def test_a_bad_endpoint_url_is_a_config_error(url: str) -> None:
    """botocore raised a bare ValueError (a traceback) or failed later with an HTTP client
    message; now the factory refuses the URL up front, naming it and the right form."""
    with pytest.raises(ConfigError, match=r"is not an http\(s\)://host\[:port\] URL") as info:
        ClientFactory(region="eu-west-1", endpoint_url=url)
    assert repr(url) in str(info.value)
    assert info.value.exit_code == 2


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:4566", "https://ecs.eu-west-1.amazonaws.com", "http://[::1]:4566"]
)
def test_good_endpoint_urls_pass(url: str) -> None:
    assert ClientFactory(region="eu-west-1", endpoint_url=url).endpoint_url == url


@pytest.mark.parametrize("region", ["bad/region", "", "-eu-west-1", "123"])
def test_a_malformed_region_is_a_config_error(region: str) -> None:
    with pytest.raises(ConfigError, match="is not a region name"):
        ClientFactory(region=region)


def test_cli_with_a_bad_endpoint_url_exits_2_without_a_traceback(
    aws_env: pytest.MonkeyPatch,
) -> None:
    """`AWS_ENDPOINT_URL=not-a-url rollout status` was a ValueError traceback."""
    aws_env.chdir(REPO)
    _register()
    result = CliRunner().invoke(
        app, ["status", "--env", "prod", "-o", "plain"], env={"AWS_ENDPOINT_URL": "not-a-url"}
    )
    assert result.exit_code == 2, result.output
    assert isinstance(result.exception, SystemExit)
    assert "the AWS endpoint URL 'not-a-url'" in result.stderr
    assert "Traceback" not in result.output


# --------------------------------------------------- credentials and config, through botocore


def test_a_missing_profile_names_it_and_the_profiles_there_are(aws_env: pytest.MonkeyPatch) -> None:
    """`AWS_PROFILE=nope`: the message said "retry; if it persists, report it"."""
    aws_env.setenv("AWS_PROFILE", "nope")
    with pytest.raises(CredentialsError) as info:
        StsGateway(ClientFactory(region="eu-west-1")).caller_identity()
    text = str(info.value)
    assert "the AWS profile 'nope' (AWS_PROFILE) does not exist (profiles: real)" in text
    assert "Set AWS_PROFILE to a profile" in text
    assert REPORT_IT not in text


def test_partial_credentials_say_which_part_is_missing(aws_env: pytest.MonkeyPatch) -> None:
    """A key id without its secret: say that the secret is missing, not "report it"."""
    aws_env.setenv("AWS_ACCESS_KEY_ID", "AKIAEXAMPLEKEYID0000")
    with pytest.raises(CredentialsError) as info:
        StsGateway(ClientFactory(region="eu-west-1")).caller_identity()
    text = str(info.value)
    assert "credentials in the environment are incomplete: AWS_SECRET_ACCESS_KEY is missing" in text
    assert "AKIAEXAMPLEKEYID0000" not in text  # names only, never values
    assert REPORT_IT not in text


def test_an_unparsable_config_file_is_named(aws_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    broken = tmp_path / "broken"
    broken.write_text("[default\nregion = eu-west-1\n")
    aws_env.setenv("AWS_CONFIG_FILE", str(broken))
    with pytest.raises(ConfigError) as info:
        StsGateway(ClientFactory(region="eu-west-1")).caller_identity()
    assert f"Unable to parse config file: {broken}" in str(info.value)
    assert info.value.exit_code == 2


def test_a_failing_credential_process_is_a_credentials_error(
    aws_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    config = tmp_path / "config"
    config.write_text("[profile broken]\ncredential_process = /bin/false\n")
    aws_env.setenv("AWS_PROFILE", "broken")
    with pytest.raises(CredentialsError, match="could not be obtained") as info:
        StsGateway(ClientFactory(region="eu-west-1")).caller_identity()
    assert REPORT_IT not in str(info.value)


@pytest.mark.parametrize(
    ("exc", "kind", "phrase"),
    [
        (ProfileNotFound(profile="p"), CredentialsError, "profile 'p'"),
        (
            PartialCredentialsError(provider="env", cred_var="AWS_SESSION_TOKEN"),
            CredentialsError,
            "AWS_SESSION_TOKEN is missing",
        ),
        (
            CredentialRetrievalError(provider="sso", error_msg="expired"),
            CredentialsError,
            "could not be obtained",
        ),
        (SSOTokenLoadError(error_msg="no token"), CredentialsError, "aws sso login"),
        (ConfigParseError(path="/x"), ConfigError, "/x"),
        (InvalidRegionError(region_name="a b"), ConfigError, "region"),
    ],
)
def test_botocore_errors_map_to_what_is_wrong(
    exc: Exception, kind: type[Exception], phrase: str
) -> None:
    """Each local cause gets its own class (and exit code) and advice; none says "report it"."""
    with pytest.raises(kind, match=phrase) as info, aws_errors("do a thing"):
        raise exc
    assert str(info.value).startswith("failed to do a thing: ")
    assert REPORT_IT not in str(info.value)


def test_an_unknown_botocore_failure_still_says_report_it() -> None:
    from botocore.exceptions import BotoCoreError

    error = botocore_error("do a thing", BotoCoreError())
    assert type(error) is AwsError
    assert REPORT_IT in str(error)


def test_cli_with_a_missing_profile_exits_1_with_the_cause(aws_env: pytest.MonkeyPatch) -> None:
    aws_env.chdir(REPO)
    _register()
    result = CliRunner().invoke(
        app, ["status", "--env", "prod", "-o", "plain"], env={"AWS_PROFILE": "nope"}
    )
    assert result.exit_code == 1, result.output
    assert "the AWS profile 'nope' (AWS_PROFILE) does not exist" in result.stderr
    assert REPORT_IT not in result.output


def test_sandbox_commands_hide_the_users_aws_config_and_restore_it(
    aws_env: pytest.MonkeyPatch,
) -> None:
    """demo, sandbox up and sandbox provision run with no AWS profile or config files (moto
    reads them on import: `AWS_PROFILE=nope` stopped `rollout demo` with a traceback); the
    caller's settings are back afterwards."""
    from rollout.cli._common import without_user_aws_config

    aws_env.setenv("AWS_PROFILE", "nope")
    before = dict(os.environ)
    with without_user_aws_config():
        assert "AWS_PROFILE" not in os.environ
        assert os.environ["AWS_CONFIG_FILE"] == os.devnull
        assert os.environ["AWS_SHARED_CREDENTIALS_FILE"] == os.devnull
    assert dict(os.environ) == before


def test_an_endpoint_that_is_not_an_aws_api_is_named_as_such(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """AWS_ENDPOINT_URL pointing at a web server (here: a real HTTP 404 with an HTML-free empty
    body, as botocore parses it) said "404: . Check the name, region and permissions"."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
    from threading import Thread

    class NotFound(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *_: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), NotFound)
    thread = Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        factory = ClientFactory(region="ap-northeast-2", endpoint_url=url)
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", "x")
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "y")
        monkeypatch.delenv("AWS_PROFILE", raising=False)
        with pytest.raises(AwsError) as info, aws_errors("describe service c/s"):
            factory.client("ecs").describe_services(cluster="c", services=["s"])
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
    message = str(info.value)
    assert "the endpoint answered HTTP 404 without an AWS error" in message
    assert "Check AWS_ENDPOINT_URL" in message
