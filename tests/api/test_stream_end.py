"""A streamed create's end, as the client sees it: ``interaction.completed`` arrives only
once the interaction's end is stored (the client may read it back at once), the
whole answer arriving in one read from the provider still streams as deltas, and a
resume after any event gives exactly the rest. SQLite and PostgreSQL."""

from __future__ import annotations

from google import genai

from junction.testing.fake_openai import FakeOpenAI
from junction.testing.fakeserver import Reply
from tests.conftest import Junction


def test_the_end_a_stream_shows_is_stored(junction: Junction, openai_fake: FakeOpenAI) -> None:
    client = junction.client()
    for round_ in range(5):
        text = f"round {round_}: all of the answer in one write from the provider"
        openai_fake.enqueue(Reply(text=text))  # no chunk_delay: one write
        stream = client.interactions.create(model="openai/gpt-x", input="go", stream=True)
        deltas: list[str] = []
        ids: list[str] = []
        for event in stream:
            ids.append(event.event_id)
            if event.event_type == "step.delta":
                deltas.append(event.delta.text)
            if event.event_type == "interaction.completed":
                stored = client.interactions.get(event.interaction.id)  # before the stream ends
                assert stored.status == "completed"
                assert stored.output_text == text
                interaction_id = event.interaction.id
        assert "".join(deltas) == text and len(deltas) > 1
        replay = [e.event_id for e in client.interactions.get(interaction_id, stream=True)]
        assert replay == ids


def test_a_streamed_failure_is_stored_before_it_is_shown(
    junction: Junction, openai_fake: FakeOpenAI
) -> None:
    openai_fake.enqueue(Reply(status=400, error_message="no such model"))
    client: genai.Client = junction.client()
    events = list(client.interactions.create(model="openai/gpt-x", input="go", stream=True))
    end = events[-1]
    assert end.event_type == "interaction.completed"
    assert end.interaction.status == "failed"
    assert client.interactions.get(end.interaction.id).status == "failed"
