"""IAM gateway: read a role and its trust policy (read-only)."""

from __future__ import annotations

import ast
import contextlib
import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from botocore.exceptions import ClientError

from rollout.aws import ClientFactory
from rollout.gateways._base import aws_errors, error_code


@dataclass(frozen=True)
class Role:
    name: str
    arn: str
    trust_policy: Any  # the AssumeRolePolicyDocument, decoded to a dict when possible


class IamGateway:
    def __init__(self, factory: ClientFactory) -> None:
        self._factory = factory

    @property
    def _iam(self) -> Any:
        return self._factory.client("iam")

    def get_role(self, name: str) -> Role | None:
        """The role, or None when it does not exist."""
        with aws_errors(f"get IAM role {name}"):
            try:
                raw = self._iam.get_role(RoleName=name)["Role"]
            except ClientError as exc:
                if error_code(exc) == "NoSuchEntity":
                    return None
                raise
        return Role(
            name=str(raw["RoleName"]),
            arn=str(raw["Arn"]),
            trust_policy=_decode(raw.get("AssumeRolePolicyDocument")),
        )

    def role_policies(self, name: str) -> list[Any]:
        """Every policy document that applies to role ``name``: inline ones, then the default
        version of each attached managed policy (decoded to dicts)."""
        docs: list[Any] = []
        with aws_errors(f"list the policies of IAM role {name}"):
            for page in self._iam.get_paginator("list_role_policies").paginate(RoleName=name):
                for policy_name in page.get("PolicyNames", []):
                    raw = self._iam.get_role_policy(RoleName=name, PolicyName=policy_name)
                    docs.append(_decode(raw.get("PolicyDocument")))
            paginator = self._iam.get_paginator("list_attached_role_policies")
            for page in paginator.paginate(RoleName=name):
                for attached in page.get("AttachedPolicies", []):
                    arn = attached["PolicyArn"]
                    policy = self._iam.get_policy(PolicyArn=arn)["Policy"]
                    version = self._iam.get_policy_version(
                        PolicyArn=arn, VersionId=policy["DefaultVersionId"]
                    )["PolicyVersion"]
                    docs.append(_decode(version.get("Document")))
        return docs

    def attached_policy_names(self, name: str) -> list[str]:
        """Names of the managed policies attached to role ``name``."""
        with aws_errors(f"list the attached policies of IAM role {name}"):
            return _attached_names(self._iam, name)


def _attached_names(iam: Any, name: str) -> list[str]:
    names: list[str] = []
    for page in iam.get_paginator("list_attached_role_policies").paginate(RoleName=name):
        names.extend(str(p["PolicyName"]) for p in page.get("AttachedPolicies", []))
    return names


def _decode(document: Any) -> Any:
    """IAM returns policy documents URL-encoded (boto3 usually decodes them already). moto's
    CloudFormation stores inline policies as a Python literal; accept that too (literal_eval
    evaluates literals only, never code)."""
    if not isinstance(document, str):
        return document
    text = unquote(document)
    with contextlib.suppress(json.JSONDecodeError):
        return json.loads(text)
    with contextlib.suppress(ValueError, SyntaxError):
        return ast.literal_eval(text)
    return document
