"""The SSE response (``api/sse.py``) on its own ASGI interface: events are framed as they
come, a comment line keeps an idle stream open, and a client that goes away closes the
producer (a follower's generator) and leaves no task behind; under ``DetachStreams`` it
streams after the app below has returned."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from junction.api.sse import DetachStreams, event_stream


async def test_events_keepalives_and_a_disconnect_that_closes_the_producer() -> None:
    closed = asyncio.Event()
    gone = asyncio.Event()
    sent: list[dict[str, Any]] = []

    async def events() -> AsyncIterator[tuple[int, str]]:
        try:
            yield 1, '{"event_type":"interaction.created","event_id":"1"}'
            await asyncio.sleep(3600)  # an idle run
            yield 2, "{}"
        finally:
            closed.set()

    async def receive() -> dict[str, Any]:
        await gone.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)
        if sum(m.get("body") == b": keep-alive\n\n" for m in sent) == 2:
            gone.set()  # the client leaves after two keep-alives

    before = asyncio.all_tasks()  # the session loop may hold other tests' tasks
    await asyncio.wait_for(event_stream(events(), keepalive=0.05)({}, receive, send), 5)
    assert closed.is_set()
    assert asyncio.all_tasks() - before == set()  # the stream left no task behind
    assert sent[0]["type"] == "http.response.start" and sent[0]["status"] == 200
    assert (b"content-type", b"text/event-stream; charset=utf-8") in sent[0]["headers"]
    bodies = [m["body"] for m in sent[1:]]
    assert bodies[0] == (
        b'event: interaction.created\nid: 1\ndata: {"event_type":"interaction.created",'
        b'"event_id":"1"}\n\n'
    )
    assert bodies[1:] == [b": keep-alive\n\n"] * 2


async def test_the_stream_ends_when_the_events_end() -> None:
    sent: list[dict[str, Any]] = []

    async def events() -> AsyncIterator[tuple[int, str]]:
        yield 7, '{"event_type":"interaction.completed"}'

    async def receive() -> dict[str, Any]:
        await asyncio.sleep(3600)
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await asyncio.wait_for(event_stream(events(), keepalive=10)({}, receive, send), 5)
    assert [m.get("more_body") for m in sent[1:]] == [True, False]
    assert sent[-1]["body"] == b""


async def test_a_stopping_server_cancels_the_stream_and_closes_the_producer() -> None:
    closed = asyncio.Event()
    started = asyncio.Event()

    async def events() -> AsyncIterator[tuple[int, str]]:
        try:
            started.set()
            await asyncio.sleep(3600)
            yield 1, "{}"
        finally:
            closed.set()

    async def receive() -> dict[str, Any]:
        await asyncio.sleep(3600)
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        pass

    before = asyncio.all_tasks()  # the session loop may hold other tests' tasks
    task = asyncio.ensure_future(event_stream(events(), keepalive=10)({}, receive, send))
    await asyncio.wait_for(started.wait(), 5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert closed.is_set()
    assert asyncio.all_tasks() - before == set()  # the stream left no task behind


async def test_detached_streams_run_after_the_app_below_has_returned() -> None:
    returned: list[bool] = []
    sent: list[dict[str, Any]] = []

    async def events() -> AsyncIterator[tuple[int, str]]:
        returned.append(app_returned)
        yield 1, '{"event_type":"interaction.created"}'

    app_returned = False

    async def app(scope: Any, receive: Any, send: Any) -> None:
        nonlocal app_returned
        await event_stream(events(), keepalive=10)(scope, receive, send)
        app_returned = True

    async def plain(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    async def receive() -> dict[str, Any]:
        await asyncio.sleep(3600)
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope: dict[str, Any] = {"type": "http"}
    await asyncio.wait_for(DetachStreams(app)(scope, receive, send), 5)
    assert returned == [True]  # the producer ran once the app's frames were gone
    assert [m.get("status", m.get("body")) for m in sent] == [
        200,
        b'event: interaction.created\nid: 1\ndata: {"event_type":"interaction.created"}\n\n',
        b"",
    ]
    assert "junction.sse" not in scope
    sent.clear()
    await DetachStreams(plain)({"type": "http"}, receive, send)  # anything else: unchanged
    assert [m.get("status") for m in sent] == [204, None]
