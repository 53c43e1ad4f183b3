"""Running one local process tree as an :class:`~junction.sandbox.base.Execution`.

Shared by the local backends: pipes read with ``add_reader`` (no thread per stream),
exit detected through a pidfd and reaped with ``wait4`` (which also yields the CPU time
of the whole reaped tree), a wall-clock timer, an output cap, an optional periodic
monitor (the disk quota) and a synchronous kill that works from any callback, a
cancelled task or ``__del__``. Subclasses say how to spawn and how to kill the tree.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import time
from abc import abstractmethod
from collections.abc import Awaitable, Callable
from typing import Any, Literal

from junction.sandbox.base import Execution
from junction.sandbox.types import ExecResult, KilledReason, Limits, OutputChunk

READ_SIZE = 64 * 1024
Monitor = Callable[[], Awaitable[KilledReason | None]]
Stream = Literal["stdout", "stderr"]


class LocalExecution(Execution):
    def __init__(
        self,
        limits: Limits,
        *,
        timeout: float | None,
        stdin: bytes | None,
        monitor: Monitor | None = None,
        monitor_interval: float = 0.05,
    ) -> None:
        self.limits = limits
        self.timeout = limits.wall_seconds if timeout is None else timeout
        self._stdin = stdin
        self._monitor = monitor
        self._monitor_interval = monitor_interval
        self._queue: asyncio.Queue[OutputChunk | ExecResult] = asyncio.Queue()
        self._started = False
        self._finished = False
        self._emitted_result = False
        self._done = asyncio.Event()
        self._proc: subprocess.Popen[bytes] | None = None
        self._pidfd = -1
        self._streams: dict[int, Stream] = {}
        self._exit: tuple[int, float, float] | None = None  # status, cpu, wall
        self._killed: KilledReason | None = None
        self._truncated = False
        self._output_bytes = 0
        self._tasks: list[asyncio.Task[Any]] = []
        self._timer: asyncio.TimerHandle | None = None
        self._t0 = 0.0

    # -- subclass hooks ------------------------------------------------------------------

    @abstractmethod
    def _spawn(self, stdin_fd: int, stdout_fd: int, stderr_fd: int) -> subprocess.Popen[bytes]:
        """Start the process (synchronously; it must not block for long)."""

    async def _after_spawn(self) -> None:
        """Finish starting (e.g. release a sandbox that waits on a block fd)."""

    @abstractmethod
    def _kill_tree(self) -> None:
        """SIGKILL every process of this exec. Called possibly several times."""

    def _cleanup(self) -> None:
        """Release per-exec resources once the process tree is gone."""

    def _signal_from_exit_code(self, exit_code: int) -> int | None:
        return None

    def _limit_reason(self, sig: int | None, cpu: float) -> KilledReason | None:
        if sig == signal.SIGXCPU or (sig == signal.SIGKILL and cpu >= self.limits.cpu_seconds):
            return "cpu_limit"
        return None

    # -- Execution ---------------------------------------------------------------------

    async def __anext__(self) -> OutputChunk | ExecResult:
        if self._emitted_result:
            raise StopAsyncIteration
        try:
            if not self._started:
                await self._start()
            item = await self._queue.get()
        except BaseException:
            self.kill()
            raise
        if isinstance(item, ExecResult):
            self._emitted_result = True
        return item

    def kill(self) -> None:
        self._kill_for("cancelled")

    async def aclose(self) -> None:
        if self._started and not self._finished:
            self.kill()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._done.wait(), 5)
        self._emitted_result = True

    def __del__(self) -> None:
        if self._started and not self._finished:
            with contextlib.suppress(Exception):
                self._kill_tree()

    # -- machinery -----------------------------------------------------------------------

    async def _start(self) -> None:
        self._started = True
        loop = asyncio.get_running_loop()
        out_r, out_w = os.pipe2(os.O_CLOEXEC)
        err_r, err_w = os.pipe2(os.O_CLOEXEC)
        in_w = -1
        if self._stdin is not None:
            in_r, in_w = os.pipe2(os.O_CLOEXEC)
        else:
            in_r = os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)
        try:
            self._t0 = time.monotonic()
            self._proc = self._spawn(in_r, out_w, err_w)
        except BaseException:
            for fd in (out_r, err_r, in_w):
                if fd >= 0:
                    os.close(fd)
            self._finished = True
            self._done.set()
            raise
        finally:
            for fd in (in_r, out_w, err_w):
                os.close(fd)
        self._pidfd = os.pidfd_open(self._proc.pid)
        loop.add_reader(self._pidfd, self._on_exit)
        names: tuple[tuple[int, Stream], ...] = ((out_r, "stdout"), (err_r, "stderr"))
        for fd, name in names:
            os.set_blocking(fd, False)
            self._streams[fd] = name
            loop.add_reader(fd, self._on_readable, fd)
        self._timer = loop.call_later(self.timeout, self._kill_for, "timeout")
        if in_w >= 0:
            assert self._stdin is not None
            self._tasks.append(loop.create_task(self._feed(in_w, self._stdin)))
        if self._monitor is not None:
            self._tasks.append(loop.create_task(self._watch(self._monitor)))
        await self._after_spawn()

    def _kill_for(self, reason: KilledReason) -> None:
        if self._finished or not self._started:
            return
        if self._killed is None:
            self._killed = reason
        self._kill_tree()

    def _on_readable(self, fd: int) -> None:
        try:
            data = os.read(fd, READ_SIZE)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self._close_stream(fd)
            self._maybe_finish()
            return
        room = self.limits.max_output_bytes - self._output_bytes
        if len(data) > room:
            data = data[:room]
            self._truncated = True
        self._output_bytes += len(data)
        if data:
            self._queue.put_nowait(OutputChunk(self._streams[fd], data))
        if self._truncated:
            self._kill_for("output_limit")
            for other in list(self._streams):
                self._close_stream(other)
            self._maybe_finish()

    def _close_stream(self, fd: int) -> None:
        if self._streams.pop(fd, None) is not None:
            asyncio.get_running_loop().remove_reader(fd)
            os.close(fd)

    def _on_exit(self) -> None:
        assert self._proc is not None
        loop = asyncio.get_running_loop()
        try:
            pid, status, usage = os.wait4(self._proc.pid, os.WNOHANG)
        except ChildProcessError:  # somebody else reaped it
            pid, status, usage = self._proc.pid, 0, None
        if pid == 0:
            return
        loop.remove_reader(self._pidfd)
        os.close(self._pidfd)
        self._pidfd = -1
        self._proc.returncode = os.waitstatus_to_exitcode(status)
        cpu = usage.ru_utime + usage.ru_stime if usage is not None else 0.0
        self._exit = (status, cpu, time.monotonic() - self._t0)
        self._kill_tree()  # nothing of this exec may outlive it
        if self._streams:  # a straggler holding the pipes: give it a moment, then cut
            loop.call_later(0.5, self._force_close)
        self._maybe_finish()

    def _force_close(self) -> None:
        for fd in list(self._streams):
            self._close_stream(fd)
        self._maybe_finish()

    def _maybe_finish(self) -> None:
        if self._finished or self._exit is None or self._streams:
            return
        self._finished = True
        status, cpu, wall = self._exit
        code = os.waitstatus_to_exitcode(status)
        sig: int | None
        if code < 0:
            sig, code = -code, 128 - code
        else:
            sig = self._signal_from_exit_code(code)
        reason = self._killed or self._limit_reason(sig, cpu)
        if self._timer is not None:
            self._timer.cancel()
        for task in self._tasks:
            task.cancel()
        self._cleanup()
        self.result = ExecResult(
            exit_code=code,
            signal=sig,
            timed_out=reason == "timeout",
            killed_reason=reason,
            cpu_seconds=round(cpu, 6),
            wall_seconds=round(wall, 6),
            truncated=self._truncated,
        )
        self._queue.put_nowait(self.result)
        self._done.set()

    async def _feed(self, fd: int, data: bytes) -> None:
        loop = asyncio.get_running_loop()
        os.set_blocking(fd, False)
        view = memoryview(data)
        try:
            while view:
                try:
                    view = view[os.write(fd, view) :]
                except BlockingIOError:
                    ready = loop.create_future()
                    loop.add_writer(fd, wake, ready)
                    try:
                        await ready
                    finally:
                        loop.remove_writer(fd)
        except OSError:
            pass  # the command closed stdin or exited
        finally:
            os.close(fd)

    async def _watch(self, monitor: Monitor) -> None:
        """Call ``monitor`` every interval; an expensive check (a big workspace to walk)
        backs off to ten times its own duration, at most a second apart."""
        pause = self._monitor_interval
        while True:
            await asyncio.sleep(pause)
            started = time.monotonic()
            reason = await monitor()
            if reason is not None:
                self._kill_for(reason)
                return
            took = time.monotonic() - started
            pause = min(max(self._monitor_interval, 10 * took), 1.0)


def wake(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)
