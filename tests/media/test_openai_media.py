"""OpenAI image and speech models through Junction: the Images API (generation and
edits) and text-to-speech, against the fake OpenAI server; requests are asserted field
by field and validated against the ``openai`` package's own types."""

from __future__ import annotations

import base64
import hashlib
import io
import wave
from typing import Any

import httpx2 as httpx
import pytest
from google import genai
from openai.types import ImagesResponse
from openai.types.audio.speech_create_params import SpeechCreateParams
from openai.types.chat import ChatCompletion
from openai.types.image_generate_params import ImageGenerateParamsNonStreaming
from PIL import Image
from pydantic import TypeAdapter

from junction.media import encode
from junction.providers.openai_media import split_images
from junction.testing.fake_openai import FakeOpenAI
from junction.testing.fake_openai_media import FakeOpenAIMedia
from junction.testing.fakeserver import Reply
from tests.conftest import Junction

GENERATE = TypeAdapter(ImageGenerateParamsNonStreaming)
SPEECH = TypeAdapter(SpeechCreateParams)


def _only(fake: FakeOpenAI, path: str) -> dict[str, Any]:
    assert [r.path for r in fake.requests] == [path]
    body = fake.requests[0].body
    assert fake.requests[0].headers["Authorization"] == "Bearer sk-fake"
    assert isinstance(body, dict)
    return body


def test_fake_image_payloads_are_valid_openai_types() -> None:
    fake = FakeOpenAIMedia(FakeOpenAI())
    for model in ("gpt-image-1", "dall-e-3"):
        ImagesResponse.model_validate(
            fake.images_response({"model": model, "size": "1024x1536"}, "x")
        )


def test_image_generation_request(client: genai.Client, openai_fake: FakeOpenAI) -> None:
    result = client.interactions.create(
        model="openai/gpt-image-1",
        input="a fox in a top hat",
        generation_config={"image_config": {"aspect_ratio": "3:2"}},
        response_format={"type": "image", "mime_type": "image/webp"},
    )
    assert result.status == "completed", result.errors
    body = _only(openai_fake, "/v1/images/generations")
    assert body == {
        "model": "gpt-image-1",
        "prompt": "a fox in a top hat",
        "n": 1,
        "size": "1536x1024",
        "output_format": "webp",
    }
    GENERATE.validate_python(body)
    assert result.output_image.mime_type == "image/webp"
    usage = result.usage
    assert usage.total_input_tokens == 9 and usage.total_output_tokens == 272
    assert usage.model_extra["output_images"] == 1


def test_dalle_generation_asks_for_base64(client: genai.Client, openai_fake: FakeOpenAI) -> None:
    result = client.interactions.create(
        model="openai/dall-e-3",
        input="a lighthouse",
        response_modalities=["image"],
        generation_config={"image_config": {"aspect_ratio": "9:16"}},
    )
    body = _only(openai_fake, "/v1/images/generations")
    assert body == {
        "model": "dall-e-3",
        "prompt": "a lighthouse",
        "n": 1,
        "size": "1024x1792",
        "response_format": "b64_json",
    }
    GENERATE.validate_python(body)
    picture = Image.open(io.BytesIO(base64.b64decode(result.output_image.data)))
    assert picture.size == (9, 16)


def test_image_in_the_input_is_edited(client: genai.Client, openai_fake: FakeOpenAI) -> None:
    source = encode.pattern_png("source", 8, 8)
    result = client.interactions.create(
        model="openai/gpt-image-1",
        input=[
            {"type": "text", "text": "add a hat"},
            {"type": "image", "data": base64.b64encode(source).decode(), "mime_type": "image/png"},
        ],
        response_modalities=["image"],
    )
    assert result.status == "completed", result.errors
    body = _only(openai_fake, "/v1/images/edits")
    assert body == {
        "model": "gpt-image-1",
        "prompt": "add a hat",
        "n": "1",
        "image[]": [
            {
                "filename": "image0.png",
                "content_type": "image/png",
                "sha256": hashlib.sha256(source).hexdigest(),
                "size": len(source),
            }
        ],
    }


def test_multi_turn_editing_sends_the_earlier_image(
    client: genai.Client, openai_fake: FakeOpenAI
) -> None:
    first = client.interactions.create(
        model="openai/gpt-image-1", input="a red barn", response_modalities=["image"]
    )
    made = base64.b64decode(first.output_image.data)
    openai_fake.requests.clear()
    second = client.interactions.create(
        model="openai/gpt-image-1",
        input="paint it blue",
        previous_interaction_id=first.id,
        response_modalities=["image"],
    )
    body = _only(openai_fake, "/v1/images/edits")
    assert body["prompt"] == "paint it blue"
    assert [f["sha256"] for f in body["image[]"]] == [hashlib.sha256(made).hexdigest()]
    assert second.output_image.data != first.output_image.data


def test_earlier_image_found_in_a_history_read_from_the_store(
    junction: Junction, openai_fake: FakeOpenAI
) -> None:
    """The media a history references are found when the history is read from the
    database (not from this process's context cache) as well."""
    client = junction.client()
    first = client.interactions.create(
        model="openai/gpt-image-1", input="a red barn", response_modalities=["image"]
    )
    said = client.interactions.create(
        model="openai/gpt-image-1",
        input="a blue one",
        previous_interaction_id=first.id,
        response_modalities=["image"],
    )
    made = base64.b64decode(said.output_image.data)
    junction.thread.app.state.services.interactions.contexts.clear()
    openai_fake.requests.clear()
    client.interactions.create(
        model="openai/gpt-image-1",
        input="now green",
        previous_interaction_id=said.id,
        response_modalities=["image"],
    )
    body = _only(openai_fake, "/v1/images/edits")
    assert [f["sha256"] for f in body["image[]"]] == [hashlib.sha256(made).hexdigest()]


def test_speech_request(client: genai.Client, openai_fake: FakeOpenAI) -> None:
    result = client.interactions.create(
        model="openai/gpt-4o-mini-tts",
        input="Welcome to the show",
        system_instruction="Speak cheerfully.",
        response_modalities=["audio"],
        generation_config={"speech_config": [{"voice": "coral", "speed": 1.25}]},
    )
    assert result.status == "completed", result.errors
    body = _only(openai_fake, "/v1/audio/speech")
    assert body == {
        "model": "gpt-4o-mini-tts",
        "input": "Welcome to the show",
        "voice": "coral",
        "response_format": "wav",
        "speed": 1.25,
        "instructions": "Speak cheerfully.",
    }
    SPEECH.validate_python(body)
    audio = result.output_audio
    assert audio.mime_type == "audio/wav" and audio.sample_rate == 24000
    with wave.open(io.BytesIO(base64.b64decode(audio.data))) as clip:
        seconds = clip.getnframes() / clip.getframerate()
    assert seconds == pytest.approx(1.25)
    assert result.usage.model_extra["output_audio_seconds"] == pytest.approx(1.25)


def test_speech_format_from_response_format(client: genai.Client, openai_fake: FakeOpenAI) -> None:
    result = client.interactions.create(
        model="openai/tts-1",
        input="hi",
        response_format={"type": "audio", "mime_type": "audio/mp3"},
    )
    body = _only(openai_fake, "/v1/audio/speech")
    assert body == {"model": "tts-1", "input": "hi", "voice": "alloy", "response_format": "mp3"}
    SPEECH.validate_python(body)
    assert result.output_audio.mime_type == "audio/mp3"
    assert base64.b64decode(result.output_audio.data).startswith(b"FAKE-mp3")


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        (
            {
                "model": "openai/gpt-image-1",
                "response_modalities": ["image"],
                "generation_config": {"image_config": {"aspect_ratio": "16:9"}},
            },
            "image_config.aspect_ratio: model 'openai/gpt-image-1' makes 1:1, 3:2, 2:3",
        ),
        (
            {
                "model": "openai/gpt-image-1",
                "response_modalities": ["image"],
                "generation_config": {"image_config": {"image_size": "4K"}},
            },
            "image_config.image_size",
        ),
        (
            {
                "model": "openai/dall-e-3",
                "response_format": {"type": "image", "mime_type": "image/jpeg"},
            },
            "response_format.mime_type",
        ),
        (
            {
                "model": "openai/gpt-4o-mini-tts",
                "response_modalities": ["audio"],
                "generation_config": {"speech_config": [{"voice": "Kore"}]},
            },
            "speech_config[0].voice: model 'openai/gpt-4o-mini-tts' has no voice 'Kore'",
        ),
        (
            {
                "model": "openai/gpt-4o-mini-tts",
                "response_modalities": ["audio"],
                "generation_config": {
                    "speech_config": {
                        "speakers": [
                            {"voice": "coral", "speaker": "A"},
                            {"voice": "echo", "speaker": "B"},
                        ]
                    }
                },
            },
            "speaks with one voice",
        ),
        (
            {
                "model": "openai/tts-1",
                "system_instruction": "whisper",
                "response_modalities": ["audio"],
            },
            "takes no voice instructions",
        ),
        (
            {
                "model": "openai/tts-1",
                "response_format": {"type": "audio", "mime_type": "audio/mulaw"},
            },
            "response_format.mime_type",
        ),
    ],
)
def test_unsupported_options_are_refused_before_any_call(
    junction: Junction, openai_fake: FakeOpenAI, body: dict[str, Any], needle: str
) -> None:
    response = httpx.post(
        f"{junction.url}/v1beta/interactions",
        json={"input": "something", **body},
        headers={"x-goog-api-key": junction.api_key},
    )
    assert response.status_code == 400, response.text
    assert needle in response.json()["error"]["message"]
    assert openai_fake.requests == []


def test_media_models_refuse_inputs_they_ignore(
    junction: Junction, openai_fake: FakeOpenAI
) -> None:
    image = base64.b64encode(encode.pattern_png("x", 4, 4)).decode()
    wav = base64.b64encode(encode.pcm_to_wav(b"\0\0" * 10, 24000)).decode()
    for model, item, needle in (
        ("openai/tts-1", {"type": "image", "data": image, "mime_type": "image/png"}, "not image"),
        (
            "openai/gpt-image-1",
            {"type": "audio", "data": wav, "mime_type": "audio/wav"},
            "not audio",
        ),
    ):
        response = httpx.post(
            f"{junction.url}/v1beta/interactions",
            json={"model": model, "input": [{"type": "text", "text": "x"}, item]},
            headers={"x-goog-api-key": junction.api_key},
        )
        assert response.status_code == 400, response.text
        assert needle in response.json()["error"]["message"]
    assert openai_fake.requests == []


def test_dalle3_cannot_edit(junction: Junction, openai_fake: FakeOpenAI) -> None:
    image = base64.b64encode(encode.pattern_png("x", 4, 4)).decode()
    response = httpx.post(
        f"{junction.url}/v1beta/interactions",
        json={
            "model": "openai/dall-e-3",
            "input": [
                {"type": "text", "text": "edit"},
                {"type": "image", "data": image, "mime_type": "image/png"},
            ],
            "response_modalities": ["image"],
        },
        headers={"x-goog-api-key": junction.api_key},
    )
    assert response.status_code == 400
    assert "cannot edit images" in response.json()["error"]["message"]
    assert openai_fake.requests == []


def test_split_images_matches_json_parsing() -> None:
    import orjson

    body = {
        "created": 1,
        "data": [
            {"b64_json": "QUJD", "revised_prompt": 'say "b64_json":"x"'},
            {"b64_json": "REVG"},
        ],
        "output_format": "png",
    }
    for raw in (orjson.dumps(body), orjson.dumps(body, option=orjson.OPT_INDENT_2)):
        parsed, images = split_images(raw)  # compact, and pretty-printed as OpenAI sends
        assert images == ["QUJD", "REVG"]
        assert [item["b64_json"] for item in parsed["data"]] == ["", ""]
        assert parsed["data"][0]["revised_prompt"] == 'say "b64_json":"x"'
        assert parsed["output_format"] == "png"


def test_audio_chat_model_answers_with_text_and_speech(
    client: genai.Client, openai_fake: FakeOpenAI
) -> None:
    openai_fake.enqueue(Reply(text="Bonjour tout le monde"))
    result = client.interactions.create(
        model="openai/gpt-4o-audio-preview",
        input="Say hello in French",
        response_modalities=["text", "audio"],
        generation_config={"speech_config": [{"voice": "verse"}]},
        stream=False,
    )
    assert result.status == "completed", result.errors
    body = _only(openai_fake, "/v1/chat/completions")
    assert body["modalities"] == ["text", "audio"]
    assert body["audio"] == {"voice": "verse", "format": "wav"}
    assert body["stream"] is False
    assert body["messages"] == [{"role": "user", "content": "Say hello in French"}]
    assert [c.type for c in result.steps[-1].content] == ["text", "audio"]
    assert result.output_text == "Bonjour tout le monde"
    with wave.open(io.BytesIO(base64.b64decode(result.output_audio.data))) as clip:
        assert clip.getframerate() == 24000 and clip.getnframes() == 12000
    assert result.usage.model_extra["output_audio_seconds"] == pytest.approx(0.5)


def test_audio_chat_model_streams_and_its_payload_is_a_chat_completion(
    client: genai.Client, openai_fake: FakeOpenAI
) -> None:
    events = list(
        client.interactions.create(
            model="openai/gpt-4o-mini-audio-preview",
            input="hi",
            response_format=[{"type": "text"}, {"type": "audio", "mime_type": "audio/l16"}],
            stream=True,
        )
    )
    deltas = [e.delta for e in events if e.event_type == "step.delta"]
    assert [d.type for d in deltas] == ["text", "audio"]
    assert deltas[1].mime_type == "audio/l16"
    assert openai_fake.requests[-1].body["audio"] == {"voice": "alloy", "format": "pcm16"}
    completion = openai_fake.completion(Reply(text="hi"), "gpt-4o-audio-preview", 1)
    FakeOpenAI.add_audio(completion, Reply(text="hi"), {"voice": "alloy", "format": "wav"})
    ChatCompletion.model_validate(completion)
