"""SSM gateway: the service lock (one parameter, created atomically) and plain reads."""

from __future__ import annotations

from typing import Any

from rollout.aws import ClientFactory
from rollout.decisions.lock import LockRecord, lock_name, parse_lock
from rollout.errors import AwsError
from rollout.gateways._base import aws_errors

DEFAULT_PREFIX = "/rollout/lock"


class SsmGateway:
    def __init__(self, factory: ClientFactory) -> None:
        self._factory = factory

    @property
    def _ssm(self) -> Any:
        return self._factory.client("ssm")

    def get(self, name: str) -> str | None:
        """The parameter's value, or None if it does not exist."""
        try:
            with aws_errors(f"read SSM parameter {name}"):
                resp = self._ssm.get_parameter(Name=name)
        except AwsError as exc:
            if exc.code == "ParameterNotFound":
                return None
            raise
        return str(resp["Parameter"]["Value"])

    def create(self, name: str, value: str, *, description: str = "") -> bool:
        """Create ``name`` only if it does not exist (``Overwrite=false``). False if it exists."""
        try:
            with aws_errors(f"create SSM parameter {name}"):
                self._ssm.put_parameter(
                    Name=name,
                    Value=value,
                    Type="String",
                    Overwrite=False,
                    Description=description or "rollout service lock",
                )
        except AwsError as exc:
            if exc.code == "ParameterAlreadyExists":
                return False
            raise
        return True

    def delete(self, name: str) -> bool:
        """Delete ``name``; False if it was already gone."""
        try:
            with aws_errors(f"delete SSM parameter {name}"):
                self._ssm.delete_parameter(Name=name)
        except AwsError as exc:
            if exc.code == "ParameterNotFound":
                return False
            raise
        return True

    def read_lock(
        self, cluster: str, service: str, *, prefix: str = DEFAULT_PREFIX
    ) -> LockRecord | None:
        """The current holder of the service lock, or None. Unreadable values raise AwsError."""
        name = lock_name(prefix, cluster, service)
        value = self.get(name)
        try:
            return parse_lock(value)
        except ValueError as exc:
            raise AwsError(
                f"failed to read the service lock {name}: its value is not a rollout lock.",
                hint=f"Inspect it with `aws ssm get-parameter --name {name}` and delete it if "
                "nobody is deploying.",
            ) from exc
