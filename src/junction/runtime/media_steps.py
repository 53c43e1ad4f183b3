"""Generated media in a run: a clip from the provider becomes a content item (a stored
reference, or inline data when nothing is stored) and is counted in usage; a clip that
streams in is written and forwarded chunk by chunk (:class:`MediaStream`); before a model
call, the references of earlier turns become bytes again."""

from __future__ import annotations

from typing import Any

import pybase64

from junction.media.service import MediaService, refs_in
from junction.media.stream import Upload
from junction.providers.base import MediaChunk, MediaDelta, ModelRequest
from junction.runtime.assembler import StepAssembler
from junction.runtime.journal import Journal
from junction.runtime.usage import UsageMeter


def _shell(event: MediaDelta | MediaChunk) -> dict[str, Any]:
    item: dict[str, Any] = {"type": event.kind, "mime_type": event.mime_type}
    if event.sample_rate:
        item["sample_rate"] = event.sample_rate
    if event.channels:
        item["channels"] = event.channels
    return item


def _count(usage: UsageMeter, kind: str, seconds: float | None) -> None:
    if kind == "image":
        usage.images += 1
    elif seconds:
        usage.audio_seconds += seconds


async def media_item(
    media: MediaService | None, journal: Journal, usage: UsageMeter, event: MediaDelta
) -> dict[str, Any]:
    item = _shell(event)
    record = journal.record
    if media is not None and journal.store is not None:
        item["uri"] = await media.put(
            record.project_id, record.id, event.data, event.mime_type, event.encoded
        )
    else:
        item["data"] = event.encoded or pybase64.b64encode_as_string(event.data)
    _count(usage, event.kind, event.seconds)
    return item


def preview_item(event: MediaDelta) -> dict[str, Any]:
    """A preview of an image being made, as the live-only delta that shows it (at most a
    few per image, kept in the journal's live log while the run lasts)."""
    return {**_shell(event), "data": event.encoded or pybase64.b64encode_as_string(event.data)}


def uri_delivery(config: dict[str, Any]) -> bool:
    formats = config.get("response_format")
    items = formats if isinstance(formats, list) else [formats] if formats else []
    return any(isinstance(f, dict) and f.get("delivery") == "uri" for f in items)


class MediaStream:
    """The media items of one model call that stream in. Stored: each chunk is appended
    to a blob being written and forwarded live as a reference to its range (the journal
    never holds the bytes); the finished item is one stored delta and a content item
    referencing the blob. Not stored (``store=false``): chunks are forwarded inline and
    the item is kept inline, as any media of such an interaction. With ``delivery:
    "uri"``, or when the run is not streamed, nothing is forwarded before the item is
    complete."""

    def __init__(
        self,
        media: MediaService | None,
        journal: Journal,
        usage: UsageMeter,
        assembler: StepAssembler,
        *,
        forward: bool = True,
    ) -> None:
        self.media = media if journal.store is not None else None
        self.journal = journal
        self.usage = usage
        self.assembler = assembler
        # (``forward`` is False for a plain synchronous call: nobody follows it live, so
        # the item goes out once, whole, as any other)
        self.live = forward and not uri_delivery(journal.record.config)
        self.shell: dict[str, Any] | None = None
        self.upload: Upload | None = None
        self.inline: list[bytes] = []

    async def chunk(self, event: MediaChunk) -> None:
        if self.shell is None:
            self.shell = _shell(event)
            if self.media is not None:
                self.upload = await self.media.begin()
        if event.data:
            if self.upload is not None:
                ref = await self.upload.write(event.data)
                if self.live:
                    self.assembler.feed_media_chunk({**self.shell, "uri": ref})
            else:
                self.inline.append(event.data)
                if self.live:
                    encoded = pybase64.b64encode_as_string(event.data)
                    self.assembler.feed_media_chunk({**self.shell, "data": encoded})
        if event.last:
            await self._finish(event.seconds)

    async def _finish(self, seconds: float | None) -> None:
        shell, upload = self.shell, self.upload
        assert shell is not None
        self.shell, self.upload = None, None
        if upload is not None and self.media is not None:
            record = self.journal.record
            uri = await self.media.finish(upload, record.project_id, record.id, shell["mime_type"])
            item = {**shell, "uri": uri}
        else:
            item = {**shell, "data": pybase64.b64encode_as_string(b"".join(self.inline))}
            self.inline = []
        self.assembler.feed_media(item, streamed=self.live)
        _count(self.usage, shell["type"], seconds)

    async def abort(self) -> None:
        """The call failed mid-item: drop what was written."""
        if self.upload is not None:
            await self.upload.writer.abort()
        self.shell, self.upload, self.inline = None, None, []


async def with_media(
    media: MediaService,
    journal: Journal,
    request: ModelRequest,
    retained: bool,
    history_media: frozenset[str],
) -> bool:
    """Give the model the bytes of the media earlier turns produced; the first time, this
    interaction comes to reference them too (deleting an earlier turn keeps them).
    Returns whether that has happened. ``history_media`` are the references in the
    request's history (``request.steps[:history_len]``), found once per conversation:
    only this run's steps are scanned here, whatever the length of the conversation."""
    found = history_media | refs_in(request.steps[request.history_len :])
    if not found:
        return retained
    if not retained and journal.store is not None:
        record = journal.record
        await media.retain(record.project_id, record.id, found)
        retained = True
    request.steps = await media.inline_steps(request.steps)
    return retained
