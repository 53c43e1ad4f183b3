"""Race-free path resolution inside a workspace directory (host side).

Guarantee: every file the file API opens is reached by a chain of directory file
descriptors that starts at the workspace root fd, each link opened with ``O_NOFOLLOW``
relative to the previous one (``openat``). No path string is ever resolved by the
kernel from ``/``, and no symbolic link is followed anywhere in the path, so a symlink
planted by sandboxed code (even one swapped in concurrently) cannot redirect a host-side
read, write, listing or delete outside the workspace. Absolute paths and ``..`` are
rejected before any system call. Final components are opened with ``O_NOFOLLOW |
O_NONBLOCK`` and checked with ``fstat`` to be regular files, so FIFOs and devices are
refused too. Hard links cannot smuggle foreign inodes in: sandboxed code sees the
workspace only through its own bind mount, and ``link``/``rename`` across mounts fail
with ``EXDEV``.
"""

from __future__ import annotations

import errno
import os
import stat

from junction.sandbox.errors import FileNotFoundInSandbox, InvalidPath, PathOutsideWorkspace

DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
READ_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
NEW_FILE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
MAX_NAME_BYTES = 255


def split_path(path: str, *, allow_root: bool = False) -> list[str]:
    """Validate a workspace-relative path and return its components ('.' and '' dropped)."""
    if not isinstance(path, str):
        raise InvalidPath(f"path must be a string, not {type(path).__name__}")
    if "\x00" in path:
        raise InvalidPath("path contains a NUL byte")
    if path.startswith("/"):
        raise PathOutsideWorkspace(
            f"path {path!r} is absolute; paths are relative to the workspace root"
        )
    parts = [part for part in path.split("/") if part not in ("", ".")]
    if ".." in parts:
        raise PathOutsideWorkspace(f"path {path!r} contains '..'; it may not leave the workspace")
    for part in parts:
        if len(os.fsencode(part)) > MAX_NAME_BYTES:
            raise InvalidPath(f"path component {part[:40]!r}… is longer than 255 bytes")
    if not parts and not allow_root:
        raise InvalidPath(f"path {path!r} names the workspace root itself")
    return parts


def display(parts: list[str]) -> str:
    return "/".join(parts) or "."


def _refuse(dir_fd: int, parts: list[str], upto: int, exc: OSError) -> Exception:
    """Turn an OSError on ``parts[upto]`` into the error that explains it."""
    shown = display(parts[: upto + 1])
    try:
        st = os.lstat(parts[upto], dir_fd=dir_fd)
    except OSError:
        st = None
    if st is not None and stat.S_ISLNK(st.st_mode):
        return PathOutsideWorkspace(
            f"'{shown}' is a symbolic link; the file API never follows symbolic links"
        )
    if exc.errno == errno.ENOENT:
        return FileNotFoundInSandbox(f"'{shown}' does not exist in the workspace")
    if exc.errno == errno.ENOTDIR:
        return FileNotFoundInSandbox(f"'{shown}' is not a directory")
    return exc


def open_dir(
    root_fd: int,
    parts: list[str],
    *,
    create: bool = False,
    owner: tuple[int, int] | None = None,
) -> int:
    """Open the directory ``parts`` below ``root_fd`` without following symlinks.

    With ``create``, missing directories are made (mode 0755, chowned to ``owner``).
    The caller closes the returned fd.
    """
    fd = os.dup(root_fd)
    try:
        for index, part in enumerate(parts):
            try:
                child = os.open(part, DIR_FLAGS, dir_fd=fd)
            except FileNotFoundError as exc:
                if not create:
                    raise _refuse(fd, parts, index, exc) from None
                try:
                    os.mkdir(part, 0o755, dir_fd=fd)
                    if owner is not None:
                        os.chown(part, *owner, dir_fd=fd, follow_symlinks=False)
                except FileExistsError:
                    pass
                try:
                    child = os.open(part, DIR_FLAGS, dir_fd=fd)
                except OSError as again:
                    raise _refuse(fd, parts, index, again) from None
            except OSError as exc:
                raise _refuse(fd, parts, index, exc) from None
            os.close(fd)
            fd = child
        return fd
    except BaseException:
        os.close(fd)
        raise


def open_parent(
    root_fd: int, path: str, *, create: bool = False, owner: tuple[int, int] | None = None
) -> tuple[int, str, list[str]]:
    """Open the parent directory of ``path``; return (fd, final name, all parts)."""
    parts = split_path(path)
    return open_dir(root_fd, parts[:-1], create=create, owner=owner), parts[-1], parts


def open_regular(dir_fd: int, name: str, parts: list[str]) -> int:
    """Open an existing regular file for reading; symlinks, FIFOs and devices are refused."""
    try:
        fd = os.open(name, READ_FLAGS, dir_fd=dir_fd)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise PathOutsideWorkspace(
                f"'{display(parts)}' is a symbolic link; the file API never follows symbolic links"
            ) from None
        raise _refuse(dir_fd, parts, len(parts) - 1, exc) from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise FileNotFoundInSandbox(f"'{display(parts)}' is not a regular file")
    os.set_blocking(fd, True)
    return fd
