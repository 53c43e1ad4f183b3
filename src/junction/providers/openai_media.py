"""OpenAI's media endpoints for the ``openai`` provider: the Images API (``POST
/images/generations``, and ``POST /images/edits`` when the conversation holds an image)
here; text-to-speech and audio chat models in :mod:`junction.providers.openai_speech`.

Image options honoured: ``image_config.aspect_ratio`` / ``image_size`` (mapped to
``size``) and ``response_format.mime_type`` (``output_format`` on gpt-image models).

A streamed request to a gpt-image model asks for ``partial_images`` (the provider's
``partial_images`` option, default 2, 0 turns it off) with ``stream: true``: each
``image_generation.partial_image`` / ``image_edit.partial_image`` event is forwarded as a
preview, and the ``…completed`` event carries the image.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import aiohttp
import pybase64

from junction import jsonutil
from junction.errors import BadRequest, ProviderUnavailable
from junction.providers import openai_speech
from junction.providers.base import (
    Finish,
    MediaDelta,
    ModelRequest,
    ProviderEvent,
    Usage,
    modalities_of,
)
from junction.providers.http import sse_events
from junction.providers.media_input import images_to_edit, prompt_of

if TYPE_CHECKING:
    from junction.providers.openai import OpenAIProvider

IMAGE_FORMATS = {"image/png": "png", "image/jpeg": "jpeg", "image/webp": "webp"}
#: model family → aspect ratio → size, and the image_size values it takes
_SIZES: dict[str, tuple[dict[str, str], tuple[str, ...]]] = {
    "gpt-image": (
        {"1:1": "1024x1024", "3:2": "1536x1024", "2:3": "1024x1536"},
        ("1K",),
    ),
    "dall-e-3": ({"1:1": "1024x1024", "16:9": "1792x1024", "9:16": "1024x1792"}, ("1K",)),
    "dall-e-2": ({"1:1": "1024x1024"}, ("512", "1K")),
}


_B64_FIELD = re.compile(rb'"b64_json"\s*:\s*"')


def split_images(raw: bytes) -> tuple[Any, list[str]]:
    """An Images API answer parsed with its base64 images cut out first: JSON parsing
    of a megabyte string costs more than finding its end (base64 holds no character
    JSON escapes, so each value ends at the next quote). Each ``b64_json`` is left
    empty in the parsed body; the images come back in order."""
    images: list[str] = []
    parts: list[bytes] = []
    pos = 0
    while (found := _B64_FIELD.search(raw, pos)) is not None:
        start = found.end()
        end = raw.find(b'"', start)
        if end < 0:
            break
        parts.append(raw[pos:start])
        images.append(raw[start:end].decode("ascii", "replace"))
        pos = end
    parts.append(raw[pos:])
    return jsonutil.loads(b"".join(parts) if images else raw), images


def _family(model: str) -> str:
    if model.startswith("dall-e-2"):
        return "dall-e-2"
    if model.startswith("dall-e"):
        return "dall-e-3"
    return "gpt-image"


def image_options(request: ModelRequest, who: str) -> dict[str, Any]:
    """The Images API parameters for the asked image options (400 naming the field)."""
    family = _family(request.model)
    sizes, image_sizes = _SIZES[family]
    opts = request.output.image
    out: dict[str, Any] = {}
    ratio = opts.get("aspect_ratio")
    if ratio is not None:
        if ratio not in sizes:
            raise BadRequest(
                f"image_config.aspect_ratio: model '{who}' makes {', '.join(sizes)} images, "
                f"not {ratio}"
            )
        out["size"] = sizes[ratio]
    image_size = opts.get("image_size")
    if image_size is not None:
        if image_size not in image_sizes:
            raise BadRequest(
                f"image_config.image_size: model '{who}' makes {', '.join(image_sizes)} "
                f"images, not {image_size}"
            )
        if family == "dall-e-2":
            out["size"] = "512x512" if image_size == "512" else "1024x1024"
    mime = opts.get("mime_type")
    if mime is not None:
        allowed = IMAGE_FORMATS if family == "gpt-image" else {"image/png": "png"}
        if mime not in allowed:
            raise BadRequest(
                f"response_format.mime_type: model '{who}' makes {', '.join(allowed)}, not {mime}"
            )
        if family == "gpt-image":
            out["output_format"] = allowed[mime]
    return out


def _refuse_inputs(request: ModelRequest, who: str, allowed: set[str]) -> None:
    found = modalities_of(request.steps[request.history_len :]) - allowed
    if found:
        raise BadRequest(
            f"model '{who}' takes text"
            + (" and images" if "image" in allowed else "")
            + f" as input, not {', '.join(sorted(found))}: remove the item"
        )


def check(request: ModelRequest, who: str, chat_audio: bool = False) -> None:
    if chat_audio:
        openai_speech.chat_audio_options(request, who)
        return
    _refuse_inputs(request, who, {"image"} if "image" in request.output.modalities else set())
    if "image" in request.output.modalities:
        image_options(request, who)
        if _family(request.model) == "dall-e-3" and images_to_edit(request):
            raise BadRequest(f"model '{who}' cannot edit images: use gpt-image-1 or dall-e-2")
    if "audio" in request.output.modalities:
        openai_speech.speech_options(request, who)


async def generate(provider: OpenAIProvider, request: ModelRequest) -> AsyncIterator[ProviderEvent]:
    if "image" in request.output.modalities:
        async for event in _image(provider, request):
            yield event
    else:
        async for event in openai_speech.speak(provider, request):
            yield event


def _partial_images(provider: OpenAIProvider, request: ModelRequest) -> int:
    if not request.stream or _family(request.model) != "gpt-image":
        return 0
    value = provider.config.options.get("partial_images", 2)
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 3:
        raise ProviderUnavailable(
            f"provider '{provider.name}': option partial_images must be 0 to 3, not {value!r}"
        )
    return value


def _decoded(provider: OpenAIProvider, encoded: str) -> bytes:
    try:
        return pybase64.b64decode(encoded, validate=True)
    except ValueError:
        raise ProviderUnavailable(
            f"provider '{provider.name}' sent an image that is not base64"
        ) from None


def _mime(body: Any, params: dict[str, Any]) -> str:
    fmt = body.get("output_format") if isinstance(body, dict) else None
    return {"png": "image/png", "jpeg": "image/jpeg", "webp": "image/webp"}.get(
        str(fmt or params.get("output_format") or "png"), "image/png"
    )


def _usage(body: Any) -> Usage:
    usage = (body.get("usage") if isinstance(body, dict) else None) or {}
    return Usage(
        input_tokens=int(usage.get("input_tokens") or 0),
        output_tokens=int(usage.get("output_tokens") or 0),
    )


async def _image(provider: OpenAIProvider, request: ModelRequest) -> AsyncIterator[ProviderEvent]:
    who = f"{provider.name}/{request.model}"
    family = _family(request.model)
    params: dict[str, Any] = {
        "model": request.model,
        "prompt": prompt_of(request),
        "n": 1,
        **image_options(request, who),
    }
    if family != "gpt-image":
        params["response_format"] = "b64_json"
    partials = _partial_images(provider, request)
    if partials:
        params["stream"] = True
        params["partial_images"] = partials
    sources = images_to_edit(request)
    if sources:
        form = aiohttp.FormData()
        for key, value in params.items():
            form.add_field(key, str(value).lower() if isinstance(value, bool) else str(value))
        field = "image" if family == "dall-e-2" else "image[]"
        for index, (data, mime) in enumerate(sources[:1] if family == "dall-e-2" else sources):
            suffix = mime.split("/")[-1]
            form.add_field(field, data, filename=f"image{index}.{suffix}", content_type=mime)
        call = provider.http.post_form(f"{provider.base_url}/images/edits", form, provider.headers)
    else:
        call = provider.http.post(
            f"{provider.base_url}/images/generations", params, provider.headers
        )
    async with call as response:
        if partials:
            async for event in _streamed(provider, response, params):
                yield event
            return
        body, images = split_images(await response.read())
    items = body.get("data") if isinstance(body, dict) else None
    if not images and isinstance(items, list):  # e.g. pretty-printed JSON: parsed whole
        images = [str(i["b64_json"]) for i in items if isinstance(i, dict) and i.get("b64_json")]
    if not images or not isinstance(items, list) or len(items) != len(images):
        raise ProviderUnavailable(f"provider '{provider.name}' returned no image: {body!r:.200}")
    mime = _mime(body, params)
    for encoded in images:
        yield MediaDelta("image", _decoded(provider, encoded), mime, encoded=encoded)
    yield _usage(body)
    yield Finish("stop")


async def _streamed(
    provider: OpenAIProvider, response: aiohttp.ClientResponse, params: dict[str, Any]
) -> AsyncIterator[ProviderEvent]:
    """The events of a streamed image request: previews, then the image."""
    async for _, data in sse_events(response):
        body, images = split_images(data.encode())
        kind = str(body.get("type") or "") if isinstance(body, dict) else ""
        if kind.endswith(".partial_image") and images:
            _decoded(provider, images[0])  # checked: a client gets no broken preview
            yield MediaDelta("image", b"", _mime(body, params), encoded=images[0], preview=True)
        elif kind.endswith(".completed") and images:
            mime = _mime(body, params)
            yield MediaDelta("image", _decoded(provider, images[0]), mime, encoded=images[0])
            yield _usage(body)
            yield Finish("stop")
            return
        elif kind == "error" or "error" in body:
            raise ProviderUnavailable(f"provider '{provider.name}' failed: {data:.300}")
    raise ProviderUnavailable(f"provider '{provider.name}' ended the image stream without it")
