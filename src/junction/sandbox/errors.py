"""The sandbox layer's errors. Every backend translates its failures into these at the seam.

::

    JunctionError
     +-- SandboxError                 base of everything below
          +-- SandboxUnavailable      the backend cannot run here (bwrap missing, no userns, …)
          +-- SandboxNotFound         no sandbox with that id
          +-- SandboxExists           create() with an id that is already taken
          +-- InvalidArgument         a bad id, env variable, cwd, …
          |    +-- InvalidPath         a path the file API refuses
          |         +-- PathOutsideWorkspace   absolute, ``..`` escape, or through a symlink
          +-- FileNotFoundInSandbox   the path does not exist (or is the wrong kind)
          +-- QuotaExceeded           the workspace disk quota would be exceeded
          +-- ExecTimeout             raised by helpers that want an exception on timeout

``exec`` itself never raises for timeouts or limit kills: it reports them in
:class:`~junction.sandbox.types.ExecResult` (``timed_out``, ``killed_reason``);
:meth:`~junction.sandbox.base.Sandbox.run` with ``check_timeout=True`` raises
:class:`ExecTimeout` instead. The API layer maps these to HTTP (not done here).
"""

from __future__ import annotations

from junction.errors import JunctionError


class SandboxError(JunctionError):
    """Base of every error the sandbox layer raises on purpose."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class SandboxUnavailable(SandboxError):
    """The backend cannot run on this machine; the message says what is missing."""


class SandboxNotFound(SandboxError):
    """No sandbox with this id exists (it was never created or was destroyed)."""


class SandboxExists(SandboxError):
    """A sandbox with this id already exists."""


class InvalidArgument(SandboxError):
    """An argument is malformed (sandbox id, environment variable, …); nothing was changed."""


class InvalidPath(InvalidArgument):
    """The file API refuses this path (empty, NUL byte, not a valid name, …)."""


class PathOutsideWorkspace(InvalidPath):
    """The path is absolute, escapes with ``..``, or goes through a symbolic link."""


class FileNotFoundInSandbox(SandboxError):
    """The path does not exist in the workspace, or is not the expected kind of entry."""


class QuotaExceeded(SandboxError):
    """Writing would take the workspace past its disk quota."""


class ExecTimeout(SandboxError):
    """A command ran past its wall-clock limit (only raised by helpers that opt in)."""
