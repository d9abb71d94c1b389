"""A task's init process (what ``initProcessEnabled`` gives an ECS task), for the process runtime.

Run as a script by path (``python _init.py PARENT_PID -- command...``), so it imports nothing of
rollout. It is the leader of the task's process group and:

- asks the kernel (``prctl(PR_SET_PDEATHSIG)``) for SIGUSR2 when the sandbox's spawning thread
  dies, including when the sandbox is killed with SIGKILL, and then kills the whole group at once
  (and exits if the sandbox was already gone before the request took effect);
- starts the command in the same group and forwards SIGTERM/SIGINT/SIGQUIT to it (``docker
  stop``: the runtime sends SIGTERM, then SIGKILLs the group after the stop timeout);
- reaps every child; when the command exits, kills what is left of the group (as a container's
  processes die with its PID 1) and exits with the command's status, 128 + n for signal n.
"""

import contextlib
import ctypes
import os
import signal
import sys

PR_SET_PDEATHSIG = 1
DEATH_SIGNAL = signal.SIGUSR2


def _kill_group_now(*_: object) -> None:
    os.killpg(0, signal.SIGKILL)


def _others_in_group() -> list[int]:
    me, group = os.getpid(), os.getpgid(0)
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) == me:
            continue
        try:
            if os.getpgid(int(name)) == group:
                found.append(int(name))
        except OSError:
            continue
    return found


def main(argv: list[str]) -> int:
    parent = int(argv[1])
    command = argv[argv.index("--") + 1 :]
    signal.signal(DEATH_SIGNAL, _kill_group_now)
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, int(DEATH_SIGNAL), 0, 0, 0)
    if os.getppid() != parent:  # the sandbox died before prctl took effect
        _kill_group_now()
    child = os.fork()
    if child == 0:
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT, DEATH_SIGNAL):
            signal.signal(sig, signal.SIG_DFL)
        try:
            os.execvp(command[0], command)  # noqa: S606 - the task's command, as exec form
        except OSError as exc:
            os.write(2, f"exec {command[0]}: {exc.strerror}\n".encode())
            os._exit(127 if isinstance(exc, FileNotFoundError) else 126)

    def forward(signum: int, _frame: object) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(child, signum)

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT):
        signal.signal(sig, forward)
    status = 0
    while True:
        try:
            pid, raw = os.waitpid(-1, 0)
        except ChildProcessError:
            break
        if pid == child:
            status = 128 + os.WTERMSIG(raw) if os.WIFSIGNALED(raw) else os.WEXITSTATUS(raw)
            break
    for pid in _others_in_group():
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv))
