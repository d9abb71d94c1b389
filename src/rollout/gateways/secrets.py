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

    def describe_parameters(
        self, names: list[str], *, region: str | None = None
    ) -> dict[str, ParameterInfo]:
        """Metadata of the SSM parameters that exist among ``names`` (batches of 50 names per
        DescribeParameters call), keyed by the name as asked."""
        found: dict[str, ParameterInfo] = {}
        wanted = list(dict.fromkeys(names))
        client = self._client("ssm", region)
        for start in range(0, len(wanted), 50):
            batch = wanted[start : start + 50]
            with aws_errors(f"describe SSM parameters {', '.join(batch)}"):
                pages = client.get_paginator("describe_parameters").paginate(
                    ParameterFilters=[{"Key": "Name", "Option": "Equals", "Values": batch}]
                )
                raws = [raw for page in pages for raw in page.get("Parameters", [])]
            by_name = {str(raw.get("Name")): raw for raw in raws}
            for name in batch:
                raw = by_name.get(name) or by_name.get(name.lstrip("/"))
                if raw is not None:
                    found[name] = ParameterInfo(
                        name=str(raw["Name"]), type=raw.get("Type"), arn=raw.get("ARN")
                    )
        return found

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
