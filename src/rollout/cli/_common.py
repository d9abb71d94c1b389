"""What every command module shares: the flags, help texts, the environment name, and running
one verb.

The flags every command takes are declared once, as the fields of :class:`OutputFlags` (``-o``,
``-q``, ``-v``) and :class:`ServiceFlags` (those plus ``--config/--region/--cluster/--service``);
a command takes them as one parameter, ``flags: ServiceFlags``, and :func:`with_flags` shows
typer the fields in its place. ``ServiceFlags.run`` (through :func:`run_verb`) builds the
:class:`~rollout.context.Context` (the config's region, the system clock, a reporter for the
chosen output), runs the verb, prints a :class:`RolloutError` as one line (never a traceback) and
exits with the outcome's code.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import math
import os
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, NoReturn, Protocol, TypeVar, get_type_hints

import typer

from rollout.aws import ClientFactory
from rollout.clock import SystemClock
from rollout.config import load_config
from rollout.context import Context
from rollout.engine.interrupt import Interrupt
from rollout.engine.outcome import Outcome
from rollout.errors import RolloutError, UsageError
from rollout.events import Event, EventSink
from rollout.report import OUTPUTS, Reporter, open_reporter

ENV_HELP = "Environment in rollout.toml ([env.<name>]); default $ROLLOUT_ENV or prod."
OUTPUT_HELP = (
    "Output format: auto (console on a TTY, plain otherwise), console, plain (text lines, "
    "no box tables) or json."
)
CONFIG_HELP = "Path to rollout.toml (default ./rollout.toml)."
IMAGE_HELP = (
    "Image: a full OCI reference (registry/repository[:tag][@sha256:...]), or a bare tag "
    "(sha-1a2b3c4) or digest (sha256:...) in the configured ECR repository."
)
IMAGE_POLICY_OVERRIDE_HELP = (
    "Deploy an image the environment's image policy rejects (registry not allowed, or not "
    "pinned by digest). REASON is logged in the events, the JSON result and the revision's tags."
)


# -- The CLI's conventions (tests/ops/test_cli_conventions.py walks every command and checks them;
# a new verb declares its own options with these aliases, takes the common ones as one
# ``flags: ServiceFlags`` (or ``OutputFlags``) parameter under ``@with_flags``, and runs its verb
# with ``flags.run``):
#
# * ``-o/--output FORMAT`` is the output format on every verb: auto | console | plain | json.
#   A file to write is ``--out-file PATH`` (render), never ``--output``.
# * ``-q/--quiet`` and ``-v/--verbose`` on every verb (``run_verb`` maps them to the reporter).
# * Every verb that takes ``--env`` (it talks to a service) also takes ``--region``, ``--cluster``
#   and ``--service``, and ``--config`` (all in ``ServiceFlags``); ``ServiceFlags.overrides``
#   turns them into config overrides, which ``run_verb`` puts in ``Context.overrides``. A verb
#   loads its config with ``ctx.load_env(options.env)``, never ``load_config`` directly, so the
#   flags always apply.
# * ``--dry-run`` on every verb that writes; ``--timeout SECONDS`` on every verb that waits.
# * ``--image`` takes ``ImageOpt``; it is checked against the OCI reference grammar before any
#   AWS call (``check_image_flag``: a usage error, exit 2).
# * Every number a flag or argument takes is range-checked while the command line is parsed,
#   before any AWS call: ``bounded_option(FLAG, <Bounds>, help=...)`` (or
#   ``callback=bounded(FLAG, <Bounds>)``) with one of the bounds below, or a click range
#   (``min=``/``max=``). A usage error, exit 2; non-finite numbers (nan, inf) never
#   pass.


@dataclass(frozen=True)
class Bounds:
    """What a numeric flag accepts: a finite number from ``low`` (excluded if ``low_open``) to
    ``high``, described to the user as ``what``."""

    what: str
    low: float | None = None
    high: float | None = None
    low_open: bool = False

    def problem(self, value: float) -> str | None:
        """Why ``value`` is out of bounds (None: it is fine)."""
        if not math.isfinite(value):
            return f"it must be {self.what} (got {value})"
        if self.low is not None and (value <= self.low if self.low_open else value < self.low):
            return f"it must be {self.what} (got {value:g})"
        if self.high is not None and value > self.high:
            return f"it must be {self.what} (got {value:g})"
        return None


SECONDS = Bounds("a positive number of seconds", low=0, low_open=True)
REVISION = Bounds("a revision number, 1 or more", low=1)
AT_LEAST_ONE = Bounds("a whole number, 1 or more", low=1)
NOT_NEGATIVE = Bounds("a whole number, 0 or more", low=0)
NICE = Bounds("a whole number from 0 to 19", low=0, high=19)
#: ECS's default quota of tasks per service (UNVERIFIED for raised quotas: the engine re-checks).
TASK_COUNT = Bounds("a task count from 0 to 5000", low=0, high=5000)
PACE = Bounds("a number of seconds from 0 to 60", low=0, high=60)


def bounded(flag: str, bounds: Bounds) -> Callable[[Any], Any]:
    """A typer callback that rejects a value of ``flag`` outside ``bounds`` with a usage error
    (exit 2) while the command line is parsed, so nothing runs; None (not given) passes."""

    def callback(value: Any) -> Any:
        if value is None or isinstance(value, bool):
            return value
        problem = bounds.problem(float(value))
        if problem is not None:
            raise usage_exit(UsageError(f"failed to parse {flag}: {problem}."))
        return value

    callback.bounds = bounds  # type: ignore[attr-defined]  # the conventions test reads it
    return callback


def bounded_option(flag: str, bounds: Bounds, *, help: str) -> Any:
    """The typer option ``flag`` whose value ``bounds`` checks while it is parsed (``bounded``),
    for ``Annotated[float | None, bounded_option("--timeout", SECONDS, help=...)]``."""
    return typer.Option(flag, help=help, callback=bounded(flag, bounds))


EnvOpt = Annotated[str | None, typer.Option("--env", help=ENV_HELP)]
ConfigOpt = Annotated[Path | None, typer.Option("--config", help=CONFIG_HELP)]
OutputOpt = Annotated[str, typer.Option("--output", "-o", help=OUTPUT_HELP)]
QuietOpt = Annotated[
    bool, typer.Option("--quiet", "-q", help="Only warnings, errors and the verdict.")
]
VerboseOpt = Annotated[
    int, typer.Option("--verbose", "-v", count=True, help="Also show debug events (polls).")
]
RegionOpt = Annotated[str | None, typer.Option("--region", help="Override `region`.")]
ClusterOpt = Annotated[str | None, typer.Option("--cluster", help="Override `cluster`.")]
ServiceOpt = Annotated[str | None, typer.Option("--service", help="Override `service`.")]
DryRunOpt = Annotated[
    bool, typer.Option("--dry-run", help="Walk the same path; print each write, send none.")
]
ImageOpt = Annotated[str | None, typer.Option("--image", help=IMAGE_HELP)]


def _override_reason(value: str | None) -> str | None:
    """``--image-policy-override REASON``: a reason someone can read later, or a usage error
    (an empty or blank REASON was ignored, or accepted as an override that says nothing)."""
    if value is not None and not value.strip():
        raise usage_exit(
            UsageError(
                "failed to parse --image-policy-override: REASON is blank.",
                hint="Say why the policy is overridden, e.g. --image-policy-override "
                "'hotfix from the vendor registry, INC-123'; it is logged and tagged on the "
                "revision.",
            )
        )
    return value.strip() if value is not None else None


ImagePolicyOverrideOpt = Annotated[
    str | None,
    typer.Option(
        "--image-policy-override",
        metavar="REASON",
        help=IMAGE_POLICY_OVERRIDE_HELP,
        callback=_override_reason,
    ),
]
OutFileOpt = Annotated[
    Path | None, typer.Option("--out-file", help="Write the result to this file.")
]
NoRollbackOpt = Annotated[
    bool, typer.Option("--no-rollback", help="On failure, leave the service as it is.")
]
RollbackOnTimeoutOpt = Annotated[
    bool,
    typer.Option(
        "--rollback-on-timeout",
        help="On TIMED_OUT, roll back too (default: leave ECS and its breaker to carry on).",
    ),
]


# -- The flags every command shares, declared once ------------------------------------------------
# A new common flag is one field here: every command that takes the class shows it in its --help
# (in the field's place) and finds it on ``flags``.


@dataclass(frozen=True)
class OutputFlags:
    """``-o/--output``, ``-q/--quiet`` and ``-v/--verbose``: on every command."""

    output: OutputOpt = "auto"
    quiet: QuietOpt = False
    verbose: VerboseOpt = 0

    @property
    def level(self) -> int:
        """The reporter's verbosity: -1 quiet, 0 normal, 1+ verbose."""
        return verbosity(self.quiet, self.verbose)


@dataclass(frozen=True)
class _TargetFlags:
    """``--config`` and the ``--region/--cluster/--service`` overrides."""

    config: ConfigOpt = None
    region: RegionOpt = None
    cluster: ClusterOpt = None
    service: ServiceOpt = None


class _HasEnv(Protocol):
    @property
    def env(self) -> str: ...


OptionsT = TypeVar("OptionsT", bound=_HasEnv)
OptionsT_contra = TypeVar("OptionsT_contra", bound=_HasEnv, contravariant=True)


class Verb(Protocol[OptionsT_contra]):
    """A verb's ``run(options, ctx)``."""

    def __call__(self, options: OptionsT_contra, ctx: Context, /) -> Outcome: ...


class InterruptibleVerb(Protocol[OptionsT_contra]):
    """A verb's ``run(options, ctx, *, interrupt=...)``: it stops cleanly when interrupted."""

    def __call__(
        self, options: OptionsT_contra, ctx: Context, /, *, interrupt: Interrupt | None = ...
    ) -> Outcome: ...


@dataclass(frozen=True)
class ServiceFlags(OutputFlags, _TargetFlags):
    """The flags of every command that talks to a service (every one with ``--env``):
    ``--config``, ``--region``, ``--cluster``, ``--service``, then ``-o``, ``-q`` and ``-v``
    (dataclass fields come base last first: ``_TargetFlags``'s, then ``OutputFlags``')."""

    @property
    def overrides(self) -> dict[str, Any]:
        """``--region/--cluster/--service`` as config overrides (None: not given)."""
        return service_overrides(self.region, self.cluster, self.service)

    def run(self, verb: Verb[OptionsT], options: OptionsT) -> NoReturn:
        """Run ``verb(options, ctx)`` with these flags (:func:`run_verb`); exit with its code."""
        self._run_verb(lambda ctx: verb(options, ctx), options.env)

    def run_interruptible(
        self,
        verb: InterruptibleVerb[OptionsT],
        options: OptionsT,
        *,
        json_lines: frozenset[str] = frozenset(),
    ) -> NoReturn:
        """Like :meth:`run`, with SIGINT and SIGTERM routed to the verb's interrupt flag while it
        runs, so it stops cleanly (exit 40) instead of dying in the middle of a write."""
        interrupt = Interrupt()
        self._run_verb(
            lambda ctx: verb(options, ctx, interrupt=interrupt),
            options.env,
            interrupt=interrupt,
            json_lines=json_lines,
        )

    def _run_verb(
        self,
        call: Callable[[Context], Outcome],
        env: str,
        *,
        interrupt: Interrupt | None = None,
        json_lines: frozenset[str] = frozenset(),
    ) -> NoReturn:
        run_verb(
            call,
            env=env,
            config=self.config,
            output=self.output,
            interrupt=interrupt,
            overrides=self.overrides,
            quiet=self.quiet,
            verbose=self.verbose,
            json_lines=json_lines,
        )


def with_flags(command: Callable[..., None]) -> Callable[..., None]:
    """Show typer each ``OutputFlags``/``ServiceFlags`` parameter of ``command`` as the flags it
    holds, in its place; call ``command`` with them gathered back into one object.

    The parameter's default (if any) is an instance of the class whose values are the flags'
    defaults (e.g. ``ServiceFlags(output="json")``); without one, the class's defaults apply.
    Apply it below ``@app.command``: typer reads the signature this returns.
    """
    signature = inspect.signature(command, eval_str=True)
    params: list[inspect.Parameter] = []
    groups: dict[str, tuple[type[OutputFlags], list[str]]] = {}
    for param in signature.parameters.values():
        kind = param.annotation
        if not (isinstance(kind, type) and issubclass(kind, OutputFlags)):
            params.append(param.replace(kind=inspect.Parameter.KEYWORD_ONLY))
            continue
        defaults = kind() if param.default is inspect.Parameter.empty else param.default
        hints = get_type_hints(kind, include_extras=True)
        names = [field.name for field in dataclasses.fields(kind)]
        params += [
            inspect.Parameter(
                name,
                inspect.Parameter.KEYWORD_ONLY,
                default=getattr(defaults, name),
                annotation=hints[name],
            )
            for name in names
        ]
        groups[param.name] = (kind, names)
    taken = [p.name for p in params]
    if len(set(taken)) != len(taken):
        raise TypeError(f"{command.__name__}: a parameter has the name of a common flag")

    @functools.wraps(command)
    def expanded(**values: Any) -> None:
        for name, (kind, names) in groups.items():
            values[name] = kind(**{flag: values.pop(flag) for flag in names})
        command(**values)

    expanded.__signature__ = signature.replace(parameters=params)  # type: ignore[attr-defined]
    expanded.__annotations__ = {p.name: p.annotation for p in params}
    return expanded


def service_overrides(
    region: str | None, cluster: str | None, service: str | None
) -> dict[str, Any]:
    """The ``--region/--cluster/--service`` flags as config overrides (None: not given)."""
    return {"region": region, "cluster": cluster, "service": service}


def verbosity(quiet: bool, verbose: int) -> int:
    """-1 quiet, 0 normal, 1+ verbose (``-q`` wins over ``-v``)."""
    return -1 if quiet else verbose


def usage_exit(exc: RolloutError) -> typer.Exit:
    """Print ``exc`` as one ``error:`` line; the Exit to raise with its code."""
    typer.echo(f"error: {exc}", err=True)
    return typer.Exit(exc.exit_code)


def check_output(output: str, verb: str) -> str:
    """``output`` if it is a known format, else a usage error (exit 2) naming the formats. For
    commands that print a document instead of running a reporter (``run_verb`` checks its own);
    ``text`` (verify's old name for plain) is accepted."""
    if output == "text":
        return "plain"
    if output not in OUTPUTS:
        raise usage_exit(
            UsageError(
                f"failed to {verb}: unknown --output {output!r}.",
                hint=f"Use one of: {', '.join(OUTPUTS)}.",
            )
        )
    return output


def check_timeout(timeout: float | None, flag: str = "--timeout") -> None:
    """A timeout flag must be a positive, finite number of seconds (usage error, exit 2). For
    callers outside the command line; options use ``callback=bounded(flag, SECONDS)``."""
    bounded(flag, SECONDS)(timeout)


def check_image_flag(image: str | None) -> None:
    """Reject an ``--image`` that is not an image reference before anything else runs (exit 2).

    Bare shorthands (a tag, or ``sha256:<hex>``) are checked as such; anything else must match
    the OCI distribution reference grammar (:mod:`rollout.decisions.reference`).
    """
    from rollout.verbs.render import check_image

    try:
        check_image(image)
    except UsageError as exc:
        raise usage_exit(exc) from None


@contextmanager
def without_user_aws_config() -> Iterator[None]:
    """For the commands that only talk to a sandbox (demo, sandbox up, sandbox provision): the
    user's AWS profile and config files are out of sight while they run.

    The sandbox signs with dummy keys and never needs them, but moto reads the AWS config when it
    is imported, and botocore when a client is made, so `AWS_PROFILE=<missing>` or an unparsable
    ~/.aws/config would stop a command that has nothing to do with the user's account.
    """
    names = ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE")
    saved = {name: os.environ.get(name) for name in names}
    for name in names[:2]:
        os.environ.pop(name, None)
    os.environ["AWS_CONFIG_FILE"] = os.devnull
    os.environ["AWS_SHARED_CREDENTIALS_FILE"] = os.devnull
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def env_name(env: str | None) -> str:
    return env or os.environ.get("ROLLOUT_ENV") or "prod"


def make_context(
    config: Path | None,
    env: str,
    *,
    environ: Mapping[str, str],
    emit: EventSink,
    overrides: Mapping[str, Any] | None = None,
) -> Context:
    """Load the environment's config and build the Context a verb runs with.

    ``overrides`` (the ``--region/--cluster/--service`` flags) are kept in the Context, so the
    verb's own ``ctx.load_env`` sees them too; the region also picks the clients' region.
    """
    given = {k: v for k, v in (overrides or {}).items() if v is not None}
    cfg = load_config(config, env, environ=environ, overrides=given)
    return Context(
        factory=ClientFactory.from_env(region=cfg.region),
        clock=SystemClock(),
        emit=emit,
        config_path=config,
        environ=dict(environ),
        overrides=given,
    )


def open_or_exit(
    output: str,
    *,
    environ: Mapping[str, str],
    level: int = 0,
    json_lines: frozenset[str] = frozenset(),
) -> Reporter:
    """A reporter for ``output`` on stdout; an unknown format: the ``error:`` line, exit 2."""
    try:
        return open_reporter(
            output, stream=sys.stdout, environ=environ, verbosity=level, json_lines=json_lines
        )
    except RolloutError as exc:
        raise usage_exit(exc) from exc


def report_and_exit(reporter: Reporter, call: Callable[[], Outcome]) -> NoReturn:
    """Run ``call``; close ``reporter``; exit with the outcome's code. A :class:`RolloutError`
    is printed as one ``error:`` line (never a traceback) and becomes the exit code."""
    code = 1
    try:
        code = call().exit_code
    except RolloutError as exc:
        typer.echo(f"error: {exc}", err=True)
        code = exc.exit_code
        # the JSON result and the CI summary say why the run ended without a verdict; the
        # message is printed once (the line above), so the renderers do not show it again
        reporter.record(
            Event(
                "error",
                time.time(),
                str(exc),
                level="error",
                data={"error": type(exc).__name__, "exit_code": exc.exit_code},
            )
        )
    finally:
        reporter.close()
    raise typer.Exit(code)


def run_verb(
    call: Callable[[Context], Outcome],
    *,
    env: str,
    config: Path | None,
    output: str,
    interrupt: Interrupt | None = None,
    overrides: Mapping[str, Any] | None = None,
    quiet: bool = False,
    verbose: int = 0,
    json_lines: frozenset[str] = frozenset(),
) -> NoReturn:
    """Run ``call`` with a fresh Context and reporter; exit with its outcome's code.

    With ``interrupt``, SIGINT and SIGTERM set its flag while the verb runs, so the engine stops
    cleanly (exit 40) instead of dying in the middle of a write. ``json_lines``: with ``-o json``,
    one document per event of these kinds as it happens (``status --watch``).
    """
    environ = dict(os.environ)
    reporter = open_or_exit(
        output, environ=environ, level=verbosity(quiet, verbose), json_lines=json_lines
    )

    def run() -> Outcome:
        ctx = make_context(config, env, environ=environ, emit=reporter, overrides=overrides)
        if interrupt is None:
            return call(ctx)
        with interrupt.handle_signals():
            return call(ctx)

    report_and_exit(reporter, run)
