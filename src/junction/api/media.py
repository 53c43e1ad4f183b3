"""Generated media on the wire: references turned back into inline ``data`` (or into a
URL Junction serves, for ``delivery: "uri"``), and ``GET /{version}/media/{digest}``."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from junction.api.common import project_of, services
from junction.api.spec import Raw, operation
from junction.errors import NotFound
from junction.media.service import SCHEME, MediaService
from junction.media.stream import PART_SCHEME
from junction.runtime.media_steps import uri_delivery
from junction.store.records import InteractionRecord

_DIGEST = re.compile(r"^[0-9a-f]{64}$")


def _uri_delivery(record: InteractionRecord) -> bool:
    return uri_delivery(record.config)


def media_base(request: Request) -> str:
    version = request.path_params.get("version", "v1beta")
    return f"{str(request.base_url).rstrip('/')}/{version}/media/"


def _service(request: Request) -> MediaService | None:
    return services(request).interactions.media


async def wire(request: Request, record: InteractionRecord, **options: Any) -> dict[str, Any]:
    """The interaction resource with its media inline (or as URLs)."""
    out = record.to_wire(**options)
    media = _service(request)
    steps = out.get("steps")
    if media is None or not steps:
        return out
    if _uri_delivery(record):
        out["steps"] = [_as_urls(step, media_base(request)) for step in steps]
    else:
        out["steps"] = await media.inline_steps(steps)
    return out


def _as_urls(step: dict[str, Any], base: str) -> dict[str, Any]:
    content = step.get("content")
    if not content:
        return step
    items = [
        {**i, "uri": base + i["uri"][len(SCHEME) :]}
        if isinstance(i, dict) and str(i.get("uri", "")).startswith(SCHEME)
        else i
        for i in content
    ]
    return {**step, "content": items}


def events(
    request: Request, record: InteractionRecord, source: AsyncIterator[tuple[int, str]]
) -> AsyncIterator[tuple[int, str]]:
    """A stream's events with media references resolved. What it needs of the request
    and the record is taken now: an open stream holds neither."""
    return _resolved(source, _service(request), _uri_delivery(record), media_base(request))


async def _resolved(
    source: AsyncIterator[tuple[int, str]], media: MediaService | None, uri: bool, base: str
) -> AsyncIterator[tuple[int, str]]:
    async for seq, data in source:
        if media is not None and PART_SCHEME in data:  # a streamed chunk: its bytes
            data = await media.inline_event(data)
        if media is not None and SCHEME in data:
            data = data.replace(SCHEME, base) if uri else await media.inline_event(data)
        yield seq, data


@operation(
    summary="Generated media (an image, audio or video an interaction produced)",
    tag="interactions",
    path={"digest": "the 64 hex digits of the media's SHA-256"},
    responses={
        200: Raw("*/*", "the bytes, with their type", {"type": "string", "format": "binary"})
    },
)
async def get_media(request: Request) -> Response:
    project_id = await project_of(request)
    digest = request.path_params["digest"]
    media = _service(request)
    if media is None or not _DIGEST.match(digest):
        raise NotFound(f"media '{digest}' not found")
    data, mime_type = await media.get(project_id, digest)
    headers = {
        "Cache-Control": "private, max-age=86400",
        # generated content is data, never a page of this origin
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "sandbox",
    }
    return Response(data, media_type=mime_type, headers=headers)


routes = [Route("/{version}/media/{digest}", get_media, methods=["GET"])]
