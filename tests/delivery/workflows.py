"""Read GitHub Actions workflows the way the runner would, enough to run their `rollout` steps.

- :func:`load_workflow` parses a workflow file (YAML 1.1 turns the key ``on`` into ``True``;
  it is put back).
- :func:`evaluate` / :func:`substitute` evaluate ``${{ ... }}`` expressions against a context
  (``needs``, ``inputs``, ``env``, ``github``, ``steps``...) with GitHub's rules: a missing
  property is null (rendered ``''``), ``a && b`` yields ``b`` when ``a`` is truthy else ``a``,
  ``a || b`` yields ``a`` when truthy else ``b``, ``==`` compares case-insensitively for strings.
- :func:`rollout_steps` finds the ``run:`` steps that call ``rollout``, and
  :func:`step_environment` builds the environment Actions gives such a step (workflow, job and
  step ``env``, each evaluated in order).
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

EXPRESSION = re.compile(r"\$\{\{\s*(.*?)\s*\}\}", re.DOTALL)
TOKEN = re.compile(
    r"\s*(?:(?P<str>'(?:[^']|'')*')|(?P<num>-?\d+(?:\.\d+)?)|(?P<op>&&|\|\||==|!=|!|\(|\)|,)"
    r"|(?P<ident>[A-Za-z_][A-Za-z0-9_-]*(?:\.[A-Za-z_*][A-Za-z0-9_-]*)*))"
)


def load_workflow(path: Path) -> dict[str, Any]:
    """The workflow as a mapping, with ``on`` restored as a string key."""
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    if True in data:
        data["on"] = data.pop(True)
    return dict(data)


class ExpressionError(ValueError):
    """An expression this small evaluator does not understand."""


def _tokens(expr: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    pos = 0
    expr = expr.strip()
    while pos < len(expr):
        match = TOKEN.match(expr, pos)
        if not match or match.end() == pos:
            raise ExpressionError(f"cannot parse {expr[pos:]!r} in {expr!r}")
        kind = match.lastgroup or ""
        out.append((kind, match.group(kind)))
        pos = match.end()
    return out


def _truthy(value: Any) -> bool:
    return value not in (None, "", 0, False)


def _lookup(path: str, context: Mapping[str, Any]) -> Any:
    value: Any = context
    for part in path.split("."):
        if isinstance(value, Mapping) and part in value:
            value = value[part]
        else:
            return None
    return value


def _render(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class _Parser:
    def __init__(self, expr: str, context: Mapping[str, Any]) -> None:
        self.tokens = _tokens(expr)
        self.pos = 0
        self.context = context
        self.expr = expr

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self, value: str | None = None) -> tuple[str, str]:
        token = self.peek()
        if token is None or (value is not None and token[1] != value):
            raise ExpressionError(f"expected {value or 'a value'} in {self.expr!r}")
        self.pos += 1
        return token

    def parse(self) -> Any:
        value = self.or_expr()
        if self.peek() is not None:
            raise ExpressionError(f"unexpected {self.peek()} in {self.expr!r}")
        return value

    def or_expr(self) -> Any:
        value = self.and_expr()
        while self.peek() == ("op", "||"):
            self.take()
            right = self.and_expr()
            value = value if _truthy(value) else right
        return value

    def and_expr(self) -> Any:
        value = self.comparison()
        while self.peek() == ("op", "&&"):
            self.take()
            right = self.comparison()
            value = right if _truthy(value) else value
        return value

    def comparison(self) -> Any:
        left = self.unary()
        token = self.peek()
        if token in (("op", "=="), ("op", "!=")):
            self.take()
            right = self.unary()
            equal = _render(left).lower() == _render(right).lower()
            return equal if token == ("op", "==") else not equal
        return left

    def unary(self) -> Any:
        if self.peek() == ("op", "!"):
            self.take()
            return not _truthy(self.unary())
        return self.atom()

    def atom(self) -> Any:
        kind, text = self.take()
        if kind == "str":
            return text[1:-1].replace("''", "'")
        if kind == "num":
            return float(text) if "." in text else int(text)
        if (kind, text) == ("op", "("):
            value = self.or_expr()
            self.take(")")
            return value
        if kind == "ident":
            if self.peek() == ("op", "("):
                return self.call(text)
            if text in ("true", "false"):
                return text == "true"
            if text == "null":
                return None
            return _lookup(text, self.context)
        raise ExpressionError(f"unexpected {text!r} in {self.expr!r}")

    def call(self, name: str) -> Any:
        self.take("(")
        args: list[Any] = []
        while self.peek() != ("op", ")"):
            args.append(self.or_expr())
            if self.peek() == ("op", ","):
                self.take()
        self.take(")")
        if name == "format":
            text = _render(args[0])
            for index, arg in enumerate(args[1:]):
                text = text.replace("{" + str(index) + "}", _render(arg))
            return text
        raise ExpressionError(f"function {name}() is not supported")


def evaluate(expr: str, context: Mapping[str, Any]) -> Any:
    """Evaluate one expression (the text between ``${{`` and ``}}``)."""
    return _Parser(expr, context).parse()


def substitute(text: str, context: Mapping[str, Any]) -> str:
    """Replace every ``${{ ... }}`` in ``text`` by its rendered value, as Actions does."""
    return EXPRESSION.sub(lambda match: _render(evaluate(match.group(1), context)), text)


def expressions(text: str) -> list[str]:
    """The expressions inside ``${{ }}`` in ``text``."""
    return [match.group(1) for match in EXPRESSION.finditer(text)]


@dataclass(frozen=True)
class RunStep:
    """A ``run:`` step of a job."""

    workflow: str
    job: str
    name: str
    id: str | None
    run: str
    env: Mapping[str, str]


def run_steps(workflow: Mapping[str, Any], name: str = "") -> list[RunStep]:
    """Every ``run:`` step of every job, in order."""
    out: list[RunStep] = []
    for job_id, job in workflow.get("jobs", {}).items():
        for index, step in enumerate(job.get("steps", [])):
            if "run" in step:
                out.append(
                    RunStep(
                        workflow=name,
                        job=str(job_id),
                        name=str(step.get("name", f"step {index}")),
                        id=step.get("id"),
                        run=str(step["run"]),
                        env={str(k): str(v) for k, v in step.get("env", {}).items()},
                    )
                )
    return out


def rollout_commands(script: str) -> list[list[str]]:
    """The ``rollout ...`` command lines in a shell script, as argument lists from ``rollout``
    (run directly or through ``uv run``; other mentions of the word are not commands)."""
    out: list[list[str]] = []
    for line in script.splitlines():
        try:
            words = shlex.split(line, comments=True)
        except ValueError:
            continue
        start = _rollout_position(words)
        if start is not None:
            out.append(words[start:])
    return out


def _rollout_position(words: list[str]) -> int | None:
    """Where the ``rollout`` command starts: first word, or right after ``uv run [--flags]``."""
    if words[:1] == ["rollout"]:
        return 0
    if words[:2] == ["uv", "run"]:
        for index in range(2, len(words)):
            if not words[index].startswith("-"):
                return index if words[index] == "rollout" else None
    return None


def rollout_steps(workflow: Mapping[str, Any], name: str = "") -> list[RunStep]:
    """The ``run:`` steps that call the ``rollout`` CLI."""
    return [step for step in run_steps(workflow, name) if rollout_commands(step.run)]


def step_environment(
    workflow: Mapping[str, Any], step: RunStep, context: Mapping[str, Any]
) -> dict[str, str]:
    """The ``env`` Actions gives ``step``: workflow, then job, then step level, each level's
    expressions evaluated with the ``env`` built so far (plus ``context``)."""
    env: dict[str, str] = {}
    levels = [
        workflow.get("env", {}),
        workflow["jobs"][step.job].get("env", {}),
        step.env,
    ]
    for level in levels:
        for key, value in level.items():
            scope = {**context, "env": {**context.get("env", {}), **env}}
            env[str(key)] = substitute(str(value), scope)
    return env
