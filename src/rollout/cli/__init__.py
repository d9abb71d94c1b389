"""Command line: parse flags into options, call one verb, map the outcome to an exit code.

Each group of commands lives in its own module below and registers itself on :data:`app`;
none of them holds logic beyond parsing and dispatching.
"""

from __future__ import annotations

import typer

from rollout import __version__

app = typer.Typer(
    name="rollout",
    help="Ship a container to ECS Fargate behind an ALB; roll back fast when a release goes bad.",
    no_args_is_help=True,
    add_completion=True,  # rollout --install-completion / --show-completion
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"rollout {__version__}")
        raise typer.Exit(0)


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """rollout: deploy, verify, watch and roll back ECS services."""


def _register() -> None:
    """Import the command modules; each adds its commands to ``app``."""
    import importlib
    import pkgutil

    for mod in pkgutil.iter_modules(__path__):
        if not mod.name.startswith("_"):
            importlib.import_module(f"{__name__}.{mod.name}")


def main() -> None:
    _register()
    app()
