"""One command in a bubblewrap sandbox: the argv, the start handshake, the kill.

Start: bwrap writes the host pid of the sandbox's pid 1 to ``--info-fd`` right after it
clones, then (after its mounts) waits on ``--block-fd`` until Junction has done the
set-up from outside — ``oom_score_adj``, cgroup placement, the egress proxy socket — so
no user code runs before it (bwrap's own set-up usually outlasts ours). Kill: SIGKILL to
the sandbox's pid 1 through a pidfd tears down the whole pid namespace at once (no
process of the exec survives, whatever it forked or however it detached); the bwrap
monitor is killed too and ``--die-with-parent`` covers Junction itself dying.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import select
import signal
import subprocess
import time
from functools import partial
from typing import TYPE_CHECKING, Any

from junction.sandbox import seccomp
from junction.sandbox.bwrap_system import SANDBOX_UID, WORKSPACE
from junction.sandbox.cgroups import Cgroup
from junction.sandbox.netns import listen_in_netns
from junction.sandbox.process import LocalExecution, wake
from junction.sandbox.types import KilledReason, MiB

if TYPE_CHECKING:
    from junction.sandbox.bubblewrap import BubblewrapBackend
    from junction.sandbox.local import LocalSandbox

SANDBOX_ID = str(SANDBOX_UID)
PROXY_PORT = 3128
#: how long a failed start waits for bwrap to name its child (written right after clone)
INFO_WAIT = 1.0
# RLIMIT_AS backstop above RLIMIT_DATA: V8/JVM reserve GBs of address space up front, but
# shared mappings escape RLIMIT_DATA, so bound them per process as well.
AS_HEADROOM = 4 * 1024 * MiB


class BwrapExecution(LocalExecution):
    def __init__(
        self,
        backend: BubblewrapBackend,
        sandbox: LocalSandbox,
        argv: list[str],
        *,
        env: dict[str, str],
        stdin: bytes | None,
        timeout: float | None,
        chdir: str,
    ) -> None:
        super().__init__(sandbox.limits, timeout=timeout, stdin=stdin)
        self.backend = backend
        self.sandbox = sandbox
        self.argv = argv
        self.env = env
        self.chdir = chdir
        self._start_usage = 0
        self._info_r = -1
        self._info = b""  # what bwrap has written to --info-fd so far
        self._block_w = -1
        self._child_pidfd = -1
        self._server: asyncio.Server | None = None
        self._cgroup: Cgroup | None = None
        self.extra_fds: list[int] = []  # more fds the command inherits (warm start socket)
        self.child_pid = -1  # host pid of the sandbox's pid 1

    async def _start(self) -> None:
        self._start_usage = await self.sandbox.usage_hint()
        self._monitor = partial(self.sandbox.quota_monitor, self._start_usage)
        await super()._start()

    def _bwrap_argv(self, ws_fd: int, sc_fd: int, info_w: int, block_r: int) -> list[str]:
        lim = self.limits
        tmp = max(lim.tmp_bytes, MiB)
        fsize = max(lim.disk_bytes - self._start_usage, 0)
        argv = [
            *self.backend.launcher,
            self.backend.bwrap or "bwrap",
            "--unshare-all", "--unshare-user", "--disable-userns",
            "--die-with-parent", "--new-session", "--as-pid-1", "--cap-drop", "ALL",
            "--uid", SANDBOX_ID, "--gid", SANDBOX_ID, "--hostname", "sandbox",
            *self.backend.system_args,
        ]  # fmt: skip
        argv += [
            "--proc", "/proc", "--dev", "/dev",
            "--size", str(min(tmp, 64 * MiB)), "--tmpfs", "/dev/shm",
            "--size", str(tmp), "--tmpfs", "/tmp",
            "--bind-fd", str(ws_fd), WORKSPACE,
            "--remount-ro", "/dev", "--remount-ro", "/",
            "--chdir", self.chdir,
            "--seccomp", str(sc_fd), "--info-fd", str(info_w),
        ]  # fmt: skip
        argv += ["--block-fd", str(block_r)]
        argv += [
            "--", "/usr/bin/prlimit",
            f"--cpu={lim.cpu_seconds}:{lim.cpu_seconds + 1}",
            f"--data={lim.memory_bytes}", f"--as={lim.memory_bytes + AS_HEADROOM}",
            f"--nofile={lim.max_open_files}",
            f"--nproc={lim.max_processes}", f"--fsize={fsize}", "--core=0",
            "--", *self.argv,
        ]  # fmt: skip
        return argv

    def _spawn(self, stdin_fd: int, stdout_fd: int, stderr_fd: int) -> subprocess.Popen[bytes]:
        child_fds: list[int] = []
        try:
            ws_fd = os.open(self.sandbox.workspace.root, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
            child_fds.append(ws_fd)
            sc_fd = seccomp.filter_fd(self.backend.seccomp_program)
            child_fds.append(sc_fd)
            self._info_r, info_w = os.pipe2(os.O_CLOEXEC)
            child_fds.append(info_w)
            block_r, self._block_w = os.pipe2(os.O_CLOEXEC)
            child_fds.append(block_r)
            argv = self._bwrap_argv(ws_fd, sc_fd, info_w, block_r)
            return subprocess.Popen(
                argv,
                stdin=stdin_fd,
                stdout=stdout_fd,
                stderr=stderr_fd,
                pass_fds=[*child_fds, *self.extra_fds],
                env=self.env,
                cwd="/",
            )
        except BaseException:
            self._close_handshake()
            raise
        finally:
            for fd in child_fds:
                os.close(fd)

    async def _after_spawn(self) -> None:
        placing = None
        if self.backend.cgroups is not None:
            # Attaching a process to a cgroup waits for an RCU grace period (~8 ms on this
            # cgroup v1 host), so it runs in a thread, and starts with the bwrap monitor
            # right away, overlapping bwrap's own start-up; the child then joins cheaply.
            assert self._proc is not None
            placing = asyncio.ensure_future(asyncio.to_thread(self._place, self._proc.pid))
        try:
            info = await self._read_info()
            child = info.get("child-pid") if info else None
            if isinstance(child, int):
                self.child_pid = child
                with contextlib.suppress(OSError):
                    self._child_pidfd = os.pidfd_open(child)
                    # Under memory pressure on the host, the OOM killer takes sandboxed
                    # processes first (inherited; lowering it needs CAP_SYS_RESOURCE).
                    with open(f"/proc/{child}/oom_score_adj", "w") as f:
                        f.write("1000")
            if placing is not None:
                self._cgroup = await placing
                if isinstance(child, int):
                    await asyncio.to_thread(self._cgroup.add, child)
            if self.sandbox.network.enabled and isinstance(child, int):
                sock = await listen_in_netns(child, PROXY_PORT)
                self._server = await self.backend.egress.serve(sock, self.sandbox.network)
        except BaseException:
            # Not released (the block fd is closed unwritten) and killed by its pid: a
            # bwrap monitor killed before its child armed --die-with-parent leaves that
            # child running under init (bubblewrap issue 633), and a child whose block fd
            # reads end-of-file goes on to run the command.
            if self.child_pid < 0:
                self._child_from_info()
            self._kill_tree()
            if placing is not None and not placing.done():
                placing.add_done_callback(_release_cgroup)
            self._close_handshake()
            raise
        with contextlib.suppress(OSError):
            if self._block_w >= 0:
                os.write(self._block_w, b"1")
        self._close_handshake()

    def _place(self, pid: int) -> Cgroup:
        assert self.backend.cgroups is not None
        # +2: the bwrap monitor and the sandbox's pid 1 count against pids.max too.
        cgroup = self.backend.cgroups.create(
            self.limits.memory_bytes, self.limits.max_processes + 2
        )
        cgroup.add(pid)
        return cgroup

    async def _read_info(self) -> dict[str, Any] | None:
        loop = asyncio.get_running_loop()
        os.set_blocking(self._info_r, False)
        while b"}" not in self._info:
            try:
                chunk = os.read(self._info_r, 4096)
            except BlockingIOError:
                ready = loop.create_future()
                loop.add_reader(self._info_r, wake, ready)
                try:
                    await ready
                finally:
                    loop.remove_reader(self._info_r)
                continue
            if not chunk:
                break
            self._info += chunk
        os.close(self._info_r)
        self._info_r = -1
        return _info_of(self._info)

    def _child_from_info(self, wait: float = INFO_WAIT) -> None:
        """The sandbox child's pid when the start failed before it was read: bwrap writes
        it right after cloning, so it is there or follows within moments (or the fd
        ends: bwrap failed before cloning)."""
        deadline = time.monotonic() + wait
        while self._info_r >= 0 and b"}" not in self._info:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self._info_r], [], [], left)[0]:
                break
            try:
                chunk = os.read(self._info_r, 4096)
            except BlockingIOError:
                continue
            except OSError:
                break
            if not chunk:
                break
            self._info += chunk
        child = (_info_of(self._info) or {}).get("child-pid")
        if isinstance(child, int):
            self.child_pid = child

    def _close_handshake(self) -> None:
        for name in ("_info_r", "_block_w"):
            fd = getattr(self, name)
            if fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)
                setattr(self, name, -1)

    def _kill_tree(self) -> None:
        if self._child_pidfd >= 0:
            with contextlib.suppress(OSError):
                signal.pidfd_send_signal(self._child_pidfd, signal.SIGKILL)
        elif self.child_pid > 0 and self._proc is not None and self._proc.returncode is None:
            # No pidfd yet; the monitor (its parent) has not been reaped, so the pid is
            # still that child's.
            with contextlib.suppress(OSError):
                os.kill(self.child_pid, signal.SIGKILL)
        if self._proc is not None and self._proc.returncode is None:
            with contextlib.suppress(OSError):
                os.kill(self._proc.pid, signal.SIGKILL)

    def _signal_from_exit_code(self, exit_code: int) -> int | None:
        return exit_code - 128 if 128 < exit_code <= 128 + 64 else None

    def _limit_reason(self, sig: int | None, cpu: float) -> KilledReason | None:
        if self._cgroup is not None and self._cgroup.oom_killed():
            return "memory"
        return super()._limit_reason(sig, cpu)

    def _cleanup(self) -> None:
        self._cleanup_handles()
        self.sandbox.exec_finished()

    def _cleanup_handles(self) -> None:
        self._close_handshake()
        if self._child_pidfd >= 0:
            os.close(self._child_pidfd)
            self._child_pidfd = -1
        if self._server is not None:
            self._server.close()
            self._server = None
        if self._cgroup is not None:
            _remove_later(self._cgroup)
            self._cgroup = None


def _info_of(data: bytes) -> dict[str, Any] | None:
    try:
        info = json.loads(data)
    except ValueError:
        return None  # bwrap failed before creating the sandbox; its stderr says why
    return info if isinstance(info, dict) else None


def _release_cgroup(placing: asyncio.Future[Cgroup]) -> None:
    if not placing.cancelled() and placing.exception() is None:
        _remove_later(placing.result())


def _remove_later(cgroup: Cgroup, attempt: int = 0) -> None:
    if not cgroup.remove() and attempt < 50:
        asyncio.get_running_loop().call_later(0.1, _remove_later, cgroup, attempt + 1)
