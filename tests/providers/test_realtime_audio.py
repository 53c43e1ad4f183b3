"""Audio for realtime APIs (``junction.realtime.audio``): input items as 16-bit mono
PCM, resampling, and the streamed speech kept whole; which models a realtime API serves."""

from __future__ import annotations

import io
import wave
from array import array
from base64 import b64encode

import pytest

from junction.config import ProviderConfig, Settings
from junction.errors import BadRequest
from junction.media.encode import pcm_to_wav
from junction.providers.base import AudioChunk
from junction.providers.gemini import GeminiProvider
from junction.providers.offline import OfflineProvider
from junction.providers.openai import OpenAIProvider
from junction.realtime import audio


def _item(data: bytes, mime: str, **extra: object) -> dict[str, object]:
    return {"type": "audio", "mime_type": mime, "data": b64encode(data).decode(), **extra}


def test_wav_input_is_read_and_stereo_is_mixed_down() -> None:
    stereo = array("h", [100, 300, -50, -150, 7, 9]).tobytes()
    pcm, rate = audio.pcm_of(_item(pcm_to_wav(stereo, 16000, channels=2), "audio/wav"))
    assert rate == 16000
    assert array("h", pcm).tolist() == [200, -100, 8]


def test_raw_pcm_takes_its_rate_from_the_item_or_the_mime_type() -> None:
    samples = array("h", [1, 2, 3]).tobytes()
    assert audio.pcm_of(_item(samples, "audio/pcm;rate=16000")) == (samples, 16000)
    assert audio.pcm_of(_item(samples, "audio/l16", sample_rate=8000)) == (samples, 8000)
    assert audio.pcm_of(_item(samples, "audio/l16")) == (samples, 24000)


@pytest.mark.parametrize(
    ("item", "fragment"),
    [
        (_item(b"abc", "audio/l16"), "even byte count"),
        (_item(b"RIFF....", "audio/wav"), "not a readable WAV"),
        (_item(b"\x00" * 4, "audio/mp3"), "not audio/mp3"),
        ({"type": "audio", "mime_type": "audio/l16", "data": "not base64!"}, "not base64"),
    ],
)
def test_unusable_input_is_a_400_naming_the_problem(item: dict[str, object], fragment: str) -> None:
    with pytest.raises(BadRequest, match=fragment):
        audio.check_input(item, "openai/gpt-realtime")


def test_eight_bit_wav_is_refused() -> None:
    out = io.BytesIO()
    with wave.open(out, "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(1)
        writer.setframerate(8000)
        writer.writeframes(b"\x80" * 10)
    with pytest.raises(BadRequest, match="16-bit samples, not 8-bit"):
        audio.check_input(_item(out.getvalue(), "audio/wav"), "m")


def test_resampling_keeps_the_duration_and_the_shape() -> None:
    ramp = array("h", range(0, 1600, 10)).tobytes()  # 160 samples at 16 kHz
    up = array("h", audio.resample(ramp, 16000, 24000))
    assert len(up) == 240
    assert up[0] == 0 and up[3] == 20  # every 1.5 source samples: 0, 6.67, 13.3, 20
    assert list(up) == sorted(up)
    assert audio.resample(ramp, 24000, 24000) == ramp


def test_speech_pieces_become_chunks_and_one_clip() -> None:
    clip = audio.SpeechClip()
    pieces = [array("h", [i] * 4).tobytes() for i in range(3)]
    chunks = [clip.add(b64encode(p).decode()) for p in pieces]
    assert chunks == [AudioChunk(p, 24000) for p in pieces]
    assert clip.add("") is None
    whole = clip.take({})
    assert whole is not None and whole.streamed and whole.mime_type == "audio/wav"
    with wave.open(io.BytesIO(whole.data)) as reader:
        assert reader.readframes(reader.getnframes()) == b"".join(pieces)
    assert whole.seconds == 12 / 24000
    assert clip.take({}) is None  # taken once
    clip.add(b64encode(pieces[0]).decode())
    raw = clip.take({"mime_type": "audio/l16"})
    assert raw is not None and raw.data == pieces[0] and raw.mime_type == "audio/l16"


def test_which_models_a_realtime_api_serves() -> None:
    options = {"realtime_models": "house-speech"}
    openai = OpenAIProvider(ProviderConfig("openai", "openai", options=options), Settings())
    gemini = GeminiProvider(ProviderConfig("gemini", "gemini", api_key="k"), Settings())
    offline = OfflineProvider(ProviderConfig("offline", "offline"), Settings())
    for model in ("gpt-realtime", "gpt-4o-realtime-preview", "house-speech"):
        assert openai.realtime(model) is not None
        assert openai.output_modalities(model) == {"text", "audio"}
    assert openai.realtime("gpt-4.1") is None
    assert openai.output_modalities("gpt-4.1") == {"text"}
    for model in ("gemini-2.5-flash-native-audio-preview-09-2025", "gemini-live-2.5-flash"):
        assert gemini.realtime(model) is not None
    assert gemini.realtime("gemini-2.5-flash") is None
    assert offline.realtime("gpt-realtime") is None
