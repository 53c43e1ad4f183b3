"""The Anthropic Messages provider against the fake Anthropic server, and the fake's
payloads against the official ``anthropic`` types."""

from __future__ import annotations

import base64
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import aiohttp
import anthropic
import pytest
from pydantic import TypeAdapter

from junction.config import ProviderConfig, Settings
from junction.errors import BadRequest, ProviderRateLimited, ProviderRejected, ProviderUnavailable
from junction.providers.anthropic import AnthropicProvider
from junction.providers.anthropic_messages import (
    REDACTED_PREFIX,
    message_events,
    to_messages,
    usage_of,
)
from junction.providers.base import (
    Finish,
    ModelRequest,
    ProviderEvent,
    TextDelta,
    ThoughtDelta,
    ThoughtSignature,
    ToolCallDelta,
    ToolCallEnd,
    ToolCallStart,
    Usage,
)
from junction.providers.http import SseParser
from junction.providers.retry import stream_with_retries
from junction.testing.fake_anthropic import AnthropicReply, FakeAnthropic
from junction.testing.fakeserver import Reply
from tests.providers.sdk_params import validate_param

STREAM_EVENT = TypeAdapter(anthropic.types.RawMessageStreamEvent)
MESSAGES = TypeAdapter(list[anthropic.types.MessageParam])
# Request fields checked against the SDK's parameter types when present.
PARAMS: dict[str, TypeAdapter[Any]] = {
    "messages": MESSAGES,
    "tools": TypeAdapter(list[anthropic.types.ToolParam]),
    "tool_choice": TypeAdapter(anthropic.types.ToolChoiceParam),
    "thinking": TypeAdapter(anthropic.types.ThinkingConfigParam),
    "service_tier": TypeAdapter(
        anthropic.types.message_create_params.MessageCreateParamsBase.__annotations__[
            "service_tier"
        ]
    ),
}
PNG = base64.b64encode(b"\x89PNG\r\n\x1a\nfake").decode()
PDF = base64.b64encode(b"%PDF-1.4 fake").decode()


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeAnthropic]:
    server = FakeAnthropic(api_key="test-key")
    server.start()
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def _reset(fake: FakeAnthropic) -> None:
    fake.reset()


def make_provider(fake: FakeAnthropic, **options: Any) -> AnthropicProvider:
    config = ProviderConfig(
        name="anthropic",
        kind="anthropic",
        base_url=fake.url + "/",
        api_key="test-key",
        options=options,
    )
    return AnthropicProvider(config, Settings(provider_timeout=10))


@pytest.fixture(scope="module")
async def provider(fake: FakeAnthropic) -> AsyncIterator[AnthropicProvider]:
    instance = make_provider(fake)
    yield instance
    await instance.aclose()


def user(*content: dict[str, Any]) -> dict[str, Any]:
    return {"type": "user_input", "content": list(content)}


def text(value: str) -> dict[str, Any]:
    return {"type": "text", "text": value}


def request(*steps: dict[str, Any], **kwargs: Any) -> ModelRequest:
    return ModelRequest(model="claude-test", steps=list(steps) or [user(text("hi"))], **kwargs)


async def collect(events: AsyncIterator[ProviderEvent]) -> list[ProviderEvent]:
    return [event async for event in events]


def joined(events: list[ProviderEvent], kind: type[TextDelta] | type[ThoughtDelta]) -> str:
    return "".join(e.text for e in events if isinstance(e, kind))


def validate_messages(messages: list[dict[str, Any]]) -> None:
    validate_param(MESSAGES, messages)


def sent(fake: FakeAnthropic, index: int = -1) -> dict[str, Any]:
    body = fake.requests[index].body
    assert isinstance(body, dict)
    for key, adapter in PARAMS.items():
        if key in body:
            validate_param(adapter, body[key])
    return body


# -- text, usage -------------------------------------------------------------------------
@pytest.mark.parametrize("stream", [True, False])
async def test_text(fake: FakeAnthropic, provider: AnthropicProvider, stream: bool) -> None:
    fake.enqueue(
        AnthropicReply(
            text="Hello there, world!", input_tokens=20, output_tokens=5, cache_read_input_tokens=8
        )
    )
    events = await collect(provider.stream(request(stream=stream)))
    assert joined(events, TextDelta) == "Hello there, world!"
    if stream:
        assert sum(isinstance(e, TextDelta) for e in events) >= 2
    assert events[-2:] == [Usage(input_tokens=28, output_tokens=5, cached_tokens=8), Finish("stop")]
    recorded = fake.requests[-1]
    assert recorded.path == "/v1/messages"
    assert recorded.headers["x-api-key"] == "test-key"
    assert recorded.headers["anthropic-version"] == "2023-06-01"
    assert sent(fake).get("stream", False) is stream


@pytest.mark.parametrize(
    ("finish", "expected"),
    [("length", "length"), ("content_filter", "content_filter"), ("stop_sequence", "stop")],
)
async def test_finish_reasons(
    fake: FakeAnthropic, provider: AnthropicProvider, finish: str, expected: str
) -> None:
    fake.enqueue(Reply(text="cut", finish=finish))
    events = await collect(provider.stream(request()))
    assert events[-1] == Finish(expected)


# -- thinking ----------------------------------------------------------------------------
@pytest.mark.parametrize("stream", [True, False])
async def test_thinking_round_trip(
    fake: FakeAnthropic, provider: AnthropicProvider, stream: bool
) -> None:
    fake.enqueue(Reply(text="42", thought="Let me think about it.", thought_signature="sig-abc"))
    events = await collect(
        provider.stream(request(stream=stream, generation={"thinking_level": "low"}))
    )
    assert joined(events, ThoughtDelta) == "Let me think about it."
    kinds = [type(e) for e in events]
    assert kinds.index(ThoughtSignature) > kinds.index(ThoughtDelta)
    assert kinds.index(ThoughtSignature) < kinds.index(TextDelta)
    assert ThoughtSignature("sig-abc") in events
    body = sent(fake)
    assert body["thinking"] == {"type": "enabled", "budget_tokens": 2048}
    assert body["max_tokens"] > 2048

    history = [
        user(text("q")),
        {
            "type": "thought",
            "signature": "sig-abc",
            "summary": [text("Let me "), text("think about it.")],
        },
        {"type": "thought", "summary": [text("unsigned: dropped")]},
        {"type": "model_output", "content": [text("42")]},
        user(text("why?")),
    ]
    fake.enqueue(Reply(text="because"))
    await collect(provider.stream(request(*history)))
    messages = sent(fake)["messages"]
    assert messages[1] == {
        "role": "assistant",
        "content": [
            {"type": "thinking", "thinking": "Let me think about it.", "signature": "sig-abc"},
            {"type": "text", "text": "42"},
        ],
    }


@pytest.mark.parametrize(
    ("level", "budget"), [("minimal", 1024), ("medium", 8192), ("high", 16384), ("xhigh", 32000)]
)
async def test_thinking_budget_raises_max_tokens(
    fake: FakeAnthropic, provider: AnthropicProvider, level: str, budget: int
) -> None:
    gen = {"thinking_level": level, "max_output_tokens": 1000, "temperature": 0.3}
    await collect(provider.stream(request(generation=gen)))
    body = sent(fake)
    assert body["thinking"]["budget_tokens"] == budget
    assert body["max_tokens"] == budget + 4096
    assert "temperature" not in body  # Anthropic rejects temperature with thinking


# -- tools -------------------------------------------------------------------------------
@pytest.mark.parametrize("stream", [True, False])
async def test_two_tool_calls(
    fake: FakeAnthropic, provider: AnthropicProvider, stream: bool
) -> None:
    calls = [("get_weather", {"city": "Paris", "unit": "c"}), ("get_time", {})]
    fake.enqueue(Reply(text="", tool_calls=calls))
    events = await collect(provider.stream(request(stream=stream)))
    tool_events = [e for e in events if isinstance(e, ToolCallStart | ToolCallDelta | ToolCallEnd)]
    starts = [i for i, e in enumerate(tool_events) if isinstance(e, ToolCallStart)]
    ends = [i for i, e in enumerate(tool_events) if isinstance(e, ToolCallEnd)]
    assert len(starts) == len(ends) == 2 and starts[0] < ends[0] < starts[1] < ends[1]
    first, second = tool_events[starts[0]], tool_events[starts[1]]
    assert isinstance(first, ToolCallStart) and isinstance(second, ToolCallStart)
    assert (first.name, second.name) == ("get_weather", "get_time")
    assert first.id != second.id and first.id.startswith("toolu_")
    deltas = tool_events[starts[0] + 1 : ends[0]]
    assert all(isinstance(d, ToolCallDelta) for d in deltas)
    if stream:
        assert len(deltas) >= 2
    assert [e.arguments for e in tool_events if isinstance(e, ToolCallEnd)] == [
        {"city": "Paris", "unit": "c"},
        {},
    ]
    assert not any(isinstance(e, TextDelta) for e in events)
    assert events[-1] == Finish("tool_calls")


# -- request translation -----------------------------------------------------------------
async def test_request_translation(fake: FakeAnthropic, provider: AnthropicProvider) -> None:
    notes = base64.b64encode("plain notes ✓".encode()).decode()
    steps = [
        user(
            text("look"),
            {"type": "image", "data": PNG, "mime_type": "image/png"},
            {"type": "image", "uri": "https://example.com/cat.jpg"},
        ),
        user(
            {"type": "document", "data": PDF, "mime_type": "application/pdf"},
            {
                "type": "document",
                "uri": "https://example.com/a.pdf",
                "mime_type": "application/pdf",
            },
            {"type": "document", "data": notes, "mime_type": "text/plain"},
        ),
        {"type": "model_output", "content": [text("calling")]},
        {"type": "function_call", "id": "c1", "name": "f", "arguments": {"x": 1}},
        {"type": "function_call", "id": "c2", "name": "g", "arguments": {}},
        {"type": "function_result", "call_id": "c1", "name": "f", "result": {"y": 2}},
        {
            "type": "function_result",
            "call_id": "c2",
            "name": "g",
            "result": "failed",
            "is_error": True,
        },
        user(text("and?")),
        {"type": "function_call", "id": "c3", "name": "f", "arguments": {}},
        {
            "type": "function_result",
            "call_id": "c3",
            "name": "f",
            "result": [text("see"), {"type": "image", "data": PNG, "mime_type": "image/png"}],
        },
    ]
    tools = [
        {
            "type": "function",
            "name": "f",
            "description": "F.",
            "parameters": {"type": "object", "properties": {"x": {"type": "integer"}}},
        },
        {"type": "function", "name": "g"},
        {"type": "google_search"},
    ]
    gen = {"temperature": 1.5, "top_p": 0.9, "seed": 7, "stop_sequences": ["END"]}
    await collect(
        provider.stream(
            request(
                *steps,
                system_instruction="Be brief.",
                tools=tools,
                tool_choice="any",
                generation=gen,
            )
        )
    )
    body = sent(fake)
    assert body["model"] == "claude-test"
    assert body["system"] == "Be brief."
    assert body["max_tokens"] == 4096
    assert (body["temperature"], body["top_p"], body["stop_sequences"]) == (1.0, 0.9, ["END"])
    assert "seed" not in body and "thinking" not in body
    assert body["tools"] == [
        {
            "name": "f",
            "description": "F.",
            "input_schema": {"type": "object", "properties": {"x": {"type": "integer"}}},
        },
        {"name": "g", "input_schema": {"type": "object", "properties": {}}},
    ]
    assert body["tool_choice"] == {"type": "any"}
    messages = body["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant", "user", "assistant", "user"]
    assert messages[0]["content"] == [
        {"type": "text", "text": "look"},
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}},
        {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.jpg"}},
        {
            "type": "document",
            "source": {"type": "base64", "media_type": "application/pdf", "data": PDF},
        },
        {"type": "document", "source": {"type": "url", "url": "https://example.com/a.pdf"}},
        {
            "type": "document",
            "source": {"type": "text", "media_type": "text/plain", "data": "plain notes ✓"},
        },
    ]
    assert messages[1]["content"] == [
        {"type": "text", "text": "calling"},
        {"type": "tool_use", "id": "c1", "name": "f", "input": {"x": 1}},
        {"type": "tool_use", "id": "c2", "name": "g", "input": {}},
    ]
    assert messages[2]["content"] == [
        {"type": "tool_result", "tool_use_id": "c1", "content": '{"y":2}'},
        {"type": "tool_result", "tool_use_id": "c2", "content": "failed", "is_error": True},
        {"type": "text", "text": "and?"},
    ]
    assert messages[4]["content"] == [
        {
            "type": "tool_result",
            "tool_use_id": "c3",
            "content": [
                {"type": "text", "text": "see"},
                {
                    "type": "image",
                    "source": {"type": "base64", "media_type": "image/png", "data": PNG},
                },
            ],
        }
    ]


@pytest.mark.parametrize(
    ("choice", "names", "expected"),
    [
        ("auto", ["f", "g"], {"type": "auto"}),
        # validated: the model may answer or call; Junction validates the arguments
        ("validated", ["f", "g"], {"type": "auto"}),
        ("none", ["f", "g"], {"type": "none"}),
        ({"allowed_tools": {"mode": "any", "tools": ["g"]}}, ["g"], {"type": "tool", "name": "g"}),
        ({"allowed_tools": {"mode": "auto", "tools": ["f"]}}, ["f"], {"type": "auto"}),
        (
            {"allowed_tools": {"mode": "validated", "tools": ["f", "g"]}},
            ["f", "g"],
            {"type": "auto"},
        ),
        ({"allowed_tools": {"mode": "validated", "tools": ["g"]}}, ["g"], {"type": "auto"}),
    ],
)
async def test_tool_choice(
    fake: FakeAnthropic,
    provider: AnthropicProvider,
    choice: Any,
    names: list[str],
    expected: dict[str, Any],
) -> None:
    tools = [{"type": "function", "name": "f"}, {"type": "function", "name": "g"}]
    await collect(provider.stream(request(tools=tools, tool_choice=choice)))
    body = sent(fake)
    assert [t["name"] for t in body["tools"]] == names
    assert body["tool_choice"] == expected


async def test_forced_tool_choice_leaves_thinking_off(
    fake: FakeAnthropic, provider: AnthropicProvider
) -> None:
    tools = [{"type": "function", "name": "f"}]
    gen = {"thinking_level": "high", "temperature": 0.2}
    await collect(provider.stream(request(tools=tools, tool_choice="any", generation=gen)))
    body = sent(fake)
    assert "thinking" not in body and body["temperature"] == 0.2
    assert body["max_tokens"] == 4096


@pytest.mark.parametrize(
    ("gen", "thinking"),
    [
        # summaries without a level turn thinking on at the low budget, shown summarised
        (
            {"thinking_summaries": "auto"},
            {"type": "enabled", "budget_tokens": 2048, "display": "summarized"},
        ),
        (
            {"thinking_level": "high", "thinking_summaries": "none"},
            {"type": "enabled", "budget_tokens": 16384, "display": "omitted"},
        ),
        ({"thinking_level": "medium"}, {"type": "enabled", "budget_tokens": 8192}),
        ({"thinking_summaries": "none"}, None),
    ],
)
async def test_thinking_summaries(
    fake: FakeAnthropic, provider: AnthropicProvider, gen: dict[str, Any], thinking: Any
) -> None:
    fake.enqueue(Reply(text="a", thought="step by step"))
    events = await collect(provider.stream(request(generation=gen)))
    assert sent(fake).get("thinking") == thinking
    assert joined(events, ThoughtDelta) == "step by step"


@pytest.mark.parametrize(
    ("tier", "expected"), [("standard", "standard_only"), ("priority", "auto"), (None, None)]
)
async def test_service_tier(
    fake: FakeAnthropic, provider: AnthropicProvider, tier: str | None, expected: str | None
) -> None:
    gen = {"service_tier": tier} if tier else {}
    await collect(provider.stream(request(generation=gen)))
    assert sent(fake).get("service_tier") == expected


@pytest.mark.parametrize(
    ("gen", "choice", "field"),
    [
        ({"service_tier": "flex"}, None, "service_tier"),
        ({"service_tier": "deferred"}, None, "service_tier"),
        ({"cached_content": "cachedContents/abc"}, None, "cached_content"),
        (
            {"safety_settings": [{"type": "harassment", "threshold": "block_only_high"}]},
            None,
            "safety_settings[0].threshold",
        ),
        ({"thinking_summaries": "auto"}, "any", "generation_config.thinking_summaries"),
        ({"thinking_level": "low"}, "any", "generation_config.thinking_level"),
        ({"seed": 7}, None, "generation_config.seed"),
    ],
)
async def test_options_refused(
    provider: AnthropicProvider, gen: dict[str, Any], choice: Any, field: str
) -> None:
    tools = [{"type": "function", "name": "f"}]
    with pytest.raises(BadRequest) as caught:
        provider.check_options(request(generation=gen, tools=tools, tool_choice=choice))
    assert caught.value.message.startswith(f"{field}: model 'anthropic/claude-test'")


async def test_options_accepted(provider: AnthropicProvider) -> None:
    off = [
        {"type": "harassment", "threshold": "off"},
        {"type": "jailbreak", "threshold": "block_none"},
    ]
    gen = {"safety_settings": off, "service_tier": "priority", "thinking_summaries": "auto"}
    tools = [{"type": "function", "name": "f"}]
    provider.check_options(request(generation=gen, tools=tools, tool_choice="validated"))


def test_redacted_thinking_round_trip() -> None:
    message = {
        "content": [{"type": "redacted_thinking", "data": "opaque"}, {"type": "text", "text": "a"}],
        "usage": {
            "input_tokens": 3,
            "output_tokens": 9,
            "output_tokens_details": {"thinking_tokens": 4},
        },
        "stop_reason": "end_turn",
    }
    events = list(message_events(message))
    assert events[0] == ThoughtSignature(REDACTED_PREFIX + "opaque")
    assert events[-2:] == [Usage(3, 5, 4, 0), Finish("stop")]
    steps = [
        user(text("q")),
        {"type": "thought", "signature": REDACTED_PREFIX + "opaque"},
        {"type": "model_output", "content": [text("a")]},
    ]
    messages = to_messages(steps)
    validate_messages(messages)
    assert messages[1]["content"][0] == {"type": "redacted_thinking", "data": "opaque"}


def test_usage_counts_cache_reads_and_writes() -> None:
    usage = {
        "input_tokens": 5,
        "cache_read_input_tokens": 100,
        "cache_creation_input_tokens": 20,
        "output_tokens": 7,
    }
    assert usage_of(usage) == Usage(input_tokens=125, output_tokens=7, cached_tokens=100)


def test_message_validation_is_deep() -> None:
    with pytest.raises(ValueError):
        validate_messages([{"role": "user", "content": [{"type": "bogus"}]}])
    with pytest.raises(AssertionError):
        validate_messages([{"role": "user", "content": [{"type": "text", "text": "a", "x": 1}]}])
    bad_result = {"type": "tool_result", "tool_use_id": "c", "content": [{"type": "nope"}]}
    with pytest.raises(ValueError):
        validate_messages([{"role": "user", "content": [bad_result]}])


async def test_max_tokens_option(fake: FakeAnthropic) -> None:
    custom = make_provider(fake, max_tokens=777)
    try:
        await collect(custom.stream(request()))
        assert sent(fake)["max_tokens"] == 777
        await collect(custom.stream(request(generation={"max_output_tokens": 55})))
        assert sent(fake)["max_tokens"] == 55
    finally:
        await custom.aclose()


def test_check_rejects_unsupported_input(provider: AnthropicProvider) -> None:
    audio = {"type": "audio", "data": PNG, "mime_type": "audio/wav"}
    with pytest.raises(BadRequest, match="audio"):
        provider.check(request(user(text("listen"), audio)))
    doc = {"type": "document", "data": PDF, "mime_type": "application/msword"}
    with pytest.raises(BadRequest, match="application/msword"):
        provider.check(request(user(doc)))
    provider.check(request(user({"type": "image", "data": PNG, "mime_type": "image/png"})))


def test_missing_settings(fake: FakeAnthropic) -> None:
    keyless = AnthropicProvider(ProviderConfig(name="anthropic", kind="anthropic"), Settings())
    assert keyless.missing_settings() == "set ANTHROPIC_API_KEY"
    assert keyless.url == "https://api.anthropic.com/v1/messages"
    assert make_provider(fake).missing_settings() is None


# -- errors and retries ------------------------------------------------------------------
def retrying(provider: AnthropicProvider, req: ModelRequest) -> AsyncIterator[ProviderEvent]:
    return stream_with_retries(provider, req, attempts=4, base_delay=0.01, max_delay=0.05)


async def test_400_not_retried(fake: FakeAnthropic, provider: AnthropicProvider) -> None:
    fake.enqueue(Reply(status=400, error_message="messages: field required"))
    with pytest.raises(ProviderRejected, match="messages: field required"):
        await collect(retrying(provider, request()))
    assert len(fake.requests) == 1


async def test_5xx_retried(fake: FakeAnthropic, provider: AnthropicProvider) -> None:
    fake.enqueue(
        Reply(status=529, error_message="Overloaded"), Reply(status=500), Reply(text="recovered")
    )
    events = await collect(retrying(provider, request()))
    assert joined(events, TextDelta) == "recovered"
    assert len(fake.requests) == 3


async def test_429_retry_after(fake: FakeAnthropic, provider: AnthropicProvider) -> None:
    fake.enqueue(Reply(status=429, headers={"retry-after": "1"}), Reply(text="later"))
    started = time.monotonic()
    events = await collect(retrying(provider, request()))
    assert joined(events, TextDelta) == "later"
    assert time.monotonic() - started >= 0.95
    assert len(fake.requests) == 2
    fake.enqueue(Reply(status=429, headers={"retry-after": "3"}))
    with pytest.raises(ProviderRateLimited) as info:
        await collect(provider.stream(request()))
    assert info.value.retry_after == 3


async def test_mid_stream_error(fake: FakeAnthropic, provider: AnthropicProvider) -> None:
    fake.enqueue(
        AnthropicReply(
            text="partial answer", stream_error="overloaded_error", error_message="Overloaded"
        )
    )
    seen: list[ProviderEvent] = []
    with pytest.raises(ProviderUnavailable, match="Overloaded"):
        async for event in retrying(provider, request()):
            seen.append(event)
    assert seen and isinstance(seen[0], TextDelta)
    assert len(fake.requests) == 1  # started streaming: never replayed
    fake.enqueue(AnthropicReply(stream_error="invalid_request_error"))
    with pytest.raises(ProviderRejected):
        await collect(provider.stream(request()))


async def test_wrong_key_rejected(fake: FakeAnthropic) -> None:
    config = ProviderConfig(name="anthropic", kind="anthropic", base_url=fake.url, api_key="bad")
    bad = AnthropicProvider(config, Settings())
    try:
        with pytest.raises(ProviderRejected, match="401"):
            await collect(bad.stream(request()))
    finally:
        await bad.aclose()


# -- the fake's payloads against the official types ---------------------------------------
async def raw_call(fake: FakeAnthropic, body: dict[str, Any]) -> tuple[int, Any]:
    headers = {"x-api-key": "test-key", "anthropic-version": "2023-06-01"}
    async with (
        aiohttp.ClientSession() as session,
        session.post(fake.url + "/v1/messages", json=body, headers=headers) as response,
    ):
        raw = await response.read()
        if not body.get("stream") or response.status >= 400:
            return response.status, await response.json(content_type=None)
    return response.status, list(SseParser().feed(raw))


@pytest.mark.parametrize("stream", [True, False])
@pytest.mark.parametrize(
    "reply",
    [
        Reply(text="plain"),
        Reply(text="with thought", thought="hmm", thought_signature="sig"),
        Reply(text="", thought="plan", tool_calls=[("f", {"a": [1, 2]}), ("g", {})]),
        AnthropicReply(text="x", finish="length", cache_read_input_tokens=3),
    ],
    ids=["text", "thought", "tools", "length"],
)
async def test_fake_payloads_validate(fake: FakeAnthropic, reply: Reply, stream: bool) -> None:
    fake.enqueue(reply)
    body = {
        "model": "claude-test",
        "max_tokens": 100,
        "stream": stream,
        "messages": [{"role": "user", "content": "hi"}],
    }
    status, payload = await raw_call(fake, body)
    assert status == 200
    if not stream:
        anthropic.types.Message.model_validate(payload)
        return
    names = [name for name, _ in payload]
    assert names[0] == "message_start" and names[-1] == "message_stop"
    for name, data in payload:
        if name == "ping":
            continue
        parsed = STREAM_EVENT.validate_json(data)
        assert parsed.type == name


async def test_fake_error_payloads_validate(fake: FakeAnthropic) -> None:
    body = {
        "model": "claude-test",
        "max_tokens": 100,
        "stream": True,
        "messages": [{"role": "user", "content": "hi"}],
    }
    for status in (400, 429, 500, 529):
        fake.enqueue(Reply(status=status))
        code, payload = await raw_call(fake, body)
        assert code == status
        anthropic.types.ErrorResponse.model_validate(payload)
    fake.enqueue(AnthropicReply(stream_error="overloaded_error"))
    _, events = await raw_call(fake, body)
    name, data = events[-1]
    assert name == "error"
    anthropic.types.ErrorResponse.model_validate_json(data)


async def test_official_sdk_reads_the_fake(fake: FakeAnthropic) -> None:
    client = anthropic.AsyncAnthropic(base_url=fake.url, api_key="test-key", max_retries=0)
    try:
        fake.enqueue(Reply(text="sdk ok", thought="t", tool_calls=[("f", {"k": "v"})]))
        async with client.messages.stream(
            model="claude-test", max_tokens=50, messages=[{"role": "user", "content": "hi"}]
        ) as stream:
            final = await stream.get_final_message()
        assert [b.type for b in final.content] == ["thinking", "text", "tool_use"]
        assert final.content[2].input == {"k": "v"}  # type: ignore[union-attr]
        assert final.stop_reason == "tool_use"
    finally:
        await client.close()
