"""Blobs as files under ``<data_dir>/media/<first two hex digits>/<digest>``, written
to a temporary name and renamed into place (a reader never sees half a file).

Blobs up to ``INLINE_IO`` bytes are read and written on the event loop: a page-cache
write of a few MB takes well under a millisecond, less than handing it to a thread
(measured by bench/multimodal.py); bigger ones go to a thread.

Streamed media is appended to ``<root>/.incoming/<random>`` chunk by chunk and renamed
to its digest at the end (or dropped, when those bytes are already stored); what a
process that died mid-write left there is removed at the next start
(:meth:`FilesystemBlobStore.sweep_incoming`)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import time
from pathlib import Path

from junction.media.base import BlobStore, BlobWriter, register

INLINE_IO = 8 * 1024 * 1024
#: an unfinished streamed blob older than this is debris (a day: far past any provider
#: timeout)
INCOMING_MAX_AGE = 24 * 3600.0


class FilesystemBlobWriter(BlobWriter):
    def __init__(self, store: FilesystemBlobStore) -> None:
        super().__init__()
        self.store = store
        incoming = store.root / ".incoming"
        incoming.mkdir(parents=True, exist_ok=True)
        self.tmp = incoming / secrets.token_hex(16)
        self.fd: int | None = os.open(self.tmp, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)

    def _fd(self) -> int:
        if self.fd is None:
            raise ValueError("the blob is no longer being written")
        return self.fd

    async def _append(self, data: bytes) -> None:
        fd = self._fd()
        if len(data) <= INLINE_IO:
            os.write(fd, data)
        else:
            await asyncio.to_thread(os.write, fd, data)

    async def read(self, offset: int, length: int) -> bytes:
        return os.pread(self._fd(), length, offset)

    def _close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None

    async def _commit(self, digest: str) -> None:
        self._close()
        path = self.store._path(digest)
        if path.exists():  # the same bytes are stored already
            self.tmp.unlink()
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        os.replace(self.tmp, path)

    async def abort(self) -> None:
        self._close()
        with contextlib.suppress(FileNotFoundError):
            self.tmp.unlink()


@register("filesystem")
class FilesystemBlobStore(BlobStore):
    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, digest: str) -> Path:
        if len(digest) != 64 or not all(c in "0123456789abcdef" for c in digest):
            raise ValueError(f"not a media digest: {digest!r}")
        return self.root / digest[:2] / digest

    def _write(self, path: Path, data: bytes) -> None:
        if path.exists():
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}")
        with open(tmp, "wb") as out:
            out.write(data)
        os.replace(tmp, path)

    async def put(self, digest: str, data: bytes) -> None:
        path = self._path(digest)
        if len(data) <= INLINE_IO:
            self._write(path, data)
        else:
            await asyncio.to_thread(self._write, path, data)

    async def get(self, digest: str) -> bytes | None:
        path = self._path(digest)
        try:
            if path.stat().st_size <= INLINE_IO:
                return path.read_bytes()
            return await asyncio.to_thread(path.read_bytes)
        except FileNotFoundError:
            return None

    async def delete(self, digest: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self._path(digest).unlink()

    async def exists(self, digest: str) -> bool:
        return self._path(digest).exists()

    async def writer(self) -> BlobWriter:
        return FilesystemBlobWriter(self)

    def sweep_incoming(self, older_than: float = INCOMING_MAX_AGE) -> int:
        """Remove streamed blobs left unfinished (a process died while writing) that are
        older than ``older_than`` seconds (others may be being written); return how many."""
        removed = 0
        cutoff = time.time() - older_than
        with contextlib.suppress(FileNotFoundError):
            for entry in os.scandir(self.root / ".incoming"):
                with contextlib.suppress(FileNotFoundError):
                    if entry.stat().st_mtime < cutoff:
                        os.unlink(entry.path)
                        removed += 1
        return removed

    async def read_range(self, digest: str, offset: int, length: int) -> bytes | None:
        try:
            fd = os.open(self._path(digest), os.O_RDONLY)
        except FileNotFoundError:
            return None
        try:
            return os.pread(fd, length, offset)
        finally:
            os.close(fd)
