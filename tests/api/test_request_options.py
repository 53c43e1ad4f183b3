"""Request options that each provider honours or refuses (no silent no-ops), through the
official SDK: service_tier, safety_settings, cached_content, thinking_summaries and tool
choice ``validated``. Provider requests are checked on the wire-format fakes."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx2 as httpx
import pytest
from google import genai
from google.genai import _interactions_errors as gerr

from junction.testing.fake_anthropic import FakeAnthropic
from junction.testing.fake_gemini import FakeGemini
from junction.testing.fake_openai import FakeOpenAI
from junction.testing.fakeserver import Reply
from tests.api.provider_servers import serve_with_fakes
from tests.conftest import Junction

WEATHER = {
    "type": "function",
    "name": "get_weather",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
}
STRICT = [{"type": "harassment", "threshold": "block_only_high"}]
NO_FILTER = [
    {"type": "harassment", "threshold": "off"},
    {"type": "jailbreak", "threshold": "block_none"},
]


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def server(
    request: pytest.FixtureRequest,
    fake_openai: FakeOpenAI,
    anthropic: FakeAnthropic,
    gemini: FakeGemini,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Junction]:
    tmp = tmp_path_factory.mktemp(f"options-{request.param}")
    # "reasoner" speaks OpenAI's Responses API when thought summaries are asked for
    config = f"""
[providers.reasoner]
type = "openai"
base_url = "{fake_openai.url}/v1"
api_key = "sk-fake"
responses_api = true
"""
    fakes = (fake_openai, anthropic, gemini)
    with serve_with_fakes(request, tmp, fakes, config=config) as junction:
        yield junction


@pytest.fixture
def client(server: Junction) -> genai.Client:
    return server.client()


def thought_deltas(events: list[Any]) -> list[str]:
    return [
        e.delta.content.text
        for e in events
        if e.event_type == "step.delta" and e.delta.type == "thought_summary"
    ]


def _count(server: Junction) -> int:
    page = httpx.get(
        f"{server.url}/v1beta/interactions",
        params={"page_size": 1000},
        headers={"x-goog-api-key": server.api_key},
    ).json()
    return len(page["interactions"])


REFUSED: list[tuple[str, dict[str, Any], str]] = [
    (
        "openai/gpt-4o",
        {"generation_config": {"thinking_summaries": "auto"}},
        "generation_config.thinking_summaries: model 'openai/gpt-4o'",
    ),
    ("openai/gpt-4o", {"service_tier": "flex"}, "service_tier: model 'openai/gpt-4o'"),
    (
        "openai/gpt-4o",
        {"safety_settings": STRICT},
        "safety_settings[0].threshold: model 'openai/gpt-4o'",
    ),
    (
        "anthropic/claude-x",
        {"cached_content": "cachedContents/abc"},
        "cached_content: model 'anthropic/claude-x'",
    ),
    ("anthropic/claude-x", {"service_tier": "flex"}, "service_tier: model 'anthropic/claude-x'"),
    (
        "anthropic/claude-x",
        {
            "tools": [WEATHER],
            "generation_config": {"thinking_summaries": "auto", "tool_choice": "any"},
        },
        "generation_config.thinking_summaries: model 'anthropic/claude-x'",
    ),
    ("gemini/gemini-x", {"service_tier": "deferred"}, "service_tier: model 'gemini/gemini-x'"),
    ("offline/echo", {"service_tier": "priority"}, "service_tier: model 'offline/echo'"),
]


def test_options_a_model_cannot_honour_are_400_and_write_nothing(
    server: Junction, client: genai.Client
) -> None:
    before = _count(server)
    for model, extra, needle in REFUSED:
        with pytest.raises(gerr.BadRequestError) as caught:
            client.interactions.create(model=model, input="hi", **extra)
        assert needle in str(caught.value), (model, extra, str(caught.value))
    assert _count(server) == before


def test_unknown_threshold_is_400(client: genai.Client) -> None:
    with pytest.raises(gerr.BadRequestError, match="safety_settings"):
        client.interactions.create(
            model="gemini/gemini-x",
            input="hi",
            safety_settings=[{"type": "harassment", "threshold": "block_everything"}],
        )


def test_gemini_takes_the_options_natively(client: genai.Client, gemini: FakeGemini) -> None:
    gemini.reset()
    gemini.enqueue(Reply(text="fine", thought="weighing it", thought_signature="c2ln"))
    out = client.interactions.create(
        model="gemini/gemini-x",
        input="hi",
        service_tier="priority",
        cached_content="cachedContents/abc",
        safety_settings=STRICT,
        generation_config={"thinking_summaries": "auto", "thinking_level": "low"},
    )
    assert out.status == "completed"
    body = gemini.requests[-1].body
    assert body["serviceTier"] == "priority"
    assert body["cachedContent"] == "cachedContents/abc"
    assert body["safetySettings"] == [
        {"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_ONLY_HIGH"}
    ]
    thinking = body["generationConfig"]["thinkingConfig"]
    assert thinking == {"thinking_level": "LOW", "include_thoughts": True}  # SDK sends snake_case
    thought = next(s for s in out.steps if s.type == "thought")
    assert thought.summary[0].text == "weighing it"
    assert out.service_tier == "priority"  # echoed


def test_anthropic_summaries_stream_as_thought_deltas(
    client: genai.Client, anthropic: FakeAnthropic
) -> None:
    anthropic.reset()
    anthropic.enqueue(Reply(text="answer", thought="first this then that"))
    events = list(
        client.interactions.create(
            model="anthropic/claude-x",
            input="hi",
            stream=True,
            service_tier="standard",
            safety_settings=NO_FILTER,
            generation_config={"thinking_summaries": "auto"},
        )
    )
    deltas = thought_deltas(events)
    assert len(deltas) > 1 and "".join(deltas) == "first this then that"
    body = anthropic.requests[-1].body
    assert body["thinking"] == {"type": "enabled", "budget_tokens": 2048, "display": "summarized"}
    assert body["service_tier"] == "standard_only"
    assert "safety_settings" not in body


def test_openai_summaries_come_from_the_responses_api(
    client: genai.Client, openai_fake: FakeOpenAI
) -> None:
    openai_fake.enqueue(Reply(text="Four.", thought="adding two and two"))
    events = list(
        client.interactions.create(
            model="reasoner/o4-mini",
            input="2+2?",
            stream=True,
            generation_config={"thinking_summaries": "auto", "thinking_level": "high"},
        )
    )
    deltas = thought_deltas(events)
    assert len(deltas) > 1 and "".join(deltas) == "adding two and two"
    sent = openai_fake.requests[-1]
    assert sent.path == "/v1/responses"
    assert sent.body["reasoning"] == {"summary": "auto", "effort": "high"}
    final = client.interactions.get(events[0].interaction.id)
    assert [s.type for s in final.steps] == ["user_input", "thought", "model_output"]
    assert final.steps[1].summary[0].text == "adding two and two"
    assert final.output_text == "Four."
    assert final.usage.total_thought_tokens == 4


def test_summaries_none_drops_thought_text(client: genai.Client, openai_fake: FakeOpenAI) -> None:
    openai_fake.enqueue(Reply(text="answer", thought="private reasoning"))
    out = client.interactions.create(
        model="openai/gpt-4o", input="hi", generation_config={"thinking_summaries": "none"}
    )
    assert [s.type for s in out.steps] == ["user_input", "model_output"]


def test_validated_calls_are_repaired_once(client: genai.Client, openai_fake: FakeOpenAI) -> None:
    openai_fake.enqueue(
        Reply(tool_calls=[("get_weather", {"city": 5})]),
        Reply(tool_calls=[("get_weather", {"city": "Oslo"})]),
    )
    out = client.interactions.create(
        model="openai/gpt-4o",
        input="weather?",
        tools=[WEATHER],
        generation_config={"tool_choice": "validated"},
    )
    assert out.status == "requires_action"
    calls = [s for s in out.steps if s.type == "function_call"]
    assert len(calls) == 1 and calls[0].arguments == {"city": "Oslo"}
    first, repair = (r.body for r in openai_fake.requests[-2:])
    assert first["tool_choice"] == "auto"
    assert repair["messages"][-2]["tool_calls"][0]["function"]["name"] == "get_weather"
    assert repair["messages"][-1]["role"] == "tool"
    assert (
        "city" in repair["messages"][-1]["content"]
        and "string" in repair["messages"][-1]["content"]
    )


def test_validated_calls_that_stay_invalid_fail(
    client: genai.Client, anthropic: FakeAnthropic
) -> None:
    anthropic.reset()
    anthropic.enqueue(
        Reply(tool_calls=[("get_weather", {})]), Reply(tool_calls=[("get_weather", {"town": "x"})])
    )
    out = client.interactions.create(
        model="anthropic/claude-x",
        input="weather?",
        tools=[WEATHER],
        generation_config={"tool_choice": "validated"},
    )
    assert out.status == "failed"
    assert not [s for s in out.steps if s.type == "function_call"]
    assert "invalid_function_call" in str(out.model_dump())
    assert anthropic.requests[-2].body["tool_choice"] == {"type": "auto"}


def test_validated_lets_the_model_answer_in_text(
    client: genai.Client, openai_fake: FakeOpenAI
) -> None:
    openai_fake.enqueue(Reply(text="No call needed."))
    out = client.interactions.create(
        model="openai/gpt-4o",
        input="hello",
        tools=[WEATHER],
        generation_config={"tool_choice": "validated"},
    )
    assert out.status == "completed" and out.output_text == "No call needed."


def test_validated_on_the_offline_provider(client: genai.Client) -> None:
    out = client.interactions.create(
        model="offline/echo",
        input='/call get_weather {"city": "Rome"}',
        tools=[WEATHER],
        generation_config={"tool_choice": "validated"},
    )
    assert out.status == "requires_action"
    assert [s.arguments for s in out.steps if s.type == "function_call"] == [{"city": "Rome"}]
