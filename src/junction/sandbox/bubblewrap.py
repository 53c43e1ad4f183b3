"""The local sandbox backend: every exec is a fresh ``bwrap`` (bubblewrap) container.

What each exec gets (docs/sandbox.md has the full story):

* new user, pid, ipc, uts, net and cgroup namespaces (``--unshare-all``), a nested user
  namespace that may create no further ones (``--disable-userns``), all capabilities
  dropped, ``no_new_privs``, a new session (no terminal injection), ``--die-with-parent``;
* uid/gid 1000 ("sandbox") inside; on the host, when Junction runs as root, bwrap itself
  runs as the ``junction-sandbox`` user (see :func:`~junction.sandbox.bwrap_system.
  sandbox_host_ids`), never as root; the command is pid 1 of its pid namespace, so
  nothing outlives it;
* a read-only ``/usr`` (with ``/usr/local`` masked), the ``/bin``, ``/lib*`` links, a
  private read-only ``/etc`` (:mod:`junction.sandbox.bwrap_system`); private ``/proc``,
  ``/dev``, size-capped tmpfs ``/tmp`` and ``/dev/shm``; a read-only root; the workspace
  read-write at ``/workspace`` — and nothing else of the host;
* the seccomp filter of :mod:`junction.sandbox.seccomp`;
* rlimits set by ``prlimit`` as the first process *inside* the user namespace (so the
  process limit counts this exec only), and cgroup memory/pids limits when available;
* with a network policy, an egress proxy socket inside the (otherwise empty) netns.

With ``SandboxSettings.warm`` (the default) each sandbox also keeps one such exec started
ahead of time, waiting in a pre-started interpreter for its command
(:mod:`junction.sandbox.bwrap_warm`).
"""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
from pathlib import Path

from junction.sandbox import seccomp
from junction.sandbox.base import SandboxSettings, register_backend
from junction.sandbox.bwrap_exec import PROXY_PORT, BwrapExecution
from junction.sandbox.bwrap_system import (
    CA_BUNDLE,
    EGRESS_CA,
    WORKSPACE,
    build_etc_view,
    check_traversable,
    drop_root_prefix,
    probe,
    remove_stale_views,
    sandbox_host_ids,
    usr_mounts,
)
from junction.sandbox.bwrap_warm import PooledExecution, WarmPool
from junction.sandbox.cgroups import CgroupLimiter, detect_cgroups
from junction.sandbox.egress import EgressProxy
from junction.sandbox.local import DEFAULT_ENV, LocalBackend, LocalSandbox
from junction.sandbox.process import LocalExecution
from junction.sandbox.tls import InterceptionCA, upstream_context
from junction.sandbox.types import Limits, NetworkPolicy


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
        tls_dir = self.root / "tls"
        tls_dir.mkdir(mode=0o700, exist_ok=True)
        ca = InterceptionCA(tls_dir)
        # Per process: several Junction processes may share one root, each with its own CA.
        remove_stale_views(self.root)
        etc_view = self.root / f"etc-{os.getpid()}-{secrets.token_hex(4)}"
        build_etc_view(etc_view, extra_ca_pem=ca.cert_pem)
        self._etc_view = etc_view
        self.system_args = [*usr_mounts(), "--ro-bind", str(etc_view), "/etc"]
        self.egress = EgressProxy(
            allow_private=settings.allow_private_egress,
            resolve_credential=settings.resolve_credential,
            ca=ca,
            upstream_tls=upstream_context(settings.egress_extra_ca_file),
            head_timeout=settings.egress_head_timeout,
            max_connections=settings.egress_max_connections,
        )
        self.cgroups: CgroupLimiter | None = (
            detect_cgroups(settings.cgroup_parent) if settings.cgroups else None
        )
        self.warm: WarmPool | None = (
            WarmPool(
                self,
                max_warm=settings.warm_max,
                idle_seconds=settings.warm_idle_seconds,
                min_available_bytes=settings.warm_min_available_bytes,
            )
            if settings.warm
            else None
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

    async def create(
        self,
        sandbox_id: str,
        limits: Limits | None = None,
        network: NetworkPolicy | None = None,
    ) -> LocalSandbox:
        box = await super().create(sandbox_id, limits, network)
        if self.warm is not None:
            self.warm.prestart(box)
        return box

    def forget(self, sandbox_id: str) -> None:
        if self.warm is not None:
            self.warm.discard(sandbox_id)

    async def aclose(self) -> None:
        if self.warm is not None:
            await self.warm.aclose()
        await asyncio.to_thread(shutil.rmtree, self._etc_view, True)
        if self.cgroups is not None:
            await asyncio.to_thread(self.cgroups.close)

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
        execution = PooledExecution if self.warm is not None else BwrapExecution
        return execution(
            self, sandbox, argv, env=self.exec_env(sandbox, env), stdin=stdin, timeout=timeout,
            chdir="/".join([WORKSPACE, *parts]),
        )  # fmt: skip

    def exec_env(self, sandbox: LocalSandbox, env: dict[str, str]) -> dict[str, str]:
        full_env = {**DEFAULT_ENV, "HOME": WORKSPACE, "USER": "sandbox"}
        if sandbox.network.enabled:
            proxy = f"http://127.0.0.1:{PROXY_PORT}"
            for key in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"):
                full_env[key] = proxy
            full_env["NO_PROXY"] = full_env["no_proxy"] = "localhost,127.0.0.1,::1"
            full_env["SSL_CERT_FILE"] = full_env["REQUESTS_CA_BUNDLE"] = CA_BUNDLE
            full_env["NODE_EXTRA_CA_CERTS"] = EGRESS_CA
        full_env.update(env)
        return full_env


def _find_bwrap(settings: SandboxSettings) -> str | None:
    return shutil.which(settings.bwrap_path or "bwrap")
