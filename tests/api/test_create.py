"""Creating and reading interactions through the official SDK, on both databases."""

from __future__ import annotations

import base64

import pytest
from google import genai
from google.genai import _interactions_errors as gerr

from tests.conftest import Junction

PNG = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\0" * 16).decode()


def test_plain_create_returns_completed_interaction(client: genai.Client) -> None:
    interaction = client.interactions.create(model="offline/echo", input="Hello there")
    assert interaction.status == "completed"
    assert interaction.id.startswith("v1_")
    assert interaction.output_text == "Hello there"
    assert [s.type for s in interaction.steps] == ["user_input", "model_output"]
    assert interaction.usage is not None and interaction.usage.total_tokens > 0
    assert interaction.created and interaction.updated


def test_get_returns_the_stored_interaction(client: genai.Client) -> None:
    created = client.interactions.create(
        model="offline/echo",
        input="remember me",
        system_instruction="be brief",
        labels={"team": "core"},
    )
    fetched = client.interactions.get(created.id)
    assert fetched.id == created.id
    assert fetched.status == "completed"
    assert fetched.output_text == "remember me"
    assert fetched.system_instruction == "be brief"
    assert fetched.labels == {"team": "core"}
    assert [s.type for s in fetched.steps] == ["user_input", "model_output"]


def test_include_input_echoes_the_input(client: genai.Client) -> None:
    created = client.interactions.create(model="offline/echo", input="echo my input")
    plain = client.interactions.get(created.id)
    assert getattr(plain, "input", None) is None
    with_input = client.interactions.get(created.id, include_input=True)
    assert with_input.input == "echo my input"


@pytest.mark.parametrize("version", ["v1", "v1beta", "v1alpha"])
def test_every_version_segment_is_served(junction: Junction, version: str) -> None:
    client = junction.client(api_version=version)
    assert client.interactions.create(model="offline/echo", input="hi").output_text == "hi"


def test_single_content_object_input(client: genai.Client) -> None:
    interaction = client.interactions.create(
        model="offline/echo", input={"type": "text", "text": "one content"}
    )
    assert interaction.output_text == "one content"
    assert interaction.steps[0].content[0].text == "one content"


def test_content_list_input_is_one_user_step(client: genai.Client) -> None:
    interaction = client.interactions.create(
        model="offline/echo",
        input=[{"text": "describe"}, {"type": "image", "data": PNG, "mime_type": "image/png"}],
    )
    first = interaction.steps[0]
    assert first.type == "user_input"
    assert [c.type for c in first.content] == ["text", "image"]
    assert interaction.output_text == "describe"


def test_step_list_input_carries_a_whole_conversation(client: genai.Client) -> None:
    interaction = client.interactions.create(
        model="offline/echo",
        store=False,
        input=[
            {"type": "user_input", "content": [{"type": "text", "text": "first"}]},
            {"type": "model_output", "content": [{"type": "text", "text": "ok"}]},
            {"type": "user_input", "content": [{"type": "text", "text": "/history"}]},
        ],
    )
    assert interaction.output_text == "first | /history"


@pytest.mark.parametrize(
    "content",
    [
        {"type": "audio", "data": PNG, "mime_type": "audio/wav"},
        {"type": "video", "uri": "https://example.com/v.mp4", "mime_type": "video/mp4"},
        {"type": "document", "data": PNG, "mime_type": "application/pdf"},
    ],
)
def test_every_media_type_is_accepted(client: genai.Client, content: dict[str, str]) -> None:
    interaction = client.interactions.create(
        model="offline/echo", input=[{"type": "text", "text": "media"}, content]
    )
    assert interaction.steps[0].content[1].type == content["type"]


def test_unsupported_modality_is_a_400_naming_model_and_modality(client: genai.Client) -> None:
    with pytest.raises(gerr.BadRequestError) as info:
        client.interactions.create(
            model="openai/gpt-4.1-mini",
            input=[
                {"type": "text", "text": "watch"},
                {"type": "video", "uri": "https://example.com/v.mp4", "mime_type": "video/mp4"},
            ],
        )
    message = str(info.value)
    assert "openai/gpt-4.1-mini" in message and "video" in message


def test_thought_steps_round_trip_with_signature(client: genai.Client) -> None:
    first = client.interactions.create(model="offline/echo", input="/think pondering\n/reply done")
    thought = first.steps[1]
    assert thought.type == "thought"
    assert thought.signature and thought.signature.startswith("offline-sig-")
    assert thought.summary[0].text == "pondering"
    assert first.output_text == "done"
    # the client may send the thought back verbatim
    again = client.interactions.create(
        model="offline/echo",
        store=False,
        input=[
            *[s.model_dump(exclude_none=True) for s in first.steps],
            {"type": "user_input", "content": [{"type": "text", "text": "next"}]},
        ],
    )
    assert again.output_text == "next"
