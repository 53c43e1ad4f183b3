"""SSE streaming and resumption through the official SDK."""

from __future__ import annotations

import threading
import time

import httpx2 as httpx
from google import genai

from junction.testing.fake_openai import FakeOpenAI
from junction.testing.fakeserver import Reply
from tests.conftest import Junction


def _events(stream: object) -> list[object]:
    return list(stream)  # type: ignore[call-overload]


def test_stream_text_equals_final_output(client: genai.Client) -> None:
    text = "the quick brown fox jumps over the lazy dog"
    events = _events(client.interactions.create(model="offline/echo", input=text, stream=True))
    types = [e.event_type for e in events]
    assert types[0] == "interaction.created"
    assert types[1] == "interaction.status_update"
    assert types[-1] == "interaction.completed"
    assert "step.start" in types and "step.stop" in types
    deltas = [e.delta.text for e in events if e.event_type == "step.delta"]
    assert len(deltas) > 3  # relayed word by word, not buffered
    assert "".join(deltas) == text
    interaction_id = events[0].interaction.id
    final = client.interactions.get(interaction_id)
    assert final.output_text == text
    ids = [int(e.event_id) for e in events]
    assert ids == sorted(set(ids))
    assert events[-1].interaction.status == "completed"


def test_resume_from_every_event_id_gives_exactly_the_tail(client: genai.Client) -> None:
    events = _events(
        client.interactions.create(
            model="offline/echo", input="/think hmm\n/reply one two three", stream=True
        )
    )
    interaction_id = events[0].interaction.id
    all_ids = [e.event_id for e in events]
    replay = [e.event_id for e in _events(client.interactions.get(interaction_id, stream=True))]
    assert replay == all_ids
    for position, event_id in enumerate(all_ids):
        tail = _events(client.interactions.get(interaction_id, stream=True, last_event_id=event_id))
        assert [e.event_id for e in tail] == all_ids[position + 1 :]


def test_streamed_function_call(client: genai.Client) -> None:
    tool = {"type": "function", "name": "lookup", "parameters": {"type": "object"}}
    events = _events(
        client.interactions.create(
            model="offline/echo", input='/call lookup {"q": "x"}', tools=[tool], stream=True
        )
    )
    start = next(e for e in events if e.event_type == "step.start")
    assert start.step.type == "function_call" and start.step.name == "lookup"
    fragments = [
        e.delta.arguments
        for e in events
        if e.event_type == "step.delta" and e.delta.type == "arguments_delta"
    ]
    assert "".join(fragments) == '{"q":"x"}'
    assert events[-1].interaction.status == "requires_action"


def test_streamed_thought_deltas(junction: Junction, openai_fake: FakeOpenAI) -> None:
    openai_fake.enqueue(Reply(text="answer", thought="reasoning here"))
    events = _events(
        junction.client().interactions.create(model="openai/gpt-x", input="q", stream=True)
    )
    kinds = [e.delta.type for e in events if e.event_type == "step.delta"]
    assert "thought_summary" in kinds and "text" in kinds


def test_store_false_still_streams(client: genai.Client) -> None:
    events = _events(
        client.interactions.create(model="offline/echo", input="volatile", store=False, stream=True)
    )
    assert "".join(e.delta.text for e in events if e.event_type == "step.delta") == "volatile"


def test_attach_to_a_background_run_midway(junction: Junction, openai_fake: FakeOpenAI) -> None:
    words = [f"w{i} " for i in range(30)]
    openai_fake.enqueue(Reply(text="".join(words), chunk_delay=0.05))
    client = junction.client()
    started = client.interactions.create(model="openai/gpt-x", input="go", background=True)
    assert started.status == "in_progress"
    time.sleep(0.4)
    first = _events(client.interactions.get(started.id, stream=True))
    cut = first[len(first) // 3].event_id
    resumed = _events(client.interactions.get(started.id, stream=True, last_event_id=cut))
    assert [e.event_id for e in resumed] == [e.event_id for e in first][len(first) // 3 + 1 :]
    text = "".join(e.delta.text for e in first if e.event_type == "step.delta")
    assert text == client.interactions.get(started.id).output_text
    assert first[-1].event_type == "interaction.completed"


def test_stream_is_sse_framed(junction: Junction) -> None:
    with httpx.stream(
        "POST",
        f"{junction.url}/v1beta/interactions",
        json={"model": "offline/echo", "input": "frame me", "stream": True},
        headers={"x-goog-api-key": junction.api_key},
    ) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        body = response.read().decode()
    blocks = [b for b in body.split("\n\n") if b.strip()]
    for block in blocks:
        lines = block.split("\n")
        assert lines[0].startswith("event: ")
        assert lines[1].startswith("id: ")
        assert lines[2].startswith('data: {"event_type":')


def test_client_disconnect_does_not_stop_the_run(
    junction: Junction, openai_fake: FakeOpenAI
) -> None:
    openai_fake.enqueue(Reply(text="a b c d e f g h", chunk_delay=0.1))
    interaction_id: list[str] = []

    def read_one() -> None:
        with httpx.stream(
            "POST",
            f"{junction.url}/v1beta/interactions",
            json={"model": "openai/gpt-x", "input": "x", "stream": True},
            headers={"x-goog-api-key": junction.api_key},
        ) as response:
            for line in response.iter_lines():
                if line.startswith("data: ") and "interaction.created" in line:
                    interaction_id.append(line.split('"id":"')[1].split('"')[0])
                    return

    worker = threading.Thread(target=read_one)
    worker.start()
    worker.join(10)
    client = junction.client()
    deadline = time.monotonic() + 10
    while client.interactions.get(interaction_id[0]).status == "in_progress":
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert client.interactions.get(interaction_id[0]).output_text == "a b c d e f g h"


def test_keepalive_comments_while_a_step_is_slow(
    junction: Junction, openai_fake: FakeOpenAI
) -> None:
    openai_fake.enqueue(Reply(text="late", delay=1.2))
    with httpx.stream(
        "POST",
        f"{junction.url}/v1beta/interactions",
        json={"model": "openai/gpt-x", "input": "x", "stream": True},
        headers={"x-goog-api-key": junction.api_key},
        timeout=10,
    ) as response:
        body = response.read().decode()
    assert body.count(": keep-alive") >= 2  # every 0.3 s in this test server
    assert '"event_type":"interaction.completed"' in body
