"""What every gateway shares: turning botocore failures into rollout errors."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import botocore.session
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConfigNotFound,
    ConfigParseError,
    CredentialRetrievalError,
    EndpointConnectionError,
    InvalidConfigError,
    InvalidRegionError,
    NoCredentialsError,
    NoRegionError,
    PartialCredentialsError,
    ProfileNotFound,
    SSOError,
    TokenRetrievalError,
)
from botocore.exceptions import (
    ConnectionError as BotoConnectionError,
)

from rollout.errors import AwsError, ConfigError, CredentialsError, RolloutError

EXPIRED_CODES = frozenset(
    {
        "ExpiredToken",
        "ExpiredTokenException",
        "RequestExpired",
        "InvalidClientTokenId",
        "UnrecognizedClientException",
    }
)
UNSUPPORTED_CODES = frozenset(
    {"UnsupportedOperation", "InvalidAction", "UnknownOperationException", "NotImplemented"}
)

CREDENTIALS_HINT = (
    "Refresh the AWS credentials (in CI: re-run the job so OIDC issues a new session) and run "
    "`rollout status` to see where the service stands. ECS's own circuit breaker is still armed "
    "and keeps protecting the service meanwhile."
)


def error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", "Unknown"))


def error_message(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Message", "")).rstrip(".")


@contextmanager
def aws_errors(action: str) -> Iterator[None]:
    """Map botocore exceptions raised inside the block to :class:`AwsError` and its children.

    ``action`` completes "failed to ...", e.g. ``"describe service voj-prod/voj-backend-api"``.
    """
    try:
        yield
    except ClientError as exc:
        code = error_code(exc)
        message = error_message(exc)
        if code in EXPIRED_CODES:
            raise CredentialsError(
                f"failed to {action}: the AWS credentials are expired or invalid ({code}).",
                hint=CREDENTIALS_HINT,
            ) from exc
        if code.isdigit() and not message:
            # botocore names the error by the HTTP status when the body is no AWS error: the
            # endpoint is not the AWS API it should be (a web server, a proxy, a wrong path)
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", code)
            raise AwsError(
                f"failed to {action}: the endpoint answered HTTP {status} without an AWS "
                "error in its body, so it is probably not the AWS API.",
                hint="Check AWS_ENDPOINT_URL (unset it to talk to AWS; for the sandbox use the "
                "URL `rollout sandbox up` prints, without a path) and any proxy in between.",
                code=code,
            ) from exc
        raise AwsError(
            f"failed to {action}: {code}: {message}.",
            hint="Check the name, region and permissions, then retry.",
            code=code,
        ) from exc
    except BotoCoreError as exc:
        raise botocore_error(action, exc) from exc


def botocore_error(action: str, exc: BotoCoreError) -> RolloutError:
    """The rollout error for a botocore failure that is not an AWS answer: what is wrong with
    the local credentials, config or network, and what to do about it.

    ``action`` completes "failed to ...". Only names (profile, variable, file) are shown, never
    a credential's value.
    """
    if isinstance(exc, ProfileNotFound):
        profile = exc.kwargs.get("profile", "?")
        return CredentialsError(
            f"failed to {action}: the AWS profile {profile!r} (AWS_PROFILE) does not exist"
            f"{_known_profiles()}.",
            hint="Set AWS_PROFILE to a profile in your AWS config file (`aws configure "
            "list-profiles` lists them), or unset it to use the default credentials.",
        )
    if isinstance(exc, PartialCredentialsError):
        provider = exc.kwargs.get("provider", "?")
        missing = exc.kwargs.get("cred_var", "?")
        where = "the environment" if provider == "env" else f"the {provider} credentials"
        return CredentialsError(
            f"failed to {action}: the AWS credentials in {where} are incomplete: "
            f"{missing} is missing.",
            hint=f"Set {missing} as well, or remove the partial credentials so the next source "
            "(AWS_PROFILE, ~/.aws/credentials, an instance or OIDC role) is used.",
        )
    if isinstance(exc, NoCredentialsError):
        return CredentialsError(
            f"failed to {action}: no AWS credentials were found.",
            hint="Set AWS credentials (in CI: configure OIDC with aws-actions/configure-aws-"
            "credentials), or AWS_ENDPOINT_URL plus dummy keys for the sandbox.",
        )
    if isinstance(exc, CredentialRetrievalError | TokenRetrievalError | SSOError):
        return CredentialsError(
            f"failed to {action}: the AWS credentials could not be obtained: {exc}.",
            hint="Fix the credential source it names (for an SSO profile: `aws sso login "
            "--profile <name>`), or use another profile.",
        )
    if isinstance(exc, ConfigParseError | ConfigNotFound | InvalidConfigError):
        return ConfigError(
            f"failed to {action}: the AWS configuration is unusable: {exc}.",
            hint="Fix the file it names (AWS_CONFIG_FILE, default ~/.aws/config; "
            "AWS_SHARED_CREDENTIALS_FILE, default ~/.aws/credentials) or point the variable at "
            "a valid one.",
        )
    if isinstance(exc, InvalidRegionError):
        return ConfigError(
            f"failed to {action}: {exc}",
            hint="Set `region` in rollout.toml, --region or AWS_REGION to a region such as "
            "eu-west-1.",
        )
    if isinstance(exc, NoRegionError):
        return AwsError(
            f"failed to {action}: no AWS region is set.",
            hint="Set `region` in rollout.toml or AWS_REGION.",
        )
    if isinstance(exc, EndpointConnectionError):
        return AwsError(
            f"failed to {action}: could not reach the AWS endpoint ({exc}).",
            hint="Check the network and the region, or that the sandbox is running if "
            "AWS_ENDPOINT_URL is set.",
        )
    if isinstance(exc, BotoConnectionError):
        return AwsError(
            f"failed to {action}: the connection to AWS failed ({exc}).",
            hint="Check the network, the proxy (HTTPS_PROXY) and the CA bundle (AWS_CA_BUNDLE).",
        )
    return AwsError(f"failed to {action}: {exc}.", hint="Retry; if it persists, report it.")


def _known_profiles() -> str:
    """`` (profiles: a, b)``, from the AWS config files, or nothing if they cannot be read."""
    try:
        profiles = sorted(botocore.session.Session(profile=None).available_profiles)
    except (BotoCoreError, OSError):
        return ""
    return f" (profiles: {', '.join(profiles)})" if profiles else " (no profiles are configured)"


def ts(value: Any) -> float | None:
    """A boto3 timestamp (datetime, or epoch number) as epoch seconds."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.timestamp()
    return float(value)
