"""The process entry point: ``app.main:app`` builds the application from the environment.

gunicorn (``gunicorn app.main:app ...``) and uvicorn look up the attribute ``app``; this module
builds it on that first lookup (a module ``__getattr__``), not at import, so importing
``app.main`` needs no environment and creates no clients. :func:`build` is the same thing as a
factory (``uvicorn --factory app.main:build``).

Bad settings end the process with status 3 after printing one line per bad variable to stderr.
Under gunicorn the master builds the app (``preload_app`` in ``gunicorn.conf.py``), so the master
itself exits; without preloading, status 3 from a worker is gunicorn's "worker failed to boot",
which halts the master too.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING

from app.settings import EXIT_BAD_SETTINGS, Settings, SettingsError, load_settings

if TYPE_CHECKING:
    from app.edge import HealthFirst

_built: dict[str, HealthFirst] = {}


def settings_or_exit(environ: Mapping[str, str] | None = None) -> Settings:
    """Load settings, or print why not (one line per variable) and exit with status 3."""
    try:
        return load_settings(environ)
    except SettingsError as exc:
        print("voj: refusing to start, invalid settings:", file=sys.stderr)
        for line in exc.lines():
            print(f"  {line}", file=sys.stderr)
        sys.stderr.flush()
        raise SystemExit(EXIT_BAD_SETTINGS) from None


def build(environ: Mapping[str, str] | None = None) -> HealthFirst:
    """The application for this process's environment (JSON logging configured).

    It is ``create_app(settings)`` behind :class:`app.edge.HealthFirst`; the FastAPI app is its
    ``.app``.
    """
    settings = settings_or_exit(environ)  # first: a bad configuration fails before heavy imports

    from app.api import create_app
    from app.edge import HealthFirst
    from app.logs import configure_logging

    configure_logging(settings.LOG_LEVEL)
    return HealthFirst(create_app(settings))


def __getattr__(name: str) -> HealthFirst:
    if name != "app":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    if "app" not in _built:
        _built["app"] = build()
    return _built["app"]
