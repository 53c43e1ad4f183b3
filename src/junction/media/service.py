"""Generated media of interactions: blobs in a :class:`BlobStore`, references in the
``media`` table (project, interaction, digest), and the translation between the two
forms a media item takes.

Stored steps and events never hold media bytes. A generated image or audio item is kept
as ``{"type": "image", "mime_type": …, "uri": "junction-media:<digest>"}``; the API
turns that reference back into ``data`` (base64) when it answers, and the runner does
the same before a model sees the conversation again. Blobs are deduplicated by hash and
deleted when the last interaction that references them is deleted.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Iterable
from typing import Any

import pybase64

from junction import ids
from junction.errors import NotFound
from junction.media.base import BlobStore, content_digest
from junction.media.stream import PART_REF, PART_SCHEME, Parts, Upload
from junction.store.db import Database

SCHEME = "junction-media:"
_REF = re.compile(r'"uri":"junction-media:([0-9a-f]{64})"')
MEDIA_TYPES = ("image", "audio", "video", "document")


def digest_of(uri: str | None) -> str | None:
    if isinstance(uri, str) and uri.startswith(SCHEME):
        return uri[len(SCHEME) :]
    return None


def refs_in(steps: Iterable[dict[str, Any]]) -> set[str]:
    """Digests of the media references in ``steps``."""
    found: set[str] = set()
    for step in steps:
        for item in step.get("content") or ():
            if isinstance(item, dict) and (digest := digest_of(item.get("uri"))):
                found.add(digest)
    return found


#: bytes of base64 text kept for media made in the last moments (the answer that is
#: about to be sent, and its stream, then need no read or re-encoding)
RECENT_BYTES = 32 * 1024 * 1024


class MediaService:
    def __init__(self, db: Database, blobs: BlobStore) -> None:
        self.db = db
        self.blobs = blobs
        self._recent: OrderedDict[str, str] = OrderedDict()
        self._recent_size = 0
        self.parts = Parts(blobs)

    def _remember(self, digest: str, encoded: str) -> None:
        if digest in self._recent or len(encoded) > RECENT_BYTES // 4:
            return
        self._recent[digest] = encoded
        self._recent_size += len(encoded)
        while self._recent_size > RECENT_BYTES:
            _, dropped = self._recent.popitem(last=False)
            self._recent_size -= len(dropped)

    async def put(
        self,
        project_id: str,
        interaction_id: str,
        data: bytes,
        mime_type: str,
        encoded: str | None = None,
    ) -> str:
        """Keep ``data`` (whose base64 is ``encoded``, when known) for an interaction;
        return the reference URI."""
        digest = content_digest(data)
        await self.blobs.put(digest, data)
        self._remember(digest, encoded or pybase64.b64encode_as_string(data))
        return await self._reference(project_id, interaction_id, digest, mime_type, len(data))

    async def _reference(
        self, project_id: str, interaction_id: str, digest: str, mime_type: str, size: int
    ) -> str:
        await self.db.execute(
            "INSERT INTO media (project_id, interaction_id, digest, mime_type, size, created) "
            "VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
            project_id,
            interaction_id,
            digest,
            mime_type,
            size,
            ids.now_iso(),
        )
        return SCHEME + digest

    async def begin(self) -> Upload:
        """A media item that streams in (see :mod:`junction.media.stream`)."""
        return await self.parts.begin()

    async def finish(
        self, upload: Upload, project_id: str, interaction_id: str, mime_type: str
    ) -> str:
        """Store a streamed item under its digest (deduplicated) and keep it for the
        interaction; return the reference URI."""
        upload.digest = await upload.writer.commit()
        return await self._reference(
            project_id, interaction_id, upload.digest, mime_type, upload.writer.size
        )

    async def retain(self, project_id: str, interaction_id: str, digests: Iterable[str]) -> None:
        """Let an interaction reference media an earlier turn made (so deleting that turn
        keeps the blobs this one still shows)."""
        for digest in digests:
            row = await self.db.fetchone(
                "SELECT mime_type, size FROM media WHERE project_id = $1 AND digest = $2 LIMIT 1",
                project_id,
                digest,
            )
            if row is None:
                continue
            await self.db.execute(
                "INSERT INTO media (project_id, interaction_id, digest, mime_type, size, created) "
                "VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
                project_id,
                interaction_id,
                digest,
                row["mime_type"],
                row["size"],
                ids.now_iso(),
            )

    async def read(self, digest: str) -> bytes:
        data = await self.blobs.get(digest)
        if data is None:
            raise NotFound(f"media {digest[:12]}… is no longer stored")
        return data

    async def get(self, project_id: str, digest: str) -> tuple[bytes, str]:
        """A project's media item (bytes and MIME type), for ``GET /media/{digest}``."""
        row = await self.db.fetchone(
            "SELECT mime_type FROM media WHERE project_id = $1 AND digest = $2 LIMIT 1",
            project_id,
            digest,
        )
        if row is None:
            raise NotFound(f"media '{digest}' not found")
        return await self.read(digest), str(row["mime_type"])

    async def _encoded(self, digests: Iterable[str]) -> dict[str, str | None]:
        """Base64 of each blob; ``None`` for one no longer stored (retention)."""
        out: dict[str, str | None] = {}
        for digest in set(digests):
            cached = self._recent.get(digest)
            # (another process may have purged the blob: the cache is checked against it)
            if cached and await self.blobs.exists(digest):
                out[digest] = cached
                continue
            data = await self.blobs.get(digest)
            out[digest] = None if data is None else pybase64.b64encode_as_string(data)
        return out

    async def inline_steps(self, steps: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """``steps`` with every media reference replaced by its base64 ``data`` (changed
        steps are copies; the input is not modified)."""
        wanted = refs_in(steps)
        if not wanted:
            return steps
        encoded = await self._encoded(wanted)
        out = []
        for step in steps:
            content = step.get("content")
            if not content or not any(
                isinstance(i, dict) and digest_of(i.get("uri")) for i in content
            ):
                out.append(step)
                continue
            items = []
            for item in content:
                digest = digest_of(item.get("uri")) if isinstance(item, dict) else None
                if digest is None:
                    items.append(item)
                else:
                    fixed = {k: v for k, v in item.items() if k != "uri"}
                    data = encoded[digest]
                    if data is None:  # purged by retention: the item stays, marked
                        fixed["media_expired"] = True
                    else:
                        fixed["data"] = data
                    items.append(fixed)
            out.append({**step, "content": items})
        return out

    async def inline_event(self, data: str) -> str:
        """An encoded stream event with its media references (and streamed chunks'
        references) replaced by ``data``."""
        if PART_SCHEME in data:
            match = PART_REF.search(data)
            if match is not None:
                token, offset, length = match.group(1), int(match.group(2)), int(match.group(3))
                chunk = await self.parts.read(token, offset, length)
                found = (
                    '"media_expired":true'
                    if chunk is None
                    else f'"data":"{pybase64.b64encode_as_string(chunk)}"'
                )
                data = data[: match.start()] + found + data[match.end() :]
        if SCHEME not in data:
            return data
        encoded = await self._encoded(_REF.findall(data))

        def inline(match: re.Match[str]) -> str:
            found = encoded[match.group(1)]
            # a blob purged by retention: the item stays, marked, without data
            return '"media_expired":true' if found is None else f'"data":"{found}"'

        return _REF.sub(inline, data)

    async def delete_interaction(self, project_id: str, interaction_id: str) -> None:
        rows = await self.db.fetchall(
            "SELECT digest FROM media WHERE project_id = $1 AND interaction_id = $2",
            project_id,
            interaction_id,
        )
        await self.db.execute(
            "DELETE FROM media WHERE project_id = $1 AND interaction_id = $2",
            project_id,
            interaction_id,
        )
        await self._collect(r["digest"] for r in rows)

    async def delete_project(self, project_id: str) -> int:
        """Delete every media reference of the project; return how many there were."""
        rows = await self.db.fetchall("SELECT digest FROM media WHERE project_id = $1", project_id)
        await self.db.execute("DELETE FROM media WHERE project_id = $1", project_id)
        await self._collect(r["digest"] for r in rows)
        return len(rows)

    async def delete_older(self, project_id: str, before: str, limit: int) -> int:
        """Delete up to ``limit`` of the project's media references created before
        ``before`` (retention); return how many."""
        rows = await self.db.fetchall(
            "SELECT interaction_id, digest FROM media WHERE project_id = $1 AND created < $2 "
            "ORDER BY created LIMIT $3",
            project_id,
            before,
            limit,
        )
        for row in rows:
            await self.db.execute(
                "DELETE FROM media WHERE project_id = $1 AND interaction_id = $2 AND digest = $3",
                project_id,
                row["interaction_id"],
                row["digest"],
            )
        await self._collect(r["digest"] for r in rows)
        return len(rows)

    async def _collect(self, digests: Iterable[str]) -> None:
        """Delete the blobs no interaction references any more."""
        for digest in set(digests):
            row = await self.db.fetchone("SELECT 1 FROM media WHERE digest = $1 LIMIT 1", digest)
            if row is None:
                await self.blobs.delete(digest)
                if digest in self._recent:
                    self._recent_size -= len(self._recent.pop(digest))

    async def project_bytes(self, project_id: str) -> int:
        """The bytes of generated media the project's interactions reference (a blob two
        interactions share counts twice: each holds it)."""
        row = await self.db.fetchone(
            "SELECT COALESCE(SUM(size), 0) AS n FROM media WHERE project_id = $1", project_id
        )
        return int(row["n"]) if row else 0

    async def stats(self, project_id: str, interaction_id: str) -> int:
        row = await self.db.fetchone(
            "SELECT COUNT(*) AS n FROM media WHERE project_id = $1 AND interaction_id = $2",
            project_id,
            interaction_id,
        )
        return int(row["n"]) if row else 0
