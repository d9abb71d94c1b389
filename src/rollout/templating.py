"""The task-definition template language: ``${NAME}``, ``${NAME:-default}`` and ``<account>``.

Every string value of the template JSON (keys are left alone) may contain:

* ``${NAME}``: a required variable. Rendering fails, naming every missing one, if it is unset.
* ``${NAME:-default}``: the variable, or ``default`` when it is unset or empty (as in the shell).
  The default is literal text; it cannot contain ``}``.
* ``$${`` : a literal ``${`` (escape).

Variables come from the process environment first, then from the environment's ``vars`` table in
rollout.toml. ``NAME`` is ``[A-Za-z_][A-Za-z0-9_]*``. Anything else with a ``$`` is left as is.

Placeholders such as ``<account>`` are filled separately by :func:`fill_placeholders` (the seed's
template writes the account id that way; render fills it from STS GetCallerIdentity).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from rollout.errors import ConfigError

_VAR = re.compile(r"\$\$\{|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
_BAD_VAR = re.compile(r"(?<!\$)\$\{(?![A-Za-z_][A-Za-z0-9_]*(?::-[^}]*)?\})[^}]*\}?")

Lookup = Callable[[str], str | None]


def lookup_from(*sources: Mapping[str, str]) -> Lookup:
    """A lookup that tries each mapping in turn; empty strings count as set."""

    def lookup(name: str) -> str | None:
        for source in sources:
            if name in source:
                return source[name]
        return None

    return lookup


def substitute(text: str, lookup: Lookup, missing: set[str] | None = None) -> str:
    """Expand ``${...}`` in ``text``. Unset required names are added to ``missing`` (and left
    unexpanded); with ``missing`` None they raise :class:`ConfigError` at once."""
    bad = _BAD_VAR.search(text)
    if bad:
        raise ConfigError(
            f"failed to render the template: {bad.group(0)!r} is not a valid variable reference.",
            hint="Write ${NAME} or ${NAME:-default}; NAME is letters, digits and _; "
            "use $${ for a literal ${.",
        )

    def expand(match: re.Match[str]) -> str:
        if match.group(0) == "$${":
            return "${"
        name, default = match.group(1), match.group(2)
        value = lookup(name)
        if default is not None:
            return value if value else default
        if value is None:
            if missing is None:
                raise ConfigError(
                    f"failed to render the template: required variable {name} is not set.",
                    hint=f"Export {name}, or add it to the environment's `vars` in rollout.toml.",
                )
            missing.add(name)
            return match.group(0)
        return value

    return _VAR.sub(expand, text)


def substitute_document(document: Any, lookup: Lookup, *, source: str = "template") -> Any:
    """Expand variables in every string of a JSON document; report all missing names at once."""
    missing: set[str] = set()
    result = _walk(document, lambda s: substitute(s, lookup, missing))
    if missing:
        names = ", ".join(sorted(missing))
        raise ConfigError(
            f"failed to render {source}: required variable(s) not set: {names}.",
            hint="Export them, or add them to the environment's `vars` in rollout.toml "
            "(or give a default: ${NAME:-default}).",
        )
    return result


def contains(document: Any, needle: str) -> bool:
    """Whether any string in the document contains ``needle``."""
    found = False

    def probe(text: str) -> str:
        nonlocal found
        found = found or needle in text
        return text

    _walk(document, probe)
    return found


def fill_placeholders(document: Any, values: Mapping[str, str]) -> Any:
    """Replace each placeholder (e.g. ``"<account>"``) by its value in every string."""

    def fill(text: str) -> str:
        for placeholder, value in values.items():
            text = text.replace(placeholder, value)
        return text

    return _walk(document, fill)


def _walk(node: Any, fn: Callable[[str], str]) -> Any:
    if isinstance(node, str):
        return fn(node)
    if isinstance(node, list):
        return [_walk(item, fn) for item in node]
    if isinstance(node, dict):
        return {key: _walk(value, fn) for key, value in node.items()}
    return node
