"""``rollout logs``: which CloudWatch Logs streams hold what was asked for, and since when. Pure.

- ``--since 10m`` (``s``, ``m``, ``h``, ``d``; or an ISO 8601 time) → a start time;
- ``--task ID`` → the stream ``prefix/container/ID`` (found even long after the task stopped);
- ``--revision N`` → the streams of the tasks of revision N that ECS still lists (running, and
  stopped ones while ECS keeps them: at least an hour);
- neither → every stream under ``prefix/container/`` (every task, however old).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from rollout.decisions.oneoff import LogStream, awslogs_stream, container_definition
from rollout.model import Task

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$")
_UNITS = {"": 1.0, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def parse_since(value: str, now: float) -> float:
    """The start time (epoch seconds) for ``--since``: a duration back from ``now`` (``90s``,
    ``10m``, ``2h``, ``1d``; a bare number is seconds) or an ISO 8601 time (``2026-12-07T09:00Z``;
    without a zone it is UTC). Raises ValueError with the accepted forms."""
    m = _DURATION.match(value)
    if m:
        return now - float(m.group(1)) * _UNITS[m.group(2)]
    try:
        text = value.strip().replace("Z", "+00:00").replace("z", "+00:00")
        at = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(
            f"--since {value!r} is neither a duration (30s, 10m, 2h, 1d) nor an ISO 8601 time "
            "(2026-12-07T09:00:00Z)"
        ) from None
    if at.tzinfo is None:
        from datetime import UTC

        at = at.replace(tzinfo=UTC)
    return at.timestamp()


@dataclass(frozen=True)
class Selection:
    """Where to read: a log group, and either named streams or a stream-name prefix."""

    group: str
    region: str | None
    streams: tuple[str, ...] = ()
    prefix: str | None = None
    #: stream name → task id, for labelling lines
    tasks: Mapping[str, str] | None = None


def stream_prefix(document: Mapping[str, Any], container: str) -> LogStream | None:
    """The group and ``prefix/container/`` stream-name prefix of ``container``'s awslogs."""
    probe = awslogs_stream(document, container, "")
    if probe is None:
        return None
    return LogStream(probe.group, probe.stream, probe.region)  # ends with "/"


def select_streams(
    document: Mapping[str, Any],
    container: str | None,
    *,
    task_id: str | None = None,
    tasks: Iterable[Task] | None = None,
    revision_arn: str | None = None,
) -> Selection | None:
    """The streams to read for one task, the tasks of one revision, or every task.

    ``document`` is the task definition whose log configuration applies (the revision asked
    for, or the one in service). None when the container does not log with awslogs + a prefix.
    """
    name = str(container_definition(document, container).get("name"))
    base = stream_prefix(document, name)
    if base is None:
        return None
    if task_id is not None:
        stream = f"{base.stream}{task_id}"
        return Selection(base.group, base.region, streams=(stream,), tasks={stream: task_id})
    if tasks is not None:
        chosen = sorted(
            {
                f"{base.stream}{t.id}": t.id
                for t in tasks
                if revision_arn is None or t.task_definition == revision_arn
            }.items()
        )
        return Selection(
            base.group, base.region, streams=tuple(s for s, _ in chosen), tasks=dict(chosen)
        )
    return Selection(base.group, base.region, prefix=base.stream)
