"""Plain data shared by every sandbox backend: limits, network policy, exec output, entries."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

KiB = 1024
MiB = 1024 * KiB
GiB = 1024 * MiB


@dataclass(frozen=True)
class Limits:
    """Resource limits of a sandbox; every exec in it runs under them.

    How each is enforced depends on the backend (see docs/sandbox.md for bubblewrap).
    """

    wall_seconds: float = 300.0  # default exec timeout (exec(timeout=…) overrides)
    cpu_seconds: int = 300  # CPU time per process (RLIMIT_CPU)
    memory_bytes: int = 2 * GiB  # per process (RLIMIT_DATA) + whole exec when cgroups exist
    max_processes: int = 256  # processes/threads of one exec
    max_open_files: int = 1024  # per process (RLIMIT_NOFILE)
    max_output_bytes: int = 8 * MiB  # stdout+stderr of one exec; past it: kill, truncated
    disk_bytes: int = 1 * GiB  # the persistent workspace
    max_files: int = 100_000  # files, directories and links in the workspace (inode quota)
    tmp_bytes: int = 256 * MiB  # the private /tmp (and /dev/shm), RAM-backed

    def __post_init__(self) -> None:
        for name, value in self.__dict__.items():
            if not isinstance(value, int | float) or isinstance(value, bool) or value <= 0:
                raise ValueError(f"limit {name} must be a positive number, not {value!r}")

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Limits:
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(**known)


_DOMAIN_RE = re.compile(
    r"^(\*|(\*\.)?[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?(\.[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?)*|[0-9a-f:.\[\]]+)$"
)


@dataclass(frozen=True)
class EgressRule:
    """One allowlist entry of the egress proxy.

    ``domain``: ``example.com`` (exactly), ``*.example.com`` (any subdomain, not the apex),
    ``*`` (every host), or an IP literal. ``headers`` are set on matching plain-HTTP
    requests (replacing the client's); ``credential_id`` names a secret the backend's
    ``resolve_credential`` callback turns into one more header. Neither ever enters the
    sandbox. HTTPS (CONNECT) traffic is tunnelled end to end, so it gets no injection.
    """

    domain: str
    headers: Mapping[str, str] = field(default_factory=dict)
    credential_id: str | None = None

    def __post_init__(self) -> None:
        domain = self.domain.strip().lower().rstrip(".")
        if not domain or not _DOMAIN_RE.match(domain):
            raise ValueError(f"invalid egress domain {self.domain!r}")
        object.__setattr__(self, "domain", domain)
        if self.domain == "*" and (self.headers or self.credential_id):
            raise ValueError(
                "headers and credentials need a specific domain: on '*' the sandbox could "
                "send them to any host it likes"
            )
        for name, value in self.headers.items():
            if (
                not re.fullmatch(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+", name)
                or "\n" in value
                or "\r" in value
            ):
                raise ValueError(f"invalid header {name!r} in egress rule for {domain}")

    def matches(self, host: str) -> bool:
        host = host.lower().rstrip(".")
        if self.domain == "*":
            return True
        if self.domain.startswith("*."):
            return host.endswith(self.domain[1:])
        return host == self.domain.strip("[]")

    def to_json(self) -> dict[str, Any]:
        return {
            "domain": self.domain,
            "headers": dict(self.headers),
            "credential_id": self.credential_id,
        }


@dataclass(frozen=True)
class NetworkPolicy:
    """Egress of a sandbox. Empty ``allow`` (the default) means no network at all."""

    allow: tuple[EgressRule, ...] = ()

    @property
    def enabled(self) -> bool:
        return bool(self.allow)

    def rule_for(self, host: str) -> EgressRule | None:
        """The most specific rule matching ``host`` (exact > longest wildcard > ``*``)."""
        best: EgressRule | None = None
        for rule in self.allow:
            if rule.matches(host) and (best is None or _specificity(rule) > _specificity(best)):
                best = rule
        return best

    def to_json(self) -> dict[str, Any]:
        return {"allow": [rule.to_json() for rule in self.allow]}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> NetworkPolicy:
        return cls(tuple(EgressRule(**rule) for rule in data.get("allow", ())))


def _specificity(rule: EgressRule) -> int:
    if rule.domain == "*":
        return 0
    return len(rule.domain) + (1000 if not rule.domain.startswith("*.") else 0)


@dataclass(frozen=True)
class OutputChunk:
    """A piece of a command's output, in the order it was read."""

    stream: Literal["stdout", "stderr"]
    data: bytes


KilledReason = Literal["timeout", "cpu_limit", "memory", "output_limit", "disk_quota", "cancelled"]


@dataclass(frozen=True)
class ExecResult:
    """How a command ended; the last item an exec yields.

    ``exit_code`` follows the shell convention (128+N when killed by signal N, as
    bubblewrap reports it); ``signal`` is N in that case. ``killed_reason`` says why
    Junction (or a limit) ended it; ``None`` means it exited on its own.
    """

    exit_code: int
    signal: int | None = None
    timed_out: bool = False
    killed_reason: KilledReason | None = None
    cpu_seconds: float = 0.0
    wall_seconds: float = 0.0
    truncated: bool = False


@dataclass(frozen=True)
class CompletedExec:
    """Everything an exec produced, collected by :meth:`Sandbox.run`."""

    stdout: bytes
    stderr: bytes
    result: ExecResult

    @property
    def exit_code(self) -> int:
        return self.result.exit_code


@dataclass(frozen=True)
class FileEntry:
    """One entry of a workspace listing. Symbolic links are listed but never followed."""

    name: str
    path: str  # relative to the workspace root, '/'-separated
    type: Literal["file", "directory", "symlink"]
    size: int
    mime_type: str | None
    created: datetime  # Linux exposes no birth time to Python 3.11 here: this is st_ctime
    modified: datetime
