"""Start `rollout sandbox up` in a subprocess and read the environment it prints (for the
end-to-end tests of the sandbox CLI and of the deploy CLI)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROLLOUT = str(Path(sys.executable).with_name("rollout"))


def start_sandbox_up(
    env: dict[str, str], *, speed: int = 100
) -> tuple[subprocess.Popen[str], dict[str, str]]:
    """Run ``rollout sandbox up`` on a free port; return the process and the exports it printed.

    The caller stops it (SIGINT) when done.
    """
    up = subprocess.Popen(
        [ROLLOUT, "sandbox", "up", "--port", "0", "--speed", str(speed)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert up.stdout is not None
    exports: dict[str, str] = {}
    for line in up.stdout:
        if line.startswith("export "):
            name, value = line[len("export ") :].strip().split("=", 1)
            exports[name] = value
        if line.startswith("# Ctrl-C"):
            break
    return up, exports
