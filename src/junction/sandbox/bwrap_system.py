"""The host side of the bubblewrap backend: what of the system a sandbox sees, and as whom.

A sandbox sees ``/usr`` read-only (``/usr/local`` masked, so only distribution packages
count), the merged-/usr links (``/bin``, ``/lib``, …) and a private ``/etc``: a copy,
made when the backend starts, of the few host files programs need (``ETC_FILES``) plus
generated ``passwd``/``group``/``hosts``. One bind mount for all of ``/etc`` is ~5 ms per
exec cheaper than binding thirty files one by one (measured), and nothing else of the
host's ``/etc`` (shadow, ssh keys, Junction's config, …) is reachable. Restart Junction
after installing system packages so the copy (``ld.so.cache``, alternatives) is current.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import stat
import subprocess
from functools import cache
from pathlib import Path

from junction.sandbox.errors import SandboxUnavailable

WORKSPACE = "/workspace"
SANDBOX_UID = 1000
HOST_USER = "junction-sandbox"
SETPRIV = "/usr/bin/setpriv"
CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"
EGRESS_CA = "/etc/ssl/certs/junction-egress-ca.pem"
ETC_FILES = (
    "ld.so.cache ld.so.conf ld.so.conf.d alternatives ssl/certs ssl/openssl.cnf "
    "ca-certificates ca-certificates.conf localtime timezone nsswitch.conf host.conf "
    "gai.conf protocols services mime.types magic magic.mime matplotlibrc fonts "
    "os-release debian_version bash.bashrc profile inputrc terminfo"
).split()
GENERATED = {
    "passwd": (
        "root:x:0:0:root:/root:/usr/sbin/nologin\n"
        f"sandbox:x:{SANDBOX_UID}:{SANDBOX_UID}:Junction sandbox:{WORKSPACE}:/bin/bash\n"
        "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n"
    ),
    "group": f"root:x:0:\nsandbox:x:{SANDBOX_UID}:\nnogroup:x:65534:\n",
    "hosts": "127.0.0.1\tlocalhost sandbox\n::1\tlocalhost ip6-localhost ip6-loopback\n",
}


def usr_mounts() -> list[str]:
    args = ["--ro-bind", "/usr", "/usr", "--tmpfs", "/usr/local"]
    for top in ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"):
        if os.path.islink(top):
            args += ["--symlink", os.readlink(top), top]
        elif os.path.isdir(top):
            args += ["--ro-bind", top, top]
    return args


def build_etc_view(target: Path, extra_ca_pem: bytes = b"") -> None:
    """(Re)create ``target`` as the sandbox's /etc; ``extra_ca_pem`` (the egress proxy's
    interception CA) is added to the CA bundle and written to ``EGRESS_CA``."""
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(mode=0o755)
    names = ETC_FILES + [os.path.basename(p) for p in sorted(glob.glob("/etc/python3*"))]
    for name in names:
        source, dest = Path("/etc", name), target / name
        if not os.path.lexists(source):
            continue
        dest.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
        if source.is_symlink():
            os.symlink(os.readlink(source), dest)
        elif source.is_dir():
            shutil.copytree(source, dest, symlinks=True)
        elif source.is_file():
            shutil.copy2(source, dest)
    for name, text in GENERATED.items():
        (target / name).write_text(text)
    if extra_ca_pem:
        certs = target / "ssl" / "certs"
        certs.mkdir(mode=0o755, parents=True, exist_ok=True)
        (target / EGRESS_CA.removeprefix("/etc/")).write_bytes(extra_ca_pem)
        bundle = target / CA_BUNDLE.removeprefix("/etc/")
        existing = bundle.read_bytes() if bundle.is_file() else b""
        if bundle.is_symlink():
            bundle.unlink()
        bundle.write_bytes(existing + b"\n" + extra_ca_pem)
    for directory, _dirs, files in os.walk(target):
        os.chmod(directory, 0o755)
        for name in files:
            path = os.path.join(directory, name)
            if not os.path.islink(path):
                os.chmod(path, 0o644 | (os.stat(path).st_mode & 0o111))


def remove_stale_views(root: Path) -> None:
    """Delete ``etc-<pid>-*`` views left by Junction processes that no longer run."""
    for view in root.glob("etc-*-*"):
        try:
            os.kill(int(view.name.split("-")[1]), 0)
        except ProcessLookupError:
            shutil.rmtree(view, ignore_errors=True)
        except (ValueError, PermissionError):
            continue


def sandbox_host_ids(host_uid: int | None, host_gid: int | None) -> tuple[int, int]:
    """The host uid/gid sandboxes run as when Junction is root: the configured ones, else
    the 'junction-sandbox' system user (scripts/install-system-deps.sh), else 65534."""
    try:
        user = pwd.getpwnam(HOST_USER)
        uid, gid = user.pw_uid, user.pw_gid
    except KeyError:
        uid, gid = 65534, 65534
    return (host_uid if host_uid is not None else uid, host_gid if host_gid is not None else gid)


def drop_root_prefix(uid: int, gid: int) -> list[str]:
    """Run bwrap as uid/gid when Junction is root. ``setpriv`` (util-linux) instead of
    Popen(user=…): that forces fork() over vfork(), and forking a big server costs ~ms
    per exec (36 ms with 1 GB resident, measured), where an extra exec costs ~1 ms."""
    if os.geteuid() != 0:
        return []
    return [SETPRIV, f"--reuid={uid}", f"--regid={gid}", "--clear-groups", "--"]


def check_traversable(path: Path, uid: int, gid: int) -> None:
    """bwrap (running as uid/gid) must be able to reach ``path`` to bind workspaces."""
    for directory in (path, *path.parents):
        st = directory.stat()
        if st.st_uid == uid:
            bit = stat.S_IXUSR
        else:
            bit = stat.S_IXGRP if st.st_gid == gid else stat.S_IXOTH
        if not st.st_mode & bit:
            raise SandboxUnavailable(
                f"the sandbox user (uid {uid}) cannot traverse {directory} on the way to the "
                f"sandbox root {path}; make it traversable (chmod o+x) or choose another root"
            )


@cache
def probe(bwrap: str, uid: int, gid: int) -> str | None:
    """Run a trivial sandbox once; return why it fails, or None."""
    argv = [
        *drop_root_prefix(uid, gid), bwrap, "--unshare-all", "--unshare-user",
        "--disable-userns", "--die-with-parent", *usr_mounts(), "--proc", "/proc",
        "--dev", "/dev", "--", "/usr/bin/prlimit", "--nproc=64", "--", "/usr/bin/true",
    ]  # fmt: skip
    try:
        done = subprocess.run(argv, capture_output=True, timeout=20, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"running {bwrap} failed: {exc}"
    if done.returncode != 0:
        err = done.stderr.decode(errors="replace").strip()
        return f"{bwrap} cannot create a sandbox here ({err}); are user namespaces disabled?"
    return None
