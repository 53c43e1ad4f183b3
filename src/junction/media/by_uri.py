"""Image, audio and document input given by ``uri``: fetched at create time, handed to
the provider inline.

Before an interaction is written, every ``image``, ``audio`` and ``document`` item of the
conversation's user turns that names an ``http(s)`` URI is resolved to bytes:

* a URI whose path is ``/{version}/media/{digest}`` (the form ``GET /media/{digest}``
  and ``delivery: "uri"`` use) naming media the caller's project holds is read from the
  media store, never over HTTP (the digest is the content's SHA-256, so the bytes are the
  same wherever the URL points);
* any other ``http(s)`` URI goes through the SSRF-safe fetcher
  (:meth:`junction.tools.fetch.UrlFetcher.fetch_bytes`): private and loopback
  addresses are refused unless ``url_fetch_allow_private`` is set;
* other schemes (``gs://``, a provider's own file URIs) are left as they are, for the
  provider to take or refuse.

Each item may be at most ``media_uri_max_bytes``; a request may name at most
``media_uri_max_items`` such items. The MIME type served (or, when the server sends an
untyped one, the item's own ``mime_type`` or the URL's extension) must fit the item:
``image/*`` for an image, ``audio/*`` for audio, ``application/pdf`` or ``text/*`` for a
document; a declared ``mime_type`` that disagrees with the served one is refused. Any
problem is a 400 naming the item and the reason. Stored steps keep the ``uri``; only the
model call gets the bytes (:func:`inline`).
"""

from __future__ import annotations

import asyncio
import mimetypes
import re
from collections import OrderedDict
from collections.abc import Iterable
from typing import Any

import pybase64
from yarl import URL

from junction.errors import BadRequest, NotFound
from junction.media.service import MediaService
from junction.tools.fetch import FetchRefused, UrlFetcher

KINDS = ("image", "audio", "document")
_WANTED = {"image": "image/*", "audio": "audio/*", "document": "application/pdf or text/*"}
_MEDIA_PATH = re.compile(r"^(?:.*/)?v1[a-z0-9]*/media/([0-9a-f]{64})$")
#: bytes of fetched media kept in memory for later turns and resumed runs
CACHE_BYTES = 64 * 1024 * 1024

Fetched = dict[str, dict[str, str]]


def _fits(kind: str, mime: str) -> bool:
    if kind in ("image", "audio"):
        return mime.startswith(kind + "/")
    return mime == "application/pdf" or mime.startswith("text/")


def _wanted(uri: Any) -> bool:
    return isinstance(uri, str) and uri.lower().startswith(("http://", "https://"))


def items_by_uri(steps: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """The image, audio and document items of user turns that name an http(s) ``uri``."""
    return [
        item
        for step in steps
        if step.get("type") == "user_input"
        for item in step.get("content") or ()
        if isinstance(item, dict)
        and item.get("type") in KINDS
        and not item.get("data")
        and _wanted(item.get("uri"))
    ]


def inline(steps: list[dict[str, Any]], fetched: Fetched) -> list[dict[str, Any]]:
    """``steps`` with each fetched item carrying its bytes as ``data`` instead of its
    ``uri`` (changed steps are copies)."""
    if not fetched:
        return steps
    out: list[dict[str, Any]] = []
    for step in steps:
        content = step.get("content")
        if step.get("type") != "user_input" or not any(
            isinstance(i, dict) and i.get("uri") in fetched for i in content or ()
        ):
            out.append(step)
            continue
        items = []
        for item in content or ():
            uri = item.get("uri") if isinstance(item, dict) else None
            got = fetched.get(uri) if isinstance(uri, str) else None
            if got is None or item.get("type") not in KINDS:
                items.append(item)
            else:
                fixed = {k: v for k, v in item.items() if k != "uri"}
                items.append({**fixed, **got})
        out.append({**step, "content": items})
    return out


class MediaByUri:
    def __init__(self, fetcher: UrlFetcher, max_bytes: int, max_items: int) -> None:
        self.fetcher = fetcher
        self.max_bytes = max_bytes
        self.max_items = max_items
        self._cache: OrderedDict[tuple[str, str, str], dict[str, str]] = OrderedDict()
        self._cached = 0

    async def resolve(
        self,
        project_id: str,
        history: list[dict[str, Any]],
        turn: list[dict[str, Any]],
        media: MediaService | None,
    ) -> Fetched:
        """The bytes (base64) and MIME type of every item by uri of the conversation;
        a 400 naming the first that cannot be used."""
        found: list[tuple[str, dict[str, Any]]] = [
            ("an earlier turn:", i) for i in items_by_uri(history)
        ] + [("input:", i) for i in items_by_uri(turn)]
        unique = {str(i["uri"]): (where, i) for where, i in found}
        if not unique:
            return {}  # (most requests: nothing to fetch, no gather to set up)
        if len(unique) > self.max_items:
            raise BadRequest(
                f"input: the conversation names {len(unique)} image, audio or document items by "
                f"uri, more than the limit of {self.max_items} (media_uri_max_items); "
                "send fewer, or send them inline as 'data'"
            )
        results = await asyncio.gather(
            *(
                self._one(project_id, uri, str(item["type"]), item.get("mime_type"), media)
                for uri, (_, item) in unique.items()
            ),
            return_exceptions=True,
        )
        out: Fetched = {}
        for (uri, (where, item)), got in zip(unique.items(), results, strict=True):
            if isinstance(got, FetchRefused):
                raise BadRequest(f"{where} the {item['type']} at uri '{uri}' cannot be used: {got}")
            if isinstance(got, BaseException):
                raise got
            out[uri] = got
        return out

    async def _one(
        self,
        project_id: str,
        uri: str,
        kind: str,
        declared: Any,
        media: MediaService | None,
    ) -> dict[str, str]:
        declared = str(declared).lower() if declared else ""
        key = (project_id, uri, declared)
        if key in self._cache:
            self._cache.move_to_end(key)
            return self._cache[key]
        data, served = await self._bytes(project_id, uri, media)
        if served and declared and served != declared:
            raise FetchRefused(f"the source serves {served} but the item's mime_type is {declared}")
        mime = served or declared or (mimetypes.guess_type(URL(uri).path)[0] or "")
        if not mime:
            raise FetchRefused(
                "its MIME type is unknown (the source sends none): set the item's mime_type"
            )
        if not _fits(kind, mime):
            raise FetchRefused(f"its MIME type is {mime}, not {_WANTED[kind]}")
        got = {"data": pybase64.b64encode_as_string(data), "mime_type": mime}
        self._remember(key, got)
        return got

    async def _bytes(
        self, project_id: str, uri: str, media: MediaService | None
    ) -> tuple[bytes, str]:
        match = _MEDIA_PATH.match(URL(uri).path)
        if match is not None and media is not None:
            try:
                data, mime = await media.get(project_id, match.group(1))
            except NotFound:  # not this project's media: an ordinary URL
                pass
            else:
                if len(data) > self.max_bytes:
                    raise FetchRefused(f"larger than the {self.max_bytes:,} bytes allowed")
                return data, mime.lower()
        data, mime = await self.fetcher.fetch_bytes(uri, self.max_bytes)
        return data, mime

    def _remember(self, key: tuple[str, str, str], got: dict[str, str]) -> None:
        size = len(got["data"])
        if size > CACHE_BYTES // 4:
            return
        self._cache[key] = got
        self._cached += size
        while self._cached > CACHE_BYTES:
            _, dropped = self._cache.popitem(last=False)
            self._cached -= len(dropped["data"])
