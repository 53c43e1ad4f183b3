"""The OpenAI Chat Completions provider against a fake server speaking the real wire
format; the fake's payloads are checked against the official ``openai`` types."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import aiohttp
import orjson
import pytest
from openai.types.chat import (
    ChatCompletion,
    ChatCompletionChunk,
    ChatCompletionContentPartParam,
    ChatCompletionMessageParam,
    ChatCompletionMessageToolCallUnionParam,
)
from openai.types.chat.completion_create_params import CompletionCreateParamsBase
from pydantic import ConfigDict, TypeAdapter

from junction.config import ProviderConfig, Settings
from junction.errors import BadRequest, ProviderRejected, ProviderUnavailable
from junction.providers.base import (
    Finish,
    ModelRequest,
    ProviderEvent,
    TextDelta,
    ThoughtDelta,
    ToolCallDelta,
    ToolCallEnd,
    ToolCallStart,
    Usage,
)
from junction.providers.openai import ChunkParser, OpenAIProvider
from junction.providers.retry import stream_with_retries
from junction.testing.fake_openai import FakeOpenAI
from junction.testing.fakeserver import Reply

IMG = "iVBORw0KGgo="
_STRICT = ConfigDict(extra="forbid")
MESSAGE = TypeAdapter(ChatCompletionMessageParam)
PART = TypeAdapter(ChatCompletionContentPartParam, config=_STRICT)
TOOL_CALL = TypeAdapter(ChatCompletionMessageToolCallUnionParam, config=_STRICT)


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeOpenAI]:
    server = FakeOpenAI()
    server.start()
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def _reset(fake: FakeOpenAI) -> None:
    fake.reset()
    fake.cached_tokens = 0


def make(fake: FakeOpenAI, **options: Any) -> OpenAIProvider:
    config = ProviderConfig(
        name="fake", kind="openai", base_url=fake.url + "/v1/", api_key="sk-test", options=options
    )
    return OpenAIProvider(config, Settings())


@pytest.fixture
async def provider(fake: FakeOpenAI) -> AsyncIterator[OpenAIProvider]:
    instance = make(fake)
    yield instance
    await instance.aclose()


def user(*items: dict[str, Any]) -> dict[str, Any]:
    return {"type": "user_input", "content": list(items)}


def text(value: str) -> dict[str, Any]:
    return {"type": "text", "text": value}


def req(*steps: dict[str, Any], **kw: Any) -> ModelRequest:
    return ModelRequest(model="gpt-test", steps=list(steps) or [user(text("hi"))], **kw)


async def run(provider: OpenAIProvider, request: ModelRequest) -> list[ProviderEvent]:
    return [event async for event in provider.stream(request)]


async def body_for(
    fake: FakeOpenAI, provider: OpenAIProvider, request: ModelRequest
) -> dict[str, Any]:
    await run(provider, request)
    body: dict[str, Any] = fake.requests[-1].body
    for message in body["messages"]:
        validate_message(message)
    return body


def validate_message(message: dict[str, Any]) -> None:
    MESSAGE.validate_python(message)
    if isinstance(message.get("content"), list):
        for part in message["content"]:
            PART.validate_python(part)
    for call in message.get("tool_calls") or ():
        TOOL_CALL.validate_python(call)


# -- responses → events ----------------------------------------------------------------
@pytest.mark.parametrize("stream", [True, False])
async def test_text(fake: FakeOpenAI, provider: OpenAIProvider, stream: bool) -> None:
    fake.enqueue(Reply(text="Hello there, world", input_tokens=5, output_tokens=3))
    events = await run(provider, req(stream=stream))
    texts = [e.text for e in events if isinstance(e, TextDelta)]
    assert "".join(texts) == "Hello there, world"
    assert len(texts) == (3 if stream else 1)
    assert events[-2:] == [Usage(5, 3, 0, 0), Finish("stop")]
    recorded = fake.requests[-1]
    assert recorded.path == "/v1/chat/completions"
    assert recorded.headers["Authorization"] == "Bearer sk-test"
    assert recorded.body["model"] == "gpt-test"
    assert recorded.body["stream"] is stream
    if stream:
        assert recorded.body["stream_options"] == {"include_usage": True}
    else:
        assert "stream_options" not in recorded.body


@pytest.mark.parametrize("stream", [True, False])
async def test_two_tool_calls(fake: FakeOpenAI, provider: OpenAIProvider, stream: bool) -> None:
    calls = [("get_weather", {"city": "Paris", "units": "c"}), ("get_time", {"tz": "Europe/Paris"})]
    fake.enqueue(Reply(text="", tool_calls=calls))
    events = await run(provider, req(stream=stream))
    kinds = [type(e).__name__ for e in events]
    first_end = kinds.index("ToolCallEnd")
    assert kinds[0] == "ToolCallStart" and kinds[first_end + 1] == "ToolCallStart"
    assert set(kinds[1:first_end]) == {"ToolCallDelta"}
    if stream:
        assert first_end >= 3  # arguments arrived in 2+ fragments
    starts = [e for e in events if isinstance(e, ToolCallStart)]
    ends = [e for e in events if isinstance(e, ToolCallEnd)]
    assert [s.name for s in starts] == ["get_weather", "get_time"]
    assert all(s.id.startswith("call_") for s in starts) and starts[0].id != starts[1].id
    assert [e.arguments for e in ends] == [args for _, args in calls]
    second = "".join(e.arguments for e in events[first_end + 1 :] if isinstance(e, ToolCallDelta))
    assert orjson.loads(second) == calls[1][1]
    assert not any(isinstance(e, TextDelta) for e in events)
    assert events[-1] == Finish("tool_calls")


@pytest.mark.parametrize("stream", [True, False])
async def test_reasoning_and_usage(
    fake: FakeOpenAI, provider: OpenAIProvider, stream: bool
) -> None:
    fake.cached_tokens = 4
    fake.enqueue(Reply(text="42", thought="let me think hard", input_tokens=20, output_tokens=9))
    events = await run(provider, req(stream=stream))
    thoughts = [e.text for e in events if isinstance(e, ThoughtDelta)]
    assert "".join(thoughts) == "let me think hard"
    first_text = next(i for i, e in enumerate(events) if isinstance(e, TextDelta))
    assert all(isinstance(e, ThoughtDelta) for e in events[: len(thoughts)])
    assert first_text == len(thoughts)
    usage = [e for e in events if isinstance(e, Usage)]
    assert usage == [Usage(input_tokens=20, output_tokens=9, thought_tokens=4, cached_tokens=4)]
    assert events[-1] == Finish("stop")


@pytest.mark.parametrize("reason", ["length", "content_filter"])
async def test_finish_reasons(fake: FakeOpenAI, provider: OpenAIProvider, reason: str) -> None:
    fake.enqueue(Reply(finish=reason))
    assert (await run(provider, req()))[-1] == Finish(reason)


def test_parser_edge_cases() -> None:
    parser = ChunkParser("x")
    events = parser.feed(
        {
            "choices": [
                {
                    "index": 0,
                    "delta": {
                        "reasoning": "hm",
                        "tool_calls": [
                            {"index": 0, "function": {"name": "f", "arguments": "{not json"}}
                        ],
                    },
                }
            ]
        }
    )
    assert events[0] == ThoughtDelta("hm")
    start = events[1]
    assert isinstance(start, ToolCallStart) and start.name == "f" and start.id.startswith("call_")
    events = parser.feed({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
    assert parser.finish() == [ToolCallEnd({"_raw": "{not json"}), Finish("tool_calls")]
    with pytest.raises(ProviderUnavailable, match="overloaded"):
        ChunkParser("x").feed({"error": {"message": "overloaded", "type": "server_error"}})


async def test_error_chunk_mid_stream(
    provider: OpenAIProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def sse(_response: Any) -> AsyncIterator[tuple[str, str]]:
        yield (
            "message",
            orjson.dumps({"choices": [{"index": 0, "delta": {"content": "a"}}]}).decode(),
        )
        yield "message", '{"error": {"message": "engine died", "type": "server_error"}}'

    monkeypatch.setattr("junction.providers.openai.sse_events", sse)
    seen: list[ProviderEvent] = []
    with pytest.raises(ProviderUnavailable, match="engine died"):
        async for event in provider.stream(req()):
            seen.append(event)
    assert seen == [TextDelta("a")]


# -- request translation ---------------------------------------------------------------
async def test_messages(fake: FakeOpenAI, provider: OpenAIProvider) -> None:
    steps = [
        user(text("what is the weather?")),
        {"type": "thought", "signature": "sig", "summary": [text("thinking")]},
        {"type": "model_output", "content": [text("Let me check.")]},
        {"type": "function_call", "id": "c1", "name": "weather", "arguments": {"city": "Oslo"}},
        {"type": "function_call", "id": "c2", "name": "clock", "arguments": {}},
        {"type": "function_result", "call_id": "c1", "name": "weather", "result": {"t": 3}},
        {"type": "function_result", "call_id": "c2", "name": "clock", "result": "12:00"},
        {"type": "model_output", "content": [text("Cold, at noon.")]},
        user(
            text("and images?"),
            {"type": "image", "data": IMG, "mime_type": "image/png"},
            {"type": "image", "uri": "https://example.com/a.jpg", "mime_type": "image/jpeg"},
        ),
    ]
    body = await body_for(fake, provider, req(*steps, system_instruction="Be brief."))
    assert body["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "what is the weather?"},
        {
            "role": "assistant",
            "content": "Let me check.",
            "tool_calls": [
                {
                    "id": "c1",
                    "type": "function",
                    "function": {"name": "weather", "arguments": '{"city":"Oslo"}'},
                },
                {"id": "c2", "type": "function", "function": {"name": "clock", "arguments": "{}"}},
            ],
        },
        {"role": "tool", "tool_call_id": "c1", "content": '{"t":3}'},
        {"role": "tool", "tool_call_id": "c2", "content": "12:00"},
        {"role": "assistant", "content": "Cold, at noon."},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "and images?"},
                {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{IMG}"}},
                {"type": "image_url", "image_url": {"url": "https://example.com/a.jpg"}},
            ],
        },
    ]


async def test_audio_and_document_parts(fake: FakeOpenAI, provider: OpenAIProvider) -> None:
    step = user(
        {"type": "audio", "data": "UklGRg==", "mime_type": "audio/wav"},
        {"type": "audio", "data": "SUQz", "mime_type": "audio/mpeg"},
        {"type": "document", "data": "JVBERi0=", "mime_type": "application/pdf"},
    )
    body = await body_for(fake, provider, req(step))
    assert body["messages"][0]["content"] == [
        {"type": "input_audio", "input_audio": {"data": "UklGRg==", "format": "wav"}},
        {"type": "input_audio", "input_audio": {"data": "SUQz", "format": "mp3"}},
        {
            "type": "file",
            "file": {
                "filename": "document.pdf",
                "file_data": "data:application/pdf;base64,JVBERi0=",
            },
        },
    ]


@pytest.mark.parametrize(
    "item, match",
    [
        ({"type": "audio", "data": "T2dn", "mime_type": "audio/ogg"}, "audio/ogg"),
        (
            {
                "type": "document",
                "uri": "https://example.com/a.pdf",
                "mime_type": "application/pdf",
            },
            "uri",
        ),
    ],
)
async def test_unsupported_media(
    fake: FakeOpenAI, provider: OpenAIProvider, item: dict[str, Any], match: str
) -> None:
    with pytest.raises(BadRequest, match=match):
        await run(provider, req(user(item)))
    assert fake.requests == []


def test_video_rejected_by_check(provider: OpenAIProvider) -> None:
    video = {"type": "video", "data": IMG, "mime_type": "video/mp4"}
    with pytest.raises(BadRequest, match="video"):
        provider.check(req(user(text("see"), video)))
    provider.check(req(user({"type": "image", "data": IMG, "mime_type": "image/png"})))


TOOLS = [
    {
        "type": "function",
        "name": "a",
        "description": "does a",
        "parameters": {"type": "object", "properties": {"x": {"type": "integer"}}},
    },
    {"type": "function", "name": "b"},
    {"type": "google_search"},
]


@pytest.mark.parametrize(
    "choice, expected_choice, names",
    [
        (None, None, ["a", "b"]),
        ("auto", "auto", ["a", "b"]),
        ("none", "none", ["a", "b"]),
        ("any", "required", ["a", "b"]),
        # validated: the model may answer or call; Junction validates the arguments
        ("validated", "auto", ["a", "b"]),
        ({"allowed_tools": {"mode": "auto", "tools": ["a", "b"]}}, "auto", ["a", "b"]),
        (
            {"allowed_tools": {"mode": "any", "tools": ["b"]}},
            {"type": "function", "function": {"name": "b"}},
            ["b"],
        ),
        ({"allowed_tools": {"mode": "validated", "tools": ["a", "b"]}}, "auto", ["a", "b"]),
        ({"allowed_tools": {"mode": "validated", "tools": ["b"]}}, "auto", ["b"]),
    ],
)
async def test_tools_and_choice(
    fake: FakeOpenAI, provider: OpenAIProvider, choice: Any, expected_choice: Any, names: list[str]
) -> None:
    body = await body_for(fake, provider, req(tools=TOOLS, tool_choice=choice))
    assert [t["function"]["name"] for t in body["tools"]] == names
    assert body["tools"][0] == (
        {
            "type": "function",
            "function": {
                "name": "a",
                "description": "does a",
                "parameters": TOOLS[0]["parameters"],
            },
        }
        if names[0] == "a"
        else {
            "type": "function",
            "function": {"name": "b", "parameters": {"type": "object", "properties": {}}},
        }
    )
    assert body.get("tool_choice") == expected_choice


async def test_no_function_tools(fake: FakeOpenAI, provider: OpenAIProvider) -> None:
    body = await body_for(fake, provider, req(tools=[{"type": "google_search"}], tool_choice="any"))
    assert "tools" not in body and "tool_choice" not in body


async def test_generation(fake: FakeOpenAI, provider: OpenAIProvider) -> None:
    gen = {
        "temperature": 0.2,
        "top_p": 0.9,
        "seed": 7,
        "stop_sequences": ["END"],
        "max_output_tokens": 64,
        "thinking_level": "xhigh",
        "thinking_summaries": "auto",
    }
    body = await body_for(fake, provider, req(generation=gen))
    assert {
        k: body.get(k)
        for k in (
            "temperature",
            "top_p",
            "seed",
            "stop",
            "max_completion_tokens",
            "reasoning_effort",
        )
    } == {
        "temperature": 0.2,
        "top_p": 0.9,
        "seed": 7,
        "stop": ["END"],
        "max_completion_tokens": 64,
        "reasoning_effort": "high",
    }
    assert "max_tokens" not in body and "thinking_summaries" not in body
    body = await body_for(fake, provider, req(generation={"thinking_level": "minimal"}))
    assert body["reasoning_effort"] == "minimal"


async def test_generation_options(fake: FakeOpenAI) -> None:
    provider = make(
        fake,
        max_tokens_field="max_tokens",
        reasoning=False,
        extra_body={"top_k": 20, "chat_template_kwargs": {"enable_thinking": False}},
    )
    try:
        gen = {"max_output_tokens": 10, "thinking_level": "low"}
        body = await body_for(fake, provider, req(generation=gen))
    finally:
        await provider.aclose()
    assert body["max_tokens"] == 10 and "max_completion_tokens" not in body
    assert "reasoning_effort" not in body
    assert body["top_k"] == 20 and body["chat_template_kwargs"] == {"enable_thinking": False}


@pytest.mark.parametrize(
    "schema, expected",
    [
        (
            {"type": "object", "properties": {"n": {"type": "integer"}}},
            {
                "type": "json_schema",
                "json_schema": {
                    "name": "response",
                    "strict": False,
                    "schema": {"type": "object", "properties": {"n": {"type": "integer"}}},
                },
            },
        ),
        ({}, {"type": "json_object"}),
        (None, None),
    ],
)
async def test_response_format(
    fake: FakeOpenAI, provider: OpenAIProvider, schema: dict[str, Any] | None, expected: Any
) -> None:
    body = await body_for(fake, provider, req(response_schema=schema))
    assert body.get("response_format") == expected


# -- errors and retries ----------------------------------------------------------------
async def test_400_not_retried(fake: FakeOpenAI, provider: OpenAIProvider) -> None:
    fake.enqueue(Reply(status=400, error_message="bad model"), Reply())
    with pytest.raises(ProviderRejected, match="bad model") as info:
        async for _ in stream_with_retries(
            provider, req(), attempts=3, base_delay=0.01, max_delay=0.01
        ):
            pass
    assert info.value.status == 400
    assert len(fake.requests) == 1


async def test_500_then_success(fake: FakeOpenAI, provider: OpenAIProvider) -> None:
    fake.enqueue(Reply(status=500), Reply(text="fine"))
    events = [
        e
        async for e in stream_with_retries(
            provider, req(), attempts=3, base_delay=0.01, max_delay=0.01
        )
    ]
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == "fine"
    assert len(fake.requests) == 2


async def test_429_retry_after(fake: FakeOpenAI, provider: OpenAIProvider) -> None:
    fake.enqueue(Reply(status=429, headers={"Retry-After": "1"}), Reply(text="later"))
    started = time.monotonic()
    events = [
        e
        async for e in stream_with_retries(
            provider, req(), attempts=3, base_delay=0.01, max_delay=0.01
        )
    ]
    assert time.monotonic() - started >= 0.95
    assert events[-1] == Finish("stop")
    assert len(fake.requests) == 2


def test_missing_settings() -> None:
    def settings_for(base_url: str | None, key: str | None) -> str | None:
        config = ProviderConfig(name="openai", kind="openai", base_url=base_url, api_key=key)
        return OpenAIProvider(config, Settings()).missing_settings()

    assert "OPENAI_API_KEY" in (settings_for("https://api.openai.com/v1", None) or "")
    assert "OPENAI_API_KEY" in (settings_for(None, None) or "")
    assert settings_for("https://api.openai.com/v1", "sk-x") is None
    assert settings_for("http://localhost:11434/v1", None) is None


async def test_local_server_without_key(fake: FakeOpenAI) -> None:
    config = ProviderConfig(name="local", kind="openai", base_url=fake.url)
    provider = OpenAIProvider(config, Settings())
    try:
        await run(provider, req())
    finally:
        await provider.aclose()
    assert fake.requests[-1].path == "/chat/completions"
    assert "Authorization" not in fake.requests[-1].headers


# -- the fake's wire format, checked against the official types ----------------------------
FAKE_REPLIES = [
    Reply(text="Hello, world"),
    Reply(text="", thought="step by step", tool_calls=[("f", {"a": [1, 2]}), ("g", {})]),
    Reply(text="cut", finish="length"),
]


def check_chunk(raw: dict[str, Any], model: str) -> ChatCompletionChunk:
    for key in ("id", "object", "created", "model", "choices"):
        assert key in raw, key
    assert raw["object"] == "chat.completion.chunk" and raw["model"] == model
    for choice in raw["choices"]:
        assert {"index", "delta", "finish_reason"} <= choice.keys()
    for call in (raw["choices"][0]["delta"].get("tool_calls") or []) if raw["choices"] else []:
        assert "index" in call
    return ChatCompletionChunk.model_validate(raw)


@pytest.mark.parametrize("reply", FAKE_REPLIES)
@pytest.mark.parametrize("include_usage", [True, False])
async def test_fake_stream_matches_openai_types(
    fake: FakeOpenAI, reply: Reply, include_usage: bool
) -> None:
    fake.enqueue(reply)
    body = {
        "model": "m-1",
        "messages": [{"role": "user", "content": "hi"}],
        "stream": True,
        "stream_options": {"include_usage": include_usage},
    }
    async with (
        aiohttp.ClientSession() as session,
        session.post(fake.url + "/v1/chat/completions", json=body) as response,
    ):
        assert response.status == 200 and response.content_type == "text/event-stream"
        raw = (await response.read()).decode()
    frames = [f.removeprefix("data: ") for f in raw.split("\n\n") if f]
    assert frames[-1] == "[DONE]"
    chunks = [check_chunk(orjson.loads(f), "m-1") for f in frames[:-1]]
    assert len({c.id for c in chunks}) == 1
    finishes = [
        c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason
    ]
    assert finishes == [("tool_calls" if reply.tool_calls else reply.finish)]
    assert (chunks[-1].usage is not None) is include_usage
    if include_usage:
        assert chunks[-1].choices == [] and chunks[-1].usage is not None
        assert chunks[-1].usage.total_tokens == reply.input_tokens + reply.output_tokens


@pytest.mark.parametrize("reply", FAKE_REPLIES)
async def test_fake_completion_matches_openai_types(fake: FakeOpenAI, reply: Reply) -> None:
    fake.enqueue(reply)
    body = {"model": "m-2", "messages": [{"role": "user", "content": "hi"}]}
    async with (
        aiohttp.ClientSession() as session,
        session.post(fake.url + "/v1/chat/completions", json=body) as response,
    ):
        raw = await response.json()
    for key in ("id", "object", "created", "model", "choices", "usage"):
        assert key in raw
    completion = ChatCompletion.model_validate(raw)
    assert completion.object == "chat.completion" and completion.model == "m-2"
    message = completion.choices[0].message
    assert message.content == (reply.text or None)
    assert [c.function.name for c in message.tool_calls or [] if c.type == "function"] == [
        name for name, _ in reply.tool_calls
    ]


async def test_fake_error_shape(fake: FakeOpenAI) -> None:
    fake.enqueue(Reply(status=429, headers={"Retry-After": "3"}, error_message="slow down"))
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            fake.url + "/v1/chat/completions", json={"model": "m", "messages": []}
        ) as response,
    ):
        assert response.status == 429 and response.headers["Retry-After"] == "3"
        payload = await response.json()
    assert payload == {
        "error": {"message": "slow down", "type": "requests", "code": "rate_limit_exceeded"}
    }


# -- request options (service_tier, safety_settings, cached_content, summaries) -----------
SERVICE_TIER = TypeAdapter(CompletionCreateParamsBase.__annotations__["service_tier"])


@pytest.mark.parametrize(
    ("tier", "expected"), [("flex", "flex"), ("priority", "priority"), ("standard", "default")]
)
async def test_service_tier_is_sent(
    fake: FakeOpenAI, provider: OpenAIProvider, tier: str, expected: str
) -> None:
    body = await body_for(fake, provider, req(generation={"service_tier": tier}))
    assert body["service_tier"] == expected
    SERVICE_TIER.validate_python(body["service_tier"])


def official(**options: Any) -> OpenAIProvider:
    return compatible(None, **options)


def compatible(base_url: str | None = "http://127.0.0.1:9/v1", **options: Any) -> OpenAIProvider:
    config = ProviderConfig(
        name="openai", kind="openai", base_url=base_url, api_key="sk-test", options=options
    )
    return OpenAIProvider(config, Settings())


@pytest.mark.parametrize(
    ("provider_", "model", "gen", "field"),
    [
        (official(), "gpt-4o", {"service_tier": "flex"}, "service_tier"),
        (official(), "gpt-3.5-turbo", {"service_tier": "priority"}, "service_tier"),
        (official(), "gpt-5", {"service_tier": "deferred"}, "service_tier"),
        (official(), "gpt-5", {"cached_content": "cachedContents/x"}, "cached_content"),
        (
            official(),
            "gpt-5",
            {"safety_settings": [{"type": "hate_speech", "threshold": "block_low_and_above"}]},
            "safety_settings[0].threshold",
        ),
        # a compatible server without reasoning text (api.openai.com uses the Responses
        # API for summaries: tests/providers/test_openai_responses.py)
        (
            compatible(),
            "o4-mini",
            {"thinking_summaries": "auto"},
            "generation_config.thinking_summaries",
        ),
    ],
)
def test_options_refused(provider_: OpenAIProvider, model: str, gen: Any, field: str) -> None:
    with pytest.raises(BadRequest) as caught:
        provider_.check_options(ModelRequest(model=model, steps=[], generation=gen))
    assert caught.value.message.startswith(f"{field}: model 'openai/{model}'")


def test_options_accepted() -> None:
    for model, tier in (("gpt-5-mini", "flex"), ("o3", "priority"), ("gpt-4.1", "priority")):
        official().check_options(
            ModelRequest(model=model, steps=[], generation={"service_tier": tier})
        )
    off = {"safety_settings": [{"type": "harassment", "threshold": "off"}]}
    official().check_options(ModelRequest(model="gpt-4o", steps=[], generation=off))
    # a compatible server: tiers and reasoning text as its configuration says
    server = official(service_tiers=["flex"], reasoning_summaries=True)
    server.check_options(
        ModelRequest(
            model="qwen3",
            steps=[],
            generation={"service_tier": "flex", "thinking_summaries": "auto"},
        )
    )
    with pytest.raises(BadRequest, match="service_tier: model 'openai/qwen3'"):
        official(service_tiers=[]).check_options(
            ModelRequest(model="qwen3", steps=[], generation={"service_tier": "priority"})
        )
