"""What the local backends share: a directory per sandbox and the file API over it.

Layout under ``SandboxSettings.root_dir`` (mode 0700; sandboxes never see it)::

    sandboxes/<id>/sandbox.json   limits and network policy (so ``get`` survives restarts)
    sandboxes/<id>/workspace/     the persistent workspace, owned by the sandbox uid
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import weakref
from abc import abstractmethod
from collections.abc import AsyncIterable, AsyncIterator, Mapping, Sequence
from pathlib import Path

from junction.sandbox import paths
from junction.sandbox.base import (
    Execution,
    Sandbox,
    SandboxBackend,
    SandboxSettings,
    check_sandbox_id,
)
from junction.sandbox.errors import (
    InvalidArgument,
    SandboxError,
    SandboxExists,
    SandboxNotFound,
)
from junction.sandbox.process import LocalExecution
from junction.sandbox.types import FileEntry, KilledReason, Limits, NetworkPolicy
from junction.sandbox.workspace import Workspace

DEFAULT_ENV = {
    "PATH": "/usr/bin:/bin:/usr/sbin:/sbin",
    "LANG": "C.UTF-8",
    "TMPDIR": "/tmp",
    "PYTHONDONTWRITEBYTECODE": "1",  # keep __pycache__ out of the workspace
    "MPLBACKEND": "Agg",
    "MPLCONFIGDIR": "/tmp/.matplotlib",
    "XDG_CACHE_HOME": "/tmp/.cache",
}


def check_env(env: Mapping[str, str] | None) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in (env or {}).items():
        if not key or "=" in key or "\x00" in key or "\x00" in value:
            raise InvalidArgument(f"invalid environment variable {key!r}")
        out[key] = value
    return out


class LocalSandbox(Sandbox):
    def __init__(
        self,
        backend: LocalBackend,
        sandbox_id: str,
        limits: Limits,
        network: NetworkPolicy,
        directory: Path,
    ) -> None:
        self.backend = backend
        self.id = sandbox_id
        self.limits = limits
        self.network = network
        self.directory = directory
        self.workspace_path = backend.workspace_path(directory / "workspace")
        self.workspace = Workspace(
            directory / "workspace",
            owner=backend.owner,
            quota_bytes=limits.disk_bytes,
            max_files=limits.max_files,
        )
        self._running: weakref.WeakSet[LocalExecution] = weakref.WeakSet()
        self._usage: int | None = None  # last measured disk usage (a hint, not the truth)
        self._entries = 0  # entries (inodes) at the last quota check
        self._measuring: asyncio.Task[int] | None = None
        self.destroyed = False

    # -- exec ----------------------------------------------------------------------------

    def exec(
        self,
        command: str | Sequence[str],
        *,
        stdin: bytes | None = None,
        env: Mapping[str, str] | None = None,
        timeout: float | None = None,
        cwd: str = ".",
    ) -> Execution:
        if self.destroyed:
            raise SandboxNotFound(f"sandbox '{self.id}' was destroyed")
        if isinstance(command, str):
            argv = ["/bin/bash", "-c", command]
        else:
            argv = [str(arg) for arg in command]
            if not argv:
                raise InvalidArgument("command is empty")
        if timeout is not None and not timeout > 0:
            raise InvalidArgument(f"timeout must be positive, not {timeout!r}")
        execution = self.backend.new_execution(
            self,
            argv,
            stdin=stdin,
            env=check_env({**self.base_env, **(env or {})}),
            timeout=timeout,
            cwd=cwd,
        )
        self._running.add(execution)
        return execution

    async def usage_hint(self) -> int:
        """Disk usage for the next exec's limits: measured after the previous exec ended
        (in the background, so a new exec rarely waits for the walk)."""
        if self._usage is not None:
            return self._usage
        if self._measuring is None:
            self._measuring = asyncio.ensure_future(asyncio.to_thread(self.workspace.usage))
        task = self._measuring
        usage = await asyncio.shield(task)
        if self._measuring is task:
            self._measuring = None
            self._usage = usage
        return usage

    async def quota_monitor(self, start: int) -> KilledReason | None:
        """Periodic check while a command runs: kill it if it grew the workspace past quota."""
        usage, entries = await asyncio.to_thread(self.workspace.counts)
        self._usage = usage
        if usage > self.limits.disk_bytes and usage > start:
            return "disk_quota"
        grew = entries > self._entries
        self._entries = entries
        if entries > self.limits.max_files and grew:
            return "disk_quota"  # the inode quota (an over-limit workspace can be cleaned up)
        return None

    def exec_finished(self) -> None:
        self._usage = None
        if self._measuring is None and not self.destroyed:
            self._measuring = asyncio.ensure_future(asyncio.to_thread(self.workspace.usage))
            self._measuring.add_done_callback(self._measured)

    def _invalidate(self) -> None:
        self._usage = None
        self._measuring = None  # a walk already running may predate the change: ignore it

    def _measured(self, task: asyncio.Task[int]) -> None:
        if task is self._measuring:
            self._measuring = None
            if not task.cancelled() and task.exception() is None:
                self._usage = task.result()

    def open_cwd(self, cwd: str) -> list[str]:
        """Validate ``cwd`` (relative, an existing directory, no symlinks)."""
        parts = paths.split_path(cwd, allow_root=True)
        root_fd = os.open(self.workspace.root, paths.DIR_FLAGS)
        try:
            os.close(paths.open_dir(root_fd, parts))
        finally:
            os.close(root_fd)
        return parts

    # -- files ---------------------------------------------------------------------------

    def read_file(self, path: str) -> AsyncIterator[bytes]:
        return self.workspace.read(path)

    async def write_file(self, path: str, data: bytes | AsyncIterable[bytes]) -> int:
        try:
            return await self.workspace.write(path, data)
        finally:
            self._invalidate()

    async def list_files(self, path: str = ".", recursive: bool = False) -> list[FileEntry]:
        return await asyncio.to_thread(self.workspace.list, path, recursive)

    async def delete_file(self, path: str, recursive: bool = False) -> None:
        try:
            await asyncio.to_thread(self.workspace.delete, path, recursive)
        finally:
            self._invalidate()

    async def disk_usage(self) -> int:
        self._usage = await asyncio.to_thread(self.workspace.usage)
        return self._usage

    async def copy_from(self, other: Sandbox) -> None:
        if not isinstance(other, LocalSandbox):
            raise SandboxError(f"cannot copy from a '{type(other).__name__}' into a local sandbox")
        try:
            await asyncio.to_thread(self.workspace.copy_from, other.workspace)
        finally:
            self._invalidate()

    async def snapshot(self, new_id: str) -> Sandbox:
        copy = await self.backend.create(new_id, self.limits, self.network)
        try:
            await copy.copy_from(self)
        except BaseException:
            await copy.destroy()
            raise
        return copy

    async def destroy(self) -> None:
        self.destroyed = True
        self.backend.forget(self.id)
        for execution in list(self._running):
            await execution.aclose()
        await asyncio.to_thread(shutil.rmtree, self.directory, True)


class LocalBackend(SandboxBackend):
    """Directory-per-sandbox bookkeeping; subclasses decide how commands run."""

    def __init__(self, settings: SandboxSettings, owner: tuple[int, int] | None = None) -> None:
        super().__init__(settings)
        # (uid, gid) owning workspaces when it differs from Junction's (running as root).
        self.owner = owner
        # bwrap resolves bind sources by path as the sandbox uid, so with a separate owner
        # the directories above a workspace are traversable (0711) but not listable.
        self.dir_mode = 0o711 if owner is not None else 0o700
        self.root = Path(settings.root_dir).absolute()
        self.sandboxes_dir = self.root / "sandboxes"
        self.sandboxes_dir.mkdir(parents=True, exist_ok=True)
        # One handle per live sandbox, so destroy() reaches every exec started through it.
        self._live: weakref.WeakValueDictionary[str, LocalSandbox] = weakref.WeakValueDictionary()
        for directory in (self.root, self.sandboxes_dir):
            directory.chmod(self.dir_mode)

    @abstractmethod
    def workspace_path(self, host_dir: Path) -> str:
        """Where commands see the workspace whose host directory is ``host_dir``."""

    @abstractmethod
    def new_execution(
        self,
        sandbox: LocalSandbox,
        argv: list[str],
        *,
        stdin: bytes | None,
        env: dict[str, str],
        timeout: float | None,
        cwd: str,
    ) -> LocalExecution: ...

    def forget(self, sandbox_id: str) -> None:
        """A sandbox is being destroyed: drop whatever the backend keeps for it."""

    def _directory(self, sandbox_id: str) -> Path:
        return self.sandboxes_dir / check_sandbox_id(sandbox_id)

    async def create(
        self,
        sandbox_id: str,
        limits: Limits | None = None,
        network: NetworkPolicy | None = None,
    ) -> LocalSandbox:
        directory = self._directory(sandbox_id)
        limits = limits or Limits()
        network = network or NetworkPolicy()
        try:
            directory.mkdir(mode=0o700)
        except FileExistsError:
            raise SandboxExists(f"sandbox '{sandbox_id}' already exists") from None
        directory.chmod(self.dir_mode)
        workspace = directory / "workspace"
        workspace.mkdir(mode=0o700)
        if self.owner is not None:
            os.chown(workspace, *self.owner)
        meta = {"limits": limits.to_json(), "network": network.to_json()}
        fd = os.open(directory / "sandbox.json", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with open(fd, "w") as f:
            json.dump(meta, f)
        box = LocalSandbox(self, sandbox_id, limits, network, directory)
        self._live[sandbox_id] = box
        return box

    async def set_network(self, sandbox_id: str, network: NetworkPolicy) -> None:
        box = await self.get(sandbox_id)
        directory = self._directory(sandbox_id)
        meta = json.loads((directory / "sandbox.json").read_text())
        meta["network"] = network.to_json()
        fresh = directory / "sandbox.json.new"
        fd = os.open(fresh, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with open(fd, "w") as f:
            json.dump(meta, f)
        os.replace(fresh, directory / "sandbox.json")
        box.network = network
        self.forget(sandbox_id)  # a warm interpreter started under the old policy

    async def get(self, sandbox_id: str) -> LocalSandbox:
        directory = self._directory(sandbox_id)
        live = self._live.get(sandbox_id)
        if live is not None and not live.destroyed:
            return live
        try:
            meta = json.loads((directory / "sandbox.json").read_text())
        except FileNotFoundError:
            raise SandboxNotFound(f"sandbox '{sandbox_id}' does not exist") from None
        limits = Limits.from_json(meta["limits"])
        network = NetworkPolicy.from_json(meta["network"])
        box = LocalSandbox(self, sandbox_id, limits, network, directory)
        self._live[sandbox_id] = box
        return box
