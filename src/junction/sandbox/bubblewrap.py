"""The local sandbox backend: every exec is a fresh ``bwrap`` (bubblewrap) container.

What each exec gets (docs/sandbox.md has the full story):

* new user, pid, ipc, uts, net and cgroup namespaces (``--unshare-all``), a nested user
  namespace that may create no further ones (``--disable-userns``), all capabilities
  dropped, ``no_new_privs``, a new session (no terminal injection), ``--die-with-parent``;
* uid/gid 1000 ("sandbox") inside; on the host, when Junction runs as root, bwrap itself
  runs as ``SandboxSettings.host_uid``/``host_gid`` (65534 by default), never as root;
* a read-only ``/usr`` (with ``/usr/local`` masked), the ``/bin``, ``/lib*`` links, a
  small read-only subset of ``/etc`` plus generated passwd/group/hosts; private ``/proc``,
  ``/dev``, size-capped tmpfs ``/tmp`` and ``/dev/shm``; a read-only root; the workspace
  read-write at ``/workspace`` — and nothing else of the host;
* the seccomp filter of :mod:`junction.sandbox.seccomp`;
* rlimits set by ``prlimit`` as the first process *inside* the user namespace (so the
  process limit counts this exec only), and cgroup memory/pids limits when available;
* with a network policy, an egress proxy socket inside the (otherwise empty) netns.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from junction.sandbox import seccomp
from junction.sandbox.base import SandboxSettings, register_backend
from junction.sandbox.bwrap_exec import PROXY_PORT, BwrapExecution
from junction.sandbox.bwrap_system import (
    WORKSPACE,
    build_etc_view,
    check_traversable,
    drop_root_prefix,
    probe,
    sandbox_host_ids,
    usr_mounts,
)
from junction.sandbox.cgroups import CgroupLimiter, detect_cgroups
from junction.sandbox.egress import EgressProxy
from junction.sandbox.local import DEFAULT_ENV, LocalBackend, LocalSandbox
from junction.sandbox.process import LocalExecution


@register_backend("bubblewrap")
class BubblewrapBackend(LocalBackend):
    def __init__(self, settings: SandboxSettings) -> None:
        owner = (
            sandbox_host_ids(settings.host_uid, settings.host_gid) if os.geteuid() == 0 else None
        )
        super().__init__(settings, owner)
        if owner is not None:
            check_traversable(self.root, *owner)
        bwrap = _find_bwrap(settings)
        arch = seccomp.host_arch()
        assert arch is not None and bwrap is not None, "create_backend checks availability"
        self.bwrap = bwrap
        self.seccomp_program = seccomp.build_filter(arch)
        self.launcher = drop_root_prefix(*owner) if owner else []
        etc_view = self.root / "etc-view"
        build_etc_view(etc_view)
        self.system_args = [*usr_mounts(), "--ro-bind", str(etc_view), "/etc"]
        self.egress = EgressProxy(
            allow_private=settings.allow_private_egress,
            resolve_credential=settings.resolve_credential,
        )
        self.cgroups: CgroupLimiter | None = (
            detect_cgroups(settings.cgroup_parent) if settings.cgroups else None
        )

    @classmethod
    def unavailable_reason(cls, settings: SandboxSettings) -> str | None:
        bwrap = _find_bwrap(settings)
        if bwrap is None:
            return (
                "the 'bwrap' program was not found; install the Debian package 'bubblewrap' "
                "(scripts/install-system-deps.sh does it)"
            )
        if seccomp.host_arch() is None:
            return f"unsupported CPU architecture {os.uname().machine} (x86_64, aarch64 only)"
        return probe(bwrap, *sandbox_host_ids(settings.host_uid, settings.host_gid))

    def workspace_path(self, host_dir: Path) -> str:
        return WORKSPACE

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
        full_env = {**DEFAULT_ENV, "HOME": WORKSPACE, "USER": "sandbox"}
        if sandbox.network.enabled:
            proxy = f"http://127.0.0.1:{PROXY_PORT}"
            for key in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"):
                full_env[key] = proxy
            full_env["NO_PROXY"] = full_env["no_proxy"] = "localhost,127.0.0.1,::1"
        full_env.update(env)
        return BwrapExecution(
            self, sandbox, argv, env=full_env, stdin=stdin, timeout=timeout,
            chdir="/".join([WORKSPACE, *parts]),
        )  # fmt: skip


def _find_bwrap(settings: SandboxSettings) -> str | None:
    return shutil.which(settings.bwrap_path or "bwrap")
