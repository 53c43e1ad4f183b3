"""Optional per-exec cgroups: a memory limit for the whole process tree and a pid limit.

Used when Junction may write a cgroup hierarchy; otherwise the rlimits alone apply
(see docs/sandbox.md). Two flavours, one tiny interface:

* **cgroup v2**, given a *delegated* directory (``SandboxSettings.cgroup_parent``) whose
  ``cgroup.controllers`` lists ``memory`` and ``pids``: ``memory.max``, ``memory.swap.max``
  = 0, ``pids.max``; OOM kills are read from ``memory.events``.
* **cgroup v1** (legacy/hybrid hosts, root only): ``memory.limit_in_bytes`` and
  ``pids.max`` in child cgroups of Junction's *own* cgroups (so sandboxes stay inside
  whatever limit Junction itself runs under); OOM kills from ``memory.oom_control``.

Each exec's bwrap child (the sandbox's pid 1) is moved in before it is allowed to exec,
so every process of the exec is accounted.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import time
from pathlib import Path

V1_ROOT = Path("/sys/fs/cgroup")


class Cgroup:
    def __init__(self, dirs: list[Path], memory_dir: Path, v2: bool) -> None:
        self.dirs = dirs
        self.memory_dir = memory_dir
        self.v2 = v2

    def add(self, pid: int) -> None:
        for directory in self.dirs:
            try:
                (directory / "cgroup.procs").write_text(str(pid))
            except ProcessLookupError:
                return  # it already died (bwrap failed to set up; its stderr says why)

    def oom_killed(self) -> bool:
        name = "memory.events" if self.v2 else "memory.oom_control"
        try:
            for line in (self.memory_dir / name).read_text().splitlines():
                key, _, value = line.partition(" ")
                if key == "oom_kill" and int(value) > 0:
                    return True
        except (OSError, ValueError):
            pass
        return False

    def remove(self) -> bool:
        """Remove the cgroups; False while processes still linger (retry later)."""
        done = True
        for directory in self.dirs:
            try:
                directory.rmdir()
            except FileNotFoundError:
                pass
            except OSError:
                done = False
        return done


class CgroupLimiter:
    def __init__(self, parents: dict[str, Path], v2: bool) -> None:
        self.parents = parents  # controller -> parent dir ("all" for v2)
        self.v2 = v2

    @property
    def kind(self) -> str:
        return "cgroup v2" if self.v2 else "cgroup v1"

    def sweep(self) -> None:
        """Remove per-exec cgroups left behind (by a crash): empty and a minute old. Busy
        ones refuse rmdir; young ones may be another process's, between mkdir and attach."""
        stale = time.time() - 60
        for parent in self.parents.values():
            for child in parent.glob("exec-*"):
                with contextlib.suppress(OSError):
                    if child.stat().st_mtime < stale:
                        child.rmdir()

    def close(self) -> None:
        """Sweep, then remove the parents too (v1 parents live inside Junction's own
        cgroup, which its supervisor cannot remove while they exist)."""
        self.sweep()
        if not self.v2:
            for parent in self.parents.values():
                with contextlib.suppress(OSError):
                    parent.rmdir()

    def create(self, memory_bytes: int, max_pids: int) -> Cgroup:
        name = "exec-" + secrets.token_hex(6)
        if self.v2:
            directory = self.parents["all"] / name
            directory.mkdir(parents=True)
            (directory / "memory.max").write_text(str(memory_bytes))
            with contextlib.suppress(OSError):
                (directory / "memory.swap.max").write_text("0")
            (directory / "pids.max").write_text(str(max_pids))
            return Cgroup([directory], directory, v2=True)
        memory = self.parents["memory"] / name
        pids = self.parents["pids"] / name
        memory.mkdir(parents=True)  # parents: another backend's close() may have removed it
        try:
            (memory / "memory.limit_in_bytes").write_text(str(memory_bytes))
            pids.mkdir(parents=True)
            (pids / "pids.max").write_text(str(max_pids))
        except BaseException:
            Cgroup([pids, memory], memory, v2=False).remove()
            raise
        return Cgroup([memory, pids], memory, v2=False)


def _own_v1_path(controller: str) -> str | None:
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/cgroup").read_text().splitlines():
            _id, controllers, path = line.split(":", 2)
            if controller in controllers.split(","):
                return path
    return None


def detect_cgroups(v2_parent: Path | None = None) -> CgroupLimiter | None:
    """A limiter if a usable hierarchy is writable here, else None (rlimits only)."""
    if v2_parent is not None:
        controllers = (v2_parent / "cgroup.controllers").read_text().split()
        if not {"memory", "pids"} <= set(controllers):
            raise ValueError(f"{v2_parent} does not delegate the memory and pids controllers")
        (v2_parent / "cgroup.subtree_control").write_text("+memory +pids")
        return CgroupLimiter({"all": v2_parent}, v2=True)
    if os.geteuid() != 0:
        return None
    parents: dict[str, Path] = {}
    for controller in ("memory", "pids"):
        own = _own_v1_path(controller)
        mount = V1_ROOT / controller
        if own is None or not (mount / "cgroup.procs").exists():
            return None
        parent = mount / own.lstrip("/") / "junction-sandboxes"
        try:
            parent.mkdir(exist_ok=True)
            probe = parent / ("probe-" + secrets.token_hex(4))
            probe.mkdir()
            probe.rmdir()
        except OSError:
            return None
        parents[controller] = parent
    limiter = CgroupLimiter(parents, v2=False)
    limiter.sweep()
    return limiter
