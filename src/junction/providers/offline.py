"""The offline provider: deterministic, no network, **not a language model**.

It exists so the quickstart works on a machine with no keys, and for demos and tests.
By default it echoes the text of the latest user input. A line of the latest user
input that starts with one of these directives changes what it does:

``/reply TEXT``          answer exactly TEXT (the rest of the input after the directive)
``/call NAME {json}``    call the function NAME with the given JSON arguments (repeatable)
``/think TEXT``          emit a thought whose summary is TEXT (with a signature)
``/history``             answer with every user text of the conversation, joined by `` | ``
``/sleep SECONDS``       wait before answering (to try cancellation and streaming)
``/error STATUS [S]``    fail as a provider would with HTTP STATUS (Retry-After S)

After a function result it answers ``NAME returned RESULT``. Output is streamed word
by word; usage counts are characters / 4.

Asked for image output it also draws a small deterministic PNG (a gradient whose colours
derive from the prompt and from the latest image in the conversation, so an edit differs
from its original); asked for audio it speaks a short deterministic WAV tone (pitch from
the voice, length from the text, the text itself in a comment chunk of the WAV). With
text output as well, the text says what was made.

With ``transcription_config`` (or on a model named ``transcribe*``, ``asr*`` or
``stt*``) it transcribes the latest input's audio: see
:mod:`junction.providers.offline_transcribe`.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
from collections.abc import AsyncIterator
from typing import Any

from junction import jsonutil
from junction.errors import BadRequest
from junction.media import encode
from junction.providers.base import (
    Finish,
    MediaDelta,
    ModelRequest,
    Provider,
    ProviderEvent,
    TextDelta,
    ThoughtDelta,
    ThoughtSignature,
    ToolCallDelta,
    ToolCallEnd,
    ToolCallStart,
    Usage,
    register,
)
from junction.providers.http import error_for_status
from junction.providers.offline_transcribe import transcribe

_WORDS = re.compile(r"\S+\s*|\s+")


def _texts(step: dict[str, Any]) -> list[str]:
    return [c.get("text", "") for c in step.get("content") or () if c.get("type") == "text"]


def _latest_image(steps: list[dict[str, Any]]) -> bytes | None:
    for step in reversed(steps):
        for item in reversed(step.get("content") or ()):
            if item.get("type") == "image" and item.get("data"):
                return encode.b64decode(item["data"])
    return None


def _media(request: ModelRequest, prompt: str) -> list[tuple[str, MediaDelta]]:
    out = request.output
    made: list[tuple[str, MediaDelta]] = []
    if "image" in out.modalities:
        side = encode.OFFLINE_SIDES[out.image.get("image_size") or "1K"]
        width, height = encode.dimensions(out.image.get("aspect_ratio"), side)
        source = _latest_image(request.steps)
        seed = prompt + (hashlib.sha256(source).hexdigest() if source else "")
        note = f"image {width}x{height}" + (
            f" editing image {hashlib.sha256(source).hexdigest()[:12]}" if source else ""
        )
        made.append(
            (note, MediaDelta("image", encode.pattern_png(seed, width, height), "image/png"))
        )
    if "audio" in out.modalities:
        rate = int(out.audio.get("sample_rate") or 24000)
        voices = [v.get("voice") or "default" for v in out.voices] or ["default"]
        style = " ".join(v.get("instructions") or "" for v in out.voices)
        seconds = min(10.0, max(0.5, 0.3 * len(prompt.split())))
        pcm = encode.tone_pcm("|".join(voices) + style, seconds, rate)
        made.append(
            (
                f"audio {seconds:g} s, voice {', '.join(voices)}",
                MediaDelta(
                    "audio",
                    encode.wav_with_text(encode.pcm_to_wav(pcm, rate), prompt),
                    "audio/wav",
                    rate,
                    1,
                    seconds,
                ),
            )
        )
    return made


@register("offline")
class OfflineProvider(Provider):
    input_modalities = frozenset({"image", "audio", "video", "document"})

    def check_output(self, request: ModelRequest) -> None:
        out = request.output
        image_mime = out.image.get("mime_type")
        if "image" in out.modalities and image_mime not in (None, "image/png"):
            raise BadRequest(
                f"response_format.mime_type: model 'offline/{request.model}' makes image/png "
                f"only, not {image_mime}"
            )
        audio_mime = out.audio.get("mime_type")
        if "audio" in out.modalities and audio_mime not in (None, "audio/wav"):
            raise BadRequest(
                f"response_format.mime_type: model 'offline/{request.model}' makes audio/wav "
                f"only, not {audio_mime}"
            )

    def transcribes(self, model: str) -> bool:
        return model.startswith(("transcribe", "asr", "stt"))

    def check_transcription(self, request: ModelRequest) -> None:
        """Every option is honoured (:mod:`junction.providers.offline_transcribe`)."""

    async def stream(self, request: ModelRequest) -> AsyncIterator[ProviderEvent]:
        if request.transcription is not None:
            for event in transcribe(request):
                yield event
            yield Finish("stop")
            return
        steps = request.steps
        last_user = next((s for s in reversed(steps) if s["type"] == "user_input"), None)
        tail = steps[-1] if steps else None
        text = "\n".join(_texts(last_user)) if last_user else ""
        context_chars = sum(len(jsonutil.dumps(s)) for s in steps)
        out_chars = 0
        calls: list[tuple[str, dict[str, Any]]] = []
        reply: str | None = None
        answered_calls = tail is not None and tail["type"] == "function_result"

        for line in text.splitlines():
            word, _, rest = line.strip().partition(" ")
            if word == "/sleep":
                await asyncio.sleep(float(rest or "1"))
            elif word == "/error" and not answered_calls:
                parts = rest.split()
                status = int(parts[0]) if parts else 500
                headers = {"Retry-After": parts[1]} if len(parts) > 1 else {}
                raise error_for_status(
                    status, "offline provider: requested error", headers, "offline"
                )
            elif word == "/think":
                yield ThoughtDelta(rest)
                digest = hashlib.sha256(rest.encode()).hexdigest()[:16]
                yield ThoughtSignature(f"offline-sig-{digest}")
                out_chars += len(rest)
            elif word == "/call" and not answered_calls:
                name, _, raw = rest.partition(" ")
                try:
                    args = jsonutil.loads(raw) if raw.strip() else {}
                except ValueError:
                    raise BadRequest(f"/call {name}: arguments are not valid JSON") from None
                calls.append((name, args))
            elif word == "/reply":
                reply = text.split("/reply", 1)[1].removeprefix(" ")
                break
            elif word == "/history":
                reply = " | ".join(t for s in steps if s["type"] == "user_input" for t in _texts(s))
                break

        if answered_calls and tail is not None:
            reply = (
                f"{tail.get('name') or tail['call_id']} returned {jsonutil.dumps(tail['result'])}"
            )
        elif calls:
            for index, (name, args) in enumerate(calls):
                encoded = jsonutil.dumps(args)
                yield ToolCallStart(
                    id=f"call_{index}_{hashlib.sha1(encoded.encode()).hexdigest()[:8]}", name=name
                )
                yield ToolCallDelta(encoded)
                yield ToolCallEnd(args)
                out_chars += len(encoded)
            yield Usage(input_tokens=context_chars // 4 + 1, output_tokens=out_chars // 4 + 1)
            yield Finish("tool_calls")
            return
        if reply is None:
            reply = text
        media = list(_media(request, reply))
        if "text" in request.output.modalities:
            if media:
                reply = "; ".join(p for p in [reply, *(note for note, _ in media)] if p)
            for piece in _WORDS.findall(reply) if request.stream else [reply]:
                yield TextDelta(piece)
            out_chars += len(reply)
        for _note, delta in media:
            yield delta
        yield Usage(input_tokens=context_chars // 4 + 1, output_tokens=out_chars // 4 + 1)
        yield Finish("stop")
