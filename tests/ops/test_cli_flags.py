"""The common flags are declared once (``OutputFlags``/``ServiceFlags`` in cli/_common.py) and
``@with_flags`` shows them to typer in place of one ``flags`` parameter: a field added there is a
flag of every command that takes the class, parsed into ``flags``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

import pytest
import typer
import typer.main
from typer.testing import CliRunner

from rollout.cli import _register, app
from rollout.cli._common import CONFIG_HELP, OUTPUT_HELP, OutputFlags, ServiceFlags, with_flags


@dataclass(frozen=True)
class MoreFlags(OutputFlags):
    """The common flags with one more, as a developer would add it."""

    color: Annotated[bool, typer.Option("--color", help="Colour the output.")] = False


def _one_command(command: Any) -> typer.Typer:
    """A throwaway app with ``command`` as its only command (invoked without its name)."""
    local = typer.Typer(add_completion=False)
    local.command()(command)
    return local


def test_the_flags_reach_the_command_as_one_object() -> None:
    """Each common flag is parsed into the command's ``flags``; its own options stay its own."""
    seen: list[tuple[str | None, ServiceFlags]] = []

    @with_flags
    def cmd(
        env: Annotated[str | None, typer.Option("--env")] = None, *, flags: ServiceFlags
    ) -> None:
        seen.append((env, flags))

    argv = ["--env", "staging", "--region", "eu-west-1", "--cluster", "c", "-o", "json", "-qvv"]
    result = CliRunner().invoke(_one_command(cmd), argv)
    assert result.exit_code == 0, result.output
    assert seen == [
        (
            "staging",
            ServiceFlags(region="eu-west-1", cluster="c", output="json", quiet=True, verbose=2),
        )
    ]
    assert seen[0][1].overrides == {"region": "eu-west-1", "cluster": "c", "service": None}
    assert seen[0][1].level == -1  # -q wins over -v


def test_a_field_added_to_the_flags_is_a_flag_of_the_command() -> None:
    """Adding a common flag is one field: the command shows it (in the flags' place, after its
    own options) and receives its value."""
    seen: list[MoreFlags] = []

    @with_flags
    def cmd(name: Annotated[str, typer.Option("--name")] = "x", *, flags: MoreFlags) -> None:
        seen.append(flags)

    local = _one_command(cmd)
    opts = [p.opts[0] for p in typer.main.get_command(local).params]
    assert opts == ["--name", "--output", "--quiet", "--verbose", "--color"]
    result = CliRunner().invoke(local, ["--color", "-o", "plain"])
    assert result.exit_code == 0, result.output
    assert seen == [MoreFlags(output="plain", color=True)]
    assert "Colour the output." in CliRunner().invoke(local, ["--help"]).output


def test_a_default_instance_sets_the_flags_defaults() -> None:
    """``flags: ServiceFlags = ServiceFlags(output="json")``: -o defaults to json there only."""
    seen: list[ServiceFlags] = []

    @with_flags
    def cmd(*, flags: ServiceFlags = ServiceFlags(output="json")) -> None:  # noqa: B008
        seen.append(flags)

    assert CliRunner().invoke(_one_command(cmd), []).exit_code == 0
    assert seen == [ServiceFlags(output="json")]


def test_a_parameter_named_like_a_common_flag_is_refused() -> None:
    """A command declaring its own ``--output`` beside the common one is a mistake caught when
    the module is imported, not a silently shadowed flag."""
    with pytest.raises(TypeError, match="common flag"):

        @with_flags
        def cmd(output: str = "auto", *, flags: OutputFlags) -> None:
            """Never registered."""


def _commands() -> dict[str, Any]:
    _register()
    found: dict[str, Any] = {}

    def walk(prefix: str, cmd: Any) -> None:
        for name, sub in getattr(cmd, "commands", {}).items():
            full = f"{prefix} {name}".strip()
            if hasattr(sub, "commands"):
                walk(full, sub)
            else:
                found[full] = sub

    walk("", typer.main.get_command(app))
    return found


def _help(cmd: Any, flag: str) -> str | None:
    return next((p.help for p in cmd.params if flag in getattr(p, "opts", ())), None)


@pytest.mark.parametrize("name", sorted(_commands()))
def test_every_command_takes_the_shared_declarations(name: str) -> None:
    """-o/-q/-v on every command, and --config/--region/--cluster/--service on every command
    that talks to a service, come from the shared declarations (same help text), not from a
    copy that could drift. (``init`` writes a config for a service it names: its flags differ.)"""
    cmd = _commands()[name]
    assert _help(cmd, "--output") == OUTPUT_HELP
    if _help(cmd, "--env") is not None and name not in {"init", "sandbox provision"}:
        assert _help(cmd, "--config") == CONFIG_HELP
        assert _help(cmd, "--region") == "Override `region`."
        assert _help(cmd, "--service") == "Override `service`."
