"""The output a create request asks for (REFERENCE 5): modalities from
``response_modalities`` and ``response_format``, image options from
``generation_config.image_config`` and ``response_format``, voices from
``generation_config.speech_config``. Every problem is a 400 naming the field."""

from __future__ import annotations

from typing import Any

from junction.errors import BadRequest
from junction.providers.base import OutputSpec
from junction.providers.modalities import refuse
from junction.schema.requests import CreateInteraction

MODALITIES = ("text", "image", "audio", "video", "document")
ASPECT_RATIOS = tuple("1:1 2:3 3:2 3:4 4:3 4:5 5:4 9:16 16:9 21:9 1:8 8:1 1:4 4:1".split())
IMAGE_SIZES = ("512", "1K", "2K", "4K")
DELIVERIES = ("inline", "uri")
IMAGE_FORMAT_KEYS = {"type", "mime_type", "aspect_ratio", "image_size", "delivery"}
AUDIO_FORMAT_KEYS = {"type", "mime_type", "sample_rate", "bit_rate", "delivery"}
SPEAKER_KEYS = {"voice", "speaker", "language", "speed"}


def _unknown(keys: set[str], allowed: set[str], field: str) -> None:
    extra = sorted(keys - allowed)
    if extra:
        raise BadRequest(
            f"{field}.{extra[0]} is not supported (known: {', '.join(sorted(allowed))})"
        )


def _check(value: Any, allowed: tuple[str, ...], field: str) -> None:
    if value is not None and value not in allowed:
        raise BadRequest(f"{field} must be one of {', '.join(allowed)}, not {value!r}")


def _formats(req: CreateInteraction) -> list[dict[str, Any]]:
    raw = req.response_format
    items = raw if isinstance(raw, list) else [raw] if raw is not None else []
    return [f.model_dump(mode="json", exclude_none=True, by_alias=True) for f in items]


def _speakers(raw: Any) -> list[dict[str, Any]]:
    field = "generation_config.speech_config"
    if raw is None:
        return []
    entries = raw.get("speakers") if isinstance(raw, dict) else raw
    if isinstance(raw, dict) and "speakers" not in raw:
        entries = [raw]  # a single {voice, …} object: accepted as one speaker
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise BadRequest(f"{field} must be a list of {{voice, speaker, language}} or {{speakers}}")
    out = []
    for i, entry in enumerate(entries):
        _unknown(set(entry), SPEAKER_KEYS, f"{field}[{i}]")
        for key in ("voice", "speaker", "language"):
            if key in entry and not isinstance(entry[key], str):
                raise BadRequest(f"{field}[{i}].{key} must be a string")
        speed = entry.get("speed")
        if speed is not None and (
            not isinstance(speed, int | float) or isinstance(speed, bool) or not 0.25 <= speed <= 4
        ):
            raise BadRequest(f"{field}[{i}].speed must be a number from 0.25 to 4")
        out.append(dict(entry))
    if len(out) > 1 and not all(e.get("speaker") for e in out):
        raise BadRequest(f"{field}: with several voices, name the 'speaker' of each")
    return out


def requested(req: CreateInteraction) -> OutputSpec | None:
    """The asked-for output, or None when the request names no modality (the model's
    default output then applies)."""
    wanted: set[str] = set()
    for i, modality in enumerate(req.response_modalities or []):
        _check(modality, MODALITIES, f"response_modalities[{i}]")
        wanted.add(modality)
    image: dict[str, Any] = {}
    audio: dict[str, Any] = {}
    for i, fmt in enumerate(_formats(req)):
        kind = fmt.get("type", "text")
        field = (
            f"response_format[{i}]"
            if isinstance(req.response_format, list)
            else ("response_format")
        )
        _check(kind, MODALITIES, f"{field}.type")
        wanted.add(kind)
        _check(fmt.get("delivery"), DELIVERIES, f"{field}.delivery")
        if kind == "image":
            _unknown(set(fmt), IMAGE_FORMAT_KEYS, field)
            _check(fmt.get("aspect_ratio"), ASPECT_RATIOS, f"{field}.aspect_ratio")
            _check(fmt.get("image_size"), IMAGE_SIZES, f"{field}.image_size")
            image.update({k: v for k, v in fmt.items() if k != "type"})
        elif kind == "audio":
            _unknown(set(fmt), AUDIO_FORMAT_KEYS, field)
            for key in ("sample_rate", "bit_rate"):
                value = fmt.get(key)
                if value is not None and (not isinstance(value, int) or value <= 0):
                    raise BadRequest(f"{field}.{key} must be a positive integer")
            if fmt.get("bit_rate") is not None:
                raise BadRequest(
                    f"{field}.bit_rate: no provider Junction speaks lets the bit rate be "
                    "chosen; remove it"
                )
            audio.update({k: v for k, v in fmt.items() if k != "type"})
    gen = req.generation_config.model_dump(mode="json") if req.generation_config else {}
    config = gen.get("image_config")
    if config is not None:
        if not isinstance(config, dict):
            raise BadRequest("generation_config.image_config must be an object")
        field = "generation_config.image_config"
        _unknown(set(config), {"aspect_ratio", "image_size"}, field)
        _check(config.get("aspect_ratio"), ASPECT_RATIOS, f"{field}.aspect_ratio")
        _check(config.get("image_size"), IMAGE_SIZES, f"{field}.image_size")
        for key, value in config.items():
            image.setdefault(key, value)
    voices = _speakers(gen.get("speech_config"))
    for kind in ("video", "document"):
        if kind in wanted:
            raise BadRequest(
                f"{kind} output is not supported: Junction generates text, image and audio"
            )
    if not wanted:
        return None
    return OutputSpec(frozenset(wanted), image, audio, voices)


def voice_names(req: CreateInteraction) -> list[str]:
    """The voice names ``speech_config`` uses (to look custom voices up)."""
    gen = req.generation_config.model_dump(mode="json") if req.generation_config else {}
    return [v["voice"] for v in _speakers(gen.get("speech_config")) if v.get("voice")]


def _apply_voices(
    entries: list[dict[str, Any]], custom: dict[str, dict[str, Any]]
) -> list[dict[str, Any]]:
    """Custom (prompted) voices become their base voice plus voice instructions."""
    out = []
    for entry in entries:
        voice = custom.get(entry.get("voice") or "")
        if voice is None:
            out.append(entry)
            continue
        prompted = voice.get("prompted") or {}
        fixed = {**entry, "custom_voice": voice["id"]}
        fixed["voice"] = prompted.get("base_voice")
        if not fixed["voice"]:
            del fixed["voice"]
        if prompted.get("input"):
            fixed["instructions"] = prompted["input"]
        if voice.get("language_code") and not entry.get("language"):
            fixed["language"] = voice["language_code"]
        out.append(fixed)
    return out


def resolve(
    req: CreateInteraction,
    model_id: str,
    produced: frozenset[str],
    asked: OutputSpec | None,
    custom_voices: dict[str, dict[str, Any]],
) -> OutputSpec:
    """The output of this request on a model that produces ``produced``: the asked
    modalities (refused when the model cannot make one), else the model's default
    (text when it makes text, else what it makes)."""
    gen = req.generation_config.model_dump(mode="json") if req.generation_config else {}
    if asked is None:
        default = frozenset({"text"}) if "text" in produced else produced
        image = dict(gen.get("image_config") or {})
        voices = _speakers(gen.get("speech_config"))
        spec = OutputSpec(default, image, {}, _apply_voices(voices, custom_voices))
    else:
        refuse(model_id, asked.modalities, produced)
        spec = OutputSpec(
            asked.modalities, asked.image, asked.audio, _apply_voices(asked.voices, custom_voices)
        )
    _check_used(gen, spec.modalities, model_id)
    return spec


def _check_used(gen: dict[str, Any], modalities: frozenset[str], model_id: str) -> None:
    """``image_config`` / ``speech_config`` shape image / audio output: on a request whose
    output has none, they would do nothing, so they are refused."""
    for key, modality in (("image_config", "image"), ("speech_config", "audio")):
        if gen.get(key) and modality not in modalities:
            raise BadRequest(
                f"generation_config.{key}: this request to model '{model_id}' makes "
                f"{', '.join(sorted(modalities))} and no {modality}, so {key} would have no "
                f"effect: ask for {modality} output (response_modalities) or remove it"
            )
