"""Gemini native image and TTS models through Junction, against the fake Gemini API:
the generateContent request carries the modalities, image and speech configuration
(validated against the SDK's own types), and inline media comes back as content."""

from __future__ import annotations

import base64
import io
import math
import wave
from typing import Any

import httpx2 as httpx
import orjson
import pytest
from google.genai import types

from junction.media import encode
from junction.providers.gemini_messages import decode_base64
from junction.testing.fake_gemini import FakeGemini
from junction.testing.fake_openai import FakeOpenAI
from junction.testing.fakeserver import Reply
from tests.conftest import Junction

pytestmark = pytest.mark.filterwarnings(
    "ignore:Inheritance class AiohttpClientSession:DeprecationWarning"
)


def _post(junction: Junction, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(
        f"{junction.url}/v1beta/interactions",
        json=body,
        headers={"x-goog-api-key": junction.api_key},
        timeout=30,
    )


def _config(fake: FakeGemini) -> dict[str, Any]:
    body = fake.requests[-1].body
    config: dict[str, Any] = body["generationConfig"]
    rest = {k: v for k, v in config.items() if k != "imageConfig"}
    types.GenerationConfig.model_validate_json(orjson.dumps(rest))
    if "speechConfig" in config:
        types.SpeechConfig.model_validate(config["speechConfig"])
    if "imageConfig" in config:  # GenerateContentConfig.image_config, sent in generationConfig
        types.ImageConfig.model_validate_json(orjson.dumps(config["imageConfig"]))
    for content in body["contents"]:
        types.Content.model_validate_json(orjson.dumps(content))
    return config


def test_native_image_model(gemini_junction: Junction, gemini_fake: FakeGemini) -> None:
    png = encode.pattern_png("gemini", 8, 8)
    gemini_fake.enqueue(Reply(text="Here it is", media=[("image/png", png)]))
    client = gemini_junction.client()
    result = client.interactions.create(
        model="gemini-2.5-flash-image",
        input="a banana",
        response_modalities=["text", "image"],
        generation_config={"image_config": {"aspect_ratio": "16:9", "image_size": "2K"}},
    )
    assert result.status == "completed", result.errors
    config = _config(gemini_fake)
    assert config["responseModalities"] == ["IMAGE", "TEXT"]
    assert config["imageConfig"] == {"aspectRatio": "16:9", "imageSize": "2K"}
    assert [c.type for c in result.steps[-1].content] == ["text", "image"]
    assert result.output_text == "Here it is"
    assert base64.b64decode(result.output_image.data) == png
    assert result.usage.model_extra["output_images"] == 1


def test_multi_turn_image_edit_sends_the_image_back(
    gemini_junction: Junction, gemini_fake: FakeGemini
) -> None:
    first_png = encode.pattern_png("first", 4, 4)
    gemini_fake.enqueue(
        Reply(text="", media=[("image/png", first_png)]),
        Reply(text="", media=[("image/png", encode.pattern_png("second", 4, 4))]),
    )
    client = gemini_junction.client()
    first = client.interactions.create(
        model="gemini-2.5-flash-image", input="a cat", response_modalities=["image"]
    )
    second = client.interactions.create(
        model="gemini-2.5-flash-image",
        input="give it a hat",
        previous_interaction_id=first.id,
        response_modalities=["image"],
    )
    assert second.status == "completed", second.errors
    contents = gemini_fake.requests[-1].body["contents"]
    assert [c["role"] for c in contents] == ["user", "model", "user"]
    inline = contents[1]["parts"][0]["inlineData"]
    assert inline.get("mimeType", inline.get("mime_type")) == "image/png"  # the SDK sends either
    assert decode_base64(inline["data"]) == first_png


def test_tts_single_voice(gemini_junction: Junction, gemini_fake: FakeGemini) -> None:
    pcm = encode.tone_pcm("tts", 0.5, 24000)
    gemini_fake.enqueue(Reply(text="", media=[("audio/L16;codec=pcm;rate=24000", pcm)]))
    client = gemini_junction.client()
    result = client.interactions.create(
        model="gemini-2.5-flash-preview-tts",
        input="Say hello",
        response_modalities=["audio"],
        generation_config={"speech_config": [{"voice": "kore", "language": "en-US"}]},
    )
    assert result.status == "completed", result.errors
    config = _config(gemini_fake)
    assert config["responseModalities"] == ["AUDIO"]
    # the SDK sends nested objects with snake_case keys (the API accepts both)
    assert config["speechConfig"] == {
        "voice_config": {"prebuilt_voice_config": {"voice_name": "Kore"}},
        "language_code": "en-US",
    }
    audio = result.output_audio
    assert audio.mime_type == "audio/wav" and audio.sample_rate == 24000
    with wave.open(io.BytesIO(base64.b64decode(audio.data))) as clip:
        assert clip.readframes(clip.getnframes()) == pcm
    assert result.usage.model_extra["output_audio_seconds"] == pytest.approx(0.5)


def test_tts_multi_speaker(gemini_junction: Junction, gemini_fake: FakeGemini) -> None:
    gemini_fake.enqueue(Reply(text="", media=[("audio/L16;codec=pcm;rate=24000", b"\0\0" * 240)]))
    client = gemini_junction.client()
    result = client.interactions.create(
        model="gemini-2.5-flash-preview-tts",
        input="Joe: Hi Jane!\nJane: Hi Joe!",
        response_format={"type": "audio", "mime_type": "audio/l16"},
        generation_config={
            "speech_config": {
                "speakers": [
                    {"speaker": "Joe", "voice": "Puck"},
                    {"speaker": "Jane", "voice": "Zephyr"},
                ]
            }
        },
    )
    assert result.status == "completed", result.errors
    config = _config(gemini_fake)
    assert config["speechConfig"] == {
        "multi_speaker_voice_config": {
            "speaker_voice_configs": [
                {
                    "speaker": "Joe",
                    "voice_config": {"prebuilt_voice_config": {"voice_name": "Puck"}},
                },
                {
                    "speaker": "Jane",
                    "voice_config": {"prebuilt_voice_config": {"voice_name": "Zephyr"}},
                },
            ]
        }
    }
    assert result.output_audio.mime_type == "audio/l16"
    assert base64.b64decode(result.output_audio.data) == b"\0\0" * 240


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        (
            {"model": "gemini-2.5-flash", "response_modalities": ["image"]},
            "model 'gemini-2.5-flash' cannot produce image output",
        ),
        (
            {"model": "gemini-2.5-flash-preview-tts", "response_modalities": ["text", "audio"]},
            "cannot produce text output",
        ),
        (
            {
                "model": "gemini-2.5-flash-preview-tts",
                "response_modalities": ["audio"],
                "generation_config": {"speech_config": [{"voice": "alloy"}]},
            },
            "speech_config[0].voice: model 'gemini/gemini-2.5-flash-preview-tts' has no voice",
        ),
        (
            {
                "model": "gemini-2.5-flash-preview-tts",
                "response_format": {"type": "audio", "mime_type": "audio/mp3"},
            },
            "response_format.mime_type",
        ),
    ],
)
def test_gemini_refusals(
    gemini_junction: Junction, gemini_fake: FakeGemini, body: dict[str, Any], needle: str
) -> None:
    response = _post(gemini_junction, {"input": "x", **body})
    assert response.status_code == 400, response.text
    assert needle in response.json()["error"]["message"]
    assert gemini_fake.requests == []


def test_model_table_override_and_alias(gemini_junction: Junction, fake_openai: FakeOpenAI) -> None:
    """An OpenAI-compatible server's image model is declared in junction.toml; an alias
    names it, and text is refused for it."""
    fake_openai.reset()
    refused = _post(
        gemini_junction, {"model": "painter", "input": "x", "response_modalities": ["text"]}
    )
    assert refused.status_code == 400
    assert "model 'painter' cannot produce text output" in refused.json()["error"]["message"]
    made = _post(gemini_junction, {"model": "painter", "input": "a kite"})
    assert made.status_code == 200, made.text
    assert made.json()["steps"][-1]["content"][0]["type"] == "image"
    assert [r.path for r in fake_openai.requests] == ["/v1/images/generations"]
    assert fake_openai.requests[0].body["model"] == "flux-dev"


def test_decision_probabilities_from_gemini_logprobs(
    gemini_junction: Junction, gemini_fake: FakeGemini
) -> None:
    gemini_fake.default = Reply(
        text="true", logprobs={"true": math.log(0.7), "false": math.log(0.25), "x": -5.0}
    )
    result = gemini_junction.client().decisions.create(
        model="gemini-2.5-flash",
        input="It rained all day.",
        questions={"wet": {"type": "noul", "instructions": "Was it wet?"}},
    )
    config = _config(gemini_fake)
    assert config["responseLogprobs"] is True and config["logprobs"] == 20
    assert config["temperature"] == 0.0 and config["maxOutputTokens"] == 16
    assert len(gemini_fake.requests) == 1  # no sampling needed
    p_true = 0.7 / 0.95
    assert result.answers["wet"].noul == pytest.approx(0.01 + 0.98 * p_true, abs=1e-4)


def test_decision_samples_gemini_without_logprobs(
    gemini_junction: Junction, gemini_fake: FakeGemini
) -> None:
    gemini_fake.default = Reply(text="false")  # the model returns no logprobsResult
    result = gemini_junction.client().decisions.create(
        model="gemini-2.5-flash",
        input="It was sunny.",
        questions={"wet": {"type": "noul", "instructions": "Was it wet?"}},
    )
    assert len(gemini_fake.requests) == 5
    assert result.answers["wet"].noul == pytest.approx(0.01)


def test_streamed_tts_chunks_become_one_clip(
    gemini_junction: Junction, gemini_fake: FakeGemini
) -> None:
    first, second = encode.tone_pcm("a", 0.25, 24000), encode.tone_pcm("b", 0.25, 24000)
    mime = "audio/L16;codec=pcm;rate=24000"
    gemini_fake.enqueue(Reply(text="", media=[(mime, first), (mime, second)]))
    events = list(
        gemini_junction.client().interactions.create(
            model="gemini-2.5-flash-preview-tts",
            input="Say a long sentence",
            response_modalities=["audio"],
            stream=True,
        )
    )
    audio = [e.delta for e in events if e.event_type == "step.delta" and e.delta.type == "audio"]
    assert len(audio) == 1
    with wave.open(io.BytesIO(base64.b64decode(audio[0].data))) as clip:
        assert clip.readframes(clip.getnframes()) == first + second
    done = gemini_junction.client().interactions.get(events[0].interaction.id)
    assert [c.type for c in done.steps[-1].content] == ["audio"]
    assert done.usage.model_extra["output_audio_seconds"] == pytest.approx(0.5)
