"""Transcription on the offline provider: deterministic, no model.

It "hears" the text the offline provider itself spoke (its WAV files carry that text in
a comment chunk), so ``offline/speech`` → ``offline/transcribe`` round-trips; any other
audio is heard as ``audio <digest> <seconds> s``. Options act as follows:

- ``smart`` mode drops filler words (um, uh, er, ah, hmm) and capitalises and
  punctuates the transcript; with ``source_text``, a transcript of the form
  ``replace X with Y`` edits the source text, any other is appended to it;
- ``custom_vocabulary`` terms are spelled as given wherever they match a word
  regardless of case;
- ``timestamp_granularities: ["word"]`` spreads the words evenly over the clip;
- ``diarization_mode: "speaker"`` alternates speakers sentence by sentence;
- ``language_codes`` are accepted and change nothing.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator

from junction.media import encode
from junction.providers import transcripts
from junction.providers.base import ModelRequest, ProviderEvent, TranscriptionSpec, Usage
from junction.providers.media_input import audio_to_transcribe

_FILLERS = re.compile(r"\b(?:um+|uh+|er+|ah+|hmm+)\b[,.]?\s*", re.IGNORECASE)
_REPLACE = re.compile(r"^replace (.+?) with (.+?)[.!]?$", re.IGNORECASE)


def heard(data: bytes) -> tuple[str, float]:
    """What the offline provider hears in one clip, and its length in seconds."""
    seconds = encode.wav_seconds(data)
    spoken = encode.wav_text(data)
    if spoken:
        return spoken, seconds or 0.3 * len(spoken.split())
    seconds = seconds or 1.0
    return f"audio {hashlib.sha256(data).hexdigest()[:8]} {seconds:g} s", seconds


def _smart(text: str, source: str | None) -> str:
    cleaned = " ".join(_FILLERS.sub("", text).split())
    if source is not None:
        match = _REPLACE.match(cleaned)
        if match:
            return source.replace(match.group(1), match.group(2))
        return f"{source} {cleaned}".strip()
    if cleaned:
        cleaned = cleaned[0].upper() + cleaned[1:]
        if cleaned[-1] not in ".!?":
            cleaned += "."
    return cleaned


def _spelled(text: str, vocabulary: tuple[str, ...]) -> str:
    for term in vocabulary:
        text = re.sub(rf"(?<!\w){re.escape(term)}(?!\w)", term, text, flags=re.IGNORECASE)
    return text


def _words(text: str, start: float, seconds: float, first_speaker: int) -> list[transcripts.Word]:
    found = text.split()
    step = seconds / max(len(found), 1)
    out = []
    speaker = first_speaker
    for index, word in enumerate(found):
        out.append(
            transcripts.Word(word, start + index * step, start + (index + 1) * step, f"S{speaker}")
        )
        if word[-1] in ".!?":
            speaker = 1 - speaker
    return out


def transcribe(request: ModelRequest) -> Iterator[ProviderEvent]:
    spec = request.transcription or TranscriptionSpec()
    texts: list[str] = []
    words: list[transcripts.Word] = []
    at = 0.0
    for data, _mime in audio_to_transcribe(request):
        text, seconds = heard(data)
        text = _spelled(text, spec.vocabulary)
        words.extend(_words(text, at, seconds, 0))
        texts.append(text)
        at += seconds
    transcript = " ".join(texts)
    if spec.mode == "smart":
        transcript = _smart(transcript, spec.source_text)
        words = []
    yield from transcripts.events(transcript, words, spec, request.stream)
    yield Usage(input_tokens=int(at * 25) + 1, output_tokens=len(transcript) // 4 + 1)
