"""OpenAI speech for the ``openai`` provider: text-to-speech models (``POST
/audio/speech``) and audio chat models (Chat Completions with ``modalities: [text,
audio]``, called from :mod:`junction.providers.openai`).

Options honoured: the voice (``speech_config.voice``), the audio format
(``response_format.mime_type``), ``speed`` (a Junction extension of ``speech_config``,
TTS only), and ``instructions`` (the system instruction plus a prompted voice's
description; gpt-4o-mini-tts only).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import pybase64

from junction.errors import BadRequest
from junction.media.encode import wav_data_offset, wav_seconds
from junction.providers.base import Finish, MediaChunk, MediaDelta, ModelRequest, ProviderEvent
from junction.providers.media_input import prompt_of

if TYPE_CHECKING:
    from junction.providers.openai import OpenAIProvider


VOICES = "alloy ash ballad coral echo fable nova onyx sage shimmer verse marin cedar".split()


AUDIO_FORMATS = {
    "audio/wav": "wav",
    "audio/mp3": "mp3",
    "audio/mpeg": "mp3",
    "audio/ogg_opus": "opus",
    "audio/opus": "opus",
    "audio/aac": "aac",
    "audio/flac": "flac",
    "audio/l16": "pcm",
}


AUDIO_MIME = {
    "wav": "audio/wav",
    "mp3": "audio/mp3",
    "opus": "audio/opus",
    "aac": "audio/aac",
    "flac": "audio/flac",
    "pcm": "audio/l16",
}


def _voice(request: ModelRequest, who: str) -> tuple[dict[str, Any], str]:
    """The one speech_config entry (or none) and its OpenAI voice (default alloy)."""
    voices = request.output.voices
    if len(voices) > 1:
        raise BadRequest(
            f"generation_config.speech_config: model '{who}' speaks with one voice; "
            "multi-speaker speech needs a Gemini TTS model"
        )
    entry = voices[0] if voices else {}
    voice = str(entry.get("voice") or "alloy")
    if voice.lower() not in VOICES:
        raise BadRequest(
            f"generation_config.speech_config[0].voice: model '{who}' has no voice "
            f"'{voice}' (voices: {', '.join(VOICES)})"
        )
    return entry, voice.lower()


def speech_options(request: ModelRequest, who: str) -> dict[str, Any]:
    """The speech API parameters (voice, format, speed, instructions)."""
    entry, voice = _voice(request, who)
    out: dict[str, Any] = {"voice": voice}
    mime = request.output.audio.get("mime_type") or "audio/wav"
    if mime not in AUDIO_FORMATS:
        raise BadRequest(
            f"response_format.mime_type: model '{who}' makes {', '.join(AUDIO_FORMATS)}, not {mime}"
        )
    out["response_format"] = AUDIO_FORMATS[mime]
    rate = request.output.audio.get("sample_rate")
    if rate is not None and rate != 24000:
        raise BadRequest(f"response_format.sample_rate: model '{who}' speaks at 24000 Hz only")
    if entry.get("speed") is not None:
        out["speed"] = float(entry["speed"])
    parts = [request.system_instruction or "", str(entry.get("instructions") or "")]
    instructions = "\n\n".join(p for p in parts if p.strip())
    if instructions:
        if request.model.startswith("tts-1"):
            raise BadRequest(
                f"model '{who}' takes no voice instructions (system_instruction or a "
                "prompted voice): use gpt-4o-mini-tts"
            )
        out["instructions"] = instructions
    return out


CHAT_AUDIO_FORMATS = {
    "audio/wav": "wav",
    "audio/mp3": "mp3",
    "audio/mpeg": "mp3",
    "audio/flac": "flac",
    "audio/ogg_opus": "opus",
    "audio/opus": "opus",
    "audio/aac": "aac",
    "audio/l16": "pcm16",
}


def chat_audio_options(request: ModelRequest, who: str) -> dict[str, Any]:
    """``audio`` of a Chat Completions request to an audio model (text and speech in one
    answer): the voice and the format."""
    entry, voice = _voice(request, who)
    if entry.get("speed") is not None:
        raise BadRequest(f"generation_config.speech_config[0].speed: model '{who}' takes no speed")
    if entry.get("instructions"):
        raise BadRequest(
            f"model '{who}' takes no voice instructions: describe the voice in "
            "system_instruction, or use a text-to-speech model"
        )
    mime = request.output.audio.get("mime_type") or "audio/wav"
    if mime not in CHAT_AUDIO_FORMATS:
        raise BadRequest(
            f"response_format.mime_type: model '{who}' makes "
            f"{', '.join(CHAT_AUDIO_FORMATS)}, not {mime}"
        )
    return {"voice": voice, "format": CHAT_AUDIO_FORMATS[mime]}


def chat_audio_media(encoded: str, fmt: str) -> MediaDelta:
    """The audio of a Chat Completions answer as a media event."""
    data = pybase64.b64decode(encoded, validate=True)
    if fmt == "pcm16":
        return MediaDelta("audio", data, "audio/l16", 24000, 1, len(data) / 48000, encoded)
    mime = {"wav": "audio/wav", "mp3": "audio/mp3", "flac": "audio/flac", "opus": "audio/opus"}
    seconds = wav_seconds(data) if fmt == "wav" else None
    rate = 24000 if fmt == "wav" else None
    return MediaDelta(
        "audio", data, mime.get(fmt, f"audio/{fmt}"), rate, 1 if rate else None, seconds, encoded
    )


#: the most of a speech body read at once (each read is forwarded as one chunk)
CHUNK = 64 * 1024


async def speak(provider: OpenAIProvider, request: ModelRequest) -> AsyncIterator[ProviderEvent]:
    """Text to speech. The body streams (``stream_format`` ``audio``, the default): each
    read is forwarded as a chunk, so no whole clip is held."""
    who = f"{provider.name}/{request.model}"
    params = {"model": request.model, "input": prompt_of(request), **speech_options(request, who)}
    fmt = params["response_format"]
    mime = AUDIO_MIME[fmt]
    rate = 24000 if fmt in ("wav", "pcm") else None
    channels = 1 if rate else None
    size = 0
    start: int | None = 0 if fmt == "pcm" else None
    async with provider.http.post(
        f"{provider.base_url}/audio/speech", params, provider.headers
    ) as response:
        async for data in response.content.iter_chunked(CHUNK):
            if size == 0 and fmt == "wav":
                start = wav_data_offset(data)
            size += len(data)
            yield MediaChunk("audio", data, mime, rate, channels)
    seconds = (size - start) / 48000 if start is not None and size >= start else None
    yield MediaChunk("audio", b"", mime, rate, channels, last=True, seconds=seconds)
    yield Finish("stop")
