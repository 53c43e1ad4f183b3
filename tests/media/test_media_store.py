"""The media store's contract on SQLite and PostgreSQL: dedup by hash, references per
interaction, retained references, deletion by interaction and by project."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import secrets
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from junction.errors import NotFound
from junction.media.base import content_digest
from junction.media.filesystem import FilesystemBlobStore
from junction.media.service import SCHEME, MediaService
from junction.store.db import connect
from junction.store.migrate import migrate


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'j.db'}"
    return str(request.getfixturevalue("pg_url"))


@contextlib.asynccontextmanager
async def _media(database_url: str, root: Path) -> AsyncIterator[MediaService]:
    db = await connect(database_url)
    await migrate(db)
    try:
        yield MediaService(db, FilesystemBlobStore(root))
    finally:
        await db.close()


def _blob(service: MediaService, data: bytes) -> Path:
    digest = content_digest(data)
    assert isinstance(service.blobs, FilesystemBlobStore)
    return service.blobs.root / digest[:2] / digest


def test_dedup_retain_and_delete(database_url: str, tmp_path: Path) -> None:
    asyncio.run(_dedup_retain_and_delete(database_url, tmp_path))


async def _dedup_retain_and_delete(database_url: str, tmp_path: Path) -> None:
    async with _media(database_url, tmp_path / "media") as media:
        project, other = "p-" + secrets.token_hex(3), "q-" + secrets.token_hex(3)
        data = secrets.token_bytes(4096)
        uri = await media.put(project, "i1", data, "image/png")
        assert uri == SCHEME + content_digest(data)
        assert await media.put(project, "i2", data, "image/png") == uri
        assert await media.put(other, "j1", data, "image/png") == uri
        blob = _blob(media, data)
        assert blob.read_bytes() == data
        assert [p for p in blob.parent.iterdir() if not p.name.startswith(".")] == [blob]
        digest = uri.removeprefix(SCHEME)
        await media.retain(project, "i3", [digest])
        await media.delete_interaction(project, "i1")
        await media.delete_interaction(project, "i2")
        assert blob.exists()  # i3 and the other project still reference it
        await media.delete_project(other)
        assert blob.exists()
        assert await media.get(project, digest) == (data, "image/png")
        with pytest.raises(NotFound):
            await media.get(other, digest)
        await media.delete_interaction(project, "i3")
        assert not blob.exists()
        with pytest.raises(NotFound):
            await media.get(project, digest)


def test_inline_steps_and_events(database_url: str, tmp_path: Path) -> None:
    asyncio.run(_inline_steps_and_events(database_url, tmp_path))


async def _inline_steps_and_events(database_url: str, tmp_path: Path) -> None:
    async with _media(database_url, tmp_path / "media") as media:
        data = secrets.token_bytes(100)
        uri = await media.put("p", "i", data, "audio/wav")
        steps = [
            {
                "type": "model_output",
                "content": [{"type": "audio", "mime_type": "audio/wav", "uri": uri}],
            }
        ]
        inlined = await media.inline_steps(steps)
        assert steps[0]["content"][0]["uri"] == uri  # the input is not modified
        assert base64.b64decode(inlined[0]["content"][0]["data"]) == data
        assert "uri" not in inlined[0]["content"][0]
        event = '{"event_type":"step.delta","delta":{"type":"audio","uri":"' + uri + '"}}'
        fixed = await media.inline_event(event)
        assert uri not in fixed and base64.b64encode(data).decode() in fixed
