"""The Voices API through the SDK: prebuilt voices of the configured providers, prompted
voices (CRUD, filters, custom first) applied through the provider's voice instructions,
and refusals."""

from __future__ import annotations

import base64
import secrets
from pathlib import Path

import httpx2 as httpx
import pytest
from google import genai
from google.genai import _interactions_errors as gerr

from junction.testing.fake_openai import FakeOpenAI
from tests.api.quota_servers import quota_server
from tests.conftest import Junction


def _fresh(junction: Junction) -> genai.Client:
    name = f"voices-{junction.backend}-{secrets.token_hex(3)}"
    key = junction.cli("keys", "create", "--project", name).stdout.split()[1]
    return junction.client(key)


def _narrator(client: genai.Client, **extra: object) -> object:
    return client.voices.create(
        store=True,
        voice={
            "type": "prompted",
            "display_name": "Warm Narrator",
            "gender": "female",
            "language_code": "en-GB",
            "prompted": {"input": "A warm, friendly narrator voice.", "base_voice": "coral"},
            **extra,
        },
    )


def test_voice_lifecycle_and_filters(junction: Junction) -> None:
    client = _fresh(junction)
    created = _narrator(client)
    assert created.id.startswith("voice_") and created.type == "prompted"
    assert created.prompted.input == "A warm, friendly narrator voice."
    fetched = client.voices.get(id=created.id)
    assert fetched.display_name == "Warm Narrator" and fetched.language_code == "en-GB"
    listed = client.voices.list().voices
    assert listed[0].id == created.id  # custom voices first
    assert {"alloy", "coral"} <= {v.id for v in listed if v.type == "prebuilt"}
    assert [v.id for v in client.voices.list(language_code=["en-GB"]).voices] == [created.id]
    assert [v.id for v in client.voices.list(type_=["prompted"]).voices] == [created.id]
    assert [v.id for v in client.voices.list(gender=["FEMALE"]).voices] == [created.id]
    assert [v.id for v in client.voices.list(search="narrator").voices] == [created.id]
    prebuilt = client.voices.list(type_=["prebuilt"]).voices
    assert prebuilt and all(v.type == "prebuilt" for v in prebuilt)
    assert client.voices.get(id="alloy").type == "prebuilt"
    client.voices.delete(id=created.id)
    with pytest.raises(gerr.NotFoundError):
        client.voices.get(id=created.id)
    assert all(v.id != created.id for v in client.voices.list().voices)


def test_paging(junction: Junction) -> None:
    client = _fresh(junction)
    made = [_narrator(client).id for _ in range(3)]
    first = client.voices.list(page_size=2, type_=["prompted"])
    assert len(first.voices) == 2 and first.next_page_token
    second = client.voices.list(page_size=2, type_=["prompted"], page_token=first.next_page_token)
    assert not second.next_page_token
    assert sorted(v.id for v in [*first.voices, *second.voices]) == sorted(made)


def test_voices_belong_to_their_project(junction: Junction) -> None:
    mine, theirs = _fresh(junction), _fresh(junction)
    voice = _narrator(mine)
    with pytest.raises(gerr.NotFoundError):
        theirs.voices.get(id=voice.id)
    with pytest.raises(gerr.NotFoundError):
        theirs.voices.delete(id=voice.id)
    assert all(v.id != voice.id for v in theirs.voices.list().voices)
    mine.voices.get(id=voice.id)


@pytest.mark.parametrize(
    ("voice", "needle"),
    [
        (
            {
                "type": "replicated",
                "replicated": {
                    "source_audio": {"data": "AAAA", "mime_type": "audio/wav"},
                    "consent_audio": {"data": "AAAA", "mime_type": "audio/wav"},
                },
            },
            "replicated voices",
        ),
        ({"type": "prebuilt"}, "prebuilt voices are built in"),
        ({"type": "prompted"}, "prompted.input"),
        ({"type": "prompted", "prompted": {"input": "x", "base_voice": "Nobody"}}, "base_voice"),
        ({"type": "prompted", "prompted": {"input": "x"}, "pitch": "shrill"}, "pitch"),
    ],
)
def test_bad_voices_are_refused(junction: Junction, voice: dict[str, object], needle: str) -> None:
    client = _fresh(junction)
    with pytest.raises(gerr.BadRequestError, match=needle):
        client.voices.create(voice=voice)
    assert all(v.type == "prebuilt" for v in client.voices.list().voices)


def test_prebuilt_voices_cannot_be_deleted(junction: Junction) -> None:
    with pytest.raises(gerr.BadRequestError, match="prebuilt"):
        _fresh(junction).voices.delete(id="alloy")


def test_store_false_returns_the_voice_without_keeping_it(junction: Junction) -> None:
    client = _fresh(junction)
    voice = client.voices.create(
        store=False, voice={"type": "prompted", "prompted": {"input": "gravelly pirate"}}
    )
    assert voice.prompted.input == "gravelly pirate"
    with pytest.raises(gerr.NotFoundError):
        client.voices.get(id=voice.id)


def test_prompted_voice_is_applied_through_voice_instructions(
    junction: Junction, openai_fake: FakeOpenAI
) -> None:
    client = _fresh(junction)
    voice = _narrator(client)
    result = client.interactions.create(
        model="openai/gpt-4o-mini-tts",
        input="Once upon a time",
        system_instruction="Slowly.",
        response_modalities=["audio"],
        generation_config={"speech_config": [{"voice": voice.id}]},
    )
    assert result.status == "completed", result.errors
    body = openai_fake.requests[-1].body
    assert body["voice"] == "coral"
    assert body["instructions"] == "Slowly.\n\nA warm, friendly narrator voice."
    plain = client.interactions.create(
        model="offline/speech",
        input="Once upon a time",
        response_modalities=["audio"],
        generation_config={"speech_config": [{"voice": "coral"}]},
    )
    styled = client.interactions.create(
        model="offline/speech",
        input="Once upon a time",
        response_modalities=["audio"],
        generation_config={"speech_config": [{"voice": voice.id}]},
    )
    assert base64.b64decode(plain.output_audio.data) != base64.b64decode(styled.output_audio.data)


def test_unknown_custom_voice_is_a_400(junction: Junction) -> None:
    response = httpx.post(
        f"{junction.url}/v1beta/interactions",
        json={
            "model": "offline/speech",
            "input": "hi",
            "response_modalities": ["audio"],
            "generation_config": {"speech_config": [{"voice": "voice_doesnotexist"}]},
        },
        headers={"x-goog-api-key": junction.api_key},
    )
    assert response.status_code == 400
    assert "voice 'voice_doesnotexist' not found" in response.json()["error"]["message"]


def test_gemini_voices_listed_when_gemini_is_configured(gemini_junction: Junction) -> None:
    client = gemini_junction.client()
    kore = client.voices.get(id="Kore")
    assert kore.type == "prebuilt" and kore.persona == "Firm" and kore.gender == "female"
    males = {v.id for v in client.voices.list(gender=["male"], page_size=1000).voices}
    assert {"Puck", "Charon"} <= males and "Kore" not in males
    assert [v.id for v in client.voices.list(persona=["gravelly"]).voices] == ["Algenib"]


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_custom_voices_beyond_max_voices_are_refused_with_429(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    if backend == "postgres":
        request.getfixturevalue("pg_url")  # skips (or fails) as the other tests do
    with quota_server(backend, tmp_path, max_voices=2) as server:
        key, other_key = server.new_key("voices-capped"), server.new_key("voices-other")
        client, other = server.client(key), server.client(other_key)
        kept = [_narrator(client).id for _ in range(2)]
        with pytest.raises(gerr.RateLimitError, match=r"max_voices") as refused:
            _narrator(client)
        assert refused.value.status_code == 429
        assert "2 voices" in str(refused.value)
        stored = client.voices.list(type_=["prompted"]).voices
        assert sorted(v.id for v in stored) == sorted(kept)  # nothing written
        # store=false keeps nothing, so it is not capped
        unsaved = client.voices.create(
            store=False, voice={"type": "prompted", "prompted": {"input": "unsaved"}}
        )
        assert unsaved.prompted.input == "unsaved"
        # the cap is per project
        _narrator(other)
        # deleting one makes room for exactly one more
        client.voices.delete(id=kept[0])
        _narrator(client)
        with pytest.raises(gerr.RateLimitError):
            _narrator(client)
        assert len(client.voices.list(type_=["prompted"]).voices) == 2
