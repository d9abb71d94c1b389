"""Settings: the environment in, one frozen :class:`Settings` out, or a list of clear errors.

Every setting is an environment variable (the task definition passes them, partly from SSM).
Validation fails closed: a release with broken configuration must refuse to start rather than
serve errors. :func:`load_settings` raises :class:`SettingsError`, whose :meth:`lines` give one
line per bad variable (``NAME: what is wrong``), never a traceback and never a value that might
be a secret.

Nothing here reads the environment at import time; callers pass a mapping or let
:func:`load_settings` read ``os.environ`` when they ask.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, EnvSettingsSource, NoDecode, SettingsConfigDict

Environment = Literal["production", "staging", "development", "test"]
LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR"]

#: Exit status of a process that refuses to start because of its settings. Equal to gunicorn's
#: ``WORKER_BOOT_ERROR`` so that a worker exiting with it makes the gunicorn master halt too.
EXIT_BAD_SETTINGS = 3

_REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d+$")
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_TABLE = re.compile(r"^[A-Za-z0-9_.-]{3,255}$")
_HOST_LABEL = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$")
_GIT_SHA = re.compile(r"^[0-9a-f]{7,40}$")
_VERSION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,63}$")
_PRESIGN_MAX = 7 * 24 * 3600  # SigV4 presigned URLs live at most 7 days


class SettingsError(Exception):
    """The environment does not describe a valid configuration.

    ``problems`` maps each bad variable to what is wrong with it; the message never contains a
    setting's value.
    """

    def __init__(self, problems: Mapping[str, str]) -> None:
        self.problems = dict(problems)
        super().__init__("invalid settings: " + ", ".join(sorted(self.problems)))

    def lines(self) -> list[str]:
        """One human line per bad variable, sorted by name."""
        return [f"{name}: {why}" for name, why in sorted(self.problems.items())]


def _split_list(value: Any) -> Any:
    """Accept a JSON list (``["a", "b"]``) or a comma list (``a, b``); drop empty items."""
    if not isinstance(value, str):
        return value
    text = value.strip()
    if text.startswith("["):
        try:
            decoded = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError("starts with '[' but is not a valid JSON list") from exc
        if not isinstance(decoded, list) or not all(isinstance(item, str) for item in decoded):
            raise ValueError("must be a JSON list of strings")
        items: list[str] = decoded
    else:
        items = text.split(",")
    return [item.strip() for item in items if item.strip()]


class Settings(BaseSettings):
    """The service's configuration; field names are the environment variable names."""

    model_config = SettingsConfigDict(case_sensitive=True, extra="ignore", frozen=True)

    ENVIRONMENT: Environment
    AWS_REGION: str
    S3_BUCKET_NAME: str
    BOOKS_TABLE_NAME: str
    AUDIO_CHAPTERS_TABLE_NAME: str
    CORS_ORIGINS: Annotated[list[str], NoDecode]
    ALLOWED_HOSTS: Annotated[list[str], NoDecode]
    CORS_ALLOW_CREDENTIALS: bool = False
    APP_VERSION: str | None = None
    GIT_SHA: str | None = None
    AWS_ENDPOINT_URL: str | None = None
    PRESIGN_EXPIRY_SECONDS: int = Field(default=900, ge=1, le=_PRESIGN_MAX)
    LOG_LEVEL: LogLevel = "INFO"

    @field_validator("AWS_REGION")
    @classmethod
    def _region(cls, value: str) -> str:
        if not _REGION.match(value):
            raise ValueError("must be an AWS region name such as ap-northeast-2")
        return value

    @field_validator("S3_BUCKET_NAME")
    @classmethod
    def _bucket(cls, value: str) -> str:
        if not _BUCKET.match(value) or ".." in value:
            raise ValueError(
                "must be an S3 bucket name: 3-63 lowercase letters, digits, '.' or '-'"
            )
        return value

    @field_validator("BOOKS_TABLE_NAME", "AUDIO_CHAPTERS_TABLE_NAME")
    @classmethod
    def _table(cls, value: str) -> str:
        if not _TABLE.match(value):
            raise ValueError("must be a DynamoDB table name: 3-255 of A-Z a-z 0-9 _ . -")
        return value

    @field_validator("CORS_ORIGINS", mode="before")
    @classmethod
    def _cors_list(cls, value: Any) -> Any:
        return _split_list(value)

    @field_validator("CORS_ORIGINS")
    @classmethod
    def _cors_origins(cls, value: list[str]) -> list[str]:
        for position, origin in enumerate(value, start=1):
            if origin == "*":
                continue
            parts = urlsplit(origin)
            if (
                parts.scheme not in ("http", "https")
                or not parts.hostname
                or parts.path not in ("", "/")
                or parts.query
                or parts.fragment
                or parts.username
            ):
                # The value is never echoed (it may be a secret pasted in the wrong place).
                raise ValueError(
                    f"item {position} of {len(value)} is not an origin; use "
                    "scheme://host[:port], e.g. https://app.example.com"
                )
        return [origin.rstrip("/") for origin in value]

    @field_validator("ALLOWED_HOSTS", mode="before")
    @classmethod
    def _hosts_list(cls, value: Any) -> Any:
        return _split_list(value)

    @field_validator("ALLOWED_HOSTS")
    @classmethod
    def _hosts(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("must list at least one host name (comma separated)")
        for position, host in enumerate(value, start=1):
            if host == "*":
                continue
            name = host[2:] if host.startswith("*.") else host
            if not all(_HOST_LABEL.match(label) for label in name.split(".")):
                raise ValueError(
                    f"item {position} of {len(value)} is not a host name (no scheme or port; "
                    "'*.' prefix allowed)"
                )
        return [host.lower() for host in value]

    @field_validator("GIT_SHA")
    @classmethod
    def _sha(cls, value: str | None) -> str | None:
        if value is not None and not _GIT_SHA.match(value):
            raise ValueError("must be 7 to 40 lowercase hex digits")
        return value

    @field_validator("APP_VERSION")
    @classmethod
    def _version(cls, value: str | None) -> str | None:
        if value is not None and not _VERSION.match(value):
            raise ValueError("must be 1-64 of letters, digits, '.', '_', '+' or '-'")
        return value

    @field_validator("AWS_ENDPOINT_URL")
    @classmethod
    def _endpoint(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("must be an http(s) URL such as http://127.0.0.1:5000")
        return value

    @model_validator(mode="after")
    def _cross_checks(self) -> Settings:
        if self.CORS_ALLOW_CREDENTIALS and "*" in self.CORS_ORIGINS:
            raise ValueError(
                "CORS_ORIGINS: '*' cannot be combined with CORS_ALLOW_CREDENTIALS=true; "
                "list the origins explicitly"
            )
        if self.ENVIRONMENT in ("production", "staging") and "*" in self.ALLOWED_HOSTS:
            raise ValueError(
                f"ALLOWED_HOSTS: '*' is not allowed in {self.ENVIRONMENT}; list the host names"
            )
        return self

    @property
    def version(self) -> str:
        return self.APP_VERSION or "unknown"


class _MappingEnvSource(EnvSettingsSource):
    """pydantic-settings' environment source, reading a given mapping instead of os.environ."""

    def __init__(self, settings_cls: type[BaseSettings], environ: Mapping[str, str]) -> None:
        self._environ = dict(environ)
        super().__init__(settings_cls, env_ignore_empty=False)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        return dict(self._environ)


def _variable(loc: tuple[int | str, ...]) -> str:
    return str(loc[0]) if loc else ""


def _problems(exc: ValidationError) -> dict[str, str]:
    problems: dict[str, str] = {}
    for error in exc.errors(include_input=False, include_url=False):
        name = _variable(error["loc"])
        message = str(error["msg"])
        if error["type"] == "missing":
            message = "is required but not set"
        elif message.startswith("Value error, "):
            message = message.removeprefix("Value error, ")
        if not name:
            # A cross-field check: its message starts with the variable's name.
            name, _, message = message.partition(": ")
        problems.setdefault(name, message)
    return problems


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Validate ``environ`` (default: ``os.environ``) into :class:`Settings`.

    Raises :class:`SettingsError` naming every bad variable at once.
    """
    source = _MappingEnvSource(Settings, os.environ if environ is None else environ)
    try:
        # ``_build_sources`` is BaseSettings' documented hook for pre-built sources; mypy sees
        # only the fields in the generated signature.
        return Settings(_build_sources=((source,), {}))  # type: ignore[call-arg]
    except ValidationError as exc:
        raise SettingsError(_problems(exc)) from None
