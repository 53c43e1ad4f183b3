"""Copying one workspace tree into another (snapshots): fd-relative, nothing followed."""

from __future__ import annotations

import os
import stat

from junction.sandbox import paths

CHUNK = 1024 * 1024
Owner = tuple[int, int] | None


def copy_tree(src_fd: int, dst_fd: int, owner: Owner) -> None:
    """Copy everything below ``src_fd`` into ``dst_fd``: files, directories and symlinks
    (as links, never followed); other kinds are skipped. Iterative, so depth is unbounded."""
    stack = [(os.dup(src_fd), os.dup(dst_fd))]
    while stack:
        src, dst = stack.pop()
        try:
            for name in os.listdir(src):
                try:
                    st = os.lstat(name, dir_fd=src)
                except FileNotFoundError:
                    continue
                mode = stat.S_IMODE(st.st_mode) & 0o777
                if stat.S_ISDIR(st.st_mode):
                    os.mkdir(name, mode | 0o700, dir_fd=dst)
                    if owner is not None:
                        os.chown(name, *owner, dir_fd=dst, follow_symlinks=False)
                    try:
                        child_src = os.open(name, paths.DIR_FLAGS, dir_fd=src)
                    except OSError:
                        continue
                    stack.append((child_src, os.open(name, paths.DIR_FLAGS, dir_fd=dst)))
                elif stat.S_ISLNK(st.st_mode):
                    os.symlink(os.readlink(name, dir_fd=src), name, dir_fd=dst)
                    if owner is not None:
                        os.chown(name, *owner, dir_fd=dst, follow_symlinks=False)
                elif stat.S_ISREG(st.st_mode):
                    _copy_file(src, dst, name, mode, owner)
        finally:
            os.close(src)
            os.close(dst)


def _copy_file(src: int, dst: int, name: str, mode: int, owner: Owner) -> None:
    try:
        infd = os.open(name, paths.READ_FLAGS, dir_fd=src)
    except OSError:
        return  # vanished or swapped for a link meanwhile
    try:
        if not stat.S_ISREG(os.fstat(infd).st_mode):
            return
        outfd = os.open(name, paths.NEW_FILE_FLAGS, mode, dir_fd=dst)
        try:
            if owner is not None:
                os.fchown(outfd, *owner)
            _copy_data(infd, outfd)
        finally:
            os.close(outfd)
    finally:
        os.close(infd)


def _copy_data(infd: int, outfd: int) -> None:
    try:
        while os.copy_file_range(infd, outfd, 1 << 30):
            pass
    except OSError:  # not supported between these file systems: copy by hand
        os.lseek(infd, 0, os.SEEK_SET)
        os.lseek(outfd, 0, os.SEEK_SET)
        os.ftruncate(outfd, 0)
        while data := os.read(infd, CHUNK):
            _write_all(outfd, data)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]
