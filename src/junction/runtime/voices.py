"""Voices (REFERENCE 9.6): the prebuilt voices of the configured speech providers, and
a project's custom ``prompted`` voices (a description plus a base voice), stored per
project and applied through the provider's voice instructions.

``replicated`` voices (cloning from a recording) need a provider that clones voices;
none of Junction's dialects does, so they are refused with a 400.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from junction import ids, jsonutil
from junction.config import Settings
from junction.errors import BadRequest, NotFound, TooManyRequests
from junction.providers.gemini_media import VOICES as GEMINI_VOICES
from junction.providers.openai_speech import VOICES as OPENAI_VOICES
from junction.schema.requests import format_validation_error
from junction.store.db import Database

FILTERS = (
    "accent",
    "context",
    "gender",
    "language_code",
    "persona",
    "pitch",
    "region_code",
    "type",
)
_GENDERS = {
    "Kore": "female",
    "Zephyr": "female",
    "Leda": "female",
    "Aoede": "female",
    "Puck": "male",
    "Charon": "male",
    "Fenrir": "male",
    "Orus": "male",
}


class _Prompted(BaseModel):
    model_config = ConfigDict(extra="forbid")
    input: str
    base_voice: str | None = None


class VoiceInput(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: str
    accent: str | None = None
    context: str | None = None
    description: str | None = None
    display_name: str | None = None
    gender: str | None = None
    language_code: str | None = None
    model: str | None = None
    persona: str | None = None
    pitch: str | None = None
    prompted: _Prompted | None = None
    region_code: str | None = None
    replicated: dict[str, Any] | None = None
    sample_audio: dict[str, Any] | None = None


def prebuilt_voices(settings: Settings) -> list[dict[str, Any]]:
    """The prebuilt voices of the speech providers this server is configured for."""
    voices: list[dict[str, Any]] = []
    gemini = settings.providers.get("gemini")
    if gemini is not None and gemini.api_key:
        for name, style in GEMINI_VOICES.items():
            voice: dict[str, Any] = {
                "type": "prebuilt",
                "id": name,
                "key": name,
                "display_name": name,
                "description": f"{style} (Gemini TTS)",
                "persona": style,
                "language_code": "en-US",
                "model": "gemini-2.5-flash-preview-tts",
            }
            if name in _GENDERS:
                voice["gender"] = _GENDERS[name]
            voices.append(voice)
    openai = settings.providers.get("openai")
    if openai is not None and openai.api_key:
        voices.extend(
            {
                "type": "prebuilt",
                "id": name,
                "key": name,
                "display_name": name.title(),
                "description": "OpenAI text-to-speech voice",
                "language_code": "en-US",
                "model": "openai/gpt-4o-mini-tts",
            }
            for name in OPENAI_VOICES
        )
    return voices


def _matches(voice: dict[str, Any], filters: dict[str, list[str]], search: str | None) -> bool:
    for key, wanted in filters.items():
        if wanted and str(voice.get(key) or "").lower() not in {w.lower() for w in wanted}:
            return False
    if search:
        needle = search.lower()
        fields = ("id", "display_name", "description", "persona", "accent", "context")
        return any(needle in str(voice.get(f) or "").lower() for f in fields)
    return True


class VoiceService:
    def __init__(self, db: Database, settings: Settings) -> None:
        self.db = db
        self.settings = settings

    def _prebuilt(self) -> dict[str, dict[str, Any]]:
        return {v["id"]: v for v in prebuilt_voices(self.settings)}

    async def _custom(self, project_id: str) -> list[dict[str, Any]]:
        rows = await self.db.fetchall(
            "SELECT data FROM voices WHERE project_id = $1 ORDER BY created DESC, id DESC",
            project_id,
        )
        return [jsonutil.loads(r["data"]) for r in rows]

    async def page(
        self,
        project_id: str,
        filters: dict[str, list[str]],
        search: str | None,
        offset: int,
        size: int,
    ) -> tuple[list[dict[str, Any]], int | None]:
        """Custom voices first, then prebuilt ones; the next offset when more remain."""
        everything = [*await self._custom(project_id), *self._prebuilt().values()]
        found = [v for v in everything if _matches(v, filters, search)]
        page = found[offset : offset + size]
        return page, (offset + size if offset + size < len(found) else None)

    async def get(self, project_id: str, voice_id: str) -> dict[str, Any]:
        row = await self.db.fetchone(
            "SELECT data FROM voices WHERE project_id = $1 AND id = $2", project_id, voice_id
        )
        if row is not None:
            data: dict[str, Any] = jsonutil.loads(row["data"])
            return data
        prebuilt = self._prebuilt().get(voice_id)
        if prebuilt is None:
            raise NotFound(f"voice '{voice_id}' not found")
        return prebuilt

    async def lookup(self, project_id: str, names: list[str]) -> dict[str, dict[str, Any]]:
        custom = [n for n in names if n.startswith("voice_")]
        found: dict[str, dict[str, Any]] = {}
        for name in custom:
            row = await self.db.fetchone(
                "SELECT data FROM voices WHERE project_id = $1 AND id = $2", project_id, name
            )
            if row is None:
                raise BadRequest(
                    f"generation_config.speech_config: voice '{name}' not found "
                    "(create it with POST /voices, or use a prebuilt voice)"
                )
            found[name] = jsonutil.loads(row["data"])
        return found

    def _check(self, body: Any) -> tuple[VoiceInput, bool]:
        if not isinstance(body, dict) or not isinstance(body.get("voice"), dict):
            raise BadRequest('the body must be {"voice": {…}, "store": true|false}')
        store = body.get("store", True)
        if not isinstance(store, bool):
            raise BadRequest("'store' must be true or false")
        extra = set(body) - {"voice", "store"}
        if extra:
            raise BadRequest(f"unknown field(s): {', '.join(sorted(extra))}")
        try:
            voice = VoiceInput.model_validate(body["voice"])
        except ValidationError as exc:
            raise BadRequest(f"invalid voice: {format_validation_error(exc, 'voice')}") from None
        if voice.type == "replicated":
            raise BadRequest(
                "replicated voices (cloning from a recording) are not supported: no configured "
                "provider clones voices; create a 'prompted' voice (a description plus a "
                "base_voice) instead"
            )
        if voice.type == "prebuilt":
            raise BadRequest("prebuilt voices are built in: list them with GET /voices")
        if voice.type != "prompted":
            raise BadRequest(f"voice.type must be 'prompted', not {voice.type!r}")
        if voice.prompted is None or not voice.prompted.input.strip():
            raise BadRequest("a prompted voice needs 'prompted.input': a description of the voice")
        if len(voice.prompted.input) > 2000:
            raise BadRequest("voice.prompted.input is longer than 2000 characters")
        if voice.pitch is not None and voice.pitch not in ("low", "medium", "high"):
            raise BadRequest("voice.pitch must be one of low, medium, high")
        base = voice.prompted.base_voice
        if base:
            known = {k.lower() for k in [*GEMINI_VOICES, *OPENAI_VOICES]}
            if base.lower() not in known:
                raise BadRequest(
                    f"voice.prompted.base_voice '{base}' is not a prebuilt voice (see GET /voices)"
                )
        return voice, store

    async def create(self, project_id: str, body: Any) -> dict[str, Any]:
        voice, store = self._check(body)
        data = voice.model_dump(mode="json", exclude_none=True)
        data["id"] = ids.sortable_id("voice_")
        data.setdefault("display_name", data["id"])
        if not store:
            return data
        now = ids.now_iso()
        async with self.db.transaction() as tx:
            row = await tx.fetchone(
                "SELECT COUNT(*) AS n FROM voices WHERE project_id = $1", project_id
            )
            cap = self.settings.max_voices
            if cap and row is not None and int(row["n"]) >= cap:
                raise TooManyRequests(
                    f"the project has {self.settings.max_voices} voices, its limit "
                    "(max_voices): delete one first"
                )
            await tx.execute(
                "INSERT INTO voices (project_id, id, data, created) VALUES ($1, $2, $3, $4)",
                project_id,
                data["id"],
                jsonutil.dumps(data),
                now,
            )
        return data

    async def delete(self, project_id: str, voice_id: str) -> None:
        deleted = await self.db.execute(
            "DELETE FROM voices WHERE project_id = $1 AND id = $2", project_id, voice_id
        )
        if deleted:
            return
        if voice_id in self._prebuilt():
            raise BadRequest(f"voice '{voice_id}' is prebuilt and cannot be deleted")
        raise NotFound(f"voice '{voice_id}' not found")
