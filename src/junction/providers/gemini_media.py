"""Image and speech output on Gemini models: ``response_modalities``, ``image_config``
and ``speech_config`` (one prebuilt voice, or several speakers) of the
``generateContent`` request, and the ``inline_data`` parts of the answer.

Gemini TTS answers raw 16-bit PCM (``audio/L16;codec=pcm;rate=24000``); Junction wraps
it as WAV unless ``audio/l16`` was asked for. A prompted voice's description is sent as
a style line before the text to speak (how Gemini TTS takes style direction).
"""

from __future__ import annotations

import re
from typing import Any

from google.genai import types

from junction.errors import BadRequest
from junction.media.encode import pcm_to_wav
from junction.providers.base import MediaChunk, MediaDelta, ModelRequest, ProviderEvent

#: the prebuilt voices of Gemini TTS models and their documented styles
VOICES: dict[str, str] = {
    "Zephyr": "Bright",
    "Puck": "Upbeat",
    "Charon": "Informative",
    "Kore": "Firm",
    "Fenrir": "Excitable",
    "Leda": "Youthful",
    "Orus": "Firm",
    "Aoede": "Breezy",
    "Callirrhoe": "Easy-going",
    "Autonoe": "Bright",
    "Enceladus": "Breathy",
    "Iapetus": "Clear",
    "Umbriel": "Easy-going",
    "Algieba": "Smooth",
    "Despina": "Smooth",
    "Erinome": "Clear",
    "Algenib": "Gravelly",
    "Rasalgethi": "Informative",
    "Laomedeia": "Upbeat",
    "Achernar": "Soft",
    "Alnilam": "Firm",
    "Schedar": "Even",
    "Gacrux": "Mature",
    "Pulcherrima": "Forward",
    "Achird": "Friendly",
    "Zubenelgenubi": "Casual",
    "Vindemiatrix": "Gentle",
    "Sadachbia": "Lively",
    "Sadaltager": "Knowledgeable",
    "Sulafat": "Warm",
}
_BY_LOWER = {name.lower(): name for name in VOICES}
_RATE = re.compile(r"rate=(\d+)")
IMAGE_MIME = ("image/png",)
AUDIO_MIME = ("audio/wav", "audio/l16")


def _voice(name: str | None, field: str, who: str) -> str | None:
    if not name:
        return None
    found = _BY_LOWER.get(name.lower())
    if found is None:
        raise BadRequest(
            f"{field}: model '{who}' has no voice '{name}' (voices: {', '.join(VOICES)})"
        )
    return found


def check(request: ModelRequest, who: str) -> None:
    out = request.output
    if "image" in out.modalities:
        mime = out.image.get("mime_type")
        if mime is not None and mime not in IMAGE_MIME:
            raise BadRequest(
                f"response_format.mime_type: model '{who}' makes image/png, not {mime}"
            )
    if "audio" in out.modalities:
        mime = out.audio.get("mime_type")
        if mime is not None and mime not in AUDIO_MIME:
            raise BadRequest(
                f"response_format.mime_type: model '{who}' makes {', '.join(AUDIO_MIME)}, "
                f"not {mime}"
            )
        rate = out.audio.get("sample_rate")
        if rate is not None and rate != 24000:
            raise BadRequest(f"response_format.sample_rate: model '{who}' speaks at 24000 Hz only")
        if len(out.voices) > 2:
            raise BadRequest(
                f"generation_config.speech_config: model '{who}' takes at most 2 speakers"
            )
        for i, entry in enumerate(out.voices):
            _voice(entry.get("voice"), f"generation_config.speech_config[{i}].voice", who)
            if entry.get("speed") is not None:
                raise BadRequest(
                    f"generation_config.speech_config[{i}].speed: model '{who}' takes no speed; "
                    "ask for the pace in the text"
                )


def _voice_config(name: str | None) -> types.VoiceConfig | None:
    if not name:
        return None
    return types.VoiceConfig(
        prebuilt_voice_config=types.PrebuiltVoiceConfig(voice_name=_BY_LOWER[name.lower()])
    )


def apply(config: types.GenerateContentConfig, request: ModelRequest) -> None:
    """Add the output modalities and their options to a generateContent config."""
    out = request.output
    if not out.media:
        return
    config.response_modalities = [m.upper() for m in sorted(out.modalities)]
    if "image" in out.modalities and (out.image.get("aspect_ratio") or out.image.get("image_size")):
        config.image_config = types.ImageConfig(
            aspect_ratio=out.image.get("aspect_ratio"), image_size=out.image.get("image_size")
        )
    if "audio" in out.modalities and out.voices:
        language = next((v["language"] for v in out.voices if v.get("language")), None)
        if len(out.voices) == 1:
            config.speech_config = types.SpeechConfig(
                voice_config=_voice_config(out.voices[0].get("voice")), language_code=language
            )
        else:
            config.speech_config = types.SpeechConfig(
                multi_speaker_voice_config=types.MultiSpeakerVoiceConfig(
                    speaker_voice_configs=[
                        types.SpeakerVoiceConfig(
                            speaker=v["speaker"], voice_config=_voice_config(v.get("voice"))
                        )
                        for v in out.voices
                    ]
                ),
                language_code=language,
            )


def style_prefix(request: ModelRequest) -> str | None:
    """A prompted voice's description, as the style line Gemini TTS reads."""
    styles = [str(v["instructions"]) for v in request.output.voices if v.get("instructions")]
    return " ".join(styles) if styles and "audio" in request.output.modalities else None


def is_pcm(blob: types.Blob) -> bool:
    mime = (blob.mime_type or "").lower()
    return mime.startswith(("audio/l16", "audio/pcm"))


class SpeechChunks:
    """Raw PCM speech as it streams in several parts. Asked for as ``audio/l16`` (what
    Gemini sends), each part is forwarded as it comes (:class:`MediaChunk`); as WAV, whose
    header states the length, the parts are joined into one clip at the end."""

    def __init__(self, audio: dict[str, Any] | None = None) -> None:
        self.raw = (audio or {}).get("mime_type") == "audio/l16"
        self.parts: list[bytes] = []
        self.size = 0
        self.rate = 24000

    def add(self, blob: types.Blob) -> ProviderEvent | None:
        match = _RATE.search((blob.mime_type or "").lower())
        if match:
            self.rate = int(match.group(1))
        data = blob.data or b""
        self.size += len(data)
        if self.raw:
            return MediaChunk("audio", data, "audio/l16", self.rate, 1) if data else None
        self.parts.append(data)
        return None

    def clip(self) -> ProviderEvent | None:
        """The end of the clip: the last chunk, or the whole WAV."""
        if not self.size and not self.parts:
            return None
        seconds = self.size / (2 * self.rate)
        if self.raw:
            return MediaChunk("audio", b"", "audio/l16", self.rate, 1, last=True, seconds=seconds)
        pcm = b"".join(self.parts)
        return MediaDelta("audio", pcm_to_wav(pcm, self.rate), "audio/wav", self.rate, 1, seconds)


def media_delta(blob: types.Blob) -> MediaDelta | None:
    """A generated image (or an encoded audio file) part as a media event."""
    mime = (blob.mime_type or "").lower()
    data = blob.data or b""
    if mime.startswith("image/"):
        return MediaDelta("image", data, mime)
    if mime.startswith("audio/"):
        return MediaDelta("audio", data, mime)
    return None
