"""Configuration: ``rollout.toml`` → one validated, frozen :class:`EnvConfig` per environment.

File layout (TOML)::

    [defaults]                 # optional; merged (deeply) under every environment
    region = "ap-northeast-2"

    [env.prod]                 # one table per environment
    cluster = "voj-prod"
    ...
    [env.prod.watch]
    poll_interval = 5.0

Precedence, lowest first: built-in defaults < ``[defaults]`` < ``[env.<name>]`` < environment
variables < overrides (command-line flags).

Environment variables (all optional, read from the ``environ`` mapping passed in):

* ``ROLLOUT_<KEY>`` sets a top-level key, e.g. ``ROLLOUT_CLUSTER``, ``ROLLOUT_REGION``,
  ``ROLLOUT_SMOKE_URL``, ``ROLLOUT_CONTAINERS=api,worker`` (lists are comma-separated).
* ``ROLLOUT_<SECTION>__<KEY>`` (two underscores) sets a key inside a section, e.g.
  ``ROLLOUT_WATCH__POLL_INTERVAL=2``, ``ROLLOUT_TRAFFIC__RECORD_NAME=api.example.com``.
* ``ROLLOUT_<KEY>`` where ``KEY`` names a key of exactly one section is a shorthand for it, e.g.
  ``ROLLOUT_POLL_INTERVAL`` = ``ROLLOUT_WATCH__POLL_INTERVAL``,
  ``ROLLOUT_CIRCUIT_BREAKER`` = ``ROLLOUT_DETECTION__CIRCUIT_BREAKER``.
* ``ROLLOUT_TEST_HEADERS`` sets the ``test_headers`` table as comma-separated ``Name: value``
  pairs, e.g. ``ROLLOUT_TEST_HEADERS="X-Rollout-Test: 1"`` (a value cannot contain a comma
  there); empty clears it. It replaces the file's table (no merge).
* ``ROLLOUT_TRAFFIC=`` (empty, ``off`` or ``none``) switches the optional ``traffic`` section off.
* Other ``ROLLOUT_*`` variables (``ROLLOUT_RETRY_MODE``, ``ROLLOUT_ENV``, ...) are not config keys
  and are ignored here. An empty value for an optional key (``ROLLOUT_SMOKE_URL=``) unsets it.

Every error is a :class:`~rollout.errors.ConfigError` naming the file, the environment and the
key, with where the bad value came from (file, variable or flag).
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from rollout.errors import ConfigError

DEFAULT_CONFIG_FILE = Path("rollout.toml")
ENV_PREFIX = "ROLLOUT_"


#: RFC 7230 §3.2.6 ``token``: what a header field name may be.
HEADER_NAME = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")
#: headers a probe must not set: framing and connection handling are urllib's to decide
FORBIDDEN_HEADERS = frozenset({"content-length", "transfer-encoding", "connection", "upgrade"})
#: keys whose values are never echoed in an error (they may carry a shared secret)
QUIET_KEYS = frozenset({"test_headers"})


def parse_headers(value: str) -> dict[str, str]:
    """``"X-Rollout-Test: 1, X-Other: a"`` → ``{"X-Rollout-Test": "1", "X-Other": "a"}``
    (the ``ROLLOUT_TEST_HEADERS`` form). Raises ValueError naming the bad part, not its value."""
    out: dict[str, str] = {}
    for n, part in enumerate((p for p in value.split(",") if p.strip()), start=1):
        name, sep, val = part.partition(":")
        if not sep:
            raise ValueError(f"pair {n} is not 'Name: value'")
        out[name.strip()] = val.strip()
    return out


def check_headers(value: Any) -> dict[str, str]:
    """Validate request headers: names are RFC 7230 tokens, unique ignoring case, not framing
    headers; values are printable ASCII (no CR/LF or other control characters), without
    leading or trailing blanks. Integers are taken as their decimal text (``"X-A" = 1``).
    Error messages name the header, never its value."""
    if isinstance(value, str):
        value = parse_headers(value)
    if not isinstance(value, Mapping):
        raise ValueError("must be a table of header name = value")
    out: dict[str, str] = {}
    seen: set[str] = set()
    for name, raw in value.items():
        if not isinstance(name, str) or not HEADER_NAME.match(name):
            raise ValueError(
                f"header name {str(name)[:40]!r} is not an HTTP token (RFC 7230: letters, "
                "digits and !#$%&'*+-.^_`|~)"
            )
        if name.lower() in seen:
            raise ValueError(f"header {name!r} is given twice (names ignore case)")
        seen.add(name.lower())
        if name.lower() in FORBIDDEN_HEADERS:
            raise ValueError(f"header {name!r} cannot be set on the probe")
        if isinstance(raw, bool) or not isinstance(raw, str | int):
            raise ValueError(f"header {name!r}: the value must be a string")
        text = str(raw)
        if any(not (" " <= ch <= "~" or ch == "\t") for ch in text):
            raise ValueError(
                f"header {name!r}: the value must be printable ASCII (no line breaks or "
                "control characters)"
            )
        if text != text.strip():
            raise ValueError(f"header {name!r}: the value has leading or trailing blanks")
        out[name] = text
    return out


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Timeouts(_Model):
    """Seconds. ``deploy``: the whole rollout; ``healthy``: new tasks to become healthy;
    ``drain``: old tasks to drain after traffic moved."""

    deploy: float = Field(default=1800, gt=0)
    healthy: float = Field(default=900, gt=0)
    drain: float = Field(default=900, gt=0)


class Watch(_Model):
    """How often the engine polls AWS while watching, and the random spread added to it."""

    poll_interval: float = Field(default=5.0, gt=0)
    jitter: float = Field(default=0.2, ge=0, le=1)


class Detection(_Model):
    """``consecutive_failures``: failed polls in a row that condemn a release.
    ``circuit_breaker``: what to do if the service lacks the ECS circuit breaker with rollback:
    refuse to deploy (``require``), warn (``warn``) or skip the check (``off``)."""

    consecutive_failures: int = Field(default=2, ge=1)
    circuit_breaker: Literal["require", "warn", "off"] = "require"


class Bake(_Model):
    """Watch the new release this long after it is healthy; any alarm in ``alarms`` firing
    during that time fails it."""

    seconds: float = Field(default=0, ge=0)
    alarms: tuple[str, ...] = ()

    @field_validator("alarms", mode="before")
    @classmethod
    def _split(cls, value: Any) -> Any:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value


class Retention(_Model):
    """Keep the newest ``keep`` task-definition revisions (plus every one in use)."""

    keep: int = Field(default=10, ge=1)
    prune_after_deploy: bool = False


class Traffic(_Model):
    """Route 53 weighted records that move clients from the legacy path to the new ALB."""

    hosted_zone_id: str | None = None
    zone_name: str | None = None
    record_name: str
    record_type: Literal["A", "AAAA", "CNAME"] = "A"
    new_set_identifier: str
    legacy_set_identifier: str


class Lock(_Model):
    """The SSM-parameter lock that keeps two deploys of one service apart."""

    ttl: float = Field(default=3600, gt=0)
    parameter_prefix: str = "/rollout/lock"

    @field_validator("parameter_prefix")
    @classmethod
    def _slash(cls, value: str) -> str:
        if not value.startswith("/"):
            raise ValueError("must start with '/'")
        return value.rstrip("/")


class ImagePolicy(_Model):
    """Which images an environment may run (every container of the rendered task definition).

    ``registries``: allowed registries, each a registry host (``ghcr.io``), optionally with a
    namespace prefix (``ghcr.io/acme``); ``docker.io`` is Docker Hub. ``<account>`` and
    ``<region>`` stand for the caller's account id and the environment's region. Empty (the
    default): only the account's own ECR in the environment's region,
    ``<account>.dkr.ecr.<region>.amazonaws.com``.
    ``require_digest``: every image must be pinned by digest once rendered (ECR tags are pinned
    by render; other registries need ``@sha256:...`` in the reference).
    """

    registries: tuple[str, ...] = ()
    require_digest: bool = True

    @field_validator("registries", mode="before")
    @classmethod
    def _split(cls, value: Any) -> Any:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value


class Shift(_Model):
    """The shape of a native ECS strategy (``strategy`` other than ``rolling``).

    ``bake_minutes``: both revisions keep running this long after production traffic moved
    (``bakeTimeInMinutes``; rollout's analysis runs through it). ``canary_percent`` /
    ``canary_bake_minutes``: the canary's share and how long it stays there
    (``canaryConfiguration``). ``step_percent`` / ``step_bake_minutes``: linear steps and the
    wait between them (``linearConfiguration``). Ranges are AWS's (ECS API reference).
    ``set_on_deploy``: UpdateService carries the strategy and these values (true), or the service
    must already be configured that way and ``verify`` checks it (false).
    """

    bake_minutes: int = Field(default=10, ge=0, le=1440)
    canary_percent: float = Field(default=5.0, ge=0.1, le=100.0)
    canary_bake_minutes: int = Field(default=10, ge=0, le=1440)
    step_percent: float = Field(default=10.0, ge=3.0, le=100.0)
    step_bake_minutes: int = Field(default=6, ge=0, le=1440)
    set_on_deploy: bool = True

    @field_validator("canary_percent", "step_percent")
    @classmethod
    def _tenths(cls, value: float) -> float:
        if abs(value * 10 - round(value * 10)) > 1e-9:
            raise ValueError("must be a multiple of 0.1")
        return value


class Analysis(_Model):
    """How the new release's target group is judged against the old one's while it takes
    traffic (``rollout.decisions.analysis.Thresholds`` plus the window length)."""

    window: int = Field(default=60, gt=0)
    min_requests: int = Field(default=50, ge=1)
    max_error_rate: float = Field(default=0.01, ge=0, le=1)
    error_rate_margin: float = Field(default=0.005, ge=0, le=1)
    max_p99_ms: float = Field(default=1000.0, gt=0)
    p99_ratio: float = Field(default=2.0, ge=1)
    inconclusive_limit: int = Field(default=3, ge=0)
    failure_limit: int = Field(default=0, ge=0)

    @field_validator("window")
    @classmethod
    def _period(cls, value: int) -> int:
        # a CloudWatch period: 10, 20, 30 (high resolution) or a multiple of 60; the ALB
        # publishes its metrics per 60 s, so AWS needs a multiple of 60
        if value not in (10, 20, 30) and value % 60:
            raise ValueError("must be 10, 20, 30 or a multiple of 60 (a CloudWatch period)")
        return value


class EnvConfig(_Model):
    """One environment's settings, fully merged and validated."""

    name: str
    region: str = Field(pattern=r"^[a-z]{2}(-[a-z]+)+-\d+$")
    cluster: str
    service: str
    containers: tuple[str, ...] = Field(min_length=1)
    template: Path
    ecr_repository: str
    smoke_url: str | None = None
    #: ``rolling`` (ECS's rolling update) or a native traffic-shifting strategy.
    strategy: Literal["rolling", "blue-green", "canary", "linear"] = "rolling"
    #: A URL that reaches the new release through the test listener, probed before any
    #: production traffic moves (native strategies only).
    test_url: str | None = None
    #: Request headers the smoke probe sends to ``test_url``: what the test listener rule
    #: matches on (voj: ``{ "X-Rollout-Test" = "1" }``). ``verify`` checks them against the
    #: rule's http-header conditions.
    test_headers: dict[str, str] = Field(default_factory=dict)
    #: Values for ``${NAME}`` in the template when the process environment lacks them.
    vars: dict[str, str] = Field(default_factory=dict)
    #: Other names of this environment in resource names (its own name always counts), for the
    #: ``env: resources belong`` check (docs/configuration.md).
    aliases: tuple[str, ...] = ()
    #: That check: ``require`` (fail), ``warn``, or ``off``.
    isolation: Literal["require", "warn", "off"] = "require"
    timeouts: Timeouts = Timeouts()
    watch: Watch = Watch()
    detection: Detection = Detection()
    bake: Bake = Bake()
    retention: Retention = Retention()
    traffic: Traffic | None = None
    lock: Lock = Lock()
    image_policy: ImagePolicy = ImagePolicy()
    shift: Shift = Shift()
    analysis: Analysis = Analysis()

    @field_validator("containers", "aliases", mode="before")
    @classmethod
    def _split(cls, value: Any) -> Any:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    @field_validator("test_headers", mode="before")
    @classmethod
    def _headers(cls, value: Any) -> Any:
        return check_headers(value)

    @field_validator("smoke_url", "test_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value


# Sections and their keys, for the env-var scheme and messages.
SECTIONS: dict[str, type[_Model]] = {
    "timeouts": Timeouts,
    "watch": Watch,
    "detection": Detection,
    "bake": Bake,
    "retention": Retention,
    "traffic": Traffic,
    "lock": Lock,
    "image_policy": ImagePolicy,
    "shift": Shift,
    "analysis": Analysis,
}
TOP_LEVEL_KEYS = tuple(k for k in EnvConfig.model_fields if k not in SECTIONS and k != "name")
#: Sections that may be absent; ROLLOUT_<SECTION>= (empty, off or none) switches them off.
OPTIONAL_SECTIONS = frozenset({"traffic"})
OFF_VALUES = frozenset({"", "off", "none"})
LIST_KEYS = frozenset({"containers", "aliases", "bake.alarms", "image_policy.registries"})


def _leaf_aliases() -> dict[str, str]:
    """Section keys that are unique across sections: ``poll_interval`` → ``watch.poll_interval``."""
    owners: dict[str, list[str]] = {}
    for section, model in SECTIONS.items():
        for key in model.model_fields:
            owners.setdefault(key, []).append(f"{section}.{key}")
    return {
        key: paths[0]
        for key, paths in owners.items()
        if len(paths) == 1 and key not in TOP_LEVEL_KEYS and key not in SECTIONS
    }


LEAF_ALIASES = _leaf_aliases()


def load_config(
    path: Path | None,
    env: str,
    *,
    environ: Mapping[str, str],
    overrides: Mapping[str, Any] | None = None,
) -> EnvConfig:
    """Load ``env`` from ``path`` (default ``./rollout.toml``), apply variables and overrides.

    ``overrides`` keys are top-level names (``"cluster"``) or dotted (``"watch.poll_interval"``);
    ``None`` values are ignored, so unset flags can be passed straight through.
    """
    path = path or DEFAULT_CONFIG_FILE
    raw = _read_toml(path)
    where = f"{path} [env.{env}]"
    data, origin = _merge_file(raw, path, env)
    _apply_environ(data, origin, environ, where)
    _apply_overrides(data, origin, overrides or {})
    data["name"] = env
    try:
        cfg = EnvConfig.model_validate(data)
    except ValidationError as exc:
        lines = "".join(f"\n  {line}" for line in _describe(exc, origin))
        raise ConfigError(
            f"failed to load {where}:{lines}\n"
            "Fix the value(s) and retry; docs/configuration.md lists every key."
        ) from None
    # The template path is relative to the config file's directory.
    return cfg.model_copy(update={"template": path.parent / cfg.template})


def environments(path: Path | None = None) -> tuple[str, ...]:
    """The environment names defined in the file."""
    path = path or DEFAULT_CONFIG_FILE
    raw = _read_toml(path)
    envs = raw.get("env", {})
    return tuple(envs) if isinstance(envs, dict) else ()


def environment_names(path: Path | None = None) -> dict[str, tuple[str, ...]]:
    """Every environment in the file → its names in resource names: its own, then its
    ``aliases`` (from its table, else ``[defaults]``). Read from the file only."""
    path = path or DEFAULT_CONFIG_FILE
    raw = _read_toml(path)
    envs = raw.get("env")
    found = raw.get("defaults")
    defaults: dict[str, Any] = found if isinstance(found, dict) else {}
    names: dict[str, tuple[str, ...]] = {}
    if not isinstance(envs, dict):
        return names
    for env, table in envs.items():
        aliases = (table if isinstance(table, dict) else {}).get("aliases", defaults.get("aliases"))
        if isinstance(aliases, str):
            aliases = [a.strip() for a in aliases.split(",") if a.strip()]
        names[env] = (env, *(str(a) for a in aliases or ()))
    return names


# -- internals ---------------------------------------------------------------------------------


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            f"failed to load config: {path} does not exist.",
            hint="Run from the repository root, or pass --config PATH.",
        ) from None
    except OSError as exc:
        raise ConfigError(f"failed to load config: cannot read {path}: {exc}.") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"failed to load config: {path} is not UTF-8 text ({exc.reason} at byte {exc.start}).",
            hint="TOML files are UTF-8: save it as UTF-8, or check that --config names the "
            "right file.",
        ) from None
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(
            f"failed to load {path}: not valid TOML: {exc}.",
            hint="Fix the syntax (see docs/configuration.md for an example).",
        ) from None
    unknown = sorted(set(raw) - {"defaults", "env"})
    if unknown:
        raise ConfigError(
            f"failed to load {path}: unknown top-level key(s) {', '.join(unknown)}.",
            hint="Only [defaults] and [env.<name>] tables are allowed at the top level.",
        )
    return raw


def _merge_file(
    raw: Mapping[str, Any], path: Path, env: str
) -> tuple[dict[str, Any], dict[str, str]]:
    envs = raw.get("env")
    if not isinstance(envs, dict) or not envs:
        raise ConfigError(
            f"failed to load {path}: no [env.<name>] table.",
            hint="Add at least one environment, e.g. [env.prod].",
        )
    if env not in envs:
        raise ConfigError(
            f"failed to load {path}: environment {env!r} is not defined "
            f"(defined: {', '.join(sorted(envs))}).",
            hint="Pass --env with one of those names, or add an [env.<name>] table.",
        )
    defaults = raw.get("defaults", {})
    table = envs[env]
    for name, value in (("[defaults]", defaults), (f"[env.{env}]", table)):
        if not isinstance(value, dict):
            raise ConfigError(f"failed to load {path}: {name} must be a table.")
    origin: dict[str, str] = {}
    data: dict[str, Any] = {}
    _deep_merge(data, defaults, origin, f"{path} [defaults]")
    _deep_merge(data, table, origin, f"{path} [env.{env}]")
    if "name" in data:
        raise ConfigError(
            f"failed to load {path} [env.{env}]: key 'name' is not allowed.",
            hint="The environment's name is the table's name.",
        )
    return data, origin


def _deep_merge(
    into: dict[str, Any],
    src: Mapping[str, Any],
    origin: dict[str, str],
    where: str,
    prefix: str = "",
) -> None:
    for key, value in src.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            _deep_merge(into[key], value, origin, where, f"{dotted}.")
        else:
            into[key] = dict(value) if isinstance(value, dict) else value
        origin[dotted] = where


def _set(data: dict[str, Any], dotted: str, value: Any) -> None:
    parts = dotted.split(".")
    node = data
    for part in parts[:-1]:
        child = node.get(part)
        if not isinstance(child, dict):
            child = {}
            node[part] = child
        node = child
    node[parts[-1]] = value


def _env_value(dotted: str, value: str) -> Any:
    if dotted == "test_headers":
        return value  # parsed (and checked) by EnvConfig: "Name: value, Name: value"
    if dotted in LIST_KEYS:
        return tuple(part.strip() for part in value.split(",") if part.strip())
    if value == "" and dotted in {
        "smoke_url",
        "test_url",
        "traffic.hosted_zone_id",
        "traffic.zone_name",
    }:
        return None
    return value


def _apply_environ(
    data: dict[str, Any], origin: dict[str, str], environ: Mapping[str, str], where: str
) -> None:
    for var in sorted(environ):
        if not var.startswith(ENV_PREFIX):
            continue
        key = var[len(ENV_PREFIX) :].lower()
        if "__" in key:
            section, _, leaf = key.partition("__")
            model = SECTIONS.get(section)
            if model is None or leaf not in model.model_fields:
                raise ConfigError(
                    f"failed to load {where}: environment variable {var} names no config key.",
                    hint=f"Sections are {', '.join(SECTIONS)}; see docs/configuration.md.",
                )
            dotted = f"{section}.{leaf}"
        elif key in OPTIONAL_SECTIONS:
            if environ[var].strip().lower() not in OFF_VALUES:
                raise ConfigError(
                    f"failed to load {where}: {var}={environ[var]!r}: a section can only be "
                    "switched off here (empty, 'off' or 'none').",
                    hint=f"Set its keys with {ENV_PREFIX}{key.upper()}__<KEY>.",
                )
            data[key] = None
            origin[key] = f"environment variable {var}"
            continue
        elif key in TOP_LEVEL_KEYS and key != "vars":
            dotted = key
        elif key in LEAF_ALIASES:
            dotted = LEAF_ALIASES[key]
        else:
            continue  # another component's variable (ROLLOUT_RETRY_MODE, ROLLOUT_ENV, ...)
        _set(data, dotted, _env_value(dotted, environ[var]))
        origin[dotted] = f"environment variable {var}"


def _apply_overrides(
    data: dict[str, Any], origin: dict[str, str], overrides: Mapping[str, Any]
) -> None:
    for key, value in overrides.items():
        if value is None:
            continue
        if key in OPTIONAL_SECTIONS and value is False:
            data[key] = None  # switch the section off
            origin[key] = f"flag/override {key!r}"
            continue
        dotted = LEAF_ALIASES.get(key, key)
        _set(data, dotted, value)
        origin[dotted] = f"flag/override {key!r}"


def _describe(exc: ValidationError, origin: Mapping[str, str]) -> list[str]:
    lines = []
    for err in exc.errors():
        loc = [str(p) for p in err["loc"]]
        # Drop pydantic's union/type tags such as "Traffic" or "tuple[str, ...]".
        parts = [p for p in loc if not p[:1].isupper() and "[" not in p and not p.isdigit()]
        dotted = ".".join(parts) or "(root)"
        kind = err["type"]
        if kind == "extra_forbidden":
            text = f"unknown key {dotted!r}"
        elif kind == "missing":
            text = f"missing required key {dotted!r}"
        else:
            shown = err.get("input")
            quiet = isinstance(shown, dict | list) or (parts[:1] and parts[0] in QUIET_KEYS)
            got = "" if quiet else f" (got {shown!r})"
            text = f"key {dotted!r}: {err['msg'].rstrip('.')}{got}"
        source = _origin_of(dotted, origin)
        lines.append(f"{text} [from {source}]" if source else text)
    return lines


def _origin_of(dotted: str, origin: Mapping[str, str]) -> str | None:
    probe = dotted
    while probe:
        if probe in origin:
            return origin[probe]
        probe = probe.rpartition(".")[0]
    return None
