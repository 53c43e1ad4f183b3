"""Transcripts as the Interactions API returns them: one ``text`` item whose
``annotations`` are ``word_info`` entries (``text``, ``start_offset``/``end_offset`` as
durations such as ``"1.25s"``, ``speaker`` as ``spk_1``, ``spk_2``… in order of first
appearance, ``start_index``/``end_index`` as byte offsets into the text)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from junction.providers.base import (
    ProviderEvent,
    TextAnnotations,
    TextDelta,
    TranscriptionSpec,
)


@dataclass(frozen=True)
class Word:
    """A recognised word (or, for segment-level diarization, a segment)."""

    text: str
    start: float | None = None
    end: float | None = None
    speaker: str | None = None


def duration(seconds: float) -> str:
    """Seconds as a protobuf Duration string (``1.5s``)."""
    text = f"{max(seconds, 0.0):.3f}".rstrip("0").rstrip(".")
    return f"{text}s"


class Speakers:
    """Maps a provider's speaker labels (``A``, ``speaker 2``…) to ``spk_1``, ``spk_2``…"""

    def __init__(self) -> None:
        self.seen: dict[str, str] = {}

    def __call__(self, raw: str | None) -> str | None:
        if raw is None:
            return None
        return self.seen.setdefault(raw, f"spk_{len(self.seen) + 1}")


def word_infos(text: str, words: list[Word], spec: TranscriptionSpec) -> list[dict[str, Any]]:
    """``word_info`` annotations of ``words`` in ``text``: times when ``spec.words``,
    speakers when ``spec.speakers``; indexes where the word is found in order."""
    if not (spec.words or spec.speakers):
        return []
    out: list[dict[str, Any]] = []
    cursor = 0
    label = Speakers()
    for word in words:
        info: dict[str, Any] = {"type": "word_info", "text": word.text}
        if spec.words and word.start is not None and word.end is not None:
            info["start_offset"] = duration(word.start)
            info["end_offset"] = duration(word.end)
        if spec.speakers and word.speaker is not None:
            info["speaker"] = label(word.speaker)
        found = text.find(word.text, cursor) if word.text else -1
        if found >= 0:
            start = len(text[:found].encode())
            info["start_index"] = start
            info["end_index"] = start + len(word.text.encode())
            cursor = found + len(word.text)
        out.append(info)
    return out


def events(
    text: str, words: list[Word], spec: TranscriptionSpec, stream: bool
) -> Iterator[ProviderEvent]:
    """The transcript as provider events: its text (word by word when streaming), then
    its annotations."""
    if not text:
        return
    if stream:
        pieces = text.split(" ")
        for index, piece in enumerate(pieces):
            yield TextDelta(piece if index == len(pieces) - 1 else piece + " ")
    else:
        yield TextDelta(text)
    annotations = word_infos(text, words, spec)
    if annotations:
        yield TextAnnotations(annotations)
