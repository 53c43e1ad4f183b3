"""``generation_config.transcription_config`` and ``video_config``: transcription through
OpenAI's ``/audio/transcriptions`` (multipart, asserted field by field), Gemini (the
instruction and the JSON schema it gets), the offline provider (deterministic); every
option a model cannot honour is a 400 naming the field and the model, written nowhere."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterator
from typing import Any

import httpx2 as httpx
import orjson
import pytest
from google import genai
from google.genai import _interactions_errors as gerr
from openai.types.audio import Transcription, TranscriptionDiarized, TranscriptionVerbose

from junction.config import load_settings
from junction.media import encode
from junction.testing.fake_gemini import FakeGemini
from junction.testing.fake_openai import FakeOpenAI
from junction.testing.fakeserver import Reply
from junction.testing.server import JunctionThread
from tests.api.hardening_support import new_project, project_rows
from tests.conftest import API_KEY, SECRET_KEY, Junction

WAV = encode.pcm_to_wav(b"\0\1" * 800, 16000)
AUDIO = {"type": "audio", "data": base64.b64encode(WAV).decode(), "mime_type": "audio/wav"}
SPOKEN = "Hello Junction. How are you?"


@pytest.fixture(scope="module")
def server(
    fake_openai: FakeOpenAI, gemini: FakeGemini, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Junction]:
    tmp = tmp_path_factory.mktemp("transcription")
    url = f"sqlite:///{tmp / 'junction.db'}"
    env = {
        "JUNCTION_API_KEY": API_KEY,
        "JUNCTION_SECRET_KEY": SECRET_KEY,
        "OPENAI_BASE_URL": fake_openai.url + "/v1",
        "OPENAI_API_KEY": "sk-fake",
        "GEMINI_API_KEY": "fake-gemini-key",
        "GEMINI_BASE_URL": gemini.url,
        # never called: every Anthropic request here is refused at create time
        "ANTHROPIC_API_KEY": "sk-ant-fake",
        "ANTHROPIC_BASE_URL": "http://127.0.0.1:9",
    }
    settings = load_settings(
        env=env,
        config_file=None,
        overrides={"database_url": url, "data_dir": tmp, "access_log": False},
    )
    thread = JunctionThread(settings).start()
    yield Junction(thread, "sqlite", url, API_KEY)
    thread.stop()


@pytest.fixture(scope="module")
def refused_project(server: Junction) -> tuple[str, str]:
    """A project for the refusals: each must leave its rows as they were."""
    return new_project(server, "transcribe-refusals")


@pytest.fixture
def client(server: Junction) -> genai.Client:
    return server.client()


def _words(step: Any) -> list[dict[str, Any]]:
    return [a.model_dump(exclude_none=True) for a in step.content[0].annotations or []]


def test_whisper_gets_language_vocabulary_and_word_timestamps(
    client: genai.Client, openai_fake: FakeOpenAI
) -> None:
    openai_fake.enqueue(Reply(text=SPOKEN))
    interaction = client.interactions.create(
        model="openai/whisper-1",
        input=[AUDIO],
        generation_config={
            "transcription_config": {
                "language_codes": ["en-US"],
                "custom_vocabulary": ["Junction", "SSRF"],
                "mode": {"type": "verbatim", "timestamp_granularities": ["word"]},
            }
        },
    )
    assert interaction.status == "completed"
    sent = openai_fake.requests[-1]
    assert sent.path == "/v1/audio/transcriptions"
    assert sent.body == {
        "file": {
            "filename": "audio.wav",
            "content_type": "audio/wav",
            "sha256": hashlib.sha256(WAV).hexdigest(),
            "size": len(WAV),
        },
        "model": "whisper-1",
        "language": "en",
        "prompt": "Vocabulary: Junction, SSRF.",
        "response_format": "verbose_json",
        "timestamp_granularities[]": ["word"],
    }
    assert interaction.output_text == SPOKEN
    words = _words(interaction.steps[-1])
    assert words[0] == {
        "type": "word_info",
        "text": "Hello",
        "start_offset": "0s",
        "end_offset": "0.4s",
        "start_index": 0,
        "end_index": 5,
    }
    assert [w["text"] for w in words] == ["Hello", "Junction", "How", "are", "you"]
    assert words[1]["start_offset"] == "0.5s" and words[1]["start_index"] == 6
    # the stored interaction keeps the annotations
    again = client.interactions.get(interaction.id)
    assert _words(again.steps[-1]) == words


def test_fake_transcription_payloads_match_the_openai_types(openai_fake: FakeOpenAI) -> None:
    for fmt, model in (
        ("json", Transcription),
        ("verbose_json", TranscriptionVerbose),
        ("diarized_json", TranscriptionDiarized),
    ):
        openai_fake.enqueue(Reply(text=SPOKEN))
        reply = httpx.post(
            f"{openai_fake.url}/v1/audio/transcriptions",
            files={"file": ("a.wav", WAV, "audio/wav")},
            data={"model": "m", "response_format": fmt, "timestamp_granularities[]": "word"},
        )
        parsed = model.model_validate(reply.json())
        assert parsed.text == SPOKEN


def test_diarize_model_labels_speakers(client: genai.Client, openai_fake: FakeOpenAI) -> None:
    openai_fake.enqueue(Reply(text=SPOKEN))
    interaction = client.interactions.create(
        model="openai/gpt-4o-transcribe-diarize",
        input=[AUDIO],
        generation_config={"transcription_config": {"diarization_mode": "speaker"}},
    )
    body = openai_fake.requests[-1].body
    assert body["response_format"] == "diarized_json"
    assert body["chunking_strategy"] == "auto"
    assert "prompt" not in body and "language" not in body
    assert _words(interaction.steps[-1]) == [
        {
            "type": "word_info",
            "text": "Hello Junction.",
            "speaker": "spk_1",
            "start_index": 0,
            "end_index": 15,
        },
        {
            "type": "word_info",
            "text": "How are you?",
            "speaker": "spk_2",
            "start_index": 16,
            "end_index": 28,
        },
    ]


def test_gpt_transcribe_takes_several_languages_and_keywords(
    client: genai.Client, openai_fake: FakeOpenAI
) -> None:
    openai_fake.enqueue(Reply(text="Hola"))
    interaction = client.interactions.create(
        model="openai/gpt-transcribe",
        input=[{"type": "text", "text": "ignored"}, AUDIO],
        generation_config={
            "transcription_config": {
                "language_codes": ["es-ES", "en"],
                "custom_vocabulary": ["Junction"],
            }
        },
    )
    body = openai_fake.requests[-1].body
    assert body["languages[]"] == ["es", "en"]
    assert body["keywords[]"] == ["Junction"]
    assert body["response_format"] == "json"
    assert interaction.output_text == "Hola"
    assert interaction.steps[-1].content[0].annotations is None


@pytest.mark.parametrize(
    ("model", "config", "needle"),
    [
        (
            "openai/gpt-4o-mini",
            {"mode": "verbatim"},
            "generation_config.transcription_config: model 'openai/gpt-4o-mini' does not "
            "transcribe audio",
        ),
        (
            "openai/gpt-4o-transcribe",
            {"timestamp_granularities": ["word"]},
            "transcription_config.timestamp_granularities: model 'openai/gpt-4o-transcribe' "
            "gives no word timestamps",
        ),
        (
            "openai/whisper-1",
            {"diarization_mode": "speaker"},
            "transcription_config.diarization_mode: model 'openai/whisper-1' does not label",
        ),
        (
            "openai/whisper-1",
            {"language_codes": ["en", "fr"]},
            "transcription_config.language_codes: model 'openai/whisper-1' takes one language",
        ),
        (
            "openai/whisper-1",
            {"mode": {"type": "smart", "source_text": "x"}},
            "transcription_config.mode: model 'openai/whisper-1' transcribes verbatim only",
        ),
        (
            "anthropic/claude-sonnet-4-5",
            {},
            "model 'anthropic/claude-sonnet-4-5' does not transcribe audio",
        ),
        ("offline/echo", {"diarization": True}, "transcription_config.diarization is not"),
        ("offline/echo", {"mode": "loud"}, "transcription_config.mode must be 'verbatim'"),
        ("offline/echo", {"language_codes": ["english!"]}, "is not a BCP-47 language code"),
        (
            "offline/echo",
            {"custom_vocabulary": [f"term{n}" for n in range(101)]},
            "hold 101 terms, more than 100",
        ),
        (
            "offline/echo",
            {"mode": "smart", "timestamp_granularities": ["word"]},
            "describe a verbatim transcript",
        ),
    ],
)
def test_what_a_model_cannot_honour_is_a_400_that_writes_nothing(
    server: Junction,
    refused_project: tuple[str, str],
    openai_fake: FakeOpenAI,
    model: str,
    config: dict[str, Any],
    needle: str,
) -> None:
    key, project_id = refused_project
    before = project_rows(server, project_id)
    with pytest.raises(gerr.BadRequestError) as info:
        server.client(key).interactions.create(
            model=model,
            background=True,
            input=[AUDIO],
            generation_config={"transcription_config": config},
        )
    assert needle in str(info.value)
    assert project_rows(server, project_id) == before
    assert openai_fake.requests == []


def test_transcription_needs_audio_and_no_tools(client: genai.Client) -> None:
    with pytest.raises(gerr.BadRequestError) as info:
        client.interactions.create(
            model="offline/echo",
            input="no audio here",
            generation_config={"transcription_config": {}},
        )
    assert "the latest input holds no audio item to transcribe" in str(info.value)
    with pytest.raises(gerr.BadRequestError) as info:
        client.interactions.create(
            model="openai/whisper-1",
            input=[AUDIO],
            tools=[{"type": "function", "name": "f"}],
        )
    assert "model: model 'openai/whisper-1' transcribes audio and calls no tools" in str(info.value)


def test_gemini_gets_the_instruction_and_a_word_schema(
    client: genai.Client, gemini: FakeGemini
) -> None:
    gemini.reset()
    words = [
        {"text": "Hallo", "start": 0.0, "end": 0.5, "speaker": "A"},
        {"text": "Welt", "start": 0.5, "end": 1.25, "speaker": "B"},
    ]
    gemini.enqueue(Reply(text=orjson.dumps({"words": words}).decode()))
    interaction = client.interactions.create(
        model="gemini/gemini-2.5-flash",
        input=[AUDIO],
        generation_config={
            "transcription_config": {
                "language_codes": ["de-DE"],
                "custom_vocabulary": ["Welt"],
                "mode": {
                    "type": "verbatim",
                    "diarization_mode": "speaker",
                    "timestamp_granularities": ["word"],
                },
            }
        },
    )
    body = gemini.requests[-1].body
    parts = body["contents"][-1]["parts"]
    instruction = parts[0]["text"]
    assert instruction.startswith("Transcribe the speech in the audio verbatim")
    assert "The speech is in de-DE." in instruction
    assert "spell them so: Welt." in instruction
    assert "inlineData" in parts[1]
    config = body["generationConfig"]
    assert config["responseMimeType"] == "application/json"
    item = config["responseJsonSchema"]["properties"]["words"]["items"]
    assert item["required"] == ["end", "speaker", "start", "text"]
    assert interaction.output_text == "Hallo Welt"
    assert _words(interaction.steps[-1]) == [
        {
            "type": "word_info",
            "text": "Hallo",
            "start_offset": "0s",
            "end_offset": "0.5s",
            "speaker": "spk_1",
            "start_index": 0,
            "end_index": 5,
        },
        {
            "type": "word_info",
            "text": "Welt",
            "start_offset": "0.5s",
            "end_offset": "1.25s",
            "speaker": "spk_2",
            "start_index": 6,
            "end_index": 10,
        },
    ]


def test_gemini_smart_mode_edits_the_source_text(client: genai.Client, gemini: FakeGemini) -> None:
    gemini.reset()
    gemini.enqueue(Reply(text="Dear Ann, see you at noon."))
    interaction = client.interactions.create(
        model="gemini/gemini-2.5-flash",
        input=[AUDIO],
        generation_config={
            "transcription_config": {"mode": {"type": "smart", "source_text": "Dear Ann"}}
        },
    )
    body = gemini.requests[-1].body
    instruction = body["contents"][-1]["parts"][0]["text"]
    assert instruction.startswith("The audio holds spoken instructions for editing")
    assert instruction.endswith("Text:\nDear Ann")
    assert "responseJsonSchema" not in body.get("generationConfig", {})
    assert interaction.output_text == "Dear Ann, see you at noon."


def test_offline_hears_what_it_spoke(client: genai.Client) -> None:
    spoken = client.interactions.create(
        model="offline/speech", input="um the Junction server works", response_modalities=["audio"]
    )
    clip = spoken.output_audio
    assert clip is not None and clip.data
    heard = client.interactions.create(
        model="offline/transcribe",
        input=[{"type": "audio", "data": clip.data, "mime_type": "audio/wav"}],
        generation_config={
            "transcription_config": {
                "custom_vocabulary": ["JUNCTION"],
                "timestamp_granularities": ["word"],
            }
        },
    )
    assert heard.output_text == "um the JUNCTION server works"
    words = _words(heard.steps[-1])
    assert [w["text"] for w in words] == ["um", "the", "JUNCTION", "server", "works"]
    assert words[0]["start_offset"] == "0s"
    assert words[-1]["end_offset"] == "1.5s"  # 0.3 s per spoken word
    smart = client.interactions.create(
        model="offline/echo",
        input=[{"type": "audio", "data": clip.data, "mime_type": "audio/wav"}],
        generation_config={"transcription_config": {"mode": "smart"}},
    )
    assert smart.output_text == "The Junction server works."


def test_streamed_transcript_carries_annotation_deltas(client: genai.Client) -> None:
    events = list(
        client.interactions.create(
            model="offline/transcribe",
            input=[AUDIO],
            stream=True,
            generation_config={"transcription_config": {"diarization_mode": "speaker"}},
        )
    )
    deltas = [e.delta for e in events if e.event_type == "step.delta"]
    kinds = [d.type for d in deltas]
    assert "text" in kinds and kinds[-1] == "text_annotation_delta"
    annotations = deltas[-1].annotations
    assert annotations and all(a.type == "word_info" and a.speaker == "spk_1" for a in annotations)
    final = [e for e in events if e.event_type == "interaction.completed"][-1]
    text = "".join(d.text for d in deltas if d.type == "text")
    assert text == f"audio {hashlib.sha256(WAV).hexdigest()[:8]} 0.05 s"
    assert final.interaction.status == "completed"


def test_video_config_is_a_400_naming_field_and_model(junction: Junction) -> None:
    key, project_id = new_project(junction, "video-config")
    before = project_rows(junction, project_id)
    with pytest.raises(gerr.BadRequestError) as info:
        junction.client(key).interactions.create(
            model="offline/echo",
            input="a cat",
            background=True,
            generation_config={"video_config": {"task": "text_to_video"}},
        )
    assert "generation_config.video_config: model 'offline/echo' does not generate video" in str(
        info.value
    )
    assert project_rows(junction, project_id) == before
