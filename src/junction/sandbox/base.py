"""The sandbox seam: :class:`SandboxBackend` makes :class:`Sandbox` handles.

A *sandbox* is a persistent workspace (a directory tree that survives between commands)
plus the rules under which commands run in it: :class:`~junction.sandbox.types.Limits`
and a :class:`~junction.sandbox.types.NetworkPolicy`. Backends register by name::

    @register_backend("bubblewrap")
    class BubblewrapBackend(SandboxBackend): ...

    backend = create_backend("bubblewrap", SandboxSettings(root_dir=Path("data/sandboxes")))
    box = await backend.create("env-123", Limits(), NetworkPolicy())
    async with box.exec("python3 -c 'print(1)'") as run:
        async for item in run:  # OutputChunk…, then one ExecResult
            ...

The core imports only this module; concrete backends are loaded by name.
"""

from __future__ import annotations

import importlib
import re
from abc import ABC, abstractmethod
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType, TracebackType
from typing import ClassVar, TypeVar

from junction.sandbox.errors import ExecTimeout, InvalidArgument, SandboxError, SandboxUnavailable
from junction.sandbox.types import (
    CompletedExec,
    ExecResult,
    FileEntry,
    Limits,
    NetworkPolicy,
    OutputChunk,
)

# (credential id, destination host) -> (header name, header value); the secret stays in
# Junction's process. Raises PermissionError when the host is not one the credential trusts.
CredentialResolver = Callable[[str, str], Awaitable[tuple[str, str]]]
SANDBOX_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")


@dataclass(frozen=True)
class SandboxSettings:
    """Server-level configuration every backend receives (passed in from the edge)."""

    root_dir: Path  # where workspaces (and backend state) live; not visible to sandboxes
    allow_private_egress: bool = False  # let the egress proxy reach private/loopback IPs
    resolve_credential: CredentialResolver | None = None
    egress_extra_ca_file: Path | None = None  # also trusted when the proxy verifies servers
    # When Junction runs as root, bwrap (and so every sandboxed process) runs as this host
    # uid/gid instead; default: the 'junction-sandbox' system user if it exists, else 65534.
    host_uid: int | None = None
    host_gid: int | None = None
    bwrap_path: str | None = None  # default: `bwrap` on PATH
    cgroups: bool = True  # use cgroups for memory/pids when writable (see docs/sandbox.md)
    cgroup_parent: Path | None = None  # a delegated cgroup v2 directory to create execs in
    allow_unsafe: bool = False  # required by the "unsafe-local" backend; never a default
    egress_max_connections: int = 64  # egress proxy connections open at once, per sandbox
    egress_head_timeout: float = 10.0  # seconds for a request head to reach the proxy
    # Warm execution (bubblewrap; docs/sandbox.md): a pre-started interpreter per sandbox,
    # at most warm_max of them; reaped after warm_idle_seconds unused and whenever the
    # host's MemAvailable is below warm_min_available_bytes.
    warm: bool = True
    warm_max: int = 32
    warm_idle_seconds: float = 300.0
    warm_min_available_bytes: int = 512 * 1024 * 1024


def check_sandbox_id(sandbox_id: str) -> str:
    if not isinstance(sandbox_id, str) or not SANDBOX_ID_RE.match(sandbox_id):
        raise InvalidArgument(
            f"invalid sandbox id {sandbox_id!r}: use 1-128 letters, digits, '_', '-', '.'"
        )
    return sandbox_id


class Execution(ABC):
    """A command started by :meth:`Sandbox.exec`.

    Iterate it for :class:`OutputChunk` items followed by exactly one :class:`ExecResult`.
    The command starts on the first iteration. Cancelling the iterating task, leaving an
    ``async with`` block early, :meth:`kill` and :meth:`aclose` all kill the whole process
    tree. Use ``async with`` so an abandoned iteration cannot leave a command running.
    """

    result: ExecResult | None = None

    def __aiter__(self) -> AsyncIterator[OutputChunk | ExecResult]:
        return self

    @abstractmethod
    async def __anext__(self) -> OutputChunk | ExecResult: ...

    @abstractmethod
    def kill(self) -> None:
        """Kill the command's whole process tree now (reported as ``cancelled``)."""

    @abstractmethod
    async def aclose(self) -> None:
        """Kill the command if it still runs and release everything it holds."""

    async def __aenter__(self) -> Execution:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()


class Sandbox(ABC):
    """A handle on one sandbox. Paths are relative to the workspace root (see paths.py)."""

    id: str
    limits: Limits
    network: NetworkPolicy
    workspace_path: str  # where commands see the workspace, e.g. "/workspace"
    # Variables every command gets (an environment's ``env``); an exec's own ``env`` wins.
    base_env: Mapping[str, str] = MappingProxyType({})

    @abstractmethod
    def exec(
        self,
        command: str | Sequence[str],
        *,
        stdin: bytes | None = None,
        env: Mapping[str, str] | None = None,
        timeout: float | None = None,
        cwd: str = ".",
    ) -> Execution:
        """Run ``command`` (a string runs under ``bash -c``; a sequence is an argv)."""

    @abstractmethod
    def read_file(self, path: str) -> AsyncIterator[bytes]:
        """Stream a regular file's bytes."""

    @abstractmethod
    async def write_file(self, path: str, data: bytes | AsyncIterable[bytes]) -> int:
        """Create or replace a file atomically (parents created); returns bytes written."""

    @abstractmethod
    async def list_files(self, path: str = ".", recursive: bool = False) -> list[FileEntry]: ...

    @abstractmethod
    async def delete_file(self, path: str, recursive: bool = False) -> None: ...

    @abstractmethod
    async def disk_usage(self) -> int:
        """Bytes the workspace uses (what the quota counts)."""

    @abstractmethod
    async def copy_from(self, other: Sandbox) -> None:
        """Replace this workspace's contents with a copy of ``other``'s."""

    @abstractmethod
    async def snapshot(self, new_id: str) -> Sandbox:
        """A new sandbox (same limits and network) whose workspace copies this one."""

    @abstractmethod
    async def destroy(self) -> None:
        """Kill running commands and delete the workspace. Idempotent."""

    async def run(
        self,
        command: str | Sequence[str],
        *,
        stdin: bytes | None = None,
        env: Mapping[str, str] | None = None,
        timeout: float | None = None,
        cwd: str = ".",
        check_timeout: bool = False,
    ) -> CompletedExec:
        """Run to completion and collect the output (bounded by ``max_output_bytes``)."""
        out: list[bytes] = []
        err: list[bytes] = []
        result: ExecResult | None = None
        async with self.exec(command, stdin=stdin, env=env, timeout=timeout, cwd=cwd) as run:
            async for item in run:
                if isinstance(item, ExecResult):
                    result = item
                else:
                    (out if item.stream == "stdout" else err).append(item.data)
        assert result is not None
        if check_timeout and result.timed_out:
            raise ExecTimeout(f"command ran past its {result.wall_seconds:.1f} s time limit")
        return CompletedExec(b"".join(out), b"".join(err), result)


class SandboxBackend(ABC):
    """Creates and finds sandboxes. Concrete backends register with ``register_backend``."""

    name: ClassVar[str] = ""

    def __init__(self, settings: SandboxSettings) -> None:
        self.settings = settings

    @classmethod
    def unavailable_reason(cls, settings: SandboxSettings) -> str | None:
        """Why this backend cannot run here, or None when it can."""
        return None

    @abstractmethod
    async def create(
        self,
        sandbox_id: str,
        limits: Limits | None = None,
        network: NetworkPolicy | None = None,
    ) -> Sandbox:
        """Create a sandbox with an empty workspace (SandboxExists if the id is taken)."""

    async def set_network(self, sandbox_id: str, network: NetworkPolicy) -> None:
        """Change a sandbox's network policy for its next commands."""
        raise SandboxError(f"the {type(self).__name__} cannot change a sandbox's network")

    @abstractmethod
    async def get(self, sandbox_id: str) -> Sandbox:
        """Re-open an existing sandbox (SandboxNotFound otherwise)."""

    async def aclose(self) -> None:
        """Release backend-wide resources (the egress proxy, …)."""


_BACKENDS: dict[str, type[SandboxBackend]] = {}
B = TypeVar("B", bound=type[SandboxBackend])
BUILTIN_MODULES = ("bubblewrap", "unsafe_local")


def register_backend(name: str) -> Callable[[B], B]:
    def decorate(cls: B) -> B:
        cls.name = name
        _BACKENDS[name] = cls
        return cls

    return decorate


def load_builtin_backends() -> None:
    for module in BUILTIN_MODULES:
        importlib.import_module(f"junction.sandbox.{module}")


def backend_names() -> list[str]:
    load_builtin_backends()
    return sorted(_BACKENDS)


def backend_class(name: str) -> type[SandboxBackend]:
    load_builtin_backends()
    try:
        return _BACKENDS[name]
    except KeyError:
        known = ", ".join(sorted(_BACKENDS))
        raise SandboxUnavailable(f"unknown sandbox backend '{name}' (known: {known})") from None


def create_backend(name: str, settings: SandboxSettings) -> SandboxBackend:
    """Instantiate a registered backend, or raise SandboxUnavailable saying why not."""
    cls = backend_class(name)
    reason = cls.unavailable_reason(settings)
    if reason is not None:
        raise SandboxUnavailable(f"sandbox backend '{name}' is unavailable: {reason}")
    return cls(settings)
