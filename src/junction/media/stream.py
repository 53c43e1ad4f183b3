"""Media that streams in from a provider: each chunk is appended to a blob being written
(hashed as it goes) and forwarded as a reference to its byte range, never held whole.

A chunk's step delta carries ``"uri": "junction-media-part:<upload>:<offset>:<length>"``
in the journal (a few dozen bytes, however large the chunk); the API reads that range
back when it sends the event (:meth:`Parts.resolve`). While the blob is being written the
range comes from the incoming file, afterwards from the stored blob, so a client that
follows a bit behind still gets every chunk.
"""

from __future__ import annotations

import re
import secrets
from collections import OrderedDict

from junction.media.base import BlobStore, BlobWriter

PART_SCHEME = "junction-media-part:"
PART_REF = re.compile(r'"uri":"junction-media-part:([0-9a-f]{32}):(\d+):(\d+)"')
#: uploads whose chunks can still be resolved (the newest; each entry is small)
MAX_TRACKED = 4096


class Upload:
    """One media item being written as it streams in."""

    def __init__(self, writer: BlobWriter) -> None:
        self.token = secrets.token_hex(16)
        self.writer = writer
        self.digest: str | None = None

    async def write(self, data: bytes) -> str:
        """Append ``data``; return the reference to its range."""
        offset = self.writer.size
        await self.writer.write(data)
        return f"{PART_SCHEME}{self.token}:{offset}:{len(data)}"


class Parts:
    """The uploads of this process, by token, for resolving chunk references."""

    def __init__(self, blobs: BlobStore) -> None:
        self.blobs = blobs
        self._uploads: OrderedDict[str, Upload] = OrderedDict()

    async def begin(self) -> Upload:
        upload = Upload(await self.blobs.writer())
        self._uploads[upload.token] = upload
        while len(self._uploads) > MAX_TRACKED:
            self._uploads.popitem(last=False)
        return upload

    async def read(self, token: str, offset: int, length: int) -> bytes | None:
        """A chunk's bytes, or None when they are no longer at hand."""
        upload = self._uploads.get(token)
        if upload is None:
            return None
        if upload.digest is None:
            return await upload.writer.read(offset, length)
        return await self.blobs.read_range(upload.digest, offset, length)
