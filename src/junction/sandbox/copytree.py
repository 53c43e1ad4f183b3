"""Copying one workspace tree into another (snapshots): fd-relative, nothing followed.

Hard links stay hard links in the copy (a file linked 1,000 times is copied once), and
the copy stops with :class:`QuotaExceeded` as soon as it would pass the destination's
byte or entry budget, even if the source grew after it was measured.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field

from junction.sandbox import paths
from junction.sandbox.errors import QuotaExceeded

CHUNK = 1024 * 1024
Owner = tuple[int, int] | None


@dataclass
class Budget:
    """What a copy may still add: bytes (allocation) and entries (inodes); None = no cap."""

    bytes: int | None = None
    entries: int | None = None
    #: (st_dev, st_ino) of a multiply-linked source file -> its first copy's path parts
    linked: dict[tuple[int, int], list[str]] = field(default_factory=dict)

    def take(self, size: int) -> None:
        if self.entries is not None:
            self.entries -= 1
            if self.entries < 0:
                raise QuotaExceeded("the copy would pass this workspace's limit on files")
        if self.bytes is not None:
            self.bytes -= size
            if self.bytes < 0:
                raise QuotaExceeded("the copy would pass this workspace's disk quota")


def _usage(st: os.stat_result) -> int:
    return max(st.st_blocks * 512, st.st_size if not stat.S_ISDIR(st.st_mode) else 0)


def copy_tree(src_fd: int, dst_fd: int, owner: Owner, budget: Budget | None = None) -> None:
    """Copy everything below ``src_fd`` into ``dst_fd``: files, directories and symlinks
    (as links, never followed); other kinds are skipped. Iterative, so depth is unbounded."""
    budget = budget or Budget()
    stack: list[tuple[int, int, list[str]]] = [(os.dup(src_fd), os.dup(dst_fd), [])]
    while stack:
        src, dst, rel = stack.pop()
        try:
            for name in os.listdir(src):
                try:
                    st = os.lstat(name, dir_fd=src)
                except FileNotFoundError:
                    continue
                mode = stat.S_IMODE(st.st_mode) & 0o777
                if stat.S_ISREG(st.st_mode) and st.st_nlink > 1:
                    first = budget.linked.get((st.st_dev, st.st_ino))
                    if first is not None and _link(dst_fd, first, dst, name):
                        continue
                if stat.S_ISDIR(st.st_mode) or stat.S_ISREG(st.st_mode):
                    budget.take(_usage(st))
                elif stat.S_ISLNK(st.st_mode):
                    budget.take(0)
                if stat.S_ISDIR(st.st_mode):
                    os.mkdir(name, mode | 0o700, dir_fd=dst)
                    if owner is not None:
                        os.chown(name, *owner, dir_fd=dst, follow_symlinks=False)
                    try:
                        child_src = os.open(name, paths.DIR_FLAGS, dir_fd=src)
                    except OSError:
                        continue
                    child_dst = os.open(name, paths.DIR_FLAGS, dir_fd=dst)
                    stack.append((child_src, child_dst, [*rel, name]))
                elif stat.S_ISLNK(st.st_mode):
                    os.symlink(os.readlink(name, dir_fd=src), name, dir_fd=dst)
                    if owner is not None:
                        os.chown(name, *owner, dir_fd=dst, follow_symlinks=False)
                elif stat.S_ISREG(st.st_mode):
                    _copy_file(src, dst, name, mode, owner, st.st_size)
                    if st.st_nlink > 1:
                        budget.linked[(st.st_dev, st.st_ino)] = [*rel, name]
        except BaseException:
            for left_src, left_dst, _ in stack:  # stopped early (quota): close the rest
                os.close(left_src)
                os.close(left_dst)
            raise
        finally:
            os.close(src)
            os.close(dst)


def _link(root: int, first: list[str], dst: int, name: str) -> bool:
    """Hard-link the earlier copy ``first`` (path parts below ``root``) as ``name``."""
    try:
        parent = paths.open_dir(root, first[:-1])
    except Exception:
        return False
    try:
        os.link(first[-1], name, src_dir_fd=parent, dst_dir_fd=dst, follow_symlinks=False)
        return True
    except OSError:
        return False
    finally:
        os.close(parent)


def _copy_file(src: int, dst: int, name: str, mode: int, owner: Owner, size: int) -> None:
    """Copy at most ``size`` bytes (what was counted): a file still growing is cut."""
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
            _copy_data(infd, outfd, size)
        finally:
            os.close(outfd)
    finally:
        os.close(infd)


def _copy_data(infd: int, outfd: int, size: int) -> None:
    left = size
    try:
        while left > 0 and (done := os.copy_file_range(infd, outfd, min(left, 1 << 30))):
            left -= done
    except OSError:  # not supported between these file systems: copy by hand
        os.lseek(infd, 0, os.SEEK_SET)
        os.lseek(outfd, 0, os.SEEK_SET)
        os.ftruncate(outfd, 0)
        left = size
        while left > 0 and (data := os.read(infd, min(CHUNK, left))):
            _write_all(outfd, data)
            left -= len(data)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]
