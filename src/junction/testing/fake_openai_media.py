"""The media endpoints of the fake OpenAI server: ``POST /v1/images/generations``,
``POST /v1/images/edits`` (multipart), ``POST /v1/audio/speech`` and ``POST
/v1/audio/transcriptions`` (multipart; ``json``, ``verbose_json`` and ``diarized_json``).

Images are small deterministic PNGs (16 px on the long side, the shape of the asked
``size``, colours from the prompt and any uploaded image), answered as one JSON body or,
for ``stream: true``, as the SSE events of gpt-image models (``partial_images`` previews,
then ``…completed``); speech is a deterministic
tone in the asked ``response_format`` (``wav`` and ``pcm`` at 24 kHz are real audio;
other formats are placeholder bytes), streamed with chunked transfer encoding in
``speech_chunk``-byte pieces (``speech_pause`` seconds apart) as OpenAI streams it; the
server's ``speech_seconds`` overrides the clip's length (a large body). A multipart
request is recorded as a dict whose file fields are ``{"filename", "content_type",
"sha256", "size"}`` (lists for repeated fields such as ``image[]``).
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import time
from base64 import b64encode
from typing import TYPE_CHECKING, Any

import orjson
from aiohttp import web

from junction.media import encode
from junction.testing.fakeserver import Recorded, Reply

if TYPE_CHECKING:
    from junction.testing.fake_openai import FakeOpenAI

_AUDIO_TYPES = {
    "wav": "audio/wav",
    "pcm": "audio/pcm",
    "mp3": "audio/mpeg",
    "opus": "audio/ogg",
    "aac": "audio/aac",
    "flac": "audio/flac",
}


def _shape(size: str | None) -> tuple[int, int]:
    if not size or size == "auto" or "x" not in size:
        return 16, 16
    w, h = (int(x) for x in size.split("x"))
    return (16, max(1, round(16 * h / w))) if w >= h else (max(1, round(16 * w / h)), 16)


class FakeOpenAIMedia:
    def __init__(self, server: FakeOpenAI) -> None:
        self.server = server

    def _error(self, reply: Reply) -> web.Response:
        return web.json_response(
            {"error": {"message": reply.error_message, "type": "invalid_request_error"}},
            status=reply.status,
            headers=reply.headers,
        )

    def images_response(self, body: dict[str, Any], seed: str) -> dict[str, Any]:
        width, height = _shape(body.get("size"))
        png = encode.pattern_png(seed, width, height)
        out: dict[str, Any] = {
            "created": int(time.time()),
            "data": [{"b64_json": b64encode(png).decode("ascii")}],
        }
        if str(body.get("model", "")).startswith("gpt-image"):
            out["output_format"] = body.get("output_format") or "png"
            out["size"] = body.get("size") or "1024x1024"
            out["usage"] = {
                "input_tokens": 9,
                "input_tokens_details": {"image_tokens": 0, "text_tokens": 9},
                "output_tokens": 272,
                "total_tokens": 281,
            }
        return out

    async def _answer(
        self, request: web.Request, body: dict[str, Any], seed: str, prefix: str
    ) -> web.StreamResponse:
        """The Images API answer: one JSON body, or with ``stream`` the SSE events of a
        gpt-image model (``partial_images`` previews, then ``completed``)."""
        answer = self.images_response(body, seed)
        if str(body.get("stream")).lower() != "true":
            return web.Response(body=orjson.dumps(answer), content_type="application/json")
        common = {
            "created_at": answer["created"],
            "size": answer.get("size", "1024x1024"),
            "quality": "medium",
            "background": "opaque",
            "output_format": answer.get("output_format", "png"),
        }
        events: list[tuple[str | None, str]] = []
        width, height = _shape(body.get("size"))
        for index in range(int(body.get("partial_images") or 0)):
            preview = encode.pattern_png(f"{seed}|partial{index}", width, height)
            event = {
                "type": f"{prefix}.partial_image",
                "b64_json": b64encode(preview).decode("ascii"),
                "partial_image_index": index,
                **common,
            }
            events.append((event["type"], orjson.dumps(event).decode()))
        done = {
            "type": f"{prefix}.completed",
            "b64_json": answer["data"][0]["b64_json"],
            "usage": answer.get("usage"),
            **common,
        }
        events.append((done["type"], orjson.dumps(done).decode()))
        return await self.server.sse(request, events, Reply())

    async def generations(self, request: web.Request) -> web.StreamResponse:
        body = await self.server.recorded(request)
        reply = self.server.next_reply(body)
        if reply.status >= 400:
            return self._error(reply)
        body = body if isinstance(body, dict) else {}
        return await self._answer(request, body, str(body.get("prompt")), "image_generation")

    async def form(self, request: web.Request) -> dict[str, Any]:
        """A multipart request, recorded (file fields as name, type, digest and size)."""
        form = await request.post()
        body: dict[str, Any] = {}
        for key in form:
            values: list[Any] = []
            for value in form.getall(key):
                if isinstance(value, web.FileField):
                    data = value.file.read()
                    values.append(
                        {
                            "filename": value.filename,
                            "content_type": value.content_type,
                            "sha256": hashlib.sha256(data).hexdigest(),
                            "size": len(data),
                        }
                    )
                else:
                    values.append(str(value))
            body[key] = values if key.endswith("[]") or len(values) > 1 else values[0]
        if self.server.record:
            self.server.requests.append(
                Recorded(
                    request.method,
                    request.path,
                    dict(request.query),
                    dict(request.headers),
                    body,
                    time.monotonic(),
                )
            )
        return body

    async def edits(self, request: web.Request) -> web.StreamResponse:
        body = await self.form(request)
        reply = self.server.next_reply(body)
        if reply.status >= 400:
            return self._error(reply)
        files = body.get("image[]") or [body.get("image")]
        seed = str(body.get("prompt")) + "".join(f["sha256"] for f in files if f)
        return await self._answer(request, body, seed, "image_edit")

    async def speech(self, request: web.Request) -> web.StreamResponse:
        body = await self.server.recorded(request)
        reply = self.server.next_reply(body)
        if reply.status >= 400:
            return self._error(reply)
        body = body if isinstance(body, dict) else {}
        fmt = str(body.get("response_format") or "mp3")
        seconds = self.server.speech_seconds or min(
            5.0, 0.25 * len(str(body.get("input", "")).split()) + 0.25
        )
        seed = f"{body.get('voice')}|{body.get('instructions')}|{body.get('speed')}"
        pcm = encode.tone_pcm(seed, seconds, 24000)
        if fmt == "wav":
            audio = encode.pcm_to_wav(pcm, 24000)
        elif fmt == "pcm":
            audio = pcm
        else:
            audio = b"FAKE-" + fmt.encode() + hashlib.sha256(pcm).digest()
        response = web.StreamResponse(headers={"Content-Type": _AUDIO_TYPES.get(fmt, "audio/mpeg")})
        response.enable_chunked_encoding()
        await response.prepare(request)
        for start in range(0, len(audio), self.server.speech_chunk):
            if start and self.server.speech_pause:
                await asyncio.sleep(self.server.speech_pause)
            await response.write(audio[start : start + self.server.speech_chunk])
        await response.write_eof()
        return response

    async def transcriptions(self, request: web.Request) -> web.Response:
        """``POST /v1/audio/transcriptions``: the transcript is the reply's text; words
        are 0.5 s apart; diarized segments alternate speakers ``A`` and ``B`` sentence by
        sentence."""
        body = await self.form(request)
        reply = self.server.next_reply(body)
        if reply.status >= 400:
            return self._error(reply)
        text = reply.text
        words = text.split()
        fmt = body.get("response_format") or "json"
        usage = {
            "type": "tokens",
            "input_tokens": 12,
            "output_tokens": len(words),
            "total_tokens": 12 + len(words),
        }
        out: dict[str, Any]
        if fmt == "verbose_json":
            out = {
                "task": "transcribe",
                "language": body.get("language") or "english",
                "duration": 0.5 * len(words),
                "text": text,
                "usage": {"type": "duration", "seconds": 0.5 * len(words)},
            }
            if "word" in body.get("timestamp_granularities[]", []):
                out["words"] = [
                    {"word": w.strip(".,!?"), "start": 0.5 * i, "end": 0.5 * i + 0.4}
                    for i, w in enumerate(words)
                ]
        elif fmt == "diarized_json":
            sentences = [s.strip() for s in re.findall(r"[^.?!]+[.?!]?", text) if s.strip()]
            segments = []
            at = 0.0
            for i, sentence in enumerate(sentences):
                length = 0.5 * len(sentence.split())
                segments.append(
                    {
                        "id": f"seg_{i}",
                        "type": "transcript.text.segment",
                        "speaker": "AB"[i % 2],
                        "start": at,
                        "end": at + length,
                        "text": sentence,
                    }
                )
                at += length
            out = {
                "task": "transcribe",
                "duration": at,
                "text": text,
                "segments": segments,
                "usage": usage,
            }
        else:
            out = {"text": text, "usage": usage}
        return web.Response(body=orjson.dumps(out), content_type="application/json")
