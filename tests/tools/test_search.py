"""google_search: the search backends against a fake service, and the tool in the run
loop through the official SDK."""

from __future__ import annotations

import json
import socket
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from google.genai import _interactions_errors as gerr

from junction.testing.fake_openai import FakeOpenAI
from junction.testing.fakeserver import Reply
from junction.tools.search import (
    BraveBackend,
    SearchBackend,
    SearchError,
    SearxngBackend,
    TavilyBackend,
    backend_names,
    make_backend,
)
from tests.conftest import Junction
from tests.tools.conftest import FakeSearch

GOOGLE_SEARCH = {"type": "google_search"}


# -- backends ------------------------------------------------------------------------------


def test_backend_configuration() -> None:
    assert backend_names() == ["brave", "searxng", "tavily"]
    assert make_backend({}) is None
    assert make_backend({"backend": "none"}) is None
    with pytest.raises(ValueError, match="unknown search backend 'bing'"):
        make_backend({"backend": "bing"})
    with pytest.raises(ValueError, match="needs a url"):
        make_backend({"backend": "searxng"})
    with pytest.raises(ValueError, match="needs an api_key"):
        make_backend({"backend": "brave"})
    with pytest.raises(ValueError, match="needs an api_key"):
        make_backend({"backend": "tavily", "url": "http://127.0.0.1:1"})
    brave = make_backend({"backend": "Brave", "api_key": "k"})
    assert isinstance(brave, BraveBackend) and brave.url == "https://api.search.brave.com"
    tavily = make_backend({"backend": "tavily", "api_key": "k"})
    assert isinstance(tavily, TavilyBackend) and tavily.url == "https://api.tavily.com"


@pytest.fixture
async def make() -> AsyncIterator[Callable[[dict[str, Any]], SearchBackend]]:
    made: list[SearchBackend] = []

    def build(config: dict[str, Any]) -> SearchBackend:
        backend = make_backend(config)
        assert backend is not None
        made.append(backend)
        return backend

    yield build
    for backend in made:
        await backend.aclose()


async def test_searxng(
    fake_search: FakeSearch, make: Callable[[dict[str, Any]], SearchBackend]
) -> None:
    backend = make({"backend": "searxng", "url": fake_search.url + "/", "language": "en"})
    assert isinstance(backend, SearxngBackend)
    hits = await backend.search("cat naps", 2)
    assert hits == [
        {
            "title": "Cats sleep a lot",
            "url": "https://cats.example/sleep",
            "snippet": "About cat naps: Cats sleep a lot & more",
        },
        {
            "title": "Feline rest",
            "url": "https://vets.example/rest",
            "snippet": "About cat naps: Feline rest & more",
        },
    ]
    (request,) = fake_search.requests
    assert (request.method, request.path) == ("GET", "/search")
    assert request.query == {"q": "cat naps", "format": "json", "language": "en"}


async def test_brave(
    fake_search: FakeSearch, make: Callable[[dict[str, Any]], SearchBackend]
) -> None:
    backend = make({"backend": "brave", "url": fake_search.url, "api_key": "brave-key"})
    hits = await backend.search("cats", 3)
    assert [h["url"] for h in hits] == [
        "https://cats.example/sleep",
        "https://vets.example/rest",
        "https://science.example/naps",
    ]
    assert hits[0]["snippet"] == "cats x"
    (request,) = fake_search.requests
    assert request.path == "/res/v1/web/search"
    assert request.query == {"q": "cats", "count": "3"}
    assert request.headers["X-Subscription-Token"] == "brave-key"


async def test_tavily(
    fake_search: FakeSearch, make: Callable[[dict[str, Any]], SearchBackend]
) -> None:
    backend = make({"backend": "tavily", "url": fake_search.url, "api_key": "tvly-key"})
    hits = await backend.search("cats", 1)
    assert hits == [
        {"title": "Cats sleep a lot", "url": "https://cats.example/sleep", "snippet": "cats info"}
    ]
    (request,) = fake_search.requests
    assert (request.method, request.path) == ("POST", "/search")
    assert request.body == {
        "api_key": "tvly-key",
        "query": "cats",
        "max_results": 1,
        "search_depth": "basic",
    }
    assert request.headers["Authorization"] == "Bearer tvly-key"


async def test_backend_failures_are_search_errors(
    fake_search: FakeSearch, make: Callable[[dict[str, Any]], SearchBackend]
) -> None:
    searxng = make({"backend": "searxng", "url": fake_search.url})
    with pytest.raises(
        SearchError, match="searxng search backend answered HTTP 500: engine exploded"
    ):
        await searxng.search("please fail", 5)
    with pytest.raises(SearchError, match=r"HTTP 403.*search\.formats"):
        await searxng.search("forbidden", 5)
    brave = make({"backend": "brave", "url": fake_search.url, "api_key": "k"})
    with pytest.raises(SearchError, match="brave search backend answered HTTP 500"):
        await brave.search("fail", 5)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = sock.getsockname()[1]
    gone = make({"backend": "searxng", "url": f"http://127.0.0.1:{closed}"})
    with pytest.raises(SearchError, match="unreachable"):
        await gone.search("x", 5)


# -- the tool in a run ---------------------------------------------------------------------


def _tool_message(fake: FakeOpenAI) -> dict[str, Any]:
    (message,) = [m for m in fake.requests[-1].body["messages"] if m["role"] == "tool"]
    return message


def test_google_search_in_a_run(
    tools_junction: Junction, openai_fake: FakeOpenAI, fake_search: FakeSearch
) -> None:
    openai_fake.enqueue(
        Reply(text="", tool_calls=[("google_search", {"queries": ["why cats sleep", "cat naps"]})]),
        Reply(text="Cats sleep a lot [cats.example]."),
    )
    client = tools_junction.client()
    done = client.interactions.create(
        model="openai/x", input="Why do cats sleep?", tools=[GOOGLE_SEARCH]
    )
    assert done.status == "completed"
    assert [s.type for s in done.steps] == [
        "user_input",
        "google_search_call",
        "google_search_result",
        "model_output",
    ]
    call, result = done.steps[1], done.steps[2]
    assert call.arguments.queries == ["why cats sleep", "cat naps"]
    assert call.search_type == "web_search"
    assert result.call_id == call.id and not result.is_error
    first = result.result[0]
    assert first.query == "why cats sleep"
    assert [h["url"] for h in first.results] == [  # [search] count = 2
        "https://cats.example/sleep",
        "https://vets.example/rest",
    ]
    assert sorted(r.query["q"] for r in fake_search.requests) == ["cat naps", "why cats sleep"]

    offered = {t["function"]["name"]: t["function"] for t in openai_fake.requests[0].body["tools"]}
    assert offered["google_search"]["parameters"]["properties"]["queries"]["type"] == "array"
    message = _tool_message(openai_fake)
    assert message["tool_call_id"] == call.id
    seen = json.loads(message["content"])
    assert seen[1]["results"][0] == {
        "title": "Cats sleep a lot",
        "url": "https://cats.example/sleep",
        "snippet": "About cat naps: Cats sleep a lot & more",
    }
    assert client.interactions.get(done.id).steps[2].result[1].query == "cat naps"


def test_backend_errors_reach_the_model(
    tools_junction: Junction, openai_fake: FakeOpenAI, fake_search: FakeSearch
) -> None:
    openai_fake.enqueue(
        Reply(text="", tool_calls=[("google_search", {"queries": ["please fail"]})]),
        Reply(text="", tool_calls=[("google_search", {"queries": ["fail again", "cats"]})]),
        Reply(text="Search is down, partly."),
    )
    done = tools_junction.client().interactions.create(
        model="openai/x", input="search", tools=[GOOGLE_SEARCH]
    )
    assert done.status == "completed"
    assert done.output_text == "Search is down, partly."
    results = [s for s in done.steps if s.type == "google_search_result"]
    assert results[0].is_error
    assert results[0].result[0].error.endswith("HTTP 500: engine exploded")
    assert not results[1].is_error  # one query of two worked
    assert "error" in results[1].result[0].model_extra
    assert len(results[1].result[1].results) == 2
    messages = openai_fake.requests[-1].body["messages"]
    tool_messages = [m for m in messages if m["role"] == "tool"]
    assert "engine exploded" in tool_messages[0]["content"]


def test_google_search_streams_typed_steps(
    tools_junction: Junction, openai_fake: FakeOpenAI, fake_search: FakeSearch
) -> None:
    openai_fake.enqueue(
        Reply(text="", tool_calls=[("google_search", {"queries": ["cats"]})]), Reply(text="ok")
    )
    events = list(
        tools_junction.client().interactions.create(
            model="openai/x", input="search", tools=[GOOGLE_SEARCH], stream=True
        )
    )
    starts = [e.step.type for e in events if e.event_type == "step.start"]
    assert starts == ["google_search_call", "google_search_result", "model_output"]
    deltas = {e.delta.type: e.delta for e in events if e.event_type == "step.delta"}
    assert deltas["google_search_call"].arguments.queries == ["cats"]
    assert deltas["google_search_result"].result[0].query == "cats"
    assert events[-1].interaction.status == "completed"


def test_unsupported_search_types_are_400(tools_junction: Junction) -> None:
    with pytest.raises(gerr.BadRequestError, match="only 'web_search'"):
        tools_junction.client().interactions.create(
            model="openai/x",
            input="x",
            tools=[{"type": "google_search", "search_types": ["image_search"]}],
        )


def test_google_search_without_a_backend_is_400(
    junction: Junction, openai_fake: FakeOpenAI
) -> None:
    client = junction.client()
    with pytest.raises(gerr.BadRequestError, match="JUNCTION_SEARCH_BACKEND") as raised:
        client.interactions.create(model="openai/x", input="x", tools=[GOOGLE_SEARCH])
    assert "[search] backend" in str(raised.value)
    assert openai_fake.requests == []  # refused before anything ran
