"""Audio for realtime APIs: input items as 16-bit mono PCM (from WAV or raw ``audio/l16``
/ ``audio/pcm``, resampled when an API takes one rate), and the answer's speech, streamed
in pieces and kept whole for the stored step."""

from __future__ import annotations

import binascii
import io
import re
import wave
from array import array
from typing import Any

import pybase64

from junction.errors import BadRequest
from junction.media.encode import pcm_to_wav
from junction.providers.base import AudioChunk, MediaDelta

#: realtime APIs answer 24 kHz 16-bit mono PCM
OUTPUT_RATE = 24000
#: the rate of raw PCM input whose item names none
DEFAULT_INPUT_RATE = 24000
_WAV = ("audio/wav", "audio/x-wav", "audio/wave", "audio/vnd.wave")
_RAW = ("audio/l16", "audio/pcm")
_RATE = re.compile(r"rate=(\d+)")


def _mime(item: dict[str, Any]) -> str:
    return str(item.get("mime_type") or "").lower()


def check_input(item: dict[str, Any], who: str) -> None:
    """A 400 unless the item is 16-bit PCM (WAV, ``audio/l16``, ``audio/pcm``)."""
    mime = _mime(item)
    if not mime.startswith(_WAV + _RAW):
        raise BadRequest(
            f"audio input to model '{who}' (realtime) must be audio/wav (16-bit PCM), "
            f"audio/l16 or audio/pcm, not {mime or 'an item without mime_type'}"
        )
    if item.get("data"):
        pcm_of(item, who)


def pcm_of(item: dict[str, Any], who: str = "") -> tuple[bytes, int]:
    """The item's samples as 16-bit little-endian mono PCM and their sample rate."""
    mime = _mime(item)
    try:
        data = pybase64.b64decode(str(item.get("data") or ""), validate=True)
    except (binascii.Error, ValueError):
        raise BadRequest(f"audio input to model '{who}': data is not base64") from None
    if mime.startswith(_WAV):
        try:
            with wave.open(io.BytesIO(data)) as clip:
                width, channels = clip.getsampwidth(), clip.getnchannels()
                rate, frames = clip.getframerate(), clip.readframes(clip.getnframes())
        except (wave.Error, EOFError) as exc:
            raise BadRequest(f"audio input to model '{who}': not a readable WAV ({exc})") from None
        if width != 2:
            raise BadRequest(
                f"audio input to model '{who}': WAV must hold 16-bit samples, not {8 * width}-bit"
            )
        return (_mono(frames, channels) if channels > 1 else frames), rate
    match = _RATE.search(mime)
    rate = int(item.get("sample_rate") or (match.group(1) if match else DEFAULT_INPUT_RATE))
    channels = int(item.get("channels") or 1)
    if len(data) % 2:
        raise BadRequest(f"audio input to model '{who}': 16-bit PCM has an even byte count")
    return (_mono(data, channels) if channels > 1 else data), rate


def _mono(frames: bytes, channels: int) -> bytes:
    samples = array("h", frames[: len(frames) - len(frames) % (2 * channels)])
    mixed = array(
        "h",
        (sum(samples[i : i + channels]) // channels for i in range(0, len(samples), channels)),
    )
    return mixed.tobytes()


def resample(pcm: bytes, source: int, target: int) -> bytes:
    """Linear-interpolation resampling of 16-bit mono PCM (speech quality)."""
    if source == target or not pcm:
        return pcm
    samples = array("h", pcm)
    count = max(1, len(samples) * target // source)
    step = source / target
    last = len(samples) - 1
    out = array("h", bytes(2 * count))
    for i in range(count):
        pos = i * step
        left = int(pos)
        right = min(left + 1, last)
        frac = pos - left
        out[i] = int(samples[min(left, last)] * (1 - frac) + samples[right] * frac)
    return out.tobytes()


def chunks(pcm: bytes, size: int = 64 * 1024) -> list[bytes]:
    """PCM cut into pieces of at most ``size`` bytes (whole samples)."""
    size -= size % 2
    return [pcm[i : i + size] for i in range(0, len(pcm), size)]


class SpeechClip:
    """The answer's speech: each piece becomes an :class:`AudioChunk` at once; the whole
    clip (WAV, or raw ``audio/l16`` when asked for) is taken once it ends."""

    def __init__(self, rate: int = OUTPUT_RATE) -> None:
        self.rate = rate
        self.parts: list[bytes] = []

    def add(self, encoded: str) -> AudioChunk | None:
        data = pybase64.b64decode(encoded) if encoded else b""
        if not data:
            return None
        self.parts.append(data)
        return AudioChunk(data, self.rate)

    def take(self, options: dict[str, Any]) -> MediaDelta | None:
        if not self.parts:
            return None
        pcm = b"".join(self.parts)
        self.parts = []
        seconds = len(pcm) / (2 * self.rate)
        if options.get("mime_type") == "audio/l16":
            return MediaDelta("audio", pcm, "audio/l16", self.rate, 1, seconds, streamed=True)
        wav = pcm_to_wav(pcm, self.rate)
        return MediaDelta("audio", wav, "audio/wav", self.rate, 1, seconds, streamed=True)
