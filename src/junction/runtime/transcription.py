"""``generation_config.transcription_config`` (speech recognition of the audio input) and
``generation_config.video_config`` (video generation), checked before anything is
written.

A transcription request transcribes the audio items of the latest user input; the
answer is one ``text`` item whose ``annotations`` are ``word_info`` entries when word
timestamps or speakers were asked for. What each dialect honours, and how, is the
provider's business (``Provider.check_transcription``); what no transcription can
have (tools, a JSON schema, media output, no audio to hear) is refused here. Every
problem is a 400 naming the field; unknown keys are refused, never ignored.
"""

from __future__ import annotations

import re
from typing import Any

from junction.errors import BadRequest
from junction.providers.base import ModelRequest, OutputSpec, Provider, TranscriptionSpec
from junction.schema.requests import CreateInteraction

FIELD = "generation_config.transcription_config"
KEYS = {
    "adaptation_phrases",
    "custom_vocabulary",
    "diarization_mode",
    "language_codes",
    "language_hints",
    "mode",
    "timestamp_granularities",
}
_MODE_KEYS = {
    "verbatim": {"type", "diarization_mode", "timestamp_granularities"},
    "smart": {"type", "source_text"},
}
_LANGUAGE = re.compile(r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*$")
#: terms of custom_vocabulary and adaptation_phrases together, and characters per term
MAX_TERMS = 100
MAX_TERM_CHARS = 200


def _unknown(keys: set[str], allowed: set[str], field: str) -> None:
    extra = sorted(keys - allowed)
    if extra:
        raise BadRequest(
            f"{field}.{extra[0]} is not supported (known: {', '.join(sorted(allowed))})"
        )


def _strings(value: Any, field: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise BadRequest(f"{field} must be a list of non-empty strings")
    return list(value)


def _diarization(value: Any, field: str) -> bool:
    if value is None:
        return False
    if value != "speaker":
        raise BadRequest(f"{field} must be 'speaker', not {value!r}")
    return True


def _granularities(value: Any, field: str) -> bool:
    items = _strings(value, field)
    for item in items:
        if item != "word":
            raise BadRequest(f"{field} takes 'word' only, not {item!r}")
    return bool(items)


def parse(req: CreateInteraction) -> TranscriptionSpec | None:
    """The validated transcription options, or None when none were given."""
    raw = getattr(req.generation_config, "transcription_config", None)
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise BadRequest(f"{FIELD} must be an object")
    _unknown(set(raw), KEYS, FIELD)
    mode = raw.get("mode") or "verbatim"
    options: dict[str, Any] = {}
    if isinstance(mode, dict):
        kind = mode.get("type")
        if kind not in _MODE_KEYS:
            raise BadRequest(f"{FIELD}.mode.type must be 'verbatim' or 'smart', not {kind!r}")
        _unknown(set(mode), _MODE_KEYS[kind], f"{FIELD}.mode")
        options = mode
        mode = kind
    elif mode not in _MODE_KEYS:
        raise BadRequest(f"{FIELD}.mode must be 'verbatim', 'smart' or an object, not {mode!r}")
    source = options.get("source_text")
    if source is not None and not isinstance(source, str):
        raise BadRequest(f"{FIELD}.mode.source_text must be a string")
    speakers = _diarization(raw.get("diarization_mode"), f"{FIELD}.diarization_mode")
    speakers |= _diarization(options.get("diarization_mode"), f"{FIELD}.mode.diarization_mode")
    words = _granularities(raw.get("timestamp_granularities"), f"{FIELD}.timestamp_granularities")
    words |= _granularities(
        options.get("timestamp_granularities"), f"{FIELD}.mode.timestamp_granularities"
    )
    if mode == "smart" and (speakers or words):
        raise BadRequest(
            f"{FIELD}: word timestamps and speakers describe a verbatim transcript; "
            "use mode 'verbatim' or remove diarization_mode and timestamp_granularities"
        )
    languages: list[str] = []
    for key in ("language_codes", "language_hints"):
        for code in _strings(raw.get(key), f"{FIELD}.{key}"):
            if not _LANGUAGE.match(code):
                raise BadRequest(f"{FIELD}.{key}: {code!r} is not a BCP-47 language code")
            if code not in languages:
                languages.append(code)
    terms: list[str] = []
    for key in ("custom_vocabulary", "adaptation_phrases"):
        for term in _strings(raw.get(key), f"{FIELD}.{key}"):
            if len(term) > MAX_TERM_CHARS:
                raise BadRequest(f"{FIELD}.{key}: a term is longer than {MAX_TERM_CHARS} chars")
            if term not in terms:
                terms.append(term)
    if len(terms) > MAX_TERMS:
        raise BadRequest(
            f"{FIELD}: custom_vocabulary and adaptation_phrases hold {len(terms)} terms, "
            f"more than {MAX_TERMS}"
        )
    return TranscriptionSpec(
        mode=str(mode),
        source_text=source,
        languages=tuple(languages),
        vocabulary=tuple(terms),
        speakers=speakers,
        words=words,
    )


def refuse_video(req: CreateInteraction) -> None:
    """``video_config`` configures video generation, which no provider here does."""
    if getattr(req.generation_config, "video_config", None) is not None:
        raise BadRequest(
            f"generation_config.video_config: model '{req.model}' does not generate video "
            "(Junction's providers make text, image and audio); remove video_config"
        )


def has_audio(step: dict[str, Any]) -> bool:
    return any(isinstance(i, dict) and i.get("type") == "audio" for i in step.get("content") or ())


def check(
    spec: TranscriptionSpec | None,
    provider: Provider,
    request: ModelRequest,
    model_id: str,
    output: OutputSpec,
    schema: dict[str, Any] | None,
    server_tools: int,
) -> TranscriptionSpec | None:
    """What a transcription request must be, then the provider's own check. A
    transcription model is always transcribing (with the default options)."""
    if spec is None and not provider.transcribes(request.model):
        return None
    field = FIELD if spec is not None else "model"
    spec = spec or TranscriptionSpec()
    if request.tools or server_tools:
        raise BadRequest(f"{field}: model '{model_id}' transcribes audio and calls no tools")
    if schema is not None:
        raise BadRequest(f"{field}: a transcription is plain text; remove the JSON schema")
    if output.modalities != frozenset({"text"}):
        raise BadRequest(f"{field}: a transcription is text; ask for text output only")
    latest = next((s for s in reversed(request.steps) if s["type"] == "user_input"), None)
    if latest is None or not has_audio(latest):
        raise BadRequest(f"{field}: the latest input holds no audio item to transcribe")
    request.transcription = spec
    provider.check_transcription(request)
    return spec
