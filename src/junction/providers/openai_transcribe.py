"""OpenAI's transcription endpoint for the ``openai`` provider: ``POST
/audio/transcriptions`` (multipart), used for the transcription models (``whisper-*``,
``gpt-*transcribe*``), each audio item of the latest input in turn.

``transcription_config`` is honoured per model family, and what a family cannot do is
a 400 naming the field and the model:

=====================  ===========================================================
whisper-1              ``language`` (one code), ``prompt`` (vocabulary), word
                       timestamps (``verbose_json`` + ``timestamp_granularities[]``)
gpt-4o(-mini)-transcr  ``language`` (one code), ``prompt`` (vocabulary)
gpt-4o-transcr-diarize speakers (``diarized_json``, ``chunking_strategy=auto``; one
                       ``word_info`` per segment, with its times when asked)
gpt-transcribe         ``languages`` (several codes), ``keywords`` (vocabulary)
=====================  ===========================================================

``smart`` mode (voice-driven editing) is no OpenAI endpoint's: refused.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import aiohttp

from junction import jsonutil
from junction.errors import BadRequest, ProviderUnavailable
from junction.providers import transcripts
from junction.providers.base import (
    Finish,
    ModelRequest,
    ProviderEvent,
    TranscriptionSpec,
    Usage,
)
from junction.providers.media_input import audio_to_transcribe

if TYPE_CHECKING:
    from junction.providers.openai import OpenAIProvider

FIELD = "generation_config.transcription_config"
_MODELS = re.compile(r"^(whisper|gpt-[\w.-]*transcribe)")
_EXTENSIONS = {
    "audio/wav": "wav",
    "audio/x-wav": "wav",
    "audio/wave": "wav",
    "audio/mpeg": "mp3",
    "audio/mp3": "mp3",
    "audio/mp4": "mp4",
    "audio/m4a": "m4a",
    "audio/x-m4a": "m4a",
    "audio/ogg": "ogg",
    "audio/webm": "webm",
    "audio/flac": "flac",
    "audio/x-flac": "flac",
}


def is_transcriber(model: str) -> bool:
    return _MODELS.match(model) is not None


def _family(model: str) -> str:
    if model.startswith("whisper"):
        return "whisper"
    if "diarize" in model:
        return "diarize"
    if model.startswith("gpt-transcribe"):
        return "gpt-transcribe"
    return "gpt-4o"


def check(request: ModelRequest, who: str) -> None:
    spec = request.transcription or TranscriptionSpec()
    family = _family(request.model)

    def refuse(option: str, why: str) -> BadRequest:
        return BadRequest(f"{FIELD}.{option}: model '{who}' {why}")

    if spec.mode != "verbatim":
        raise refuse("mode", "transcribes verbatim only (OpenAI has no smart mode); use 'verbatim'")
    if spec.speakers and family != "diarize":
        raise refuse(
            "diarization_mode", "does not label speakers; use openai/gpt-4o-transcribe-diarize"
        )
    if spec.words and family not in ("whisper", "diarize"):
        raise refuse("timestamp_granularities", "gives no word timestamps; use openai/whisper-1")
    if spec.words and family == "diarize" and not spec.speakers:
        raise refuse(
            "timestamp_granularities",
            "times speaker segments, not words: set diarization_mode 'speaker' as well, "
            "or use openai/whisper-1",
        )
    if len(spec.languages) > 1 and family != "gpt-transcribe":
        raise refuse("language_codes", "takes one language; send one code (or none to detect it)")
    if spec.vocabulary and family == "diarize":
        raise refuse("custom_vocabulary", "takes no prompt or vocabulary; remove it")
    latest: dict[str, Any] = next(
        (s for s in reversed(request.steps) if s["type"] == "user_input"), {}
    )
    for item in latest.get("content") or ():
        mime = str(item.get("mime_type") or "audio/wav").lower()
        if item.get("type") == "audio" and mime not in _EXTENSIONS:
            raise BadRequest(
                f"model '{who}' transcribes flac, m4a, mp3, mp4, ogg, wav and webm audio, "
                f"not {mime}"
            )


def form(request: ModelRequest, data: bytes, mime: str) -> aiohttp.FormData:
    """The multipart body for one audio item."""
    spec = request.transcription or TranscriptionSpec()
    family = _family(request.model)
    out = aiohttp.FormData()
    ext = _EXTENSIONS.get(mime, "wav")
    out.add_field("file", data, filename=f"audio.{ext}", content_type=mime)
    out.add_field("model", request.model)
    codes = [code.split("-")[0].lower() for code in spec.languages]
    if family == "gpt-transcribe":
        for code in codes:
            out.add_field("languages[]", code)
        for term in spec.vocabulary:
            out.add_field("keywords[]", term)
    else:
        if codes:
            out.add_field("language", codes[0])
        if spec.vocabulary:
            out.add_field("prompt", "Vocabulary: " + ", ".join(spec.vocabulary) + ".")
    if family == "diarize":
        out.add_field("response_format", "diarized_json" if spec.speakers else "json")
        out.add_field("chunking_strategy", "auto")
    elif family == "whisper" and spec.words:
        out.add_field("response_format", "verbose_json")
        out.add_field("timestamp_granularities[]", "word")
    else:
        out.add_field("response_format", "json")
    return out


def _words(body: dict[str, Any]) -> list[transcripts.Word]:
    if isinstance(body.get("words"), list):
        return [
            transcripts.Word(str(w.get("word", "")), float(w["start"]), float(w["end"]))
            for w in body["words"]
            if isinstance(w, dict) and "start" in w and "end" in w
        ]
    segments = body.get("segments")
    if isinstance(segments, list) and any(isinstance(s, dict) and "speaker" in s for s in segments):
        return [
            transcripts.Word(
                str(s.get("text", "")).strip(),
                float(s.get("start", 0)),
                float(s.get("end", 0)),
                str(s.get("speaker")),
            )
            for s in segments
            if isinstance(s, dict)
        ]
    return []


async def transcribe(
    provider: OpenAIProvider, request: ModelRequest
) -> AsyncIterator[ProviderEvent]:
    spec = request.transcription or TranscriptionSpec()
    texts: list[str] = []
    words: list[transcripts.Word] = []
    input_tokens = output_tokens = 0
    for data, mime in audio_to_transcribe(request):
        async with provider.http.post_form(
            f"{provider.base_url}/audio/transcriptions", form(request, data, mime), provider.headers
        ) as response:
            raw = await response.read()
        try:
            body = jsonutil.loads(raw)
        except ValueError:
            body = None
        if not isinstance(body, dict) or not isinstance(body.get("text"), str):
            raise ProviderUnavailable(
                f"provider '{provider.name}' returned no transcript: {raw[:200]!r}"
            )
        texts.append(body["text"].strip())
        words.extend(_words(body))
        usage = body.get("usage") or {}
        if usage.get("type") == "tokens":
            input_tokens += int(usage.get("input_tokens") or 0)
            output_tokens += int(usage.get("output_tokens") or 0)
    text = "\n".join(t for t in texts if t)
    for event in transcripts.events(text, words, spec, request.stream):
        yield event
    yield Usage(input_tokens=input_tokens, output_tokens=output_tokens)
    yield Finish("stop")
