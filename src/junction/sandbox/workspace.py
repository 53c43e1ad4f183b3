"""Host-side access to a workspace directory: the file API of every local backend.

All operations go through :mod:`junction.sandbox.paths` (fd-relative, no symlink is
ever followed). Blocking work runs in worker threads; reads and writes stream in chunks.
"""

from __future__ import annotations

import asyncio
import mimetypes
import os
import secrets
import shutil
import stat
from collections.abc import AsyncIterable, AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from junction.sandbox import paths
from junction.sandbox.copytree import Budget, copy_tree
from junction.sandbox.errors import FileNotFoundInSandbox, InvalidPath, QuotaExceeded
from junction.sandbox.types import FileEntry

CHUNK = 1024 * 1024
Owner = tuple[int, int] | None


def entry_usage(st: os.stat_result) -> int:
    """Bytes an entry counts against the quota: its allocation or apparent size."""
    return max(st.st_blocks * 512, st.st_size if not stat.S_ISDIR(st.st_mode) else 0)


def tree_usage(root_fd: int) -> int:
    """Bytes used below ``root_fd`` (hard links counted once; nothing followed)."""
    return tree_counts(root_fd)[0]


def tree_counts(root_fd: int) -> tuple[int, int]:
    """(bytes, entries) below ``root_fd``: hard links counted once, nothing followed;
    entries are the inodes the files, directories and symlinks take."""
    seen: set[tuple[int, int]] = set()
    total = 0
    entries = 0
    for _dirpath, dirnames, filenames, dir_fd in os.fwalk(".", dir_fd=root_fd):
        for name in (*dirnames, *filenames):
            try:
                st = os.lstat(name, dir_fd=dir_fd)
            except FileNotFoundError:
                continue
            key = (st.st_dev, st.st_ino)
            if st.st_nlink > 1:
                if key in seen:
                    continue
                seen.add(key)
            total += entry_usage(st)
            entries += 1
    return total, entries


def _entry(name: str, rel: str, st: os.stat_result) -> FileEntry | None:
    kind: Literal["file", "directory", "symlink"]
    if stat.S_ISDIR(st.st_mode):
        kind = "directory"
    elif stat.S_ISREG(st.st_mode):
        kind = "file"
    elif stat.S_ISLNK(st.st_mode):
        kind = "symlink"
    else:
        return None  # FIFOs, sockets: not part of the file API
    return FileEntry(
        name=name,
        path=rel,
        type=kind,
        size=st.st_size if kind == "file" else 0,
        mime_type=(mimetypes.guess_type(name)[0] or "application/octet-stream")
        if kind == "file"
        else None,
        created=datetime.fromtimestamp(st.st_ctime, UTC),
        modified=datetime.fromtimestamp(st.st_mtime, UTC),
    )


class Workspace:
    """A workspace directory on this host, accessed safely."""

    def __init__(
        self,
        root: Path,
        *,
        owner: Owner = None,
        quota_bytes: int | None = None,
        max_files: int | None = None,
    ) -> None:
        self.root = root
        self.owner = owner  # (uid, gid) new entries get, when Junction runs as root
        self.quota_bytes = quota_bytes
        self.max_files = max_files  # the inode quota: files, directories and links

    def _root_fd(self) -> int:
        try:
            return os.open(self.root, paths.DIR_FLAGS)
        except FileNotFoundError:
            raise FileNotFoundInSandbox(f"workspace {self.root} no longer exists") from None

    # -- blocking primitives (run in threads) -------------------------------------------

    def usage(self) -> int:
        return self.counts()[0]

    def counts(self) -> tuple[int, int]:
        """(bytes, entries) the workspace uses: what the two quotas count."""
        fd = self._root_fd()
        try:
            return tree_counts(fd)
        finally:
            os.close(fd)

    def list(self, path: str, recursive: bool) -> list[FileEntry]:
        parts = paths.split_path(path, allow_root=True)
        root_fd = self._root_fd()
        try:
            start = paths.open_dir(root_fd, parts)
        finally:
            os.close(root_fd)
        try:
            return list(self._walk(start, "/".join(parts), recursive))
        finally:
            os.close(start)

    def _walk(self, dir_fd: int, prefix: str, recursive: bool) -> Iterator[FileEntry]:
        stack = [(os.dup(dir_fd), prefix)]
        while stack:
            fd, rel_dir = stack.pop()
            try:
                for name in sorted(os.listdir(fd)):
                    try:
                        st = os.lstat(name, dir_fd=fd)
                    except FileNotFoundError:
                        continue
                    rel = f"{rel_dir}/{name}" if rel_dir else name
                    entry = _entry(name, rel, st)
                    if entry is None:
                        continue
                    yield entry
                    if recursive and entry.type == "directory":
                        try:
                            stack.append((os.open(name, paths.DIR_FLAGS, dir_fd=fd), rel))
                        except OSError:
                            continue  # replaced by a symlink meanwhile: not followed
            finally:
                os.close(fd)

    def open_read(self, path: str) -> int:
        root_fd = self._root_fd()
        try:
            parent, name, parts = paths.open_parent(root_fd, path)
        finally:
            os.close(root_fd)
        try:
            return paths.open_regular(parent, name, parts)
        finally:
            os.close(parent)

    def delete(self, path: str, recursive: bool) -> None:
        root_fd = self._root_fd()
        try:
            parent, name, parts = paths.open_parent(root_fd, path)
        finally:
            os.close(root_fd)
        try:
            try:
                st = os.lstat(name, dir_fd=parent)
            except FileNotFoundError:
                raise FileNotFoundInSandbox(f"'{paths.display(parts)}' does not exist") from None
            if not stat.S_ISDIR(st.st_mode):
                os.unlink(name, dir_fd=parent)  # a symlink itself is removed, never its target
            elif recursive:
                shutil.rmtree(name, dir_fd=parent)
            else:
                try:
                    os.rmdir(name, dir_fd=parent)
                except OSError:
                    raise InvalidPath(
                        f"'{paths.display(parts)}' is a non-empty directory; "
                        "pass recursive=True to delete it"
                    ) from None
        finally:
            os.close(parent)

    def copy_from(self, source: Workspace) -> None:
        """Replace this workspace's contents with a copy of ``source``'s."""
        src_fd = source._root_fd()
        dst_fd = self._root_fd()
        try:
            needed, entries = tree_counts(src_fd)
            if self.quota_bytes is not None and needed > self.quota_bytes:
                raise QuotaExceeded(
                    f"the source workspace uses {needed} bytes; this workspace's quota is "
                    f"{self.quota_bytes} bytes"
                )
            if self.max_files is not None and entries > self.max_files:
                raise QuotaExceeded(
                    f"the source workspace has {entries} files, directories and links; this "
                    f"workspace's limit is {self.max_files}"
                )
            for name in os.listdir(dst_fd):
                if stat.S_ISDIR(os.lstat(name, dir_fd=dst_fd).st_mode):
                    shutil.rmtree(name, dir_fd=dst_fd)
                else:
                    os.unlink(name, dir_fd=dst_fd)
            copy_tree(src_fd, dst_fd, self.owner, Budget(self.quota_bytes, self.max_files))
        finally:
            os.close(src_fd)
            os.close(dst_fd)

    # -- async API ----------------------------------------------------------------------

    async def read(self, path: str, chunk_size: int = CHUNK) -> AsyncIterator[bytes]:
        fd = await asyncio.to_thread(self.open_read, path)
        try:
            while True:
                data = await asyncio.to_thread(os.read, fd, chunk_size)
                if not data:
                    return
                yield data
        finally:
            os.close(fd)

    async def write(self, path: str, data: bytes | AsyncIterable[bytes]) -> int:
        """Write atomically (temp file + rename); parents are created. Returns the size."""
        root_fd = await asyncio.to_thread(self._root_fd)
        try:
            parent, name, parts = await asyncio.to_thread(
                paths.open_parent, root_fd, path, create=True, owner=self.owner
            )
        finally:
            os.close(root_fd)
        tmp = f".{name[:200]}.junction-{secrets.token_hex(6)}"
        fd = -1
        try:
            budget = await asyncio.to_thread(self._budget, parent, name, paths.display(parts))
            fd = os.open(tmp, paths.NEW_FILE_FLAGS, 0o644, dir_fd=parent)
            if self.owner is not None:
                os.fchown(fd, *self.owner)
            written = 0
            async for chunk in _chunks(data):
                written += len(chunk)
                if budget is not None and written > budget:
                    raise QuotaExceeded(
                        f"writing '{paths.display(parts)}' would exceed the workspace quota of "
                        f"{self.quota_bytes} bytes ({max(budget, 0)} bytes available)"
                    )
                await asyncio.to_thread(_write_all, fd, chunk)
            os.close(fd)
            fd = -1
            await asyncio.to_thread(_replace, parent, tmp, name, parts)
            return written
        except BaseException:
            if fd >= 0:
                os.close(fd)
            try:
                os.unlink(tmp, dir_fd=parent)
            except FileNotFoundError:
                pass
            raise
        finally:
            os.close(parent)

    def _budget(self, parent: int, name: str, shown: str) -> int | None:
        """Bytes the new file may take; QuotaExceeded when no entry may be added."""
        if self.quota_bytes is None and self.max_files is None:
            return None
        used, entries = self.counts()
        try:
            st = os.lstat(name, dir_fd=parent)
            if stat.S_ISREG(st.st_mode) and st.st_nlink == 1:
                used -= entry_usage(st)  # the old file is replaced
        except FileNotFoundError:
            if self.max_files is not None and entries + 1 > self.max_files:
                raise QuotaExceeded(
                    f"writing '{shown}' would pass the workspace's limit of "
                    f"{self.max_files} files, directories and links"
                ) from None
        return None if self.quota_bytes is None else self.quota_bytes - used


async def _chunks(data: bytes | AsyncIterable[bytes]) -> AsyncIterator[bytes]:
    if isinstance(data, bytes | bytearray | memoryview):
        view = memoryview(data)
        for start in range(0, len(view), CHUNK):
            yield bytes(view[start : start + CHUNK])
        return
    async for chunk in data:
        yield chunk


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _replace(parent: int, tmp: str, name: str, parts: list[str]) -> None:
    try:
        st = os.lstat(name, dir_fd=parent)
    except FileNotFoundError:
        st = None
    if st is not None and stat.S_ISDIR(st.st_mode):
        raise InvalidPath(f"'{paths.display(parts)}' is a directory")
    os.rename(tmp, name, src_dir_fd=parent, dst_dir_fd=parent)
