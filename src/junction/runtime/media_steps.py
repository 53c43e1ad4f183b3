"""Generated media in a run: a clip from the provider becomes a content item (a stored
reference, or inline data when nothing is stored) and is counted in usage; before a model
call, the references of earlier turns become bytes again."""

from __future__ import annotations

from typing import Any

import pybase64

from junction.media.service import MediaService, refs_in
from junction.providers.base import MediaDelta, ModelRequest
from junction.runtime.journal import Journal
from junction.runtime.usage import UsageMeter


async def media_item(
    media: MediaService | None, journal: Journal, usage: UsageMeter, event: MediaDelta
) -> dict[str, Any]:
    item: dict[str, Any] = {"type": event.kind, "mime_type": event.mime_type}
    if event.sample_rate:
        item["sample_rate"] = event.sample_rate
    if event.channels:
        item["channels"] = event.channels
    record = journal.record
    if media is not None and journal.store is not None:
        item["uri"] = await media.put(
            record.project_id, record.id, event.data, event.mime_type, event.encoded
        )
    else:
        item["data"] = event.encoded or pybase64.b64encode_as_string(event.data)
    if event.kind == "image":
        usage.images += 1
    elif event.seconds:
        usage.audio_seconds += event.seconds
    return item


async def with_media(
    media: MediaService, journal: Journal, request: ModelRequest, retained: bool
) -> bool:
    """Give the model the bytes of the media earlier turns produced; the first time, this
    interaction comes to reference them too (deleting an earlier turn keeps them).
    Returns whether that has happened."""
    found = refs_in(request.steps)
    if not found:
        return retained
    if not retained and journal.store is not None:
        record = journal.record
        await media.retain(record.project_id, record.id, found)
        retained = True
    request.steps = await media.inline_steps(request.steps)
    return retained
