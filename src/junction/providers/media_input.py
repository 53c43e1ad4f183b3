"""What media dialects read from a conversation: the prompt (the latest user text) and
the images to edit (those of the latest user input, else the latest generated one)."""

from __future__ import annotations

import binascii
from typing import Any

from junction.errors import BadRequest
from junction.media import encode
from junction.providers.base import ModelRequest


def prompt_of(request: ModelRequest) -> str:
    for step in reversed(request.steps):
        if step["type"] == "user_input":
            text = "\n".join(
                c.get("text", "") for c in step.get("content") or () if c.get("type") == "text"
            ).strip()
            if text:
                return text
    raise BadRequest(f"model '{request.model}' needs a text prompt in the input")


def _decoded(item: dict[str, Any], model: str) -> tuple[bytes, str]:
    data = item.get("data")
    if not data:
        raise BadRequest(
            f"model '{model}' needs images inline ('data'), not by uri: {item.get('uri')}"
        )
    try:
        return encode.b64decode(data), str(item.get("mime_type") or "image/png")
    except (binascii.Error, ValueError):
        raise BadRequest("an input image's 'data' is not valid base64") from None


def images_to_edit(request: ModelRequest) -> list[tuple[bytes, str]]:
    """Images of the latest user input; without any, the latest image of the
    conversation (multi-turn editing through ``previous_interaction_id``)."""
    for step in reversed(request.steps):
        if step["type"] == "user_input":
            found = [
                _decoded(c, request.model)
                for c in step.get("content") or ()
                if c.get("type") == "image"
            ]
            if found:
                return found
            break
    for step in reversed(request.steps):
        for item in reversed(step.get("content") or ()):
            if item.get("type") == "image" and item.get("data"):
                return [_decoded(item, request.model)]
    return []


def audio_to_transcribe(request: ModelRequest) -> list[tuple[bytes, str]]:
    """The audio items of the latest user input, decoded (a 400 for one by a uri the
    server could not fetch, e.g. ``gs://``)."""
    for step in reversed(request.steps):
        if step["type"] != "user_input":
            continue
        found = []
        for item in step.get("content") or ():
            if item.get("type") != "audio":
                continue
            if not item.get("data"):
                raise BadRequest(
                    f"model '{request.model}' transcribes audio sent inline ('data') or by "
                    f"http(s) uri, not {item.get('uri')}"
                )
            try:
                data = encode.b64decode(item["data"])
            except (binascii.Error, ValueError):
                raise BadRequest("an input audio item's 'data' is not valid base64") from None
            found.append((data, str(item.get("mime_type") or "audio/wav").lower()))
        return found
    return []
