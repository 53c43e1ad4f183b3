"""Function calling, tool choice and structured output, through the official SDK."""

from __future__ import annotations

import json

import pytest
from google import genai
from google.genai import _interactions_errors as gerr

from junction.testing.fake_openai import FakeOpenAI
from junction.testing.fakeserver import Reply
from tests.conftest import Junction

WEATHER = {
    "type": "function",
    "name": "get_weather",
    "description": "Weather for a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
}
TIME = {"type": "function", "name": "get_time", "parameters": {"type": "object"}}


def test_function_call_round_trip(client: genai.Client) -> None:
    asked = client.interactions.create(
        model="offline/echo", input='/call get_weather {"city": "Paris"}', tools=[WEATHER]
    )
    assert asked.status == "requires_action"
    call = asked.steps[-1]
    assert call.type == "function_call"
    assert call.name == "get_weather" and call.arguments == {"city": "Paris"}
    answered = client.interactions.create(
        model="offline/echo",
        previous_interaction_id=asked.id,
        tools=[WEATHER],
        input=[
            {
                "type": "function_result",
                "call_id": call.id,
                "name": "get_weather",
                "result": {"temp_c": 21},
            }
        ],
    )
    assert answered.status == "completed"
    assert answered.output_text == 'get_weather returned {"temp_c":21}'
    assert answered.steps[0].type == "function_result"


def test_function_calls_from_a_real_dialect(junction: Junction, openai_fake: FakeOpenAI) -> None:
    client = junction.client()
    openai_fake.enqueue(
        Reply(tool_calls=[("get_weather", {"city": "Oslo"}), ("get_time", {})]),
        Reply(text="It is 3 degrees at noon."),
    )
    asked = client.interactions.create(
        model="openai/gpt-x", input="weather?", tools=[WEATHER, TIME]
    )
    assert asked.status == "requires_action"
    calls = [s for s in asked.steps if s.type == "function_call"]
    assert [(c.name, c.arguments) for c in calls] == [
        ("get_weather", {"city": "Oslo"}),
        ("get_time", {}),
    ]
    done = client.interactions.create(
        model="openai/gpt-x",
        previous_interaction_id=asked.id,
        input=[
            {
                "type": "function_result",
                "call_id": calls[0].id,
                "name": "get_weather",
                "result": {"temp_c": 3},
            },
            {
                "type": "function_result",
                "call_id": calls[1].id,
                "name": "get_time",
                "result": "12:00",
            },
        ],
    )
    assert done.output_text == "It is 3 degrees at noon."
    messages = openai_fake.requests[-1].body["messages"]
    assert messages[1]["role"] == "assistant"
    assert [t["id"] for t in messages[1]["tool_calls"]] == [calls[0].id, calls[1].id]
    assert messages[2] == {
        "role": "tool",
        "tool_call_id": calls[0].id,
        "content": json.dumps({"temp_c": 3}, separators=(",", ":")),
    }
    assert messages[3]["content"] == "12:00"


def test_result_for_an_unknown_call_is_400_naming_it(client: genai.Client) -> None:
    asked = client.interactions.create(
        model="offline/echo", input="/call get_time {}", tools=[TIME]
    )
    with pytest.raises(gerr.BadRequestError, match="call_nope"):
        client.interactions.create(
            model="offline/echo",
            previous_interaction_id=asked.id,
            input=[{"type": "function_result", "call_id": "call_nope", "result": "x"}],
        )


def test_missing_result_is_400_naming_the_call(client: genai.Client) -> None:
    asked = client.interactions.create(
        model="offline/echo", input="/call get_time {}", tools=[TIME]
    )
    call_id = asked.steps[-1].id
    with pytest.raises(gerr.BadRequestError, match=call_id):
        client.interactions.create(
            model="offline/echo", previous_interaction_id=asked.id, input="what now?"
        )


@pytest.mark.parametrize(
    ("choice", "expected_choice", "expected_tools"),
    [
        ("any", "required", ["get_weather", "get_time"]),
        ("none", "none", ["get_weather", "get_time"]),
        (
            {"allowed_tools": {"mode": "any", "tools": ["get_time"]}},
            {"type": "function", "function": {"name": "get_time"}},
            ["get_time"],
        ),
    ],
)
def test_tool_choice_is_honoured(
    junction: Junction,
    openai_fake: FakeOpenAI,
    choice: object,
    expected_choice: object,
    expected_tools: list[str],
) -> None:
    junction.client().interactions.create(
        model="openai/gpt-x",
        input="hi",
        tools=[WEATHER, TIME],
        generation_config={"tool_choice": choice},
    )
    body = openai_fake.requests[-1].body
    assert body["tool_choice"] == expected_choice
    assert [t["function"]["name"] for t in body["tools"]] == expected_tools


def test_allowed_tools_must_be_declared(client: genai.Client) -> None:
    with pytest.raises(gerr.BadRequestError, match="get_nothing"):
        client.interactions.create(
            model="offline/echo",
            input="hi",
            tools=[TIME],
            generation_config={"tool_choice": {"allowed_tools": {"tools": ["get_nothing"]}}},
        )


SCHEMA = {
    "type": "object",
    "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
    "required": ["name", "age"],
    "additionalProperties": False,
}
FORMAT = {"type": "text", "mime_type": "application/json", "schema": SCHEMA}


def test_structured_output_valid_first_time(junction: Junction, openai_fake: FakeOpenAI) -> None:
    openai_fake.enqueue(Reply(text='{"name": "Ada", "age": 36}'))
    out = junction.client().interactions.create(
        model="openai/gpt-x", input="who?", response_format=FORMAT
    )
    assert out.status == "completed"
    assert json.loads(out.output_text) == {"name": "Ada", "age": 36}
    sent = openai_fake.requests[-1].body["response_format"]
    assert sent["type"] == "json_schema" and sent["json_schema"]["schema"] == SCHEMA


def test_structured_output_is_repaired_once(junction: Junction, openai_fake: FakeOpenAI) -> None:
    openai_fake.enqueue(
        Reply(text='{"name": "Ada", "age": "old"}'), Reply(text='{"name": "Ada", "age": 36}')
    )
    out = junction.client().interactions.create(
        model="openai/gpt-x", input="who?", response_format=FORMAT
    )
    assert out.status == "completed"
    assert json.loads(out.output_text) == {"name": "Ada", "age": 36}
    assert [s.type for s in out.steps] == ["user_input", "model_output"]
    repair = openai_fake.requests[-1].body["messages"]
    assert repair[-2] == {"role": "assistant", "content": '{"name": "Ada", "age": "old"}'}
    assert "age" in repair[-1]["content"] and "integer" in repair[-1]["content"]
    assert out.usage.total_input_tokens == 22  # both calls are counted


def test_structured_output_that_stays_invalid_fails(
    junction: Junction, openai_fake: FakeOpenAI
) -> None:
    openai_fake.enqueue(Reply(text="not json at all"), Reply(text='{"name": "Ada"}'))
    out = junction.client().interactions.create(
        model="openai/gpt-x", input="who?", response_format=FORMAT
    )
    assert out.status == "failed"
    assert out.errors and "'age' is a required property" in out.errors[0].message
    assert not [s for s in out.steps if s.type == "model_output"]


def test_invalid_schema_is_400(client: genai.Client) -> None:
    with pytest.raises(gerr.BadRequestError, match="not a valid JSON Schema"):
        client.interactions.create(
            model="offline/echo",
            input="x",
            response_format={
                "type": "text",
                "mime_type": "application/json",
                "schema": {"type": "nonsense"},
            },
        )


def test_provider_failure_ends_the_interaction_failed(
    junction: Junction, openai_fake: FakeOpenAI
) -> None:
    openai_fake.enqueue(*[Reply(status=503, error_message="overloaded")] * 4)
    out = junction.client().interactions.create(model="openai/gpt-x", input="x")
    assert out.status == "failed"
    assert "503" in out.errors[0].message
    assert len(openai_fake.requests) == 4  # retried with backoff, then gave up


def test_provider_429_is_retried_after_retry_after(
    junction: Junction, openai_fake: FakeOpenAI
) -> None:
    openai_fake.enqueue(Reply(status=429, headers={"Retry-After": "1"}), Reply(text="finally"))
    out = junction.client().interactions.create(model="openai/gpt-x", input="x")
    assert out.output_text == "finally"
    first, second = openai_fake.requests
    assert second.received - first.received >= 0.95
