"""Media that streams from the provider: OpenAI text-to-speech (a chunked body) and
Gemini speech as raw PCM (``streamGenerateContent`` parts) reach an SDK client as several
``audio`` deltas before the step ends; the stored blob is their concatenation, written
as it arrived (hashed on the way, deduplicated after), and a replay of the stored stream
carries the clip once, whole."""

from __future__ import annotations

import asyncio
import base64
import os
import secrets
import time
from pathlib import Path

import httpx2 as httpx
import orjson
from openai.types import ImageGenCompletedEvent, ImageGenPartialImageEvent
from openai.types.image_generate_params import ImageGenerateParamsStreaming
from pydantic import TypeAdapter

from junction.media import encode
from junction.media.base import content_digest
from junction.media.filesystem import FilesystemBlobStore
from junction.media.stream import Parts
from junction.testing.fake_gemini import FakeGemini
from junction.testing.fake_openai import FakeOpenAI
from junction.testing.fakeserver import Reply
from tests.conftest import Junction


def _audio_deltas(events: list[object]) -> tuple[list[bytes], list[str]]:
    """The decoded audio deltas, and the event types in order."""
    chunks = [
        base64.b64decode(e.delta.data)  # type: ignore[attr-defined]
        for e in events
        if e.event_type == "step.delta" and e.delta.type == "audio"  # type: ignore[attr-defined]
    ]
    return chunks, [e.event_type for e in events]  # type: ignore[attr-defined]


def _blob(junction: Junction, data: bytes) -> Path:
    digest = content_digest(data)
    return Path(junction.thread.settings.data_dir) / "media" / digest[:2] / digest


def test_openai_speech_streams_in_chunks(junction: Junction, openai_fake: FakeOpenAI) -> None:
    openai_fake.speech_seconds = 3.0  # 144 KB of WAV, sent in 16 KiB pieces
    openai_fake.speech_pause = 0.01
    client = junction.client()
    events = list(
        client.interactions.create(
            model="openai/tts-1",
            input="A long story",
            response_modalities=["audio"],
            generation_config={"speech_config": [{"voice": "nova"}]},
            stream=True,
        )
    )
    chunks, kinds = _audio_deltas(events)
    assert len(chunks) > 2, len(chunks)
    # every chunk arrived as a delta before the step (and the interaction) ended
    last_delta = max(i for i, k in enumerate(kinds) if k == "step.delta")
    assert kinds.index("step.stop") > last_delta
    whole = b"".join(chunks)
    expected = encode.pcm_to_wav(encode.tone_pcm("nova|None|None", 3.0, 24000), 24000)
    assert whole == expected
    blob = _blob(junction, whole)
    assert blob.read_bytes() == whole  # the stored blob is the concatenation
    assert not any((blob.parent.parent / ".incoming").iterdir())
    interaction_id = events[0].interaction.id  # type: ignore[attr-defined]
    done = client.interactions.get(interaction_id)
    assert base64.b64decode(done.output_audio.data) == whole
    assert done.output_audio.sample_rate == 24000
    assert done.usage.model_extra["output_audio_seconds"] == 3.0
    # a replay of the stored stream carries the clip once, whole
    replayed, _ = _audio_deltas(list(client.interactions.get(interaction_id, stream=True)))
    assert replayed == [whole]


def test_same_speech_twice_is_stored_once(junction: Junction, openai_fake: FakeOpenAI) -> None:
    client = junction.client()
    answers = [
        client.interactions.create(
            model="openai/tts-1", input="Same words", response_modalities=["audio"]
        )
        for _ in range(2)
    ]
    data = [base64.b64decode(a.output_audio.data) for a in answers]
    assert data[0] == data[1]
    blob = _blob(junction, data[0])
    assert [p.name for p in blob.parent.iterdir() if p.name == blob.name] == [blob.name]
    client.interactions.delete(answers[0].id)
    assert blob.exists()  # the other interaction still references it
    client.interactions.delete(answers[1].id)
    assert not blob.exists()


def test_gemini_raw_speech_streams_part_by_part(
    gemini_junction: Junction, gemini_fake: FakeGemini
) -> None:
    mime = "audio/L16;codec=pcm;rate=24000"
    parts = [encode.tone_pcm(seed, 0.25, 24000) for seed in "abc"]
    gemini_fake.enqueue(Reply(text="", media=[(mime, p) for p in parts]))
    client = gemini_junction.client()
    events = list(
        client.interactions.create(
            model="gemini-2.5-flash-preview-tts",
            input="Say three things",
            response_format={"type": "audio", "mime_type": "audio/l16"},
            stream=True,
        )
    )
    chunks, _ = _audio_deltas(events)
    assert chunks == parts
    assert _blob(gemini_junction, b"".join(parts)).read_bytes() == b"".join(parts)
    done = client.interactions.get(events[0].interaction.id)  # type: ignore[attr-defined]
    assert done.output_audio.mime_type == "audio/l16"
    assert done.usage.model_extra["output_audio_seconds"] == 0.75


def test_blob_writer_hashes_dedups_and_aborts(tmp_path: Path) -> None:
    asyncio.run(_writer(tmp_path))


async def _writer(tmp_path: Path) -> None:
    store = FilesystemBlobStore(tmp_path / "media")
    parts = Parts(store)
    data = secrets.token_bytes(100_000)
    digests = []
    for _ in range(2):
        upload = await parts.begin()
        refs = [await upload.write(data[i : i + 30_000]) for i in range(0, len(data), 30_000)]
        assert refs[1] == f"junction-media-part:{upload.token}:30000:30000"
        # a chunk is readable while the blob is written, and after
        assert await parts.read(upload.token, 30_000, 30_000) == data[30_000:60_000]
        upload.digest = await upload.writer.commit()
        digests.append(upload.digest)
        assert await parts.read(upload.token, 90_000, 30_000) == data[90_000:]
    assert digests == [content_digest(data)] * 2
    assert await store.get(digests[0]) == data
    assert not any((tmp_path / "media" / ".incoming").iterdir())
    failed = await parts.begin()
    await failed.write(b"half")
    await failed.writer.abort()
    assert not any((tmp_path / "media" / ".incoming").iterdir())
    assert await parts.read("0" * 32, 0, 1) is None


GENERATE_STREAMING = TypeAdapter(ImageGenerateParamsStreaming)


def _image_deltas(events: list[object]) -> list[str]:
    return [
        e.delta.data  # type: ignore[attr-defined]
        for e in events
        if e.event_type == "step.delta" and e.delta.type == "image"  # type: ignore[attr-defined]
    ]


def test_fake_image_stream_events_are_valid_openai_types(
    junction: Junction, openai_fake: FakeOpenAI
) -> None:
    body = {"model": "gpt-image-1", "prompt": "p", "stream": True, "partial_images": 2}
    with httpx.stream("POST", f"{openai_fake.url}/v1/images/generations", json=body) as answer:
        lines = [line for line in answer.iter_lines() if line.startswith("data: ")]
    events = [orjson.loads(line[6:]) for line in lines]
    for event in events[:-1]:
        ImageGenPartialImageEvent.model_validate(event)
    ImageGenCompletedEvent.model_validate(events[-1])
    assert [e["type"] for e in events] == ["image_generation.partial_image"] * 2 + [
        "image_generation.completed"
    ]


def test_streamed_image_shows_partial_images_first(
    junction: Junction, openai_fake: FakeOpenAI
) -> None:
    client = junction.client()
    events = list(
        client.interactions.create(
            model="openai/gpt-image-1",
            input="a kite over the sea",
            response_modalities=["image"],
            stream=True,
        )
    )
    body = openai_fake.requests[0].body
    assert body["stream"] is True and body["partial_images"] == 2
    GENERATE_STREAMING.validate_python(body)
    images = _image_deltas(events)
    assert len(images) == 3  # two previews, then the image
    previews = [encode.pattern_png(f"a kite over the sea|partial{i}", 16, 16) for i in (0, 1)]
    assert [base64.b64decode(i) for i in images[:2]] == previews
    done = client.interactions.get(events[0].interaction.id)  # type: ignore[attr-defined]
    assert done.output_image.data == images[2]
    assert [c.type for c in done.steps[-1].content] == ["image"]
    assert done.usage.model_extra["output_images"] == 1
    # previews are not stored: a replay shows the image once
    interaction_id = events[0].interaction.id  # type: ignore[attr-defined]
    assert _image_deltas(list(client.interactions.get(interaction_id, stream=True))) == images[2:]


def test_streamed_edit_asks_for_partial_images(junction: Junction, openai_fake: FakeOpenAI) -> None:
    source = encode.pattern_png("source", 8, 8)
    events = list(
        junction.client().interactions.create(
            model="openai/gpt-image-1",
            input=[
                {"type": "text", "text": "add a hat"},
                {
                    "type": "image",
                    "data": base64.b64encode(source).decode(),
                    "mime_type": "image/png",
                },
            ],
            response_modalities=["image"],
            stream=True,
        )
    )
    body = openai_fake.requests[0].body
    assert openai_fake.requests[0].path == "/v1/images/edits"
    assert body["stream"] == "true" and body["partial_images"] == "2"
    assert len(_image_deltas(events)) == 3


def test_unfinished_streamed_blobs_are_swept(tmp_path: Path) -> None:
    store = FilesystemBlobStore(tmp_path / "media")
    assert store.sweep_incoming() == 0  # nothing streamed yet: no folder
    incoming = tmp_path / "media" / ".incoming"
    incoming.mkdir(parents=True)
    old, fresh = incoming / "old", incoming / "fresh"
    old.write_bytes(b"left by a process that died")
    fresh.write_bytes(b"being written")
    os.utime(old, (time.time() - 2 * 86400, time.time() - 2 * 86400))
    assert store.sweep_incoming() == 1
    assert not old.exists() and fresh.exists()
