"""``unsafe-local``: run commands directly on the host. **NOT A SANDBOX.**

.. warning::

   Commands run as Junction's own user (root, if Junction runs as root), see the whole
   file system and the whole network exactly as Junction does. Anything Junction could
   do, the command can do: read its database, configuration and secrets, talk to every
   service on the machine and the internet, kill processes, fill the disk. It exists
   for development on machines without user namespaces and for tests of the functional
   contract. It refuses to start unless the caller sets
   ``SandboxSettings(allow_unsafe=True)`` explicitly; nothing ever falls back to it.

What it still does: the working directory is the workspace directory, the environment is
the minimal sandbox one (nothing of Junction's is inherited), rlimits are applied (CPU,
memory, open files, file size; not processes: RLIMIT_NPROC would count every process of
Junction's user), output is capped, the wall timeout and cancellation kill the whole
process group, and the file API is the same safe one. A network policy is *not*
enforced (no proxy, no isolation).
"""

from __future__ import annotations

import os
import resource
import signal
import subprocess
from pathlib import Path

from junction.sandbox.base import SandboxSettings, register_backend
from junction.sandbox.local import DEFAULT_ENV, LocalBackend, LocalSandbox
from junction.sandbox.process import LocalExecution
from junction.sandbox.types import GiB, Limits


class UnsafeExecution(LocalExecution):
    def __init__(
        self,
        sandbox: LocalSandbox,
        argv: list[str],
        *,
        env: dict[str, str],
        stdin: bytes | None,
        timeout: float | None,
        cwd: Path,
    ) -> None:
        super().__init__(sandbox.limits, timeout=timeout, stdin=stdin)
        self.sandbox = sandbox
        self.argv = argv
        self.env = env
        self.cwd = cwd

    def _spawn(self, stdin_fd: int, stdout_fd: int, stderr_fd: int) -> subprocess.Popen[bytes]:
        limits = self.limits
        return subprocess.Popen(
            self.argv,
            stdin=stdin_fd,
            stdout=stdout_fd,
            stderr=stderr_fd,
            env=self.env,
            cwd=self.cwd,
            start_new_session=True,
            preexec_fn=lambda: _apply_rlimits(limits),
        )

    def _kill_tree(self) -> None:
        if self._proc is not None:
            try:
                os.killpg(self._proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass

    def _cleanup(self) -> None:
        self.sandbox.exec_finished()


def _apply_rlimits(limits: Limits) -> None:
    for which, value in (
        (resource.RLIMIT_CPU, (limits.cpu_seconds, limits.cpu_seconds + 1)),
        (resource.RLIMIT_DATA, (limits.memory_bytes, limits.memory_bytes)),
        (resource.RLIMIT_AS, (limits.memory_bytes + 4 * GiB, limits.memory_bytes + 4 * GiB)),
        (resource.RLIMIT_NOFILE, (limits.max_open_files, limits.max_open_files)),
        (resource.RLIMIT_FSIZE, (limits.disk_bytes, limits.disk_bytes)),
        (resource.RLIMIT_CORE, (0, 0)),
    ):
        resource.setrlimit(which, value)


@register_backend("unsafe-local")
class UnsafeLocalBackend(LocalBackend):
    """Runs commands unsandboxed on the host — see the module docstring. Opt-in only."""

    @classmethod
    def unavailable_reason(cls, settings: SandboxSettings) -> str | None:
        if not settings.allow_unsafe:
            return (
                "it runs commands on the host without any isolation; it is only enabled "
                "with an explicit SandboxSettings(allow_unsafe=True)"
            )
        return None

    def __init__(self, settings: SandboxSettings) -> None:
        if not settings.allow_unsafe:
            raise ValueError("UnsafeLocalBackend requires SandboxSettings(allow_unsafe=True)")
        super().__init__(settings, owner=None)

    def workspace_path(self, host_dir: Path) -> str:
        return str(host_dir)

    def new_execution(
        self,
        sandbox: LocalSandbox,
        argv: list[str],
        *,
        stdin: bytes | None,
        env: dict[str, str],
        timeout: float | None,
        cwd: str,
    ) -> LocalExecution:
        parts = sandbox.open_cwd(cwd)
        full_env = {**DEFAULT_ENV, "HOME": sandbox.workspace_path, **env}
        return UnsafeExecution(
            sandbox,
            argv,
            env=full_env,
            stdin=stdin,
            timeout=timeout,
            cwd=sandbox.workspace.root.joinpath(*parts),
        )
