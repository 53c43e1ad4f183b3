"""The openai provider's Responses-API dialect (thought summaries of OpenAI reasoning
models) against the fake server's ``/v1/responses``; requests and the fake's payloads
are checked against the ``openai`` package's own types."""

from __future__ import annotations

import typing
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from openai.types.responses import (
    EasyInputMessageParam,
    FunctionToolParam,
    Response,
    ResponseFunctionToolCallParam,
    ResponseStreamEvent,
    ResponseTextConfigParam,
)
from openai.types.responses.response_create_params import ResponseCreateParamsBase
from openai.types.responses.response_input_item_param import FunctionCallOutput
from openai.types.shared_params import Reasoning
from pydantic import TypeAdapter

from junction.config import ProviderConfig, Settings
from junction.errors import BadRequest, ProviderRateLimited, ProviderRejected, ProviderUnavailable
from junction.providers.base import (
    Finish,
    ModelRequest,
    OutputSpec,
    ProviderEvent,
    TextDelta,
    ThoughtDelta,
    ToolCallDelta,
    ToolCallEnd,
    ToolCallStart,
    Usage,
)
from junction.providers.openai import OpenAIProvider
from junction.providers.openai_responses import EventParser
from junction.testing.fake_openai import FakeOpenAI
from junction.testing.fake_openai_responses import FakeOpenAIResponses
from junction.testing.fakeserver import Reply
from tests.providers.sdk_params import validate_param

SUMMARIES = {"thinking_summaries": "auto"}
ITEMS: dict[str, TypeAdapter[Any]] = {
    "message": TypeAdapter(EasyInputMessageParam),
    "function_call": TypeAdapter(ResponseFunctionToolCallParam),
    "function_call_output": TypeAdapter(FunctionCallOutput),
}
FIELDS: dict[str, TypeAdapter[Any]] = {
    "reasoning": TypeAdapter(Reasoning),
    "text": TypeAdapter(ResponseTextConfigParam),
    "tool_choice": TypeAdapter(ResponseCreateParamsBase.__annotations__["tool_choice"]),
    "service_tier": TypeAdapter(ResponseCreateParamsBase.__annotations__["service_tier"]),
}
_UNION = typing.get_args(typing.get_args(ResponseStreamEvent)[0])
EVENT_TYPES = {typing.get_args(m.model_fields["type"].annotation)[0]: m for m in _UNION}
WEATHER = {
    "type": "function",
    "name": "get_weather",
    "description": "Weather for a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
}


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeOpenAI]:
    server = FakeOpenAI().start()
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def _reset(fake: FakeOpenAI) -> None:
    fake.reset()


@pytest.fixture
async def provider(fake: FakeOpenAI) -> AsyncIterator[OpenAIProvider]:
    config = ProviderConfig(
        name="openai",
        kind="openai",
        base_url=fake.url + "/v1",
        api_key="sk-test",
        options={"responses_api": True},
    )
    instance = OpenAIProvider(config, Settings())
    yield instance
    await instance.aclose()


def req(*steps: dict[str, Any], **kw: Any) -> ModelRequest:
    kw.setdefault("generation", dict(SUMMARIES))
    user = {"type": "user_input", "content": [{"type": "text", "text": "hi"}]}
    return ModelRequest(model="o4-mini", steps=list(steps) or [user], **kw)


async def run(provider: OpenAIProvider, request: ModelRequest) -> list[ProviderEvent]:
    return [event async for event in provider.stream(request)]


def sent(fake: FakeOpenAI) -> dict[str, Any]:
    """The last request body, checked against the SDK's parameter types."""
    recorded = fake.requests[-1]
    assert recorded.path == "/v1/responses"
    body: dict[str, Any] = recorded.body
    unknown = set(body) - set(ResponseCreateParamsBase.__annotations__) - {"stream"}
    assert not unknown, unknown
    for item in body["input"]:
        validate_param(ITEMS[item.get("type", "message")], item)
    for tool in body.get("tools", ()):
        validate_param(TypeAdapter(FunctionToolParam), tool)
    for key, adapter in FIELDS.items():
        if key in body:
            validate_param(adapter, body[key])
    return body


@pytest.mark.parametrize("summary", [True, False])
def test_fake_payloads_match_the_sdk_types(summary: bool) -> None:
    fake = FakeOpenAIResponses(FakeOpenAI())
    for reply in (
        Reply(text="hello there", thought="think it over"),
        Reply(text="", tool_calls=[("f", {"a": 1})], finish="length"),
    ):
        events = fake.events(reply, {"model": "o4-mini"}, 1, summary)
        for event in events:
            EVENT_TYPES[event["type"]].model_validate(event)
        Response.model_validate(events[-1]["response"])


async def test_summaries_stream_as_thoughts(fake: FakeOpenAI, provider: OpenAIProvider) -> None:
    fake.enqueue(Reply(text="It is 4.", thought="two plus two", output_tokens=5))
    events = await run(
        provider,
        req(system_instruction="be brief", generation={**SUMMARIES, "thinking_level": "low"}),
    )
    thoughts = [e.text for e in events if isinstance(e, ThoughtDelta)]
    assert len(thoughts) > 1 and "".join(thoughts) == "two plus two"
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == "It is 4."
    assert events[-2:] == [Usage(11, 8, thought_tokens=3), Finish("stop")]
    body = sent(fake)
    assert body["reasoning"] == {"summary": "auto", "effort": "low"}
    assert body["store"] is False and body["stream"] is True
    assert body["instructions"] == "be brief"
    assert body["input"] == [{"role": "user", "content": [{"type": "input_text", "text": "hi"}]}]


async def test_calls_and_history(fake: FakeOpenAI, provider: OpenAIProvider) -> None:
    fake.enqueue(Reply(text="", tool_calls=[("get_weather", {"city": "Oslo"})]))
    history = [
        {"type": "user_input", "content": [{"type": "text", "text": "weather?"}]},
        {"type": "thought", "summary": [{"type": "text", "text": "hm"}]},
        {"type": "model_output", "content": [{"type": "text", "text": "Checking."}]},
        {"type": "function_call", "id": "c1", "name": "get_weather", "arguments": {"city": "X"}},
        {"type": "function_result", "call_id": "c1", "name": "get_weather", "result": {"t": 3}},
    ]
    events = await run(
        provider,
        req(*history, tools=[WEATHER], tool_choice="validated", generation={**SUMMARIES}),
    )
    start = next(e for e in events if isinstance(e, ToolCallStart))
    assert start.name == "get_weather" and start.id.startswith("call_")
    assert "".join(e.arguments for e in events if isinstance(e, ToolCallDelta)) == (
        '{"city":"Oslo"}'
    )
    assert ToolCallEnd({"city": "Oslo"}) in events and events[-1] == Finish("tool_calls")
    body = sent(fake)
    assert body["input"][1:] == [
        {"role": "assistant", "content": "Checking."},
        {
            "type": "function_call",
            "call_id": "c1",
            "name": "get_weather",
            "arguments": '{"city":"X"}',
        },
        {"type": "function_call_output", "call_id": "c1", "output": '{"t":3}'},
    ]
    assert body["tool_choice"] == "auto"
    assert body["tools"] == [
        {
            "type": "function",
            "name": "get_weather",
            "description": "Weather for a city",
            "parameters": WEATHER["parameters"],
            "strict": False,
        }
    ]


async def test_not_streamed_and_options(fake: FakeOpenAI, provider: OpenAIProvider) -> None:
    fake.enqueue(Reply(text='{"a": 1}', thought="json it", finish="length"))
    gen = {**SUMMARIES, "service_tier": "flex", "max_output_tokens": 50, "temperature": 0.5}
    events = await run(provider, req(stream=False, generation=gen, response_schema={}))
    assert events[0] == ThoughtDelta("json it")
    assert events[1] == TextDelta('{"a": 1}')
    assert events[-1] == Finish("length")
    body = sent(fake)
    assert body["stream"] is False
    assert body["service_tier"] == "flex"
    assert body["max_output_tokens"] == 50 and body["temperature"] == 0.5
    assert body["text"] == {"format": {"type": "json_object"}}


async def test_errors_are_translated(fake: FakeOpenAI, provider: OpenAIProvider) -> None:
    fake.enqueue(Reply(status=429, headers={"Retry-After": "2"}))
    with pytest.raises(ProviderRateLimited) as caught:
        await run(provider, req())
    assert caught.value.retry_after == 2


@pytest.mark.parametrize(
    ("gen", "steps", "field"),
    [
        ({**SUMMARIES, "stop_sequences": ["X"]}, None, "generation_config.stop_sequences"),
        ({**SUMMARIES, "seed": 3}, None, "generation_config.seed"),
        (
            SUMMARIES,
            [{"type": "user_input", "content": [{"type": "audio", "data": "AAAA"}]}],
            "input",
        ),
    ],
)
async def test_what_the_dialect_cannot_carry_is_refused(
    provider: OpenAIProvider, gen: dict[str, Any], steps: Any, field: str
) -> None:
    with pytest.raises(BadRequest) as caught:
        provider.check_options(req(*(steps or []), generation=gen))
    assert caught.value.message.startswith(f"{field}: model 'openai/o4-mini'")
    speech = OutputSpec(modalities=frozenset({"text", "audio"}))
    with pytest.raises(BadRequest, match=r"^generation_config\.thinking_summaries: model"):
        provider.check_options(req(generation=SUMMARIES, output=speech))


async def test_chat_completions_without_summaries(
    fake: FakeOpenAI, provider: OpenAIProvider
) -> None:
    await run(provider, req(generation={"thinking_summaries": "none"}))
    assert fake.requests[-1].path == "/v1/chat/completions"


def test_parser_joins_summary_parts_and_raises_stream_errors() -> None:
    parser = EventParser("provider 'openai'")
    where = {"item_id": "rs_1", "output_index": 0, "sequence_number": 1}
    events = [
        *parser.feed(
            {"type": "response.reasoning_summary_part.added", "summary_index": 0, **where}
        ),
        *parser.feed(
            {"type": "response.reasoning_summary_text.delta", "delta": "one", "summary_index": 0}
        ),
        *parser.feed(
            {"type": "response.reasoning_summary_part.added", "summary_index": 1, **where}
        ),
        *parser.feed(
            {"type": "response.reasoning_summary_text.delta", "delta": "two", "summary_index": 1}
        ),
    ]
    assert "".join(e.text for e in events if isinstance(e, ThoughtDelta)) == "one\n\ntwo"
    with pytest.raises(ProviderUnavailable, match="overloaded"):
        parser.feed({"type": "error", "code": "server_error", "message": "overloaded"})
    with pytest.raises(ProviderRejected, match="too long"):
        parser.feed({"type": "error", "code": "context_length_exceeded", "message": "too long"})
    failed = {"type": "response.failed", "response": {"error": {"message": "boom"}}}
    with pytest.raises(ProviderUnavailable, match="boom"):
        parser.feed(failed)
