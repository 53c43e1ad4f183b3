"""Warm execution: each sandbox keeps one pre-started interpreter, used by its next command.

A *warm* interpreter is a cold start done ahead of time: the same ``bwrap`` command line
(namespaces, seccomp, mounts, ``prlimit``, cgroup placement, egress proxy socket) whose
command is :mod:`junction.sandbox.warm_main`, blocked on a ``socketpair`` end only
Junction holds. A command then costs one ``sendmsg`` (its header and its stdin/stdout/
stderr as ``SCM_RIGHTS``) instead of a sandbox and an interpreter start. Each warm
interpreter runs exactly one command (a fresh process — and a fresh pid namespace,
``/tmp`` and cgroup — per command, as before); the next one is started when a command
ends, or when the sandbox is created.

Warm interpreters are reaped: above ``warm_max`` (least recently used first), when
``MemAvailable`` drops below ``warm_min_available_bytes``, and after
``warm_idle_seconds`` unused. Any failure — none ready, one that died, a send that
fails — falls back to the cold path. docs/sandbox.md has the security argument.
"""

from __future__ import annotations

import asyncio
import contextlib
import marshal
import os
import select
import signal
import socket
import subprocess
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from junction.sandbox.bwrap_exec import BwrapExecution, _remove_later
from junction.sandbox.bwrap_system import WORKSPACE
from junction.sandbox.cgroups import Cgroup

if TYPE_CHECKING:
    from junction.sandbox.bubblewrap import BubblewrapBackend
    from junction.sandbox.local import LocalSandbox

WARM_SOURCE = (Path(__file__).parent / "warm_main.py").read_text()
PYTHON = "/usr/bin/python3"
READY_TIMEOUT = 10.0  # seconds for a new interpreter to say it is ready
START_DELAY = 0.025  # seconds between a command's end (or a create) and the next start
WAIT_IN_FLIGHT = 1.0  # a command waits at most this long for one that is starting
MAX_HEADER = 192 * 1024  # bigger requests (huge code) go cold: no partial sends
REAP_INTERVAL = 5.0


def mem_available() -> int | None:
    """``MemAvailable`` from /proc/meminfo in bytes (None when unknown)."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


@dataclass
class Warm:
    """One pre-started interpreter; owned by the pool until a command takes it."""

    sandbox_id: str
    proc: subprocess.Popen[bytes]
    sock: socket.socket
    child_pidfd: int
    cgroup: Cgroup | None
    server: asyncio.Server | None
    child_pid: int
    last_used: float = field(default_factory=time.monotonic)

    def alive(self) -> bool:
        if self.proc.poll() is not None:
            return False
        readable, _w, _x = select.select([self.child_pidfd], [], [], 0)
        return not readable

    def send(self, header: bytes, fds: list[int]) -> None:
        """Hand the command over; OSError if the interpreter cannot take all of it now."""
        sent = socket.send_fds(self.sock, [header], fds)
        if sent != len(header):
            raise OSError("partial send to the warm interpreter")
        self.sock.close()

    def kill(self) -> None:
        """Kill it and release everything (the bwrap process is reaped in a thread)."""
        with contextlib.suppress(OSError):
            signal.pidfd_send_signal(self.child_pidfd, signal.SIGKILL)
        with contextlib.suppress(OSError):
            os.kill(self.proc.pid, signal.SIGKILL)
        with contextlib.suppress(OSError):
            os.close(self.child_pidfd)
        self.sock.close()
        if self.server is not None:
            self.server.close()
        cgroup = self.cgroup
        done = asyncio.ensure_future(asyncio.to_thread(self.proc.wait, 10))
        if cgroup is not None:
            done.add_done_callback(lambda _f: _remove_later(cgroup))


@dataclass
class _Slot:
    task: asyncio.Task[Warm | None] | None = None
    warm: Warm | None = None
    started: float = field(default_factory=time.monotonic)


class WarmPool:
    """At most one warm interpreter per sandbox, ``max_warm`` in all (LRU)."""

    def __init__(
        self,
        backend: BubblewrapBackend,
        *,
        max_warm: int,
        idle_seconds: float,
        min_available_bytes: int,
    ) -> None:
        self.backend = backend
        self.max_warm = max_warm
        self.idle_seconds = idle_seconds
        self.min_available_bytes = min_available_bytes
        # The pressure signal (tests inject their own): bytes available, None if unknown.
        self.memory_available: Callable[[], int | None] = mem_available
        self._slots: OrderedDict[str, _Slot] = OrderedDict()  # least recently used first
        self._reaper: asyncio.Task[None] | None = None
        self.start_delay = START_DELAY
        # Tests: every command waits for its sandbox's interpreter, however fresh.
        self.always_wait = False
        # How long a warm interpreter takes to become ready (moving average, seconds).
        self.start_seconds = 0.05
        self.started = 0  # counters, for tests and the benchmark
        self.used = 0
        self.reaped = 0

    # -- starting ----------------------------------------------------------------------

    def under_pressure(self) -> bool:
        available = self.memory_available()
        return available is not None and available < self.min_available_bytes

    def prestart(self, sandbox: LocalSandbox) -> None:
        """Start a warm interpreter for ``sandbox`` in the background, if there is room."""
        if sandbox.destroyed or self.max_warm <= 0 or sandbox.id in self._slots:
            return
        if self.under_pressure():
            self.reap_idle(everything=True)
            return
        while len(self._slots) >= self.max_warm and self._evict_oldest():
            pass
        if len(self._slots) >= self.max_warm:
            return  # every slot is starting up: no room now
        slot = _Slot(started=time.monotonic() + self.start_delay)
        self._slots[sandbox.id] = slot
        slot.task = asyncio.ensure_future(self._start(sandbox, slot))
        if self._reaper is None or self._reaper.done():
            self._reaper = asyncio.ensure_future(self._reap_loop())

    async def _start(self, sandbox: LocalSandbox, slot: _Slot) -> Warm | None:
        # A moment's delay: a command sent right away (the next step of a script, code
        # run on an environment just made) runs cold without sharing the CPU with this.
        await asyncio.sleep(self.start_delay)
        slot.started = time.monotonic()
        try:
            warm = await launch(self.backend, sandbox)
        except Exception:
            warm = None
        if self._slots.get(sandbox.id) is not slot or sandbox.destroyed:
            if warm is not None:
                warm.kill()  # discarded while it started
            return None
        slot.task = None
        if warm is None:
            del self._slots[sandbox.id]
            return None
        slot.warm = warm
        took = time.monotonic() - slot.started
        self.start_seconds = 0.8 * self.start_seconds + 0.2 * took
        self.started += 1
        return warm

    # -- taking --------------------------------------------------------------------------

    async def take(self, sandbox: LocalSandbox) -> Warm | None:
        """The sandbox's warm interpreter (waiting briefly for one that is starting)."""
        slot = self._slots.get(sandbox.id)
        if slot is None:
            return None
        if slot.warm is None and slot.task is not None:
            fresh = time.monotonic() - slot.started < self.start_seconds / 2
            if fresh and not self.always_wait:
                # Barely started: waiting for it would take longer than a cold start (it
                # has the same work ahead and more), and both at once share the CPU.
                self.discard(sandbox.id)
                return None
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(slot.task), WAIT_IN_FLIGHT)
        if self._slots.get(sandbox.id) is not slot or slot.warm is None:
            return None  # still starting, failed, or another command took it
        del self._slots[sandbox.id]
        warm = slot.warm
        if not warm.alive():
            warm.kill()
            return None
        self.used += 1
        return warm

    # -- reaping -------------------------------------------------------------------------

    def discard(self, sandbox_id: str) -> None:
        slot = self._slots.pop(sandbox_id, None)
        if slot is None:
            return
        if slot.task is not None:
            slot.task.cancel()
        if slot.warm is not None:
            slot.warm.kill()
            self.reaped += 1

    def _evict_oldest(self) -> bool:
        for sandbox_id, slot in self._slots.items():
            if slot.warm is not None:
                self.discard(sandbox_id)
                return True
        return False

    def reap_idle(self, *, everything: bool = False, now: float | None = None) -> int:
        """Reap warm interpreters idle past ``idle_seconds`` (all of them when
        ``everything``); returns how many."""
        now = time.monotonic() if now is None else now
        idle = [
            sandbox_id
            for sandbox_id, slot in self._slots.items()
            if slot.warm is not None
            and (everything or now - slot.warm.last_used >= self.idle_seconds)
        ]
        for sandbox_id in idle:
            self.discard(sandbox_id)
        return len(idle)

    def reap(self, now: float | None = None) -> int:
        """One reaper pass: everything under memory pressure, else the idle ones."""
        return self.reap_idle(everything=self.under_pressure(), now=now)

    async def _reap_loop(self) -> None:
        while self._slots:
            await asyncio.sleep(min(REAP_INTERVAL, max(self.idle_seconds / 2, 0.05)))
            self.reap()

    def ready(self, sandbox_id: str) -> bool:
        slot = self._slots.get(sandbox_id)
        return slot is not None and slot.warm is not None

    def warm_pids(self) -> list[int]:
        """Host pids (bwrap, interpreter) of the ready warm interpreters (benchmark)."""
        return [
            pid
            for slot in self._slots.values()
            if slot.warm is not None
            for pid in (slot.warm.proc.pid, slot.warm.child_pid)
        ]

    async def wait_ready(self, sandbox_id: str) -> bool:
        slot = self._slots.get(sandbox_id)
        if slot is not None and slot.task is not None:
            await asyncio.shield(slot.task)
        return self.ready(sandbox_id)

    async def aclose(self) -> None:
        for sandbox_id in list(self._slots):
            self.discard(sandbox_id)
        if self._reaper is not None:
            self._reaper.cancel()


async def launch(backend: BubblewrapBackend, sandbox: LocalSandbox) -> Warm | None:
    """Start a warm interpreter for ``sandbox`` (a cold start whose command waits)."""
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    argv = [PYTHON, "-c", WARM_SOURCE, str(theirs.fileno())]
    env = backend.exec_env(sandbox, {})
    launcher = BwrapExecution(
        backend, sandbox, argv, env=env, stdin=None, timeout=None, chdir=WORKSPACE
    )
    launcher.extra_fds = [theirs.fileno()]
    launcher._start_usage = 0  # RLIMIT_FSIZE: the whole quota; lowered per command
    devnull = os.open(os.devnull, os.O_RDWR | os.O_CLOEXEC)
    try:
        launcher._proc = launcher._spawn(devnull, devnull, devnull)
    except BaseException:
        ours.close()
        raise
    finally:
        os.close(devnull)
        theirs.close()
    proc = launcher._proc
    try:
        await launcher._after_spawn()
        ours.setblocking(False)
        loop = asyncio.get_running_loop()
        ready = await asyncio.wait_for(loop.sock_recv(ours, 1), READY_TIMEOUT)
        if ready != b"R" or launcher._child_pidfd < 0:
            raise OSError("the warm interpreter did not start")
    except BaseException:
        launcher._kill_tree()
        launcher._cleanup_handles()
        ours.close()
        await asyncio.shield(asyncio.to_thread(proc.wait, 10))
        raise
    return Warm(
        sandbox.id,
        proc,
        ours,
        launcher._child_pidfd,
        launcher._cgroup,
        launcher._server,
        launcher.child_pid,
    )


def request_header(argv: list[str], env: dict[str, str], cwd: str, fsize: int) -> bytes:
    # marshal: the interpreter reads it without importing anything (format 4 is read by
    # every Python 3 since 3.4, whatever the host's and the sandbox's versions are).
    body = marshal.dumps({"argv": argv, "env": env, "cwd": cwd, "fsize": fsize}, 4)
    return len(body).to_bytes(4, "big") + body


class PooledExecution(BwrapExecution):
    """A command that runs in the sandbox's warm interpreter when one is ready."""

    _warm: Warm | None = None
    _taken: Warm | None = None

    async def _start(self) -> None:
        pool = self.backend.warm
        assert pool is not None
        self._taken = await pool.take(self.sandbox)
        await super()._start()

    def _spawn(self, stdin_fd: int, stdout_fd: int, stderr_fd: int) -> subprocess.Popen[bytes]:
        warm, self._taken = self._taken, None
        if warm is not None:
            fsize = max(self.limits.disk_bytes - self._start_usage, 0)
            header = request_header(self.argv, self.env, self.chdir, fsize)
            try:
                if len(header) > MAX_HEADER:
                    raise OSError("request too big for a warm start")
                warm.send(header, [stdin_fd, stdout_fd, stderr_fd])
            except OSError:
                warm.kill()
            else:
                self._warm = warm
                self._child_pidfd = warm.child_pidfd
                self._cgroup = warm.cgroup
                self._server = warm.server
                return warm.proc
        return super()._spawn(stdin_fd, stdout_fd, stderr_fd)

    async def _after_spawn(self) -> None:
        if self._warm is None:
            await super()._after_spawn()

    def _cleanup(self) -> None:
        super()._cleanup()
        pool = self.backend.warm
        if pool is not None and not self.sandbox.destroyed:
            pool.prestart(self.sandbox)
