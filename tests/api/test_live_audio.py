"""Live mode with audio, through ``client.aio.interactions.connect``, against fake OpenAI
Realtime and Gemini Live servers on loopback (checked against ``openai.types.realtime``
and ``google.genai.types`` live messages): audio in → speech and transcript out, a
function call in an audio session, disconnect and resume, the error frame for a model
without a realtime API, and the SSRF check of the realtime connection."""

from __future__ import annotations

import asyncio
import io
import wave
from base64 import b64decode, b64encode
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from google import genai
from google.genai import types as gtypes
from openai.types.realtime import RealtimeClientEvent, RealtimeServerEvent
from pydantic import TypeAdapter

from junction.config import load_settings
from junction.media.encode import pcm_to_wav, tone_pcm
from junction.realtime.audio import resample
from junction.testing.fake_openai import FakeOpenAI
from junction.testing.fake_realtime import Connection, FakeRealtime, speech
from junction.testing.fakeserver import Reply
from junction.testing.server import JunctionThread
from tests.api.test_live import WEATHER, _get, _quiet_experimental_warning, _text, _turn
from tests.conftest import API_KEY, SECRET_KEY, Junction

__all__ = ["_quiet_experimental_warning"]

OPENAI_MODEL = "openai/gpt-realtime"
GEMINI_MODEL = "gemini-2.5-flash-native-audio-preview-09-2025"
MODELS = {"openai": OPENAI_MODEL, "gemini": GEMINI_MODEL}
#: what the client says: 0.2 s of 16 kHz speech, as WAV
SPOKEN = tone_pcm("what is the weather", 0.2, 16000)
AUDIO_IN = {
    "type": "audio",
    "mime_type": "audio/wav",
    "data": b64encode(pcm_to_wav(SPOKEN, 16000)).decode(),
}
_OPENAI_CLIENT: TypeAdapter[Any] = TypeAdapter(RealtimeClientEvent)
_OPENAI_SERVER: TypeAdapter[Any] = TypeAdapter(RealtimeServerEvent)


@pytest.fixture(scope="module")
def realtime_server() -> Iterator[FakeRealtime]:
    fake = FakeRealtime().start()
    yield fake
    fake.stop()


@pytest.fixture
def realtime(realtime_server: FakeRealtime) -> FakeRealtime:
    realtime_server.reset()
    return realtime_server


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def voice_junction(
    request: pytest.FixtureRequest,
    realtime_server: FakeRealtime,
    fake_openai: FakeOpenAI,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Junction]:
    """A server whose ``openai`` and ``gemini`` providers reach the fake realtime APIs
    (allowed to: they are on loopback); ``strict`` reaches the same fake without that."""
    tmp = tmp_path_factory.mktemp("live-audio-" + request.param)
    url = (
        f"sqlite:///{tmp / 'junction.db'}"
        if request.param == "sqlite"
        else request.getfixturevalue("pg_url")
    )
    config = tmp / "junction.toml"
    config.write_text(
        f"""
[server]
provider_backoff_base = 0.05

[providers.openai]
realtime_allow_private = true

[providers.gemini]
realtime_allow_private = true

[providers.strict]
type = "openai"
base_url = "{realtime_server.url}/v1"
api_key = "sk-strict"
"""
    )
    env = {
        "JUNCTION_API_KEY": API_KEY,
        "JUNCTION_SECRET_KEY": SECRET_KEY,
        "OPENAI_BASE_URL": realtime_server.url + "/v1",
        "OPENAI_API_KEY": "sk-realtime",
        "GEMINI_BASE_URL": realtime_server.url,
        "GEMINI_API_KEY": "gemini-live-key",
    }
    settings = load_settings(
        env=env,
        config_file=config,
        overrides={"database_url": url, "data_dir": tmp, "access_log": False},
    )
    thread = JunctionThread(settings).start()
    yield Junction(thread, request.param, url, API_KEY)
    thread.stop()


def _audio(events: list[Any]) -> bytes:
    """The PCM of the audio deltas, checked to be 24 kHz mono l16."""
    out = b""
    for event in events:
        delta = _get(event, "delta")
        if _get(event, "event_type") == "step.delta" and delta.type == "audio":
            assert (delta.mime_type, delta.sample_rate, delta.channels) == ("audio/l16", 24000, 1)
            out += b64decode(delta.data)
    return out


def _wav_frames(data: str) -> tuple[int, bytes]:
    with wave.open(io.BytesIO(b64decode(data))) as clip:
        return clip.getframerate(), clip.readframes(clip.getnframes())


def _checked(conn: Connection, dialect: str) -> list[dict[str, Any]]:
    """The connection's messages, each valid in the vendor's own types; those the client
    sent are returned."""
    if dialect == "openai":
        for message in conn.received:
            _OPENAI_CLIENT.validate_python(message)
        for message in conn.sent:
            _OPENAI_SERVER.validate_python(message)
    else:
        for message in conn.received:
            setup = message.get("setup")
            if isinstance(setup, dict) and "realtimeInputConfig" in setup:
                # The SDK's own converter (LiveConnectConfig → mldev) sends it here,
                # though LiveClientSetup does not model it.
                setup = dict(setup)
                config = setup.pop("realtimeInputConfig")
                gtypes.RealtimeInputConfig.model_validate_json(orjson.dumps(config))
                message = {**message, "setup": setup}
            gtypes.LiveClientMessage.model_validate_json(orjson.dumps(message))
        for message in conn.sent:
            gtypes.LiveServerMessage.model_validate_json(orjson.dumps(message))
    return conn.received


def _start(client: genai.Client, dialect: str, realtime: FakeRealtime, **kw: Any) -> str:
    """A first (text) turn on the realtime model, over HTTP."""
    realtime.enqueue(Reply(text="Hello, how can I help?"))
    first = client.interactions.create(model=MODELS[dialect], input="hello", **kw)
    assert first.status == "completed" and first.output_text == "Hello, how can I help?"
    return first.id


@pytest.mark.parametrize("dialect", ["openai", "gemini"])
def test_audio_in_speech_and_transcript_out(
    voice_junction: Junction, realtime: FakeRealtime, dialect: str
) -> None:
    client = voice_junction.client()
    first = _start(client, dialect, realtime)
    reply = Reply(text="It is sunny in Paris.")
    realtime.enqueue(reply)

    async def session() -> list[Any]:
        async with client.aio.interactions.connect(first) as live:
            await live.send({"event_type": "input", "content": [AUDIO_IN]})
            return await _turn(live)

    events = asyncio.run(session())
    spoken = b"".join(speech(reply))
    assert _text(events) == "It is sunny in Paris."
    assert _audio(events) == spoken
    assert _get(events[-1], "status") == "idle"

    # Stored: the audio input, then one model_output with the transcript and the clip.
    turn = _get(
        next(e for e in events if _get(e, "event_type") == "interaction.created"), "interaction_id"
    )
    stored = client.interactions.get(turn)
    assert stored.status == "completed" and stored.previous_interaction_id == first
    assert [s.type for s in stored.steps] == ["user_input", "model_output"]
    content = stored.steps[1].content
    assert [c.type for c in content] == ["text", "audio"]
    assert content[0].text == "It is sunny in Paris."
    assert content[1].mime_type == "audio/wav"
    assert _wav_frames(content[1].data) == (24000, spoken)

    # The wire: the first turn's text went as conversation, this turn's audio as input.
    conns = realtime.connections
    assert len(conns) == 2
    sent = _checked(conns[1], dialect)
    if dialect == "openai":
        assert conns[1].query == {"model": "gpt-realtime"}
        assert conns[1].headers["Authorization"] == "Bearer sk-realtime"
        assert [m["type"] for m in sent] == [
            "session.update",
            "conversation.item.create",
            "conversation.item.create",
            "input_audio_buffer.append",
            "input_audio_buffer.commit",
            "response.create",
        ]
        session = sent[0]["session"]
        assert session["output_modalities"] == ["audio"]
        assert session["audio"]["input"]["turn_detection"] is None
        assert [i["item"]["role"] for i in sent[1:3]] == ["user", "assistant"]
        assert sent[2]["item"]["content"] == [
            {"type": "output_text", "text": "Hello, how can I help?"}
        ]
        # 16 kHz in, 24 kHz to OpenAI
        assert b64decode(sent[3]["audio"]) == resample(SPOKEN, 16000, 24000)
    else:
        assert conns[1].headers["x-goog-api-key"] == "gemini-live-key"
        assert "v1beta" in conns[1].path
        setup = sent[0]["setup"]
        assert setup["model"] == f"models/{GEMINI_MODEL}"
        assert setup["generationConfig"]["responseModalities"] == ["AUDIO"]
        assert setup["realtimeInputConfig"]["automaticActivityDetection"]["disabled"] is True
        assert "outputAudioTranscription" in setup
        history = sent[1]["clientContent"]
        assert history["turnComplete"] is False
        assert [t["role"] for t in history["turns"]] == ["user", "model"]
        assert sent[2] == {"realtimeInput": {"activityStart": {}}}
        blob = sent[3]["realtimeInput"]["audio"]
        assert blob["mimeType"] == "audio/pcm;rate=16000"
        assert b64decode(blob["data"]) == SPOKEN
        assert sent[4] == {"realtimeInput": {"activityEnd": {}}}


@pytest.mark.parametrize("dialect", ["openai", "gemini"])
def test_a_function_call_in_an_audio_session(
    voice_junction: Junction, realtime: FakeRealtime, dialect: str
) -> None:
    client = voice_junction.client()
    first = _start(client, dialect, realtime, tools=[WEATHER])
    realtime.enqueue(
        Reply(text="Let me check.", tool_calls=[("get_weather", {"city": "Paris"})]),
        Reply(text="Sunny, 21 degrees."),
    )

    async def session() -> tuple[list[Any], list[Any]]:
        async with client.aio.interactions.connect(first) as live:
            await live.send({"event_type": "input", "content": [AUDIO_IN]})
            call = await _turn(live)
            step = next(
                _get(e, "step")
                for e in call
                if _get(e, "event_type") == "step.start" and _get(e, "step").type == "function_call"
            )
            result = {"type": "function_result", "call_id": step.id, "name": step.name}
            await live.send({"event_type": "input", "content": [{**result, "result": "sunny"}]})
            return call, await _turn(live)

    call, answer = asyncio.run(session())
    starts = [_get(e, "step").type for e in call if _get(e, "event_type") == "step.start"]
    assert starts == ["model_output", "function_call"]
    assert _text(call) == "Let me check."
    assert _audio(call)
    assert _text(answer) == "Sunny, 21 degrees."
    assert _audio(answer) == b"".join(speech(Reply(text="Sunny, 21 degrees.")))

    created = [e for e in call + answer if _get(e, "event_type") == "interaction.created"]
    waiting = client.interactions.get(_get(created[0], "interaction_id"))
    assert waiting.status == "requires_action"
    assert [s.type for s in waiting.steps] == ["user_input", "model_output", "function_call"]
    assert waiting.steps[2].arguments == {"city": "Paris"}
    done = client.interactions.get(_get(created[1], "interaction_id"))
    assert done.status == "completed"
    assert [c.type for c in done.steps[-1].content] == ["text", "audio"]

    # The call's result went back in the vendor's form, with the call id.
    sent = _checked(realtime.connections[-1], dialect)
    if dialect == "openai":
        outputs = [m["item"] for m in sent if m["type"] == "conversation.item.create"]
        assert outputs[-2]["type"] == "function_call" and outputs[-2]["name"] == "get_weather"
        assert outputs[-1] == {
            "type": "function_call_output",
            "call_id": "call_0_get_weather",
            "output": "sunny",
        }
        assert sent[-1] == {"type": "response.create"}
        assert not any(m["type"] == "input_audio_buffer.append" for m in sent)
    else:
        assert sent[-1] == {
            "toolResponse": {
                "functionResponses": [
                    {
                        "id": "call_0_get_weather",
                        "name": "get_weather",
                        "response": {"result": "sunny"},
                    }
                ]
            }
        }
        turns = sent[1]["clientContent"]["turns"]
        assert turns[-1]["parts"][-1]["functionCall"]["name"] == "get_weather"


def test_disconnect_then_resume_replays_the_speech_and_the_chain_goes_on(
    voice_junction: Junction, realtime: FakeRealtime
) -> None:
    client = voice_junction.client()
    first = _start(client, "openai", realtime)
    slow = Reply(text="A slow and careful answer.", chunk_delay=0.25)
    realtime.enqueue(slow, Reply(text="Second answer."))

    async def leave() -> str:
        async with client.aio.interactions.connect(first) as live:
            await live.send({"event_type": "input", "content": [AUDIO_IN]})
            async for event in live.receive():
                if _get(event, "event_type") == "interaction.created":
                    turn = str(_get(event, "interaction_id"))
                if _get(event, "event_type") == "step.delta":  # the first piece arrived
                    await live.send({"event_type": "interaction.disconnect"})
                    return turn
        raise AssertionError("the turn never started speaking")

    turn = asyncio.run(leave())
    assert client.interactions.get(turn).status == "in_progress"

    async def resume() -> tuple[list[Any], list[Any]]:
        async with client.aio.interactions.connect(turn) as live:
            replayed = await _turn(live)
            await live.send({"event_type": "input", "content": [AUDIO_IN]})
            return replayed, await _turn(live)

    replayed, nxt = asyncio.run(resume())
    assert _text(replayed) == "A slow and careful answer."
    assert _audio(replayed) == b"".join(speech(slow))
    assert client.interactions.get(turn).status == "completed"
    assert _text(nxt) == "Second answer."
    # The next turn's conversation holds both spoken inputs and the transcripts.
    items = [m["item"] for m in _checked(realtime.connections[-1], "openai") if "item" in m]
    kinds = [(i["role"], i["content"][0]["type"]) for i in items]
    assert kinds == [
        ("user", "input_text"),
        ("assistant", "output_text"),
        ("user", "input_audio"),
        ("assistant", "output_text"),
    ]
    assert items[3]["content"][0]["text"] == "A slow and careful answer."


def test_audio_to_a_model_without_a_realtime_api_gets_an_error_frame(
    voice_junction: Junction, realtime: FakeRealtime
) -> None:
    client = voice_junction.client()
    first = client.interactions.create(model="offline/echo", input="start")

    async def session() -> tuple[Any, Any, list[Any]]:
        async with client.aio.interactions.connect(first.id) as live:
            errors = []
            await live.send({"event_type": "input", "content": [AUDIO_IN]})
            await live.send({"event_type": "interaction.create", "model": OPENAI_MODEL})
            mp3 = {**AUDIO_IN, "mime_type": "audio/mp3"}
            await live.send({"event_type": "input", "content": [mp3]})
            async for event in live.receive():
                if _get(event, "event_type") == "error":
                    errors.append(_get(event, "error"))
                    if len(errors) == 2:
                        break
            await live.send({"event_type": "interaction.create", "model": "offline/echo"})
            await live.send("/reply still here")
            return errors[0], errors[1], await _turn(live)

    no_realtime, bad_format, events = asyncio.run(session())
    assert no_realtime.code == "invalid_argument"
    assert "model 'offline/echo' has no realtime API" in no_realtime.message
    assert "audio input" in no_realtime.message
    assert bad_format.code == "invalid_argument"
    assert "audio/mp3" in bad_format.message and "gpt-realtime" in bad_format.message
    assert _text(events) == "still here"
    assert realtime.connections == []  # nothing reached a realtime API


def test_the_realtime_connection_is_ssrf_checked(
    voice_junction: Junction, realtime: FakeRealtime
) -> None:
    """``strict`` points at the same loopback fake without realtime_allow_private."""
    client = voice_junction.client()
    refused = client.interactions.create(model="strict/gpt-realtime", input="hello")
    assert refused.status == "failed"
    message = str((refused.model_extra or {}).get("errors") or refused.model_dump())
    assert "127.0.0.1 is not a public address (loopback)" in message
    assert "realtime_allow_private" in message
    assert realtime.connections == []


@pytest.mark.parametrize("dialect", ["openai", "gemini"])
def test_a_refusal_by_the_realtime_api_fails_the_turn_with_its_reason(
    voice_junction: Junction, realtime: FakeRealtime, dialect: str
) -> None:
    client = voice_junction.client()
    first = _start(client, dialect, realtime)
    realtime.enqueue(Reply(status=400, error_message="the audio was unintelligible"))

    async def session() -> list[Any]:
        async with client.aio.interactions.connect(first) as live:
            await live.send({"event_type": "input", "content": [AUDIO_IN]})
            events = await _turn(live)
            async for event in live.receive():  # the error frame follows the status
                return [*events, event]
        raise AssertionError("no error frame")

    events = asyncio.run(session())
    assert _get(events[-2], "status") == "failed"
    assert "the audio was unintelligible" in _get(events[-1], "error").message
    turn = _get(
        next(e for e in events if _get(e, "event_type") == "interaction.created"), "interaction_id"
    )
    assert client.interactions.get(turn).status == "failed"
    assert len(realtime.connections) == 2  # a refusal is not retried
