"""The Gemini provider (google-genai SDK) against the fake generativelanguage server."""

from __future__ import annotations

import base64
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import aiohttp
import orjson
import pytest
from google.genai import errors as genai_errors
from google.genai import types

from junction.config import ProviderConfig, Settings
from junction.errors import BadRequest, ProviderRateLimited, ProviderRejected, ProviderUnavailable
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
from junction.providers.gemini import GeminiProvider, _Translator, translate_error
from junction.providers.retry import stream_with_retries
from junction.testing.fake_gemini import FakeGemini
from junction.testing.fakeserver import Reply

SIG = base64.b64encode(b"\x01\x02signature-one").decode()
PNG = base64.b64encode(b"\x89PNG fake").decode()
pytestmark = pytest.mark.filterwarnings(
    "ignore:Inheritance class AiohttpClientSession:DeprecationWarning"
)
USER = {"type": "user_input", "content": [{"type": "text", "text": "hi"}]}


@pytest.fixture(scope="module")
def server() -> Iterator[FakeGemini]:
    fake = FakeGemini().start()
    yield fake
    fake.stop()


@pytest.fixture
def fake(server: FakeGemini) -> FakeGemini:
    server.reset()
    server.thought_tokens = server.cached_tokens = 0
    return server


@pytest.fixture
async def provider(fake: FakeGemini) -> AsyncIterator[GeminiProvider]:
    instance = make_provider(fake.url)
    yield instance
    await instance.aclose()


def make_provider(url: str, key: str | None = "test-key") -> GeminiProvider:
    config = ProviderConfig(name="gemini", kind="gemini", base_url=url, api_key=key)
    return GeminiProvider(config, Settings(provider_timeout=10))


async def collect(provider: GeminiProvider, request: ModelRequest) -> list[ProviderEvent]:
    return [event async for event in provider.stream(request)]


def req(steps: list[dict[str, Any]] | None = None, **kwargs: Any) -> ModelRequest:
    return ModelRequest(model="gemini-test", steps=steps or [USER], **kwargs)


def body(fake: FakeGemini, index: int = -1) -> dict[str, Any]:
    """A recorded request body, its parts validated against the SDK's own types."""
    data: dict[str, Any] = fake.requests[index].body
    for content in data["contents"]:
        types.Content.model_validate_json(orjson.dumps(content))
    if "systemInstruction" in data:
        types.Content.model_validate_json(orjson.dumps(data["systemInstruction"]))
    for tool in data.get("tools", ()):
        types.Tool.model_validate_json(orjson.dumps(tool))
    if "toolConfig" in data:
        types.ToolConfig.model_validate_json(orjson.dumps(data["toolConfig"]))
    types.GenerationConfig.model_validate_json(orjson.dumps(data.get("generationConfig", {})))
    return data


def camel(data: dict[str, Any]) -> dict[str, Any]:
    """Keys of a REST object in camelCase (the SDK sends nested objects snake_case)."""
    return {
        "".join(w.title() if i else w for i, w in enumerate(k.split("_"))): v
        for k, v in data.items()
    }


def text_of(events: list[ProviderEvent]) -> str:
    return "".join(e.text for e in events if isinstance(e, TextDelta))


# -- answers ------------------------------------------------------------------------------
async def test_streams_text(provider: GeminiProvider, fake: FakeGemini) -> None:
    fake.enqueue(Reply(text="hello there world"))
    events = await collect(provider, req(system_instruction="be brief"))
    assert len([e for e in events if isinstance(e, TextDelta)]) >= 2
    assert text_of(events) == "hello there world"
    assert events[-2:] == [Usage(11, 7), Finish("stop")]
    recorded = fake.requests[0]
    assert recorded.path == "/v1beta/models/gemini-test:streamGenerateContent"
    assert recorded.query == {"alt": "sse"}
    assert recorded.headers["x-goog-api-key"] == "test-key"
    data = body(fake)
    assert data["contents"] == [{"role": "user", "parts": [{"text": "hi"}]}]
    assert data["systemInstruction"]["parts"] == [{"text": "be brief"}]


async def test_non_streaming_text(provider: GeminiProvider, fake: FakeGemini) -> None:
    fake.enqueue(Reply(text="whole answer", finish="length"))
    events = await collect(provider, req(stream=False))
    assert events == [TextDelta("whole answer"), Usage(11, 7), Finish("length")]
    assert fake.requests[0].path == "/v1beta/models/gemini-test:generateContent"


async def test_thought_and_signature(provider: GeminiProvider, fake: FakeGemini) -> None:
    fake.thought_tokens = 5
    fake.enqueue(Reply(text="answer", thought="pondering", thought_signature=SIG))
    events = await collect(provider, req(generation={"thinking_summaries": "auto"}))
    assert events[:2] == [ThoughtDelta("pondering"), ThoughtSignature(SIG)]
    assert text_of(events) == "answer"
    assert Usage(11, 7, thought_tokens=5) in events


async def test_usage_mapping(provider: GeminiProvider, fake: FakeGemini) -> None:
    fake.thought_tokens, fake.cached_tokens = 5, 3
    fake.enqueue(Reply(input_tokens=20, output_tokens=9))
    events = await collect(provider, req())
    assert [e for e in events if isinstance(e, Usage)] == [Usage(20, 9, 5, 3)]


@pytest.mark.parametrize(
    ("finish", "expected"),
    [
        ("length", "length"),
        ("content_filter", "content_filter"),
        ("other", "other"),
    ],
)
async def test_finish_reasons(
    provider: GeminiProvider, fake: FakeGemini, finish: str, expected: str
) -> None:
    fake.enqueue(Reply(finish=finish))
    assert (await collect(provider, req()))[-1] == Finish(expected)


async def test_two_function_calls(provider: GeminiProvider, fake: FakeGemini) -> None:
    fake.enqueue(
        Reply(
            text="",
            thought_signature=SIG,
            tool_calls=[("get_weather", {"city": "Paris"}), ("get_time", {})],
        )
    )
    events = await collect(provider, req())
    assert events[:7] == [
        ThoughtSignature(SIG),
        ToolCallStart("fc_0_get_weather", "get_weather"),
        ToolCallDelta('{"city":"Paris"}'),
        ToolCallEnd({"city": "Paris"}),
        ToolCallStart("fc_1_get_time", "get_time"),
        ToolCallDelta("{}"),
        ToolCallEnd({}),
    ]
    assert events[-1] == Finish("tool_calls")


def test_function_call_without_id_gets_one() -> None:
    response = types.GenerateContentResponse.model_validate_json(
        orjson.dumps(
            {
                "candidates": [
                    {
                        "content": {
                            "role": "model",
                            "parts": [{"functionCall": {"name": "f", "args": {}}}],
                        },
                        "finishReason": "STOP",
                    }
                ]
            }
        )
    )
    translator = _Translator()
    start = translator.chunk(response)[0]
    assert isinstance(start, ToolCallStart) and start.name == "f" and start.id.startswith("call_")
    assert translator.finish() == [Finish("tool_calls")]


# -- history translation -------------------------------------------------------------------
def signature_of(part: dict[str, Any]) -> bytes:
    return base64.urlsafe_b64decode(part["thoughtSignature"])


async def test_signature_goes_back_on_next_model_part(
    provider: GeminiProvider, fake: FakeGemini
) -> None:
    steps = [
        USER,
        {"type": "thought", "signature": SIG, "summary": [{"type": "text", "text": "hmm"}]},
        {"type": "model_output", "content": [{"type": "text", "text": "first"}]},
        {"type": "user_input", "content": [{"type": "text", "text": "again"}]},
    ]
    await collect(provider, req(steps))
    contents = body(fake)["contents"]
    assert [c["role"] for c in contents] == ["user", "model", "user"]
    assert contents[1]["parts"][0]["text"] == "first"
    assert signature_of(contents[1]["parts"][0]) == base64.b64decode(SIG)
    assert len(contents[1]["parts"]) == 1  # the thought summary is not sent back


async def test_signature_on_first_function_call_and_results_merge(
    provider: GeminiProvider, fake: FakeGemini
) -> None:
    steps = [
        USER,
        {"type": "thought", "signature": SIG},
        {"type": "function_call", "id": "c1", "name": "f", "arguments": {"x": 1}},
        {"type": "function_call", "id": "c2", "name": "g", "arguments": {}},
        {"type": "function_result", "call_id": "c1", "name": "f", "result": {"ok": True}},
        {"type": "function_result", "call_id": "c2", "name": "g", "result": "plain"},
    ]
    await collect(provider, req(steps))
    contents = body(fake)["contents"]
    assert [c["role"] for c in contents] == ["user", "model", "user"]
    first, second = contents[1]["parts"]
    assert first["functionCall"] == {"id": "c1", "name": "f", "args": {"x": 1}}
    assert signature_of(first) == base64.b64decode(SIG)
    assert second == {"functionCall": {"id": "c2", "name": "g", "args": {}}}
    assert [p["functionResponse"] for p in contents[2]["parts"]] == [
        {"id": "c1", "name": "f", "response": {"ok": True}},
        {"id": "c2", "name": "g", "response": {"result": "plain"}},
    ]


async def test_trailing_and_foreign_signatures(provider: GeminiProvider, fake: FakeGemini) -> None:
    steps = [
        USER,
        {"type": "thought", "signature": "offline-sig-not base64!"},
        {"type": "model_output", "content": [{"type": "text", "text": "a"}]},
        {"type": "thought", "signature": SIG},
        {"type": "user_input", "content": [{"type": "text", "text": "b"}]},
    ]
    await collect(provider, req(steps))
    model = body(fake)["contents"][1]
    assert model["parts"][0] == {"text": "a"}
    assert model["parts"][1]["text"] == ""
    assert signature_of(model["parts"][1]) == base64.b64decode(SIG)


async def test_function_result_shapes(provider: GeminiProvider, fake: FakeGemini) -> None:
    def result(value: Any, **extra: Any) -> dict[str, Any]:
        return {"type": "function_result", "call_id": "c", "name": "f", "result": value, **extra}

    steps = [
        USER,
        {"type": "function_call", "id": "c", "name": "f", "arguments": {}},
        result([1, 2]),
        result("boom", is_error=True),
        result(
            [
                {"type": "text", "text": "see"},
                {"type": "image", "data": PNG, "mime_type": "image/png"},
            ]
        ),
    ]
    await collect(provider, req(steps))
    parts = [p["functionResponse"] for p in body(fake)["contents"][2]["parts"]]
    assert parts[0]["response"] == {"result": [1, 2]}
    assert parts[1]["response"] == {"error": "boom"}
    assert parts[2]["response"] == {"result": "see"}
    # The SDK passes a FunctionResponse through unconverted: its nested names are
    # snake_case, which the API accepts as well (proto JSON takes both spellings).
    blob = camel(camel(parts[2]["parts"][0])["inlineData"])
    assert blob["mimeType"] == "image/png"
    assert base64.urlsafe_b64decode(blob["data"]) == base64.b64decode(PNG)


async def test_media_inline_and_by_uri(provider: GeminiProvider, fake: FakeGemini) -> None:
    content = [
        {"type": "text", "text": "look"},
        {"type": "image", "data": PNG, "mime_type": "image/png", "resolution": "high"},
        {"type": "audio", "data": PNG, "mime_type": "audio/wav"},
        {"type": "video", "uri": "https://example.com/v.mp4", "mime_type": "video/mp4"},
        {"type": "document", "data": PNG, "mime_type": "application/pdf"},
        {"type": "document", "uri": "https://example.com/paper.pdf"},
    ]
    request = req([{"type": "user_input", "content": content}])
    provider.check(request)
    await collect(provider, request)
    parts = body(fake)["contents"][0]["parts"]
    assert parts[0] == {"text": "look"}
    image = camel(parts[1]["inlineData"])
    assert image["mimeType"] == "image/png"
    assert base64.urlsafe_b64decode(image["data"]) == base64.b64decode(PNG)
    assert parts[1]["mediaResolution"] == {"level": "MEDIA_RESOLUTION_HIGH"}
    assert camel(parts[2]["inlineData"])["mimeType"] == "audio/wav"
    assert camel(parts[3]["fileData"]) == {
        "fileUri": "https://example.com/v.mp4",
        "mimeType": "video/mp4",
    }
    assert camel(parts[4]["inlineData"])["mimeType"] == "application/pdf"
    assert camel(parts[5]["fileData"]) == {
        "fileUri": "https://example.com/paper.pdf",
        "mimeType": "application/pdf",
    }


# -- tools and config -----------------------------------------------------------------------
TOOLS = [
    {
        "type": "function",
        "name": "f",
        "description": "does f",
        "parameters": {"type": "object", "properties": {"x": {"type": "integer"}}},
    },
    {"type": "function", "name": "g"},
    {"type": "google_search"},
]


@pytest.mark.parametrize(
    ("choice", "expected"),
    [
        (None, None),
        ("auto", {"mode": "AUTO"}),
        ("any", {"mode": "ANY"}),
        ("none", {"mode": "NONE"}),
        ("validated", {"mode": "VALIDATED"}),
        (
            {"allowed_tools": {"mode": "any", "tools": ["f"]}},
            {"mode": "ANY", "allowedFunctionNames": ["f"]},
        ),
    ],
)
async def test_tools_and_tool_choice(
    provider: GeminiProvider, fake: FakeGemini, choice: Any, expected: Any
) -> None:
    await collect(provider, req(tools=TOOLS, tool_choice=choice))
    data = body(fake)
    declarations = data["tools"][0]["functionDeclarations"]
    assert len(data["tools"]) == 1 and [d["name"] for d in declarations] == ["f", "g"]
    assert declarations[0]["description"] == "does f"
    schema = camel(declarations[0])["parametersJsonSchema"]
    assert schema == TOOLS[0]["parameters"]
    assert data.get("toolConfig", {}).get("functionCallingConfig") == expected


async def test_generation_settings(provider: GeminiProvider, fake: FakeGemini) -> None:
    generation = {
        "temperature": 0.3,
        "top_p": 0.9,
        "seed": 7,
        "max_output_tokens": 99,
        "stop_sequences": ["END"],
        "thinking_level": "high",
        "thinking_summaries": "auto",
    }
    await collect(provider, req(generation=generation))
    config = body(fake)["generationConfig"]
    assert camel(config.pop("thinkingConfig")) == {"thinkingLevel": "HIGH", "includeThoughts": True}
    assert config == {
        "temperature": 0.3,
        "topP": 0.9,
        "seed": 7,
        "maxOutputTokens": 99,
        "stopSequences": ["END"],
    }


@pytest.mark.parametrize("schema", [{"type": "object", "required": ["a"]}, {}])
async def test_response_schema(
    provider: GeminiProvider, fake: FakeGemini, schema: dict[str, Any]
) -> None:
    await collect(provider, req(response_schema=schema))
    config = body(fake)["generationConfig"]
    assert config["responseMimeType"] == "application/json"
    assert config.get("responseJsonSchema") == (schema or None)


# -- errors and retries ---------------------------------------------------------------------
def retried(provider: GeminiProvider, request: ModelRequest) -> AsyncIterator[ProviderEvent]:
    return stream_with_retries(provider, request, attempts=3, base_delay=0.05, max_delay=0.2)


async def test_400_is_not_retried(provider: GeminiProvider, fake: FakeGemini) -> None:
    fake.enqueue(Reply(status=400, error_message="bad field"))
    with pytest.raises(ProviderRejected, match="bad field") as caught:
        [e async for e in retried(provider, req())]
    assert caught.value.status == 400
    assert len(fake.requests) == 1


async def test_500_then_success(provider: GeminiProvider, fake: FakeGemini) -> None:
    fake.enqueue(Reply(status=500), Reply(text="recovered"))
    events = [e async for e in retried(provider, req())]
    assert text_of(events) == "recovered"
    assert len(fake.requests) == 2


async def test_429_retry_after_is_honoured(provider: GeminiProvider, fake: FakeGemini) -> None:
    fake.enqueue(Reply(status=429, headers={"Retry-After": "1"}), Reply(text="later"))
    started = time.monotonic()
    events = [e async for e in retried(provider, req())]
    assert text_of(events) == "later"
    assert len(fake.requests) == 2
    assert fake.requests[1].received - fake.requests[0].received >= 0.9
    assert time.monotonic() - started >= 0.9


async def test_429_translation(provider: GeminiProvider, fake: FakeGemini) -> None:
    fake.enqueue(Reply(status=429, headers={"Retry-After": "3"}, error_message="slow down"))
    with pytest.raises(ProviderRateLimited, match="slow down") as caught:
        await collect(provider, req(stream=False))
    assert caught.value.retry_after == 3.0


def test_retry_info_in_error_body() -> None:
    details = {
        "error": {
            "code": 429,
            "message": "quota",
            "status": "RESOURCE_EXHAUSTED",
            "details": [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "25s"}],
        }
    }
    error = translate_error(genai_errors.ClientError(429, details, None), "gemini")
    assert isinstance(error, ProviderRateLimited) and error.retry_after == 25.0
    server = translate_error(genai_errors.ServerError(503, {"error": {"message": "x"}}), "g")
    assert isinstance(server, ProviderUnavailable) and server.status == 503


async def test_connection_error_is_unavailable(fake: FakeGemini) -> None:
    closed = make_provider("http://127.0.0.1:9")
    try:
        with pytest.raises(ProviderUnavailable):
            await collect(closed, req())
    finally:
        await closed.aclose()


async def test_missing_key(fake: FakeGemini) -> None:
    assert make_provider(fake.url, key=None).missing_settings() == (
        "set GEMINI_API_KEY (or GOOGLE_API_KEY)"
    )
    assert make_provider(fake.url).missing_settings() is None


# -- the fake speaks the real wire format ----------------------------------------------------
WIRE_REPLIES = [
    Reply(text="plain text answer"),
    Reply(text="with thought", thought="thinking", thought_signature=SIG),
    Reply(text="", thought_signature="not-base64 signature", tool_calls=[("f", {"a": [1]})]),
    Reply(text="cut", finish="length"),
]


@pytest.mark.parametrize("reply", WIRE_REPLIES)
async def test_fake_payloads_parse_as_sdk_types(fake: FakeGemini, reply: Reply) -> None:
    fake.thought_tokens, fake.cached_tokens = 4, 2
    url = f"{fake.url}/v1beta/models/gemini-test"
    headers = {"x-goog-api-key": "k"}
    async with aiohttp.ClientSession() as session:
        fake.enqueue(reply)
        async with session.post(
            f"{url}:streamGenerateContent?alt=sse", json={}, headers=headers
        ) as response:
            assert response.content_type == "text/event-stream"
            raw = await response.read()
        fake.enqueue(reply)
        async with session.post(f"{url}:generateContent", json={}, headers=headers) as response:
            single = await response.read()
    lines = [line[6:] for line in raw.decode().split("\n\n") if line.startswith("data: ")]
    chunks = [types.GenerateContentResponse.model_validate_json(line) for line in lines]
    whole = types.GenerateContentResponse.model_validate_json(single)
    for parsed in (chunks, [whole]):
        text = "".join(c.text or "" for c in parsed)
        assert text == reply.text
        calls = [(fc.name, fc.args) for c in parsed for fc in c.function_calls or ()]
        assert calls == reply.tool_calls
        thoughts = [p for c in parsed for p in c.parts or () if p.thought]
        assert [p.text for p in thoughts] == ([reply.thought] if reply.thought else [])
        signed = [p.thought_signature for c in parsed for p in c.parts or () if p.thought_signature]
        assert len(signed) == (1 if reply.thought_signature else 0)
        last = parsed[-1]
        assert last.usage_metadata is not None
        assert last.usage_metadata.prompt_token_count == reply.input_tokens
        assert last.usage_metadata.candidates_token_count == reply.output_tokens
        assert last.usage_metadata.thoughts_token_count == 4
        assert last.usage_metadata.cached_content_token_count == 2
        assert last.candidates and last.candidates[0].finish_reason is not None
    if reply.thought_signature == SIG:
        assert signed == [base64.b64decode(SIG)]
    if len(reply.text) >= 3:
        assert len([c for c in chunks if c.text]) >= 2


def test_fake_error_body_parses_like_the_sdk() -> None:
    body = FakeGemini.error_body(Reply(status=429, error_message="quota"))
    error = genai_errors.ClientError(429, body, None)
    assert (error.code, error.status, error.message) == (429, "RESOURCE_EXHAUSTED", "quota")


def test_misnamed_field_is_caught() -> None:
    with pytest.raises(ValueError):
        types.GenerateContentResponse.model_validate_json(
            b'{"candidates":[{"content":{"parts":[{"txt":"x"}]}}]}'
        )


async def test_request_options_reach_gemini(provider: GeminiProvider, fake: FakeGemini) -> None:
    generation = {
        "service_tier": "flex",
        "cached_content": "cachedContents/abc123",
        "safety_settings": [
            {"type": "harassment", "threshold": "block_only_high"},
            {"type": "image_hate", "threshold": "off"},
        ],
        "thinking_summaries": "none",
    }
    await collect(provider, req(generation=generation))
    data = body(fake)
    assert data["serviceTier"] == "flex"
    assert data["cachedContent"] == "cachedContents/abc123"
    assert data["safetySettings"] == [
        {"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_ONLY_HIGH"},
        {"category": "HARM_CATEGORY_IMAGE_HATE", "threshold": "OFF"},
    ]
    for setting in data["safetySettings"]:
        types.SafetySetting.model_validate(setting)
    assert camel(data["generationConfig"]["thinkingConfig"]) == {"includeThoughts": False}


@pytest.mark.parametrize(
    ("generation", "field"),
    [
        ({"service_tier": "deferred"}, "service_tier"),
        (
            {"safety_settings": [{"type": "harassment", "threshold": "off", "method": "severity"}]},
            "safety_settings[0].method",
        ),
    ],
)
async def test_request_options_gemini_refuses(
    provider: GeminiProvider, generation: dict[str, Any], field: str
) -> None:
    with pytest.raises(BadRequest) as caught:
        provider.check_options(req(generation=generation))
    assert caught.value.message.startswith(f"{field}: model 'gemini/gemini-test'")
