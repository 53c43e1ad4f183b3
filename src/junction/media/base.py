"""The blob-store seam: bytes kept under their digest (BLAKE3, 256 bits, as 64 hex
digits: a cryptographic hash, several times faster than SHA-256 on a megabyte image),
outside the database.

A backend implements six methods; ``writer`` and ``read_range`` serve media that streams
in (written chunk by chunk, hashed while it is written, then deduplicated). Blobs are
content-addressed, so one stored copy serves every interaction (and project) that
produced the same bytes; which interaction references which blob is kept in the
``media`` table by :class:`MediaService`, which deletes a blob once nothing references
it. An S3-compatible backend would implement the same methods over a bucket (keys
``blake3/<hex>``; a streamed blob as a multipart upload).
"""

from __future__ import annotations

import abc
from collections.abc import Callable
from typing import TypeVar

import blake3

from junction.errors import BadRequest


def content_digest(data: bytes) -> str:
    """The name of ``data`` in every blob store: its BLAKE3 digest, 64 hex digits."""
    return str(blake3.blake3(data).hexdigest())


class BlobWriter(abc.ABC):
    """A blob being written as it streams in: hashed while it is written; ``commit``
    names it by its digest (dropping the copy when those bytes are already stored)."""

    def __init__(self) -> None:
        self._hasher = blake3.blake3()
        self.size = 0

    async def write(self, data: bytes) -> None:
        self._hasher.update(data)
        self.size += len(data)
        await self._append(data)

    async def commit(self) -> str:
        """Store what was written under its digest; return the digest."""
        digest = str(self._hasher.hexdigest())
        await self._commit(digest)
        return digest

    @abc.abstractmethod
    async def _append(self, data: bytes) -> None: ...

    @abc.abstractmethod
    async def _commit(self, digest: str) -> None: ...

    @abc.abstractmethod
    async def read(self, offset: int, length: int) -> bytes:
        """Bytes already written (a streamed chunk being forwarded)."""

    @abc.abstractmethod
    async def abort(self) -> None:
        """Drop what was written (the provider failed mid-stream)."""


class BlobStore(abc.ABC):
    kind: str

    @abc.abstractmethod
    async def put(self, digest: str, data: bytes) -> None:
        """Store ``data`` under ``digest`` (:func:`content_digest`); a no-op when present."""

    @abc.abstractmethod
    async def get(self, digest: str) -> bytes | None:
        """The bytes stored under ``digest``, or None."""

    @abc.abstractmethod
    async def delete(self, digest: str) -> None:
        """Remove the blob (no error when it is already gone)."""

    @abc.abstractmethod
    async def exists(self, digest: str) -> bool: ...

    @abc.abstractmethod
    async def writer(self) -> BlobWriter:
        """A new blob to write as it streams in (see :class:`BlobWriter`)."""

    @abc.abstractmethod
    async def read_range(self, digest: str, offset: int, length: int) -> bytes | None:
        """``length`` bytes of a blob from ``offset`` (None when it is not stored)."""


_BACKENDS: dict[str, type[BlobStore]] = {}
B = TypeVar("B", bound=type[BlobStore])


def register(kind: str) -> Callable[[B], B]:
    def decorate(cls: B) -> B:
        cls.kind = kind
        _BACKENDS[kind] = cls
        return cls

    return decorate


def backend_class(kind: str) -> type[BlobStore]:
    try:
        return _BACKENDS[kind]
    except KeyError:
        raise BadRequest(
            f"unknown media backend '{kind}' (known: {', '.join(sorted(_BACKENDS))})"
        ) from None
