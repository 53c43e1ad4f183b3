"""Sandboxes: Linux workspaces where agents and the code_execution tool run code.

The seam is :class:`~junction.sandbox.base.SandboxBackend`; backends register by name
("bubblewrap", and the explicitly unsafe "unsafe-local"). See docs/sandbox.md.
"""

from junction.sandbox.base import (
    CredentialResolver,
    Execution,
    Sandbox,
    SandboxBackend,
    SandboxSettings,
    backend_class,
    backend_names,
    create_backend,
    register_backend,
)
from junction.sandbox.errors import (
    ExecTimeout,
    FileNotFoundInSandbox,
    InvalidArgument,
    InvalidPath,
    PathOutsideWorkspace,
    QuotaExceeded,
    SandboxError,
    SandboxExists,
    SandboxNotFound,
    SandboxUnavailable,
)
from junction.sandbox.types import (
    CompletedExec,
    EgressRule,
    ExecResult,
    FileEntry,
    Limits,
    NetworkPolicy,
    OutputChunk,
)

__all__ = [
    "CompletedExec",
    "CredentialResolver",
    "EgressRule",
    "ExecResult",
    "ExecTimeout",
    "Execution",
    "FileEntry",
    "FileNotFoundInSandbox",
    "InvalidArgument",
    "InvalidPath",
    "Limits",
    "NetworkPolicy",
    "OutputChunk",
    "PathOutsideWorkspace",
    "QuotaExceeded",
    "Sandbox",
    "SandboxBackend",
    "SandboxError",
    "SandboxExists",
    "SandboxNotFound",
    "SandboxSettings",
    "SandboxUnavailable",
    "backend_class",
    "backend_names",
    "create_backend",
    "register_backend",
]
