"""What every gateway shares: turning botocore failures into rollout errors."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    EndpointConnectionError,
    NoCredentialsError,
    NoRegionError,
)

from rollout.errors import AwsError, CredentialsError

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
        raise AwsError(
            f"failed to {action}: {code}: {message}.",
            hint="Check the name, region and permissions, then retry.",
            code=code,
        ) from exc
    except NoCredentialsError as exc:
        raise CredentialsError(
            f"failed to {action}: no AWS credentials were found.",
            hint="Set AWS credentials (in CI: configure OIDC with aws-actions/configure-aws-"
            "credentials), or AWS_ENDPOINT_URL plus dummy keys for the sandbox.",
        ) from exc
    except NoRegionError as exc:
        raise AwsError(
            f"failed to {action}: no AWS region is set.",
            hint="Set `region` in rollout.toml or AWS_REGION.",
        ) from exc
    except EndpointConnectionError as exc:
        raise AwsError(
            f"failed to {action}: could not reach the AWS endpoint ({exc}).",
            hint="Check the network, or that the sandbox is running if AWS_ENDPOINT_URL is set.",
        ) from exc
    except BotoCoreError as exc:
        raise AwsError(
            f"failed to {action}: {exc}.", hint="Retry; if it persists, report it."
        ) from exc


def ts(value: Any) -> float | None:
    """A boto3 timestamp (datetime, or epoch number) as epoch seconds."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.timestamp()
    return float(value)
