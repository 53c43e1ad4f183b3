"""The blob-store seam: bytes kept under their SHA-256, outside the database.

A backend implements four methods. Blobs are content-addressed, so one stored copy
serves every interaction (and project) that produced the same bytes; which interaction
references which blob is kept in the ``media`` table by :class:`MediaService`, which
deletes a blob once nothing references it. An S3-compatible backend would implement
the same four methods over a bucket (keys ``sha256/<hex>``).
"""

from __future__ import annotations

import abc
from collections.abc import Callable
from typing import TypeVar

from junction.errors import BadRequest


class BlobStore(abc.ABC):
    kind: str

    @abc.abstractmethod
    async def put(self, digest: str, data: bytes) -> None:
        """Store ``data`` under ``digest`` (its SHA-256 hex); a no-op when present."""

    @abc.abstractmethod
    async def get(self, digest: str) -> bytes | None:
        """The bytes stored under ``digest``, or None."""

    @abc.abstractmethod
    async def delete(self, digest: str) -> None:
        """Remove the blob (no error when it is already gone)."""

    @abc.abstractmethod
    async def exists(self, digest: str) -> bool: ...


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
