"""Live mode over WebSocket, through ``client.aio.interactions.connect``: text turns,
function calls, a server tool, disconnect-and-resume, audio refused, auth tokens."""

from __future__ import annotations

import asyncio
import time
import warnings
from typing import Any

import pytest
from google import genai
from google.genai import _interactions_errors as gerr

from junction.testing.fake_openai import FakeOpenAI
from junction.testing.fakeserver import Reply
from tests.conftest import Junction

WEATHER = {
    "type": "function",
    "name": "get_weather",
    "description": "The weather in a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
}


@pytest.fixture(autouse=True)
def _quiet_experimental_warning() -> None:
    warnings.filterwarnings("ignore", message=".*Live Interactions usage.*")


def _get(event: Any, name: str) -> Any:
    return event.get(name) if isinstance(event, dict) else getattr(event, name, None)


async def _turn(connection: Any) -> list[Any]:
    """Events up to the end of the current turn (status_update) or a terminal event."""
    events = []
    async for event in connection.receive():
        events.append(event)
        if _get(event, "event_type") == "interaction.status_update":
            break
    return events


def _text(events: list[Any]) -> str:
    return "".join(
        _get(e, "delta").text
        for e in events
        if _get(e, "event_type") == "step.delta" and _get(e, "delta").type == "text"
    )


def test_text_turns_then_complete(junction: Junction) -> None:
    client = junction.client()
    first = client.interactions.create(model="offline/echo", input="hello")

    async def session() -> tuple[list[Any], list[Any], list[Any]]:
        async with client.aio.interactions.connect(first.id) as live:
            await live.send("/reply live answer")
            one = await _turn(live)
            await live.send("/history")
            two = await _turn(live)
            await live.complete()
            rest = [e async for e in live.receive()]
        return one, two, rest

    one, two, rest = asyncio.run(session())
    assert _get(one[0], "event_type") == "interaction.connected"
    assert _get(one[1], "event_type") == "interaction.created"
    assert _text(one) == "live answer"
    assert _get(one[-1], "status") == "idle"
    assert _text(two) == "hello | /reply live answer | /history"
    assert _get(rest[-1], "event_type") == "interaction.completed"
    # Each turn is a stored interaction chained to the one before.
    turn_two = _get(two[0], "interaction_id")
    stored = client.interactions.get(turn_two)
    assert stored.status == "completed" and stored.output_text == _text(two)
    turn_one = client.interactions.get(stored.previous_interaction_id)
    assert turn_one.previous_interaction_id == first.id


def test_function_calls_round_trip(junction: Junction) -> None:
    client = junction.client()
    first = client.interactions.create(model="offline/echo", input="hi", tools=[WEATHER])

    async def session() -> tuple[list[Any], list[Any]]:
        async with client.aio.interactions.connect(first.id) as live:
            await live.send('/call get_weather {"city": "Paris"}')
            call = await _turn(live)
            start = next(e for e in call if _get(e, "event_type") == "step.start")
            step = _get(start, "step")
            await live.send(
                {
                    "event_type": "input",
                    "content": [
                        {
                            "type": "function_result",
                            "call_id": step.id,
                            "name": "get_weather",
                            "result": "sunny",
                        }
                    ],
                }
            )
            answer = await _turn(live)
        return call, answer

    call, answer = asyncio.run(session())
    start = next(e for e in call if _get(e, "event_type") == "step.start")
    assert _get(start, "step").type == "function_call"
    assert _get(start, "step").name == "get_weather"
    assert _text(answer) == 'get_weather returned "sunny"'


def test_server_tools_run_in_live_turns(
    envs: genai.Client, junction: Junction, openai_fake: FakeOpenAI
) -> None:
    openai_fake.enqueue(
        Reply(text="first"),
        Reply(text="", tool_calls=[("code_execution", {"code": "print(6 * 7)"})]),
        Reply(text="It printed 42."),
    )
    first = envs.interactions.create(
        model="openai/x", input="start", tools=[{"type": "code_execution"}]
    )

    async def session() -> list[Any]:
        async with envs.aio.interactions.connect(first.id) as live:
            await live.send("compute")
            return await _turn(live)

    events = asyncio.run(session())
    kinds = [_get(e, "step").type for e in events if _get(e, "event_type") == "step.start"]
    assert kinds == ["code_execution_call", "code_execution_result", "model_output"]
    assert _text(events) == "It printed 42."


def test_disconnect_leaves_the_turn_running_and_connect_resumes_it(junction: Junction) -> None:
    client = junction.client()
    first = client.interactions.create(model="offline/echo", input="start")

    async def leave() -> str:
        async with client.aio.interactions.connect(first.id) as live:
            await live.send("/sleep 4\n/reply finished without you")
            async for event in live.receive():
                if _get(event, "event_type") == "interaction.created":
                    return str(_get(event, "interaction_id"))
        raise AssertionError("no interaction.created")

    turn_id = asyncio.run(leave())
    assert client.interactions.get(turn_id).status == "in_progress"

    async def resume() -> list[Any]:
        async with client.aio.interactions.connect(turn_id) as live:
            return await _turn(live)

    events = asyncio.run(resume())
    assert _text(events) == "finished without you"
    assert client.interactions.get(turn_id).status == "completed"


def test_audio_is_refused_with_an_error_frame_and_the_session_goes_on(
    junction: Junction,
) -> None:
    client = junction.client()
    first = client.interactions.create(model="offline/echo", input="start")

    async def session() -> tuple[Any, list[Any]]:
        async with client.aio.interactions.connect(first.id) as live:
            await live.send(
                {
                    "event_type": "input",
                    "content": [{"type": "audio", "data": "AAAA", "mime_type": "audio/pcm"}],
                }
            )
            error = None
            async for event in live.receive():
                if _get(event, "event_type") == "error":
                    error = event
                    break
            await live.send("/reply still here")
            return error, await _turn(live)

    error, events = asyncio.run(session())
    assert "model 'offline/echo' has no realtime API" in _get(error, "error").message
    assert _text(events) == "still here"


def test_auth_tokens_reach_only_their_interaction(junction: Junction) -> None:
    client = junction.client()
    mine = client.interactions.create(model="offline/echo", input="mine")
    other = client.interactions.create(model="offline/echo", input="other")
    token = client.interactions.auth_tokens.create(mine.id).auth_token
    browser = junction.client(api_key=token)

    async def session(target: str) -> list[Any]:
        async with browser.aio.interactions.connect(target) as live:
            await live.send("/reply via token")
            return await _turn(live)

    assert _text(asyncio.run(session(mine.id))) == "via token"

    async def refused(target: str) -> list[Any]:
        seen: list[Any] = []
        with pytest.raises(gerr.APIWebSocketError):
            async with browser.aio.interactions.connect(target) as live:
                async for event in live.receive():
                    seen.append(event)
        return seen

    seen = asyncio.run(refused(other.id))
    assert [_get(_get(e, "error"), "code") for e in seen] == ["permission_denied"]
    # nothing was created on the other interaction's chain
    assert client.interactions.get(other.id).status == "completed"


def test_cancel_stops_the_running_turn(junction: Junction) -> None:
    client = junction.client()
    first = client.interactions.create(model="offline/echo", input="start")

    async def session() -> str:
        async with client.aio.interactions.connect(first.id) as live:
            await live.send("/sleep 30\n/reply never")
            async for event in live.receive():
                if _get(event, "event_type") == "interaction.created":
                    turn = str(_get(event, "interaction_id"))
                    break
            await live.cancel()
        return turn

    turn = asyncio.run(session())
    for _ in range(100):
        status = client.interactions.get(turn).status
        if status != "in_progress":
            break
        time.sleep(0.05)
    assert status == "cancelled"


def test_interaction_create_changes_the_model_of_later_turns(junction: Junction) -> None:
    client = junction.client()
    first = client.interactions.create(model="offline/echo", input="start")

    async def session() -> list[Any]:
        async with client.aio.interactions.connect(first.id) as live:
            await live.send({"event_type": "interaction.create", "model": "offline/other"})
            await live.send("/reply switched")
            return await _turn(live)

    events = asyncio.run(session())
    assert _text(events) == "switched"
    created = next(e for e in events if _get(e, "event_type") == "interaction.created")
    assert client.interactions.get(_get(created, "interaction_id")).model == "offline/other"


def test_sessions_beyond_the_limit_are_refused(
    junction: Junction, monkeypatch: pytest.MonkeyPatch
) -> None:
    from junction.api import live as live_module

    monkeypatch.setattr(live_module, "MAX_SESSIONS", 1)
    client = junction.client()
    first = client.interactions.create(model="offline/echo", input="start")

    async def two() -> list[Any]:
        async with client.aio.interactions.connect(first.id) as held:
            await held.send("/reply held")
            await _turn(held)
            seen: list[Any] = []
            with pytest.raises(gerr.APIWebSocketError):
                async with client.aio.interactions.connect(first.id) as extra:
                    async for event in extra.receive():
                        seen.append(event)
            return seen

    seen = asyncio.run(two())
    assert [_get(_get(e, "error"), "code") for e in seen] == ["resource_exhausted"]


def test_bad_frames_get_error_frames_and_change_nothing(junction: Junction) -> None:
    client = junction.client()
    first = client.interactions.create(model="offline/echo", input="start")

    async def session() -> list[Any]:
        async with client.aio.interactions.connect(first.id) as live:
            raw = live._websocket  # the SDK's own socket, for frames it would never send
            await raw.send("not json")
            await raw.send(b'{"event_type": "input", "content": []}')
            await raw.send('{"no_event_type": 1}')
            await live.send({"event_type": "user_action", "action": "key_down"})
            errors = []
            async for event in live.receive():
                if _get(event, "event_type") == "error":
                    errors.append(_get(_get(event, "error"), "code"))
                if len(errors) == 4:
                    break
            await live.send("/reply fine")
            return [errors, await _turn(live)]

    errors, events = asyncio.run(session())
    assert errors == ["invalid_argument"] * 4
    assert _text(events) == "fine"
    # no turn came of the bad frames: the good one follows the connected interaction
    created = next(e for e in events if _get(e, "event_type") == "interaction.created")
    turn = client.interactions.get(_get(created, "interaction_id"))
    assert turn.previous_interaction_id == first.id
