"""CloudWatch Logs queries the way CloudWatch Logs answers them.

moto 5.2.5's ``FilterLogEvents`` ignores ``logStreamNamePrefix``: it answers every stream of
the group, so ``aws logs tail --log-stream-name-prefix api/api/<task>`` and ``rollout logs
--task`` would show other tasks' lines. :func:`install` patches moto once per process so the
prefix selects the streams, and asking for both ``logStreamNames`` and ``logStreamNamePrefix``
is an ``InvalidParameterException``, as the API reference says of FilterLogEvents.
"""

from __future__ import annotations

import json
import threading
from typing import Any

_install_lock = threading.Lock()
_installed = False


def install() -> None:
    """Patch moto's ``FilterLogEvents`` (idempotent; see the module docstring)."""
    global _installed
    with _install_lock:
        if _installed:
            return
        from moto.logs.exceptions import InvalidParameterException, ResourceNotFoundException
        from moto.logs.responses import LogsResponse

        original = LogsResponse.filter_log_events

        def filter_log_events(self: LogsResponse) -> Any:
            prefix = self._get_param("logStreamNamePrefix")
            if not prefix:
                return original(self)
            if self._get_param("logStreamNames"):
                raise InvalidParameterException(
                    "Cannot specify both logStreamNames and logStreamNamePrefix"
                )
            group_name = self._get_param("logGroupName")
            group = self.logs_backend.groups.get(group_name)
            if group is None:
                raise ResourceNotFoundException()  # moto's own answer for a missing group
            names = [name for name in group.streams if name.startswith(prefix)]
            if not names:  # moto reads an empty list as "every stream"
                return json.dumps({"events": [], "searchedLogStreams": []})
            events, next_token, searched = self.logs_backend.filter_log_events(
                group_name,
                names,
                self._get_param("startTime"),
                self._get_param("endTime"),
                self._get_param("limit"),
                self._get_param("nextToken"),
                self._get_param("filterPattern"),
                self._get_param("interleaved", False),
            )
            return json.dumps(
                {"events": events, "nextToken": next_token, "searchedLogStreams": searched}
            )

        LogsResponse.filter_log_events = filter_log_events  # type: ignore[method-assign]
        _installed = True
