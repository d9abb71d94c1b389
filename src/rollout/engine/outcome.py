"""What a verb returns: the verdict, its exit code, and the details the report needs."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Outcome:
    verdict: str
    exit_code: int
    reason: str | None = None
    deployment_id: str | None = None
    task_definition_arn: str | None = None
    rollback_target_arn: str | None = None
    details: Mapping[str, Any] = field(default_factory=dict)
