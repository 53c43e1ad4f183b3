"""Tools combined in one request, and the research agent using search and fetch: the
server-side tools run and loop back to the model; the run stops at the client's call."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from junction.testing.fake_openai import FakeOpenAI
from junction.testing.fakeserver import Reply
from tests.conftest import Junction
from tests.tools.conftest import FakeSearch, Site
from tests.tools.test_mcp import McpHttp, weather_server

TIME = {"type": "function", "name": "get_time", "parameters": {"type": "object"}}


@pytest.fixture(scope="module")
def weather() -> Iterator[McpHttp]:
    server = McpHttp(weather_server()).start()
    yield server
    server.stop()


def test_function_code_url_and_mcp_tools_in_one_request(
    tools_junction: Junction, openai_fake: FakeOpenAI, site: Site, weather: McpHttp
) -> None:
    page = f"{site.url}/article"
    openai_fake.enqueue(
        Reply(
            text="",
            tool_calls=[
                ("code_execution", {"code": "print(6 * 7)"}),
                ("url_context", {"urls": [page]}),
                ("mcp__weather__forecast", {"city": "Oslo"}),
                ("get_time", {}),
            ],
        ),
        Reply(text="42, cats sleep, sunny in Oslo, and it is noon."),
    )
    client = tools_junction.client()
    tools = [
        TIME,
        {"type": "code_execution"},
        {"type": "url_context"},
        {"type": "mcp_server", "name": "weather", "url": weather.url},
    ]
    asked = client.interactions.create(model="openai/x", input="do it all", tools=tools)
    assert asked.status == "requires_action", asked.errors
    kinds = [s.type for s in asked.steps]
    assert kinds == [
        "user_input",
        "code_execution_call",
        "url_context_call",
        "mcp_server_tool_call",
        "function_call",
        "code_execution_result",
        "url_context_result",
        "mcp_server_tool_result",
    ]
    assert "42" in asked.steps[5].result
    assert asked.steps[6].result[0].status == "success"
    assert weather.server.calls == [("forecast", {"city": "Oslo"})]
    assert len(openai_fake.requests) == 1  # the run stopped at the client's function
    call = asked.steps[4]
    done = client.interactions.create(
        model="openai/x",
        previous_interaction_id=asked.id,
        tools=tools,
        input=[
            {"type": "function_result", "call_id": call.id, "name": "get_time", "result": "12:00"}
        ],
    )
    assert done.status == "completed", done.errors
    messages = openai_fake.requests[-1].body["messages"]
    assistant = next(m for m in messages if m["role"] == "assistant")
    assert [t["function"]["name"] for t in assistant["tool_calls"]] == [
        "code_execution",
        "url_context",
        "mcp__weather__forecast",
        "get_time",
    ]
    tool_messages = [m for m in messages if m["role"] == "tool"]
    assert [m["tool_call_id"] for m in tool_messages] == [t["id"] for t in assistant["tool_calls"]]
    assert "Why cats sleep" in tool_messages[1]["content"]
    assert "Sunny in Oslo" in tool_messages[2]["content"]
    assert tool_messages[3]["content"] == "12:00"


def test_research_agent_searches_fetches_and_cites(
    tools_junction: Junction, openai_fake: FakeOpenAI, site: Site, fake_search: FakeSearch
) -> None:
    page = f"{site.url}/article"
    fake_search.hits = [{"title": "Why cats sleep", "url": page}]
    openai_fake.enqueue(
        Reply(text="", tool_calls=[("google_search", {"queries": ["why do cats sleep"]})]),
        Reply(text="", tool_calls=[("url_context", {"urls": [page]})]),
        Reply(text=f"Cats sleep to save energy [{page}].\n\nSources: {page}"),
    )
    done = tools_junction.client().interactions.create(
        agent="deep-research-pro-preview-12-2025",
        input="Why do cats sleep so much?",
        agent_config={"type": "deep-research", "model": "openai/researcher"},
    )
    assert done.status == "completed", done.errors
    assert [s.type for s in done.steps] == [
        "user_input",
        "google_search_call",
        "google_search_result",
        "url_context_call",
        "url_context_result",
        "model_output",
    ]
    search_message = json.dumps(openai_fake.requests[1].body["messages"][-1])
    assert page in search_message
    citation = done.steps[-1].content[0].annotations[0]
    assert citation.type == "url_citation" and citation.url == page
    assert citation.title and "cats sleep" in citation.title.lower()
    assert citation.start_index == 0
