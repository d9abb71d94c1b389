"""Secret stores the task definition's ``secrets`` point at: SSM parameters and Secrets Manager
secrets. Existence checks only: values are never fetched (no GetParameter value decryption, no
GetSecretValue), so nothing secret can leak into output.

SSM parameter *existence* lives here; the deploy lock's SSM parameter is the engine's
(``rollout.gateways.ssm``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from rollout.aws import ClientFactory
from rollout.gateways._base import aws_errors, error_code


@dataclass(frozen=True)
class ParameterInfo:
    name: str
    type: str | None
    arn: str | None


@dataclass(frozen=True)
class SecretInfo:
    arn: str
    name: str
    deleted: bool


class SecretsGateway:
    def __init__(self, factory: ClientFactory) -> None:
        self._factory = factory

    def _client(self, service: str, region: str | None) -> Any:
        if region is None or region == self._factory.region:
            return self._factory.client(service)
        return dataclasses.replace(self._factory, region=region).client(service)

    def describe_parameter(self, name: str, *, region: str | None = None) -> ParameterInfo | None:
        """Metadata of the SSM parameter ``name`` (DescribeParameters: no value is read);
        None when it does not exist."""
        with aws_errors(f"describe SSM parameter {name}"):
            resp = self._client("ssm", region).describe_parameters(
                ParameterFilters=[{"Key": "Name", "Option": "Equals", "Values": [name]}]
            )
        for raw in resp.get("Parameters", []):
            if raw.get("Name") in (name, name.lstrip("/"), "/" + name.lstrip("/")):
                return ParameterInfo(
                    name=str(raw["Name"]), type=raw.get("Type"), arn=raw.get("ARN")
                )
        return None

    def describe_secret(self, secret_id: str, *, region: str | None = None) -> SecretInfo | None:
        """Metadata of a Secrets Manager secret (no value); None when it does not exist."""
        with aws_errors(f"describe secret {secret_id}"):
            try:
                raw = self._client("secretsmanager", region).describe_secret(SecretId=secret_id)
            except ClientError as exc:
                if error_code(exc) == "ResourceNotFoundException":
                    return None
                raise
        return SecretInfo(
            arn=str(raw.get("ARN", secret_id)),
            name=str(raw.get("Name", "")),
            deleted=raw.get("DeletedDate") is not None,
        )
