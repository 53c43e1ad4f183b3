"""The model table: which output modalities a model produces.

Known models are matched by name pattern per dialect; anything unknown produces text.
``[models."provider/model"] modalities = ["image"]`` in ``junction.toml`` overrides the
table for one model id (an alias may then name that model).
"""

from __future__ import annotations

import re

from junction.config import Settings
from junction.errors import BadRequest

TEXT = frozenset({"text"})
IMAGE = frozenset({"image"})
AUDIO = frozenset({"audio"})

#: (dialect kind, model-name pattern, modalities); the first match wins
TABLE: list[tuple[str, re.Pattern[str], frozenset[str]]] = [
    ("offline", re.compile(r"^(image|draw)"), frozenset({"text", "image"})),
    ("offline", re.compile(r"^(speech|tts|voice)"), frozenset({"text", "audio"})),
    ("offline", re.compile(r".*"), frozenset({"text", "image", "audio"})),
    ("openai", re.compile(r"^(gpt-image|chatgpt-image|dall-e)"), IMAGE),
    ("openai", re.compile(r"^(tts-|gpt-4o-mini-tts|gpt-[\w.-]*-tts)"), AUDIO),
    ("openai", re.compile(r"^gpt-[\w.-]*audio"), frozenset({"text", "audio"})),
    ("gemini", re.compile(r"^(gemini|gemma)[\w.-]*-image"), frozenset({"text", "image"})),
    ("gemini", re.compile(r"^gemini[\w.-]*-tts"), AUDIO),
]

SUGGESTIONS = {
    "image": "openai/gpt-image-1, gemini-2.5-flash-image or offline/image",
    "audio": "openai/gpt-4o-mini-tts, gemini-2.5-flash-preview-tts or offline/speech",
}


def modalities_for(kind: str, provider: str, model: str, settings: Settings) -> frozenset[str]:
    configured = settings.model_modalities.get(f"{provider}/{model}")
    if configured is None and provider == "gemini":
        configured = settings.model_modalities.get(model)
    if configured is not None:
        return frozenset(configured)
    for dialect, pattern, produced in TABLE:
        if dialect == kind and pattern.match(model):
            return produced
    return TEXT


def refuse(model_id: str, wanted: frozenset[str], produced: frozenset[str]) -> None:
    """A 400 naming the model and the modality it cannot produce (never a text answer
    instead)."""
    missing = sorted(wanted - produced)
    if not missing:
        return
    modality = missing[0]
    hint = SUGGESTIONS.get(modality)
    raise BadRequest(
        f"model '{model_id}' cannot produce {modality} output (it produces: "
        f"{', '.join(sorted(produced))}); "
        + (f"choose a model that does, e.g. {hint}" if hint else "no configured model does")
        + (", or ask for one modality at a time" if len(wanted) > 1 and wanted & produced else "")
    )
