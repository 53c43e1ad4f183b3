"""``transcription_config`` on Gemini models: Gemini hears audio natively, so a
transcription is an ordinary ``generateContent`` call whose latest user turn opens with
the transcription instruction (mode, languages, vocabulary). Word timestamps and
speakers are asked for as JSON under a response schema (``{"words": [{text, start,
end, speaker}]}``) and returned as the transcript text with ``word_info`` annotations.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from google.genai import types

from junction import jsonutil
from junction.errors import ProviderUnavailable
from junction.providers import transcripts
from junction.providers.base import ProviderEvent, TextDelta, TranscriptionSpec


def instruction(spec: TranscriptionSpec) -> str:
    if spec.mode == "smart" and spec.source_text is not None:
        lines = [
            "The audio holds spoken instructions for editing the text below. Apply them "
            "and answer with the edited text only.",
            f"Text:\n{spec.source_text}",
        ]
    elif spec.mode == "smart":
        lines = [
            "Transcribe the speech in the audio, cleaned up: drop filler words, false "
            "starts and repetitions, and punctuate it. Answer with the transcript only."
        ]
    else:
        lines = [
            "Transcribe the speech in the audio verbatim, word for word, keeping filler "
            "words and repetitions. Answer with the transcript only."
        ]
    if spec.languages:
        lines.append("The speech is in " + ", ".join(spec.languages) + ".")
    if spec.vocabulary:
        lines.append("These terms may occur; spell them so: " + ", ".join(spec.vocabulary) + ".")
    if spec.words or spec.speakers:
        wanted = ["text: the word"]
        if spec.words:
            wanted.append("start and end: seconds from the start of the audio")
        if spec.speakers:
            wanted.append("speaker: one label per distinct speaker (A, B, ...)")
        lines.append("Answer as JSON: a list 'words' of objects with " + "; ".join(wanted) + ".")
    return "\n".join(lines)


def schema(spec: TranscriptionSpec) -> dict[str, Any] | None:
    if not (spec.words or spec.speakers):
        return None
    word: dict[str, Any] = {"text": {"type": "string"}}
    if spec.words:
        word["start"] = {"type": "number"}
        word["end"] = {"type": "number"}
    if spec.speakers:
        word["speaker"] = {"type": "string"}
    return {
        "type": "object",
        "properties": {
            "words": {
                "type": "array",
                "items": {"type": "object", "properties": word, "required": sorted(word)},
            }
        },
        "required": ["words"],
    }


def apply(
    config: types.GenerateContentConfig, contents: list[types.Content], spec: TranscriptionSpec
) -> None:
    """The instruction before the latest user turn's parts; the JSON schema if needed."""
    for content in reversed(contents):
        if content.role == "user" and content.parts is not None:
            content.parts.insert(0, types.Part(text=instruction(spec)))
            break
    wanted = schema(spec)
    if wanted is not None:
        config.response_mime_type = "application/json"
        config.response_json_schema = wanted


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


async def annotated(
    events: AsyncIterator[ProviderEvent], spec: TranscriptionSpec, stream: bool, who: str
) -> AsyncIterator[ProviderEvent]:
    """Gemini's JSON word list turned into the transcript and its annotations; other
    events pass (the text is held until the JSON is whole)."""
    held: list[str] = []
    tail: list[ProviderEvent] = []
    async for event in events:
        if isinstance(event, TextDelta):
            held.append(event.text)
        else:
            tail.append(event)
    try:
        parsed = jsonutil.loads("".join(held) or "{}")
    except ValueError:
        raise ProviderUnavailable(f"{who} answered with a transcript that is not JSON") from None
    items = parsed.get("words") if isinstance(parsed, dict) else None
    words = [
        transcripts.Word(
            str(w.get("text", "")).strip(),
            _number(w.get("start")),
            _number(w.get("end")),
            str(w["speaker"]) if w.get("speaker") is not None else None,
        )
        for w in items or ()
        if isinstance(w, dict) and str(w.get("text", "")).strip()
    ]
    text = " ".join(w.text for w in words)
    for event in transcripts.events(text, words, spec, stream):
        yield event
    for event in tail:
        yield event
