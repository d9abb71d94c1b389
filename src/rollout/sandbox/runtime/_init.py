"""A task's init process (what ``initProcessEnabled`` gives an ECS task), for the process runtime.

Run as a script by path (``python _init.py PARENT_PID [--nice N] -- command...``), so it imports
nothing of rollout. It is the leader of the task's process group and:

- with ``--nice N`` (N > 0), lowers the CPU priority of the whole task before the command
  starts: its own nice value + N (inherited by every process and thread the command starts) and
  the nice value of its session's autogroup, N (the runtime starts each task in a new session,
  so where the kernel groups scheduling by session, the task is one group whose weight this
  sets); the runtime puts it back once the task's app is up (see ``process.py``);
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
import time

PR_SET_PDEATHSIG = 1
DEATH_SIGNAL = signal.SIGUSR2
AUTOGROUP = "/proc/self/autogroup"


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


def write_autogroup_nice(path: str, nice: int, *, tries: int = 40) -> bool:
    """Set the autogroup nice value in ``path`` (``/proc/<pid>/autogroup``). The kernel lets
    an unprivileged process set 0..19 but at most once per 100 ms machine-wide (EAGAIN), so
    retry a little. False when there is no autogroup or it refused."""
    for _ in range(tries):
        try:
            with open(path, "w") as f:
                f.write(str(nice))
            return True
        except BlockingIOError:
            time.sleep(0.05)
        except OSError:
            return False
    return False


def lower_priority(nice: int) -> None:
    """This process (and what it starts) ``nice`` steps nicer, and its autogroup at ``nice``."""
    with contextlib.suppress(OSError):
        mine = os.getpriority(os.PRIO_PROCESS, 0)
        os.setpriority(os.PRIO_PROCESS, 0, min(19, mine + nice))
    write_autogroup_nice(AUTOGROUP, min(19, nice))


def main(argv: list[str]) -> int:
    parent = int(argv[1])
    split = argv.index("--")
    command = argv[split + 1 :]
    options = argv[2:split]
    signal.signal(DEATH_SIGNAL, _kill_group_now)
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, int(DEATH_SIGNAL), 0, 0, 0)
    if os.getppid() != parent:  # the sandbox died before prctl took effect
        _kill_group_now()
    if options[:1] == ["--nice"] and int(options[1]) > 0:
        lower_priority(int(options[1]))
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
