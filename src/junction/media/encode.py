"""Small, dependency-free media encoders: a PNG writer (zlib + struct), a WAV writer
(the standard ``wave`` module), and the deterministic test image and tone the offline
provider and the fake servers produce."""

from __future__ import annotations

import hashlib
import io
import math
import struct
import wave
import zlib
from array import array

import pybase64

#: long side in pixels of the offline image, per ``image_size``
OFFLINE_SIDES = {"512": 32, "1K": 64, "2K": 128, "4K": 256}


def _chunk(kind: bytes, data: bytes) -> bytes:
    body = kind + data
    return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF)


def png_rgb(width: int, height: int, rows: list[bytes]) -> bytes:
    """An 8-bit RGB PNG from ``height`` rows of ``3 * width`` bytes."""
    raw = b"".join(b"\x00" + row for row in rows)
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(raw, 6))
        + _chunk(b"IEND", b"")
    )


def dimensions(aspect_ratio: str | None, long_side: int) -> tuple[int, int]:
    """Width and height for an ``"W:H"`` aspect ratio with the given long side."""
    w, h = (int(x) for x in (aspect_ratio or "1:1").split(":"))
    if w >= h:
        return long_side, max(1, round(long_side * h / w))
    return max(1, round(long_side * w / h)), long_side


def pattern_png(seed: str, width: int, height: int) -> bytes:
    """A deterministic gradient whose colours derive from ``seed``."""
    digest = hashlib.sha256(seed.encode()).digest()
    r0, g0, b0, r1, g1, b1 = digest[:6]
    rows = []
    for y in range(height):
        fy = y / max(1, height - 1)
        row = bytearray()
        for x in range(width):
            fx = x / max(1, width - 1)
            t = (fx + fy) / 2
            row += bytes(
                (
                    int(r0 + (r1 - r0) * t) & 0xFF,
                    int(g0 + (g1 - g0) * fx) & 0xFF,
                    int(b0 + (b1 - b0) * fy) & 0xFF,
                )
            )
        rows.append(bytes(row))
    return png_rgb(width, height, rows)


def pcm_to_wav(pcm: bytes, sample_rate: int, channels: int = 1, width: int = 2) -> bytes:
    """Wrap raw little-endian PCM samples in a WAV container."""
    out = io.BytesIO()
    with wave.open(out, "wb") as writer:
        writer.setnchannels(channels)
        writer.setsampwidth(width)
        writer.setframerate(sample_rate)
        writer.writeframes(pcm)
    return out.getvalue()


def tone_pcm(seed: str, seconds: float, sample_rate: int) -> bytes:
    """16-bit mono PCM: a soft sine tone whose pitch (180–560 Hz) derives from ``seed``."""
    freq = 180 + hashlib.sha256(seed.encode()).digest()[0] * 1.5
    count = round(seconds * sample_rate)
    step = 2 * math.pi * freq / sample_rate
    samples = array("h", (int(8000 * math.sin(i * step)) for i in range(count)))
    if samples.itemsize != 2:  # pragma: no cover - every supported platform has 2-byte shorts
        raise RuntimeError("array('h') is not 16-bit here")
    return samples.tobytes()


def wav_seconds(data: bytes) -> float | None:
    """Duration of a WAV file, or None when ``data`` is not one."""
    try:
        with wave.open(io.BytesIO(data), "rb") as reader:
            return reader.getnframes() / float(reader.getframerate())
    except (wave.Error, EOFError, ZeroDivisionError):
        return None


def wav_data_offset(head: bytes) -> int | None:
    """Where the samples of a WAV file begin, from its first bytes (a streamed WAV's
    header may not know its length, so the duration comes from the bytes that follow)."""
    if not head.startswith(b"RIFF") or head[8:12] != b"WAVE":
        return None
    found = head.find(b"data", 12)
    return found + 8 if found >= 0 else None


def b64decode(data: str) -> bytes:
    """Standard or URL-safe base64, padding optional (raises ValueError when neither)."""
    try:
        return pybase64.b64decode(data, validate=True)
    except ValueError:
        padded = data + "=" * (-len(data) % 4)
        return pybase64.b64decode(padded, altchars=b"-_", validate=True)


def wav_with_text(wav: bytes, text: str) -> bytes:
    """``wav`` with ``text`` in a ``LIST/INFO/ICMT`` (comment) chunk: what the offline
    provider spoke, so its own transcription can hear it again."""
    note = text.encode() + b"\0"
    if len(note) % 2:
        note += b"\0"
    info = b"INFO" + b"ICMT" + struct.pack("<I", len(note)) + note
    body = wav[12:] + b"LIST" + struct.pack("<I", len(info)) + info
    return b"RIFF" + struct.pack("<I", 4 + len(body)) + b"WAVE" + body


def wav_text(data: bytes) -> str | None:
    """The ``ICMT`` comment of a WAV file (see :func:`wav_with_text`), if it has one."""
    if data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        return None
    pos = 12
    while pos + 8 <= len(data):
        kind, size = data[pos : pos + 4], struct.unpack("<I", data[pos + 4 : pos + 8])[0]
        chunk = data[pos + 8 : pos + 8 + size]
        if kind == b"LIST" and chunk[:4] == b"INFO":
            inner = 4
            while inner + 8 <= len(chunk):
                name = chunk[inner : inner + 4]
                length = struct.unpack("<I", chunk[inner + 4 : inner + 8])[0]
                if name == b"ICMT":
                    raw = chunk[inner + 8 : inner + 8 + length]
                    return raw.rstrip(b"\0").decode("utf-8", "replace")
                inner += 8 + length + (length % 2)
        pos += 8 + size + (size % 2)
    return None
