"""Image and speech output on the offline provider, end to end through the SDK."""

from __future__ import annotations

import base64
import hashlib
import io
import time
import wave
from pathlib import Path

import httpx2 as httpx
import pytest
from google import genai
from google.genai import _interactions_errors as gerr
from PIL import Image

from junction.media.base import content_digest
from tests.conftest import Junction


def _png(data: str | bytes) -> Image.Image:
    raw = base64.b64decode(data) if isinstance(data, str) else data
    image = Image.open(io.BytesIO(raw))
    image.load()
    return image


def _blobs(junction: Junction) -> list[Path]:
    root = junction.thread.settings.data_dir / "media"
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


def _count(junction: Junction) -> int:
    listed = httpx.get(
        f"{junction.url}/v1beta/interactions?page_size=1000",
        headers={"x-goog-api-key": junction.api_key},
    ).json()
    return len(listed.get("interactions") or [])


def test_image_output_is_a_png_pillow_decodes(client: genai.Client) -> None:
    result = client.interactions.create(
        model="offline/image", input="a red fox in the snow", response_modalities=["image"]
    )
    assert result.status == "completed"
    step = result.steps[-1]
    assert step.type == "model_output"
    assert [c.type for c in step.content] == ["image"]  # image only: no text
    image = result.output_image
    assert image is not None and image.mime_type == "image/png"
    picture = _png(image.data)
    assert picture.format == "PNG" and picture.size == (64, 64)
    assert result.usage.model_extra["output_images"] == 1
    again = client.interactions.create(
        model="offline/image", input="a red fox in the snow", response_modalities=["image"]
    )
    assert again.output_image.data == image.data  # deterministic
    other = client.interactions.create(
        model="offline/image", input="a blue whale", response_modalities=["image"]
    )
    assert other.output_image.data != image.data


def test_image_config_sets_shape_and_size(client: genai.Client) -> None:
    wide = client.interactions.create(
        model="offline/image",
        input="a skyline",
        response_modalities=["image"],
        generation_config={"image_config": {"aspect_ratio": "16:9", "image_size": "2K"}},
    )
    assert _png(wide.output_image.data).size == (128, 72)
    tall = client.interactions.create(
        model="offline/image",
        input="a tower",
        response_format={"type": "image", "aspect_ratio": "9:16", "image_size": "512"},
    )
    assert _png(tall.output_image.data).size == (18, 32)


def test_text_and_image_together(client: genai.Client) -> None:
    result = client.interactions.create(
        model="offline/image", input="a cat", response_modalities=["text", "image"]
    )
    kinds = [c.type for c in result.steps[-1].content]
    assert kinds == ["text", "image"]
    assert result.output_text == "a cat; image 64x64"


def test_speech_output_is_a_wav_the_wave_module_parses(client: genai.Client) -> None:
    result = client.interactions.create(
        model="offline/speech",
        input="hello there general kenobi",
        response_modalities=["audio"],
        generation_config={"speech_config": [{"voice": "Kore", "language": "en-US"}]},
    )
    audio = result.output_audio
    assert audio is not None and audio.mime_type == "audio/wav"
    assert audio.sample_rate == 24000 and audio.channels == 1
    with wave.open(io.BytesIO(base64.b64decode(audio.data))) as clip:
        assert clip.getnchannels() == 1 and clip.getsampwidth() == 2
        assert clip.getframerate() == 24000
        seconds = clip.getnframes() / clip.getframerate()
    assert seconds == pytest.approx(1.2)
    assert result.usage.model_extra["output_audio_seconds"] == pytest.approx(1.2)
    other_voice = client.interactions.create(
        model="offline/speech",
        input="hello there general kenobi",
        response_modalities=["audio"],
        generation_config={"speech_config": [{"voice": "Puck"}]},
    )
    assert other_voice.output_audio.data != audio.data


def test_audio_sample_rate_from_response_format(client: genai.Client) -> None:
    result = client.interactions.create(
        model="offline/speech",
        input="one two",
        response_format={"type": "audio", "mime_type": "audio/wav", "sample_rate": 16000},
    )
    with wave.open(io.BytesIO(base64.b64decode(result.output_audio.data))) as clip:
        assert clip.getframerate() == 16000


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        (
            {"model": "openai/gpt-4.1-mini", "response_modalities": ["image"]},
            "model 'openai/gpt-4.1-mini' cannot produce image output",
        ),
        (
            {"model": "house-model", "response_modalities": ["audio"]},
            "model 'house-model' cannot produce audio output",
        ),
        (
            {"model": "openai/tts-1", "response_modalities": ["text", "audio"]},
            "model 'openai/tts-1' cannot produce text output",
        ),
        (
            {"model": "offline/speech", "response_modalities": ["image"]},
            "cannot produce image output",
        ),
        ({"model": "offline/echo", "response_modalities": ["video"]}, "video output"),
        ({"model": "offline/echo", "response_modalities": ["smell"]}, "response_modalities[0]"),
        (
            {
                "model": "offline/image",
                "response_format": {"type": "image", "mime_type": "image/jpeg"},
            },
            "response_format.mime_type",
        ),
        (
            {
                "model": "offline/image",
                "response_modalities": ["image"],
                "generation_config": {"image_config": {"aspect_ratio": "7:5"}},
            },
            "generation_config.image_config.aspect_ratio",
        ),
        (
            {
                "model": "offline/speech",
                "response_modalities": ["audio"],
                "generation_config": {"speech_config": [{"voice": "a"}, {"voice": "b"}]},
            },
            "name the 'speaker' of each",
        ),
        (
            {
                "model": "offline/image",
                "response_modalities": ["image"],
                "generation_config": {"image_config": {"number_of_images": 2}},
            },
            "generation_config.image_config.number_of_images is not supported",
        ),
        (
            {"model": "offline/speech", "response_format": {"type": "audio", "bit_rate": 64000}},
            "response_format.bit_rate",
        ),
        (
            {"model": "offline/image", "response_format": {"type": "image", "quality": "hd"}},
            "response_format.quality is not supported",
        ),
        (
            {
                "model": "offline/speech",
                "response_modalities": ["audio"],
                "generation_config": {"speech_config": [{"voice": "Kore", "pitch": 3}]},
            },
            "speech_config[0].pitch is not supported",
        ),
    ],
)
def test_refusals_name_the_model_and_modality(
    junction: Junction, body: dict[str, object], needle: str
) -> None:
    before = _count(junction)
    response = httpx.post(
        f"{junction.url}/v1beta/interactions",
        json={"input": "draw me something", **body},
        headers={"x-goog-api-key": junction.api_key},
    )
    assert response.status_code == 400, response.text
    assert needle in response.json()["error"]["message"]
    assert _count(junction) == before


def test_refusal_through_the_sdk(client: genai.Client) -> None:
    with pytest.raises(gerr.BadRequestError, match="cannot produce image output"):
        client.interactions.create(
            model="openai/gpt-4.1-mini", input="draw", response_modalities=["image"]
        )


def test_streamed_image_arrives_as_a_step_delta(client: genai.Client) -> None:
    events = list(
        client.interactions.create(
            model="offline/image",
            input="a lighthouse",
            response_modalities=["text", "image"],
            stream=True,
        )
    )
    deltas = [e.delta for e in events if e.event_type == "step.delta"]
    images = [d for d in deltas if d.type == "image"]
    assert len(images) == 1 and images[0].mime_type == "image/png"
    assert _png(images[0].data).size == (64, 64)
    texts = "".join(d.text for d in deltas if d.type == "text")
    assert texts == "a lighthouse; image 64x64"
    final = client.interactions.get(events[0].interaction.id)
    assert final.output_image.data == images[0].data
    replay = [
        e.delta
        for e in client.interactions.get(final.id, stream=True)
        if e.event_type == "step.delta" and e.delta.type == "image"
    ]
    assert replay[0].data == images[0].data


def test_multi_turn_image_editing(client: genai.Client) -> None:
    first = client.interactions.create(
        model="offline/image", input="a house", response_modalities=["text", "image"]
    )
    original = base64.b64decode(first.output_image.data)
    edit = client.interactions.create(
        model="offline/image",
        input="make the roof red",
        previous_interaction_id=first.id,
        response_modalities=["text", "image"],
    )
    digest = hashlib.sha256(original).hexdigest()[:12]
    assert edit.output_text == f"make the roof red; image 64x64 editing image {digest}"
    assert edit.output_image.data != first.output_image.data
    assert _png(edit.output_image.data).size == (64, 64)


def test_media_is_stored_outside_the_rows_deduplicated_and_deleted(
    junction: Junction, client: genai.Client
) -> None:
    prompt = f"a unique teapot {junction.backend}"
    first = client.interactions.create(
        model="offline/image", input=prompt, response_modalities=["image"]
    )
    second = client.interactions.create(
        model="offline/image", input=prompt, response_modalities=["image"]
    )
    raw = base64.b64decode(first.output_image.data)
    digest = content_digest(raw)
    blob = junction.thread.settings.data_dir / "media" / digest[:2] / digest
    assert blob.read_bytes() == raw
    assert [p for p in _blobs(junction) if p.name == digest] == [blob]  # one copy
    # the rows hold a reference, not the bytes
    served = httpx.get(
        f"{junction.url}/v1beta/media/{digest}", headers={"x-goog-api-key": junction.api_key}
    )
    assert served.status_code == 200 and served.content == raw
    assert served.headers["content-type"] == "image/png"
    assert served.headers["x-content-type-options"] == "nosniff"
    by_uri = httpx.post(
        f"{junction.url}/v1beta/interactions",
        json={
            "model": "offline/image",
            "input": prompt,
            "response_format": {"type": "image", "delivery": "uri"},
        },
        headers={"x-goog-api-key": junction.api_key},
    ).json()
    item = by_uri["steps"][-1]["content"][0]
    assert "data" not in item and item["uri"].endswith(f"/v1beta/media/{digest}")
    client.interactions.delete(first.id)
    assert blob.exists()  # still shown by the others
    client.interactions.delete(second.id)
    assert blob.exists()
    client.interactions.delete(by_uri["id"])
    assert not blob.exists()
    gone = httpx.get(
        f"{junction.url}/v1beta/media/{digest}", headers={"x-goog-api-key": junction.api_key}
    )
    assert gone.status_code == 404


def test_media_refs_in_input_are_refused(junction: Junction) -> None:
    response = httpx.post(
        f"{junction.url}/v1beta/interactions",
        json={
            "model": "offline/echo",
            "input": [{"type": "image", "uri": "junction-media:" + "a" * 64}],
        },
        headers={"x-goog-api-key": junction.api_key},
    )
    assert response.status_code == 400
    assert "junction-media" in response.json()["error"]["message"]


def test_store_false_keeps_media_inline(junction: Junction, client: genai.Client) -> None:
    before = _blobs(junction)
    result = client.interactions.create(
        model="offline/image", input="an ephemeral kite", response_modalities=["image"], store=False
    )
    assert _png(result.output_image.data).size == (64, 64)
    assert _blobs(junction) == before


def test_background_image_run(client: genai.Client) -> None:
    started = client.interactions.create(
        model="offline/image", input="a windmill", response_modalities=["image"], background=True
    )
    for _ in range(200):
        done = client.interactions.get(started.id)
        if done.status not in ("queued", "in_progress"):
            break
        time.sleep(0.05)
    assert done.status == "completed", done.errors
    assert _png(done.output_image.data).size == (64, 64)


def test_media_only_models_take_no_tools(junction: Junction) -> None:
    response = httpx.post(
        f"{junction.url}/v1beta/interactions",
        json={
            "model": "openai/gpt-image-1",
            "input": "draw",
            "tools": [{"type": "function", "name": "f", "parameters": {"type": "object"}}],
        },
        headers={"x-goog-api-key": junction.api_key},
    )
    assert response.status_code == 400
    assert "calls no tools" in response.json()["error"]["message"]


@pytest.mark.parametrize(
    ("config", "says"),
    [
        ({"image_config": {"aspect_ratio": "16:9"}}, "generation_config.image_config"),
        ({"speech_config": [{"voice": "Kore"}]}, "generation_config.speech_config"),
    ],
)
def test_media_options_on_a_text_answer_are_refused(
    junction: Junction, config: dict[str, object], says: str
) -> None:
    before = _count(junction)
    response = httpx.post(
        f"{junction.url}/v1beta/interactions",
        headers={"x-goog-api-key": junction.api_key},
        json={"model": "offline/echo", "input": "hello", "generation_config": config},
    )
    assert response.status_code == 400, response.text
    message = response.json()["error"]["message"]
    assert says in message and "offline/echo" in message and "no effect" in message
    assert _count(junction) == before
