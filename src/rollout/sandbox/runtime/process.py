"""The process runtime: every task is a real OS process group running an image built from source.

For each task the control plane starts (``Runtime.start``):

- **image**: the essential container's image digest must be a snapshot ``rollout sandbox build``
  made (:mod:`rollout.sandbox.runtime.images`); anything else fails to start with
  ``CannotPullContainerError`` (the sandbox has no layers for it).
- **command**: ``entryPoint``/``command`` of the container definition, else the image's
  ENTRYPOINT/CMD, run in the snapshot (the image's WORKDIR) with the project's locked Python
  environment (the venv the sandbox runs in) first on ``PATH``. The image's USER is recorded but
  the process runs as the sandbox's user.
- **address**: each task gets its own loopback address (``127.<b>.<x>.<y>``, ``b`` picked per
  sandbox so two sandboxes on one machine do not collide) that is free on the container's ports;
  it is the task's ENI private IP, so ECS registers it in the target group. A bind to the
  wildcard address in the command (``-b 0.0.0.0:8000``, ``--bind=[::]:8000``, ``--host
  0.0.0.0``) is rewritten to that address (on Fargate the wildcard means the task's ENI).
- **environment**: the image's ENV, the container's ``environment``, its ``secrets`` resolved
  from the sandbox's SSM and Secrets Manager as the ECS agent does (a missing one never gets here:
  the control plane fails the task with ResourceInitializationError first), plus what an AWS SDK
  needs to reach the sandbox (``AWS_ENDPOINT_URL``, dummy credentials, region). Nothing else from
  the sandbox's own environment leaks in.
- **logs**: stdout and stderr → the ``awslogs`` stream (:mod:`.awslogs`).
- **exit**: the exit status is reported to the control plane (128 + n for signal n).
- **stop**: SIGTERM to the task's init, which forwards it; SIGKILL to the whole group after the
  container's ``stopTimeout``.
- **container healthCheck**: the command runs every ``interval`` (``127.0.0.1``/``localhost`` in
  it mean the task's address: a Fargate task has its own loopback, here tasks share the host's),
  ``timeout``, ``retries``, ``startPeriod`` as Docker runs them; HEALTHY/UNHEALTHY go back to
  the control plane.
- **no orphans**: each task's init process (:mod:`._init`) is the leader of the task's process
  group and dies with the sandbox (``PR_SET_PDEATHSIG``), killing the group; the init processes
  are spawned from one long-lived thread (the parent-death signal follows the spawning *thread*);
  :meth:`ProcessRuntime.close` kills every group.
- **cap**: at most ``max_tasks`` task processes at once (default 8, sized for 2 cores); past it a
  task fails to start with a stopped reason saying so.
- **CPU while booting** (``boot_nice``, default 10; 0 turns it off): on Fargate every task has
  its own vCPUs, so a task importing its framework never slows the tasks that serve, the load
  balancer or the clients. Here they share the machine's cores, so a booting task runs at a
  lower CPU priority: its init raises its nice value by ``boot_nice`` (inherited by everything
  the command starts) and sets its session's autogroup nice to ``boot_nice`` (the kernel's
  per-session scheduling groups, where they are on: then the task is one group and this is its
  weight). Once the app is up (a container port accepts a TCP connection, or the container
  healthCheck is HEALTHY, or ``BOOT_WINDOW`` seconds passed), the runtime puts the autogroup
  back at 0 (allowed to any user) and the processes' nice values back to the sandbox's (which
  needs CAP_SYS_NICE; without it they stay ``boot_nice`` steps nicer: every task alike, still
  behind the sandbox's own threads). Health-check commands of a booting task run at its
  priority.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import random
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from rollout.sandbox.runtime import (
    ContainerSpec,
    Readiness,
    Scheduler,
    StartFailure,
    TaskEvents,
    TaskSpec,
    signal_exit_code,
)
from rollout.sandbox.runtime._init import write_autogroup_nice
from rollout.sandbox.runtime.awslogs import LogShipper, Stream, stream_for
from rollout.sandbox.runtime.images import ImageStore, runtime_env
from rollout.sandbox.wire import DUMMY_ACCESS_KEY, DUMMY_SECRET_KEY

log = logging.getLogger(__name__)

DEFAULT_MAX_TASKS = 8
#: how many steps nicer a task runs while it boots (0..19; 0: as nice as the sandbox)
DEFAULT_BOOT_NICE = 10
#: a task whose app shows no sign of being up (no port, no healthCheck) boots at most this long
BOOT_WINDOW = 120.0
BOOT_POLL = 0.2
INIT_SCRIPT = Path(__file__).with_name("_init.py")
_WILDCARDS = ("0.0.0.0", "", "::", "[::]")


# ---------------------------------------------------------------- pure helpers


def rewrite_binds(argv: Sequence[str], ip: str) -> list[str]:
    """``argv`` with wildcard bind addresses (gunicorn ``-b``/``--bind``, uvicorn ``--host``)
    replaced by ``ip``."""

    def host_port(value: str) -> str:
        host, sep, port = value.rpartition(":")
        if sep and host in _WILDCARDS:
            return f"{ip}:{port}"
        return value

    out: list[str] = []
    i = 0
    while i < len(argv):
        word = argv[i]
        if word in ("-b", "--bind") and i + 1 < len(argv):
            out += [word, host_port(argv[i + 1])]
            i += 2
            continue
        if word == "--host" and i + 1 < len(argv):
            out += [word, ip if argv[i + 1] in _WILDCARDS else argv[i + 1]]
            i += 2
            continue
        if word.startswith("--bind="):
            out.append("--bind=" + host_port(word[len("--bind=") :]))
        elif word.startswith("--host="):
            value = word[len("--host=") :]
            out.append("--host=" + (ip if value in _WILDCARDS else value))
        else:
            out.append(word)
        i += 1
    return out


def local_address(words: Sequence[str], ip: str) -> list[str]:
    """A health-check command with ``127.0.0.1`` and ``localhost`` meaning the task's address."""
    return [re.sub(r"\b(127\.0\.0\.1|localhost)\b", ip, w) for w in words]


def resolve_secrets(
    secrets: Sequence[tuple[str, str]], *, account: str, region: str
) -> dict[str, str]:
    """Values of ``secrets`` ((name, valueFrom)) from moto's SSM and Secrets Manager, as the ECS
    agent resolves them (Secrets Manager ``arn:...:secret:name-xxxxxx[:json-key[:stage[:id]]]``).
    A value that cannot be found is left out (the control plane checked their existence)."""
    from moto.backends import get_backend

    out: dict[str, str] = {}
    for name, value_from in secrets:
        try:
            if value_from.startswith("arn:") and ":secretsmanager:" in value_from:
                parts = value_from.split(":")
                secret_arn = ":".join(parts[:7])
                json_key = parts[7] if len(parts) > 7 else ""
                backend = get_backend("secretsmanager")[parts[4]][parts[3]]
                secret = backend.get_secret_value(secret_arn, "", "")
                text = str(secret.get("SecretString", ""))
                out[name] = str(json.loads(text)[json_key]) if json_key else text
            else:
                acct, reg, param = account, region, value_from
                if value_from.startswith("arn:"):
                    pieces = value_from.split(":", 5)
                    reg, acct = pieces[3], pieces[4]
                    param = pieces[5].split("parameter", 1)[1]
                ssm = get_backend("ssm")[acct][reg]
                found = ssm.get_parameter(param)
                if found is not None:  # the agent reads with decryption (SecureString)
                    out[name] = str(found.decrypt(found.value))
        except Exception:  # noqa: S112 - checked upstream; a race with a deletion drops it
            continue
    return out


# ---------------------------------------------------------------- the runtime


@dataclass
class _Task:
    spec: TaskSpec
    events: TaskEvents
    process: subprocess.Popen[bytes]
    ip: str
    env: dict[str, str]
    cwd: Path
    streams: list[Stream | None]
    threads: list[threading.Thread] = field(default_factory=list)
    stopping: bool = False
    done: threading.Event = field(default_factory=threading.Event)
    #: the app is up: the task runs at normal CPU priority again
    up: threading.Event = field(default_factory=threading.Event)
    kill_timer: threading.Timer | None = None

    @property
    def pgid(self) -> int:
        return self.process.pid


class _Spawner:
    """One long-lived thread that starts every task process (see the module docstring)."""

    def __init__(self) -> None:
        self._requests: queue.Queue[tuple[Callable[[], Any], Future[Any]] | None] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="sandbox-spawner", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            item = self._requests.get()
            if item is None:
                return
            call, future = item
            try:
                future.set_result(call())
            except BaseException as exc:
                future.set_exception(exc)

    def run(self, call: Callable[[], Any]) -> Any:
        future: Future[Any] = Future()
        self._requests.put((call, future))
        return future.result(timeout=30)

    def close(self) -> None:
        self._requests.put(None)
        self._thread.join(timeout=5)


class ProcessRuntime:
    """See the module docstring. ``endpoint`` gives the sandbox's HTTP URL (for the tasks'
    ``AWS_ENDPOINT_URL``); ``clock_now`` the sandbox clock (log timestamps)."""

    name = "process"

    def __init__(
        self,
        *,
        images: ImageStore,
        endpoint: Callable[[], str],
        clock_now: Callable[[], float],
        max_tasks: int = DEFAULT_MAX_TASKS,
        venv: Path | None = None,
        subnet_octet: int | None = None,
        boot_nice: int = DEFAULT_BOOT_NICE,
    ) -> None:
        if max_tasks < 1:
            raise ValueError(f"max_tasks must be >= 1, got {max_tasks}")
        if not 0 <= boot_nice <= 19:
            raise ValueError(f"boot_nice must be in 0..19, got {boot_nice}")
        self.images = images
        self.max_tasks = max_tasks
        self.boot_nice = boot_nice
        self._base_nice = os.getpriority(os.PRIO_PROCESS, 0)
        self._endpoint = endpoint
        self._clock_now = clock_now
        self._venv = Path(venv or sys.prefix)
        self._octet = subnet_octet if subnet_octet is not None else random.randint(64, 250)
        self._tasks: dict[str, _Task] = {}
        self._guard = threading.Lock()
        self._closed = False
        self._lock: Any = threading.RLock()
        self._catch_up: Callable[[], None] = lambda: None
        self._spawner = _Spawner()
        self._shipper: LogShipper | None = None

    # -- Runtime protocol ---------------------------------------------------------------------
    def attach(
        self,
        *,
        lock: Any,
        now: Callable[[], float],
        scheduler: Scheduler,
        catch_up: Callable[[], None],
    ) -> None:
        self._lock = lock
        self._catch_up = catch_up
        self._shipper = LogShipper(lock, self._clock_now)

    def address(self, index: int, ports: Sequence[int]) -> str:
        """``127.<octet>.<x>.<y>``, the ``index``-th free one (skips addresses in use)."""
        n = index
        for _ in range(1000):
            ip = f"127.{self._octet}.{(n // 250) % 250}.{n % 250 + 2}"
            n += 1
            if all(_free(ip, port) for port in ports or [0]):
                return ip
        raise StartFailure("sandbox: no free loopback address for the task")

    def live_count(self) -> int:
        with self._guard:
            return sum(1 for t in self._tasks.values() if not t.done.is_set())

    def start(self, spec: TaskSpec, events: TaskEvents) -> Readiness:
        if self._closed:
            raise StartFailure("sandbox: the process runtime is closed")
        if self.live_count() >= self.max_tasks:
            raise StartFailure(
                f"sandbox: the process runtime already runs {self.max_tasks} task processes "
                f"(its cap); stop tasks or lower desiredCount, or start the sandbox with a "
                f"higher --max-tasks"
            )
        container = spec.essential
        image = self.images.lookup(container.image_digest)
        if image is None:
            raise StartFailure(
                "CannotPullContainerError: pull image manifest has been retried 1 time(s): "
                f"failed to resolve ref {container.image}: the sandbox has no layers for "
                f"{container.image_digest} (process runtime: build images with `rollout "
                "sandbox build`)"
            )
        streams = [
            stream_for(
                c.log_configuration,
                container=c.name,
                task_id=spec.task_id,
                account=spec.account,
                region=spec.region,
            )
            for c in (container,)
        ]
        env = runtime_env(image.config, image.rootfs, self._venv)
        env.setdefault("PYTHONPATH", str(image.rootfs))
        env.update(
            {
                "HOSTNAME": f"ip-{spec.ip.replace('.', '-')}",
                "AWS_EXECUTION_ENV": "AWS_ECS_FARGATE",
                "AWS_REGION": spec.region,
                "AWS_DEFAULT_REGION": spec.region,
            }
        )
        env.update(container.environment)
        env.update(resolve_secrets(container.secrets, account=spec.account, region=spec.region))
        env.update(
            {
                "AWS_ENDPOINT_URL": self._endpoint(),
                "AWS_ACCESS_KEY_ID": DUMMY_ACCESS_KEY,
                "AWS_SECRET_ACCESS_KEY": DUMMY_SECRET_KEY,
            }
        )
        entry = container.entry_point or image.config.entrypoint
        command = container.command or (() if container.entry_point else image.config.cmd)
        argv = rewrite_binds([*entry, *command], spec.ip)
        if not argv:
            raise StartFailure(
                "CannotStartContainerError: Error response from daemon: no command specified"
            )
        cwd = image.rootfs
        if container.working_directory:
            relative = os.path.relpath(container.working_directory, image.config.workdir)
            cwd = image.rootfs if relative.startswith("..") else image.rootfs / relative
        init = [*self._init(booting=True), *argv]

        def spawn() -> subprocess.Popen[bytes]:
            return subprocess.Popen(
                init,
                cwd=cwd,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                start_new_session=True,
            )

        try:
            process: subprocess.Popen[bytes] = self._spawner.run(spawn)
        except OSError as exc:
            raise StartFailure(
                f"CannotStartContainerError: failed to start {argv[0]}: {exc.strerror or exc}"
            ) from exc
        task = _Task(spec, events, process, spec.ip, env, cwd, streams)
        stream = streams[0]
        if stream is not None and self._shipper is not None:
            self._shipper.add(stream)
        readers = [
            threading.Thread(
                target=self._read,
                args=(task, pipe),
                name=f"task-{spec.task_id[:8]}-log",
                daemon=True,
            )
            for pipe in (process.stdout, process.stderr)
            if pipe is not None
        ]
        waiter = threading.Thread(
            target=self._wait, args=(task, readers), name=f"task-{spec.task_id[:8]}", daemon=True
        )
        task.threads = [*readers, waiter]
        if self.boot_nice:
            task.threads.append(
                threading.Thread(
                    target=self._boot_watch,
                    args=(task, container),
                    name=f"task-{spec.task_id[:8]}-boot",
                    daemon=True,
                )
            )
        else:
            task.up.set()
        if container.health_check:
            task.threads.append(
                threading.Thread(
                    target=self._health_loop,
                    args=(task, container),
                    name=f"task-{spec.task_id[:8]}-health",
                    daemon=True,
                )
            )
        with self._guard:
            self._tasks[spec.task_id] = task
        for thread in task.threads:
            thread.start()
        log.info("task %s: started pid %d on %s: %s", spec.task_id, process.pid, spec.ip, argv)
        return Readiness.observed()

    def stop(self, task_id: str, *, timeout: float) -> None:
        with self._guard:
            task = self._tasks.get(task_id)
        if task is None or task.done.is_set() or task.stopping:
            return
        task.stopping = True
        _signal(task.process.pid, signal.SIGTERM, group=False)
        task.kill_timer = threading.Timer(timeout, _signal, (task.pgid, signal.SIGKILL))
        task.kill_timer.daemon = True
        task.kill_timer.start()

    def close(self) -> None:
        """Kill every task's process group, wait for them, stop the threads. Idempotent."""
        if self._closed:
            return
        self._closed = True
        with self._guard:
            tasks = list(self._tasks.values())
        for task in tasks:
            if task.kill_timer is not None:
                task.kill_timer.cancel()
            _signal(task.pgid, signal.SIGKILL)
        for task in tasks:
            try:
                task.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                log.warning("task %s: pid %d did not die", task.spec.task_id, task.process.pid)
        self._spawner.close()
        if self._shipper is not None:
            self._shipper.close()

    def _init(self, *, booting: bool) -> list[str]:
        """The init's command line up to (and with) ``--``."""
        nice = ["--nice", str(self.boot_nice)] if booting and self.boot_nice else []
        return [sys.executable, str(INIT_SCRIPT), str(os.getpid()), *nice, "--"]

    # -- per task threads ------------------------------------------------------------------------
    def _boot_watch(self, task: _Task, container: ContainerSpec) -> None:
        """Wait until the task's app is up (see the module docstring), then give the task its
        CPU priority back."""
        started = time.monotonic()
        while not task.done.wait(BOOT_POLL):
            if self._closed or task.stopping:
                return
            if (
                task.up.is_set()
                or any(_accepts(task.ip, port) for port in container.ports)
                or time.monotonic() - started >= BOOT_WINDOW
            ):
                self._restore_priority(task)
                return

    def _restore_priority(self, task: _Task) -> None:
        task.up.set()
        write_autogroup_nice(f"/proc/{task.pgid}/autogroup", 0)
        how = "normal priority"
        # every process and thread of the task's group; again a moment later for a process
        # forked while the first pass ran (it copied its parent's nice value before the change)
        for delay in (0.0, 1.0, 5.0):
            if task.done.wait(delay) or self._closed:
                return
            try:
                os.setpriority(os.PRIO_PGRP, task.pgid, self._base_nice)
            except ProcessLookupError:
                return
            except OSError:  # lowering a nice value needs CAP_SYS_NICE: they stay nicer
                how = f"autogroup back at 0, processes still nice +{self.boot_nice}"
                break
        log.info("task %s: app up, %s", task.spec.task_id, how)

    def _read(self, task: _Task, pipe: IO[bytes]) -> None:
        stream = task.streams[0]
        for raw in iter(pipe.readline, b""):
            text = raw.decode("utf-8", "replace").rstrip("\r\n")
            if text and stream is not None and self._shipper is not None:
                self._shipper.line(stream, text)  # CloudWatch Logs takes no empty message
        pipe.close()

    def _wait(self, task: _Task, readers: list[threading.Thread]) -> None:
        code = task.process.wait()
        if task.kill_timer is not None:
            task.kill_timer.cancel()
        for reader in readers:
            reader.join(timeout=2)
        stream = task.streams[0]
        if stream is not None and self._shipper is not None:
            self._shipper.flush(stream)
        task.done.set()
        exit_code = signal_exit_code(code)
        log.info("task %s: exited with %d", task.spec.task_id, exit_code)
        if self._closed:
            return
        with self._lock:
            if self._closed:
                return
            self._catch_up()
            task.events.exited(exit_code)

    def _health_loop(self, task: _Task, container: ContainerSpec) -> None:
        """Docker's HEALTHCHECK semantics for the container definition's ``healthCheck``."""
        hc = dict(container.health_check or {})
        words = [str(w) for w in hc.get("command", [])]
        if not words:
            return
        if words[0] == "CMD-SHELL":
            argv = ["/bin/sh", "-c", " ".join(local_address(words[1:], task.ip))]
        else:
            argv = local_address(words[1:] if words[0] == "CMD" else words, task.ip)
        interval = float(hc.get("interval", 30))
        timeout = float(hc.get("timeout", 5))
        retries = int(hc.get("retries", 3))
        start_period = float(hc.get("startPeriod", 0))
        started = time.monotonic()
        failures = 0
        status = "UNKNOWN"
        while not task.done.wait(interval):
            if self._closed or task.stopping:
                return
            ok = self._run_check(task, argv, timeout)
            in_start_period = time.monotonic() - started < start_period
            if ok:
                failures = 0
                new = "HEALTHY"
                task.up.set()
            else:
                failures += 0 if in_start_period and status != "HEALTHY" else 1
                new = "UNHEALTHY" if failures >= retries else status
            if new != status:
                status = new
                with self._lock:
                    if self._closed or task.done.is_set():
                        return
                    self._catch_up()
                    task.events.container_health(status)

    def _run_check(self, task: _Task, argv: list[str], timeout: float) -> bool:
        """Run one health check under its own init (so it dies with the sandbox too)."""
        try:
            check = subprocess.Popen(
                [*self._init(booting=not task.up.is_set()), *argv],
                cwd=task.cwd,
                env=task.env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
        except OSError:
            return False
        try:
            return check.wait(timeout=timeout) == 0
        except subprocess.TimeoutExpired:
            _signal(check.pid, signal.SIGKILL)
            check.wait()
            return False


def _free(ip: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as servers bind
        try:
            sock.bind((ip, port))
        except OSError:
            return False
    return True


def _accepts(ip: str, port: int) -> bool:
    """A TCP connection to ``ip:port`` is accepted (closed at once, no byte sent)."""
    try:
        with socket.create_connection((ip, port), timeout=BOOT_POLL):
            return True
    except OSError:
        return False


def _signal(pid: int, sig: int, *, group: bool = True) -> None:
    try:
        if group:
            os.killpg(pid, sig)
        else:
            os.kill(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass
