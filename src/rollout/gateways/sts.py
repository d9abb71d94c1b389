"""STS gateway: who are we (the account id that fills the template's ``<account>``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rollout.aws import ClientFactory
from rollout.gateways._base import aws_errors


@dataclass(frozen=True)
class CallerIdentity:
    account: str
    arn: str
    user_id: str


class StsGateway:
    def __init__(self, factory: ClientFactory) -> None:
        self._factory = factory

    @property
    def _sts(self) -> Any:
        return self._factory.client("sts")

    def caller_identity(self) -> CallerIdentity:
        with aws_errors("get the caller identity (sts:GetCallerIdentity)"):
            resp = self._sts.get_caller_identity()
        return CallerIdentity(
            account=str(resp["Account"]), arn=str(resp["Arn"]), user_id=str(resp["UserId"])
        )
