"""The mcp_server tool, end to end: the official google-genai SDK against Junction, a fake
OpenAI-dialect model that calls ``mcp__<server>__<tool>``, and real MCP servers built
with the official ``mcp`` SDK (streamable HTTP and SSE) on 127.0.0.1."""

from __future__ import annotations

import base64
import json
import secrets
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import anyio
import httpx2 as httpx
import pytest
import uvicorn
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.mcpserver.utilities.types import Image

from junction.testing.fake_openai import FakeOpenAI
from junction.testing.fakeserver import Reply
from junction.tools.base import ToolServices
from junction.tools.mcp_client import ToolListCache
from tests.conftest import Junction

PNG = b"\x89PNG\r\n\x1a\nfake"


class Recorder(MCPServer[Any]):
    """An MCPServer that counts ``tools/list`` requests and records tool calls."""

    def __init__(self, name: str) -> None:
        super().__init__(name, log_level="WARNING")
        self.list_calls = 0
        self.calls: list[tuple[str, dict[str, Any]]] = []

    async def list_tools(self) -> Any:
        self.list_calls += 1
        return await super().list_tools()


class McpHttp:
    """Serves an MCP server (streamable HTTP at /mcp, or SSE at /sse) with uvicorn in a
    thread. Records every request's headers; with ``tokens`` set, requests without
    ``Authorization: Bearer <one of tokens>`` get 401."""

    def __init__(self, server: Recorder, *, sse: bool = False) -> None:
        self.server = server
        self.sse = sse
        self.headers: list[dict[str, str]] = []
        self.tokens: set[str] | None = None
        self.rejected: list[str] = []  # methods of the requests refused with 401
        app = server.sse_app() if sse else server.streamable_http_app()
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self.port = self._sock.getsockname()[1]
        config = uvicorn.Config(
            self._guard(app), log_level="warning", lifespan="on", timeout_graceful_shutdown=1
        )
        self._uvicorn = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._uvicorn.run, kwargs={"sockets": [self._sock]}, daemon=True
        )

    def _guard(self, app: Any) -> Any:
        async def guarded(scope: Any, receive: Any, send: Any) -> None:
            if scope["type"] == "http":
                headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
                self.headers.append(headers)
                token = headers.get("authorization", "").removeprefix("Bearer ")
                if self.tokens is not None and token not in self.tokens:
                    self.rejected.append(scope["method"])
                    await send({"type": "http.response.start", "status": 401, "headers": []})
                    await send({"type": "http.response.body", "body": b"unauthorized"})
                    return
            await app(scope, receive, send)

        return guarded

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}" + ("/sse" if self.sse else "/mcp")

    def start(self) -> McpHttp:
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._uvicorn.started:
            assert time.monotonic() < deadline, "MCP server did not start"
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self._uvicorn.should_exit = True
        self._thread.join(5)

    def reset(self) -> None:
        self.headers.clear()
        self.server.calls.clear()
        self.server.list_calls = 0
        self.tokens = None
        self.rejected.clear()


def weather_server() -> Recorder:
    server = Recorder("weather")

    @server.tool()
    def forecast(city: str) -> str:
        """The weather forecast for a city."""
        server.calls.append(("forecast", {"city": city}))
        if city == "Atlantis":
            raise ToolError("no forecast for Atlantis")
        return f"Sunny in {city}"

    @server.tool()
    def alerts(region: str) -> str:
        """Weather alerts."""
        server.calls.append(("alerts", {"region": region}))
        return "none"

    @server.tool()
    async def wait(seconds: float) -> str:
        """Takes its time."""
        server.calls.append(("wait", {"seconds": seconds}))
        await anyio.sleep(seconds)
        return "waited"

    @server.tool()
    def dump(size: int) -> str:
        """A lot of text."""
        server.calls.append(("dump", {"size": size}))
        return "x" * size

    @server.tool()
    def radar() -> Image:
        """A radar picture."""
        server.calls.append(("radar", {}))
        return Image(data=PNG, format="png")

    return server


def clock_server() -> Recorder:
    server = Recorder("clock")

    @server.tool()
    def now(zone: str) -> str:
        """The time in a zone."""
        server.calls.append(("now", {"zone": zone}))
        return f"12:00 in {zone}"

    return server


def vault_server(app: list[McpHttp]) -> Recorder:
    server = Recorder("vault")

    @server.tool()
    def secret() -> str:
        """A secret that needs a token."""
        server.calls.append(("secret", {}))
        tokens = app[0].tokens
        if tokens is not None:
            tokens.discard("token-1")  # the first token expires after one call
        return "42"

    return server


@pytest.fixture(scope="module")
def servers() -> Iterator[dict[str, McpHttp]]:
    vault_ref: list[McpHttp] = []
    started = {
        "weather": McpHttp(weather_server()).start(),
        "clock": McpHttp(clock_server()).start(),
        "sse": McpHttp(weather_server(), sse=True).start(),
        "vault": McpHttp(vault_server(vault_ref)).start(),
    }
    vault_ref.append(started["vault"])
    yield started
    for server in started.values():
        server.stop()


def tool_services(junction: Junction) -> ToolServices:
    services: ToolServices = junction.thread.state.services.interactions.tools
    return services


@pytest.fixture
def mcp(junction: Junction, servers: dict[str, McpHttp]) -> Iterator[dict[str, McpHttp]]:
    """The MCP servers, reset, with the running Junction's tool-list cache emptied."""
    for server in servers.values():
        server.reset()
    extras = tool_services(junction).extras
    cache = extras["mcp_cache"]
    assert isinstance(cache, ToolListCache)
    cache.clear()
    saved = extras.get("credentials")
    yield servers
    if saved is None:
        extras.pop("credentials", None)
    else:
        extras["credentials"] = saved


def declare(server: McpHttp, name: str = "weather", **extra: Any) -> dict[str, Any]:
    return {"type": "mcp_server", "name": name, "url": server.url, **extra}


def plain(value: Any) -> Any:
    """An SDK object as the JSON it came from."""
    if isinstance(value, list):
        return [plain(v) for v in value]
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json", by_alias=True, exclude_none=True)
    return value


def is_error(step: Any) -> bool:
    return bool(getattr(step, "is_error", False))  # an extra field for the SDK


def offered(request: Any) -> list[str]:
    return [t["function"]["name"] for t in request.body.get("tools") or []]


def tool_messages(request: Any) -> list[dict[str, Any]]:
    return [m for m in request.body["messages"] if m["role"] == "tool"]


def test_mcp_tool_call_round_trip(
    junction: Junction, openai_fake: FakeOpenAI, mcp: dict[str, McpHttp]
) -> None:
    openai_fake.enqueue(
        Reply(text="", tool_calls=[("mcp__weather__forecast", {"city": "Oslo"})]),
        Reply(text="It is sunny in Oslo."),
    )
    out = junction.client().interactions.create(
        model="openai/x", input="weather in Oslo?", tools=[declare(mcp["weather"])]
    )
    assert out.status == "completed", out.errors
    assert [s.type for s in out.steps] == [
        "user_input",
        "mcp_server_tool_call",
        "mcp_server_tool_result",
        "model_output",
    ]
    call, result = out.steps[1], out.steps[2]
    assert (call.name, call.server_name, call.arguments) == (
        "forecast",
        "weather",
        {"city": "Oslo"},
    )
    assert result.call_id == call.id
    assert (result.name, result.server_name) == ("forecast", "weather")
    # FastMCP returns structured content for a str result: kept as the object
    assert plain(result.result) == {"result": "Sunny in Oslo"}
    assert out.output_text == "It is sunny in Oslo."
    assert mcp["weather"].server.calls == [("forecast", {"city": "Oslo"})]

    first, second = openai_fake.requests
    assert sorted(offered(first)) == [
        "mcp__weather__alerts",
        "mcp__weather__dump",
        "mcp__weather__forecast",
        "mcp__weather__radar",
        "mcp__weather__wait",
    ]
    tool = next(t for t in first.body["tools"] if t["function"]["name"].endswith("forecast"))
    assert tool["function"]["description"] == "The weather forecast for a city."
    assert tool["function"]["parameters"]["properties"]["city"]["type"] == "string"
    (message,) = tool_messages(second)
    assert json.loads(message["content"]) == {"result": "Sunny in Oslo"}
    assistant = second.body["messages"][-2]
    assert assistant["tool_calls"][0]["function"]["name"] == "mcp__weather__forecast"


def test_streamed_interaction_carries_mcp_deltas(
    junction: Junction, openai_fake: FakeOpenAI, mcp: dict[str, McpHttp]
) -> None:
    openai_fake.enqueue(
        Reply(text="", tool_calls=[("mcp__weather__forecast", {"city": "Bergen"})]),
        Reply(text="Rain."),
    )
    events = list(
        junction.client().interactions.create(
            model="openai/x", input="weather?", tools=[declare(mcp["weather"])], stream=True
        )
    )
    deltas = [e.delta for e in events if e.event_type == "step.delta"]
    kinds = [d.type for d in deltas]
    assert "mcp_server_tool_call" in kinds and "mcp_server_tool_result" in kinds
    call = deltas[kinds.index("mcp_server_tool_call")]
    assert (call.name, call.server_name, call.arguments) == (
        "forecast",
        "weather",
        {"city": "Bergen"},
    )
    result = deltas[kinds.index("mcp_server_tool_result")]
    assert (result.name, result.server_name) == ("forecast", "weather")
    assert events[-1].event_type == "interaction.completed"


def test_headers_are_sent_on_every_request(
    junction: Junction, openai_fake: FakeOpenAI, mcp: dict[str, McpHttp]
) -> None:
    openai_fake.enqueue(
        Reply(text="", tool_calls=[("mcp__weather__alerts", {"region": "west"})]), Reply(text="ok")
    )
    out = junction.client().interactions.create(
        model="openai/x",
        input="alerts?",
        tools=[declare(mcp["weather"], headers={"X-Api-Key": "k-123", "X-Team": "blue"})],
    )
    assert out.status == "completed", out.errors
    seen = mcp["weather"].headers
    assert len(seen) >= 4  # listing and call, each initialize + requests
    assert all(h.get("x-api-key") == "k-123" and h.get("x-team") == "blue" for h in seen)


def test_connections_without_the_shared_pool(
    junction: Junction, openai_fake: FakeOpenAI, mcp: dict[str, McpHttp]
) -> None:
    """Where proxy variables are set, every connection has an HTTP client of its own."""
    pool = tool_services(junction).extras["mcp_http"]
    pool.env_proxies = True
    try:
        for server, name in ((mcp["weather"], "weather"), (mcp["sse"], "sky")):
            openai_fake.enqueue(
                Reply(text="", tool_calls=[(f"mcp__{name}__forecast", {"city": "Oslo"})]),
                Reply(text="ok"),
            )
            out = junction.client().interactions.create(
                model="openai/x", input="x", tools=[declare(server, name)]
            )
            assert out.status == "completed", out.errors
            assert plain(out.steps[2].result) == {"result": "Sunny in Oslo"}
    finally:
        pool.env_proxies = False


def test_allowed_tools_filter_what_the_model_is_offered(
    junction: Junction, openai_fake: FakeOpenAI, mcp: dict[str, McpHttp]
) -> None:
    openai_fake.enqueue(Reply(text="fine"))
    tool = declare(mcp["weather"], allowed_tools=[{"mode": "auto", "tools": ["forecast"]}])
    out = junction.client().interactions.create(model="openai/x", input="hi", tools=[tool])
    assert out.status == "completed", out.errors
    assert offered(openai_fake.requests[0]) == ["mcp__weather__forecast"]

    openai_fake.enqueue(Reply(text="fine"))
    refused = [{"mode": "none", "tools": ["radar", "wait", "dump"]}]
    tool = declare(mcp["weather"], allowed_tools=refused)
    junction.client().interactions.create(model="openai/x", input="hi", tools=[tool])
    assert sorted(offered(openai_fake.requests[1])) == [
        "mcp__weather__alerts",
        "mcp__weather__forecast",
    ]


def test_allowed_tools_naming_unknown_tools_fails_the_run(
    junction: Junction, openai_fake: FakeOpenAI, mcp: dict[str, McpHttp]
) -> None:
    tool = declare(mcp["weather"], allowed_tools=[{"tools": ["forecast", "tides"]}])
    out = junction.client().interactions.create(model="openai/x", input="hi", tools=[tool])
    assert out.status == "failed"
    message = out.errors[0].message
    assert "does not offer: tides" in message and "alerts, dump, forecast, radar, wait" in message
    assert openai_fake.requests == []  # the model was never called


def test_a_failing_mcp_tool_is_an_error_result_the_model_sees(
    junction: Junction, openai_fake: FakeOpenAI, mcp: dict[str, McpHttp]
) -> None:
    openai_fake.enqueue(
        Reply(text="", tool_calls=[("mcp__weather__forecast", {"city": "Atlantis"})]),
        Reply(text="No forecast there."),
    )
    out = junction.client().interactions.create(
        model="openai/x", input="Atlantis?", tools=[declare(mcp["weather"])]
    )
    assert out.status == "completed", out.errors
    result = out.steps[2]
    assert result.type == "mcp_server_tool_result" and is_error(result)
    (item,) = plain(result.result)
    assert item["type"] == "text" and "no forecast for Atlantis" in item["text"]
    (message,) = tool_messages(openai_fake.requests[1])
    assert "no forecast for Atlantis" in message["content"]
    assert out.output_text == "No forecast there."


def test_image_content_becomes_an_image_item(
    junction: Junction, openai_fake: FakeOpenAI, mcp: dict[str, McpHttp]
) -> None:
    openai_fake.enqueue(
        Reply(text="", tool_calls=[("mcp__weather__radar", {})]), Reply(text="a map")
    )
    out = junction.client().interactions.create(
        model="openai/x", input="radar", tools=[declare(mcp["weather"])]
    )
    assert out.status == "completed", out.errors
    (item,) = plain(out.steps[2].result)
    assert item["type"] == "image" and item["mime_type"] == "image/png"
    assert base64.b64decode(item["data"]) == PNG


def test_an_oversized_result_is_an_error_result(
    junction: Junction, openai_fake: FakeOpenAI, mcp: dict[str, McpHttp], monkeypatch: Any
) -> None:
    monkeypatch.setattr("junction.tools.mcp.MAX_RESULT_BYTES", 1000)
    openai_fake.enqueue(
        Reply(text="", tool_calls=[("mcp__weather__dump", {"size": 5000})]), Reply(text="big")
    )
    out = junction.client().interactions.create(
        model="openai/x", input="dump", tools=[declare(mcp["weather"])]
    )
    assert out.status == "completed", out.errors
    assert is_error(out.steps[2])
    assert "more than the 1000 bytes" in out.steps[2].result


def test_cancel_during_a_slow_mcp_call(
    junction: Junction, openai_fake: FakeOpenAI, mcp: dict[str, McpHttp]
) -> None:
    weather = mcp["weather"]
    openai_fake.enqueue(Reply(text="", tool_calls=[("mcp__weather__wait", {"seconds": 20})]))
    client = junction.client()
    running = client.interactions.create(
        model="openai/x", input="wait", tools=[declare(weather)], background=True
    )
    deadline = time.monotonic() + 10
    while not weather.server.calls:
        assert time.monotonic() < deadline, "the MCP tool was never called"
        time.sleep(0.02)
    started = time.monotonic()
    assert client.interactions.cancel(running.id).status == "cancelled"
    assert time.monotonic() - started < 2
    out = client.interactions.get(running.id)
    assert out.status == "cancelled"
    assert [s.type for s in out.steps] == ["user_input", "mcp_server_tool_call"]


def test_an_unreachable_server_fails_the_run_clearly(
    junction: Junction, openai_fake: FakeOpenAI, mcp: dict[str, McpHttp]
) -> None:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()  # nothing listens there
    tool = {"type": "mcp_server", "name": "down", "url": f"http://127.0.0.1:{port}/mcp"}
    out = junction.client().interactions.create(model="openai/x", input="hi", tools=[tool])
    assert out.status == "failed"
    assert out.errors[0].code == "unavailable"
    message = out.errors[0].message
    assert "could not list the tools of mcp_server 'down'" in message
    assert f"could not connect to the MCP server 'down' at http://127.0.0.1:{port}/mcp" in message
    assert openai_fake.requests == []


def test_a_server_that_goes_away_after_listing_gives_an_error_result(
    junction: Junction, openai_fake: FakeOpenAI, mcp: dict[str, McpHttp]
) -> None:
    weather = mcp["weather"]
    tool = declare(weather, headers={"Authorization": "Bearer a"})
    # listed while it accepted the token; then it refuses every request
    junction.client().interactions.create(model="openai/x", input="warm up", tools=[tool])
    weather.tokens = set()
    openai_fake.enqueue(
        Reply(text="", tool_calls=[("mcp__weather__forecast", {"city": "Oslo"})]),
        Reply(text="sorry"),
    )
    out = junction.client().interactions.create(model="openai/x", input="hi", tools=[tool])
    assert out.status == "completed", out.errors
    result = out.steps[2]
    assert is_error(result)
    assert "answered HTTP 401" in result.result and "'headers'" in result.result


def test_sse_transport(
    junction: Junction, openai_fake: FakeOpenAI, mcp: dict[str, McpHttp]
) -> None:
    sse = mcp["sse"]
    assert sse.url.endswith("/sse")  # chosen by the URL rule
    openai_fake.enqueue(
        Reply(text="", tool_calls=[("mcp__sky__forecast", {"city": "Rome"})]), Reply(text="sunny")
    )
    out = junction.client().interactions.create(
        model="openai/x", input="Rome?", tools=[declare(sse, "sky", headers={"X-K": "v"})]
    )
    assert out.status == "completed", out.errors
    assert plain(out.steps[2].result) == {"result": "Sunny in Rome"}
    assert sse.server.calls == [("forecast", {"city": "Rome"})]
    assert all(h.get("x-k") == "v" for h in sse.headers)
    # an explicit transport that does not match the server fails clearly
    tool = declare(sse, "sky", transport="streamable_http")
    out = junction.client().interactions.create(model="openai/x", input="x", tools=[tool])
    assert out.status == "failed" and "mcp_server 'sky'" in out.errors[0].message


def test_tool_lists_are_cached(
    junction: Junction, openai_fake: FakeOpenAI, mcp: dict[str, McpHttp]
) -> None:
    weather = mcp["weather"]
    for _ in range(3):
        openai_fake.enqueue(
            Reply(text="", tool_calls=[("mcp__weather__forecast", {"city": "Oslo"})]),
            Reply(text="ok"),
        )
        out = junction.client().interactions.create(
            model="openai/x", input="hi", tools=[declare(weather)]
        )
        assert out.status == "completed", out.errors
    assert weather.server.list_calls == 1
    assert len(weather.server.calls) == 3
    # other headers are another cache entry
    openai_fake.enqueue(Reply(text="ok"))
    junction.client().interactions.create(
        model="openai/x", input="hi", tools=[declare(weather, headers={"X-A": "1"})]
    )
    assert weather.server.list_calls == 2
    # an expired entry is listed again
    tool_services(junction).extras["mcp_cache"].ttl = 0.0
    openai_fake.enqueue(Reply(text="ok"))
    junction.client().interactions.create(model="openai/x", input="hi", tools=[declare(weather)])
    assert weather.server.list_calls == 3
    tool_services(junction).extras["mcp_cache"].ttl = 300.0


def test_two_mcp_servers_in_one_request(
    junction: Junction, openai_fake: FakeOpenAI, mcp: dict[str, McpHttp]
) -> None:
    openai_fake.enqueue(
        Reply(
            text="",
            tool_calls=[
                ("mcp__clock__now", {"zone": "UTC"}),
                ("mcp__weather__forecast", {"city": "Lima"}),
            ],
        ),
        Reply(text="noon and sunny"),
    )
    out = junction.client().interactions.create(
        model="openai/x",
        input="time and weather",
        tools=[declare(mcp["weather"]), declare(mcp["clock"], "clock")],
    )
    assert out.status == "completed", out.errors
    calls = [s for s in out.steps if s.type == "mcp_server_tool_call"]
    results = {s.call_id: s for s in out.steps if s.type == "mcp_server_tool_result"}
    assert [(c.server_name, c.name) for c in calls] == [("clock", "now"), ("weather", "forecast")]
    assert plain(results[calls[0].id].result) == {"result": "12:00 in UTC"}
    assert plain(results[calls[1].id].result) == {"result": "Sunny in Lima"}
    assert mcp["clock"].server.calls == [("now", {"zone": "UTC"})]
    assert mcp["weather"].server.calls == [("forecast", {"city": "Lima"})]
    assert len(offered(openai_fake.requests[0])) == 6
    assert len(tool_messages(openai_fake.requests[1])) == 2


def test_two_servers_with_one_name_and_distinct_tools(
    junction: Junction, openai_fake: FakeOpenAI, mcp: dict[str, McpHttp]
) -> None:
    openai_fake.enqueue(
        Reply(text="", tool_calls=[("mcp__svc__now", {"zone": "CET"})]), Reply(text="ok")
    )
    out = junction.client().interactions.create(
        model="openai/x",
        input="time",
        tools=[declare(mcp["weather"], "svc"), declare(mcp["clock"], "svc")],
    )
    assert out.status == "completed", out.errors
    assert plain(out.steps[2].result) == {"result": "12:00 in CET"}
    assert mcp["clock"].server.calls == [("now", {"zone": "CET"})]


def test_two_servers_with_one_name_are_refused(
    junction: Junction, openai_fake: FakeOpenAI, mcp: dict[str, McpHttp]
) -> None:
    out = junction.client().interactions.create(
        model="openai/x",
        input="x",
        tools=[declare(mcp["weather"]), declare(mcp["sse"])],
    )
    assert out.status == "failed"
    assert "two tools offer a function named 'mcp__weather__" in out.errors[0].message


@pytest.mark.parametrize(
    ("tool", "message"),
    [
        ({"url": "http://127.0.0.1:1/mcp"}, "mcp_server.name is required"),
        ({"name": "w x", "url": "http://127.0.0.1:1/mcp"}, "mcp_server.name is required"),
        ({"name": "w"}, "url is required and must be http(s)"),
        ({"name": "w", "url": "ftp://h/mcp"}, "url is required and must be http(s)"),
        ({"name": "w", "url": "http://h/mcp", "headers": ["a"]}, "mcp_server.headers must"),
        ({"name": "w", "url": "http://h/mcp", "headers": {"X": 1}}, "not a valid HTTP header"),
        ({"name": "w", "url": "http://h/mcp", "transport": "ws"}, "transport must be one of"),
        ({"name": "w", "url": "http://h/mcp", "allowed_tools": {"a": 1}}, "allowed_tools must"),
        (
            {"name": "w", "url": "http://h/mcp", "allowed_tools": [{"mode": "x", "tools": []}]},
            "mode must be one of",
        ),
        ({"name": "w", "url": "http://h/mcp", "credential": "c1"}, "no credentials store"),
    ],
)
def test_invalid_declarations_are_400(
    junction: Junction, mcp: dict[str, McpHttp], tool: dict[str, Any], message: str
) -> None:
    # raw HTTP: the SDK itself refuses some of these shapes
    tool_services(junction).extras.pop("credentials", None)
    response = httpx.post(
        f"{junction.url}/v1beta/interactions",
        json={"model": "openai/x", "input": "x", "tools": [{"type": "mcp_server", **tool}]},
        headers={"x-goog-api-key": junction.api_key},
    )
    assert response.status_code == 400
    assert message in response.json()["error"]["message"]


def test_static_bearer_token(
    junction: Junction, openai_fake: FakeOpenAI, mcp: dict[str, McpHttp]
) -> None:
    vault = mcp["vault"]
    vault.tokens = {"static"}
    openai_fake.enqueue(
        Reply(text="", tool_calls=[("mcp__vault__secret", {})]), Reply(text="got it")
    )
    good = declare(vault, "vault", headers={"Authorization": "Bearer static"})
    out = junction.client().interactions.create(model="openai/x", input="x", tools=[good])
    assert out.status == "completed", out.errors
    assert plain(out.steps[2].result) == {"result": "42"}
    bad = declare(vault, "vault", headers={"Authorization": "Bearer wrong"})
    out = junction.client().interactions.create(model="openai/x", input="x", tools=[bad])
    assert out.status == "failed"
    assert out.errors[0].code == "invalid_argument"
    assert "answered HTTP 401: check the 'headers'" in out.errors[0].message


@pytest.mark.filterwarnings("ignore:Credentials usage is experimental")
def test_a_stored_credential_supplies_the_headers(
    junction: Junction, openai_fake: FakeOpenAI, mcp: dict[str, McpHttp]
) -> None:
    vault = mcp["vault"]
    vault.tokens = {"stored-secret"}
    cred_id = f"vault-{junction.backend}-{secrets.token_hex(3)}"
    client = junction.client()
    client.credentials.create(
        type="bearer_token",
        id=cred_id,
        token="stored-secret",
        extra_body={"trusted_domains": ["127.0.0.1"]},
    )
    openai_fake.enqueue(Reply(text="", tool_calls=[("mcp__vault__secret", {})]), Reply(text="ok"))
    out = client.interactions.create(
        model="openai/x", input="x", tools=[declare(vault, "vault", credential=cred_id)]
    )
    assert out.status == "completed", out.errors
    assert plain(out.steps[2].result) == {"result": "42"}
    assert vault.rejected == []
    assert all(h["authorization"] == "Bearer stored-secret" for h in vault.headers)
    # the secret is never part of the interaction
    assert "stored-secret" not in json.dumps(plain(out.steps))

    out = client.interactions.create(
        model="openai/x", input="x", tools=[declare(vault, "vault", credential="nope")]
    )
    assert out.status == "failed"
    assert "credential 'nope'" in out.errors[0].message


class FakeCredentials:
    """Stands in for the credentials store: an OAuth2 access token that gets renewed."""

    def __init__(self) -> None:
        self.token = "token-1"
        self.reads: list[tuple[str, str]] = []
        self.refreshes: list[tuple[str, str]] = []

    async def headers_for(self, project_id: str, credential_id: str, url: str) -> dict[str, str]:
        self.reads.append((project_id, credential_id))
        return {"Authorization": f"Bearer {self.token}"}

    async def refresh(self, project_id: str, credential_id: str, url: str) -> dict[str, str]:
        self.refreshes.append((project_id, credential_id))
        self.token = "token-2"
        return {"Authorization": f"Bearer {self.token}"}


def test_credential_is_refreshed_once_on_401_mid_run(
    junction: Junction, openai_fake: FakeOpenAI, mcp: dict[str, McpHttp]
) -> None:
    vault = mcp["vault"]
    vault.tokens = {"token-1", "token-2"}
    credentials = FakeCredentials()
    tool_services(junction).extras["credentials"] = credentials
    openai_fake.enqueue(
        Reply(text="", tool_calls=[("mcp__vault__secret", {})]),
        Reply(text="", tool_calls=[("mcp__vault__secret", {})]),  # token-1 has expired by now
        Reply(text="", tool_calls=[("mcp__vault__secret", {})]),
        Reply(text="done"),
    )
    out = junction.client().interactions.create(
        model="openai/x", input="x", tools=[declare(vault, "vault", credential="cred-1")]
    )
    assert out.status == "completed", out.errors
    results = [s for s in out.steps if s.type == "mcp_server_tool_result"]
    assert [plain(r.result) for r in results] == [{"result": "42"}] * 3
    assert not any(is_error(r) for r in results)
    assert len(credentials.refreshes) == 1
    project, credential = credentials.refreshes[0]
    assert credential == "cred-1" and project
    # token-1 expired inside the first call: the courtesy DELETE ending that session is
    # refused (no renewal for it), then the second call's initialize is refused, the
    # credential is renewed once and the request is sent again
    assert vault.rejected == ["DELETE", "POST"]
    assert len(vault.server.calls) == 3


def test_credential_refresh_that_does_not_help_is_an_error_result(
    junction: Junction, openai_fake: FakeOpenAI, mcp: dict[str, McpHttp]
) -> None:
    vault = mcp["vault"]
    vault.tokens = {"token-1"}  # token-2 is not accepted either
    credentials = FakeCredentials()
    tool_services(junction).extras["credentials"] = credentials
    openai_fake.enqueue(
        Reply(text="", tool_calls=[("mcp__vault__secret", {})]),
        Reply(text="", tool_calls=[("mcp__vault__secret", {})]),
        Reply(text="gave up"),
    )
    out = junction.client().interactions.create(
        model="openai/x", input="x", tools=[declare(vault, "vault", credential="cred-1")]
    )
    assert out.status == "completed", out.errors
    first, second = [s for s in out.steps if s.type == "mcp_server_tool_result"]
    assert not is_error(first) and is_error(second)
    assert "HTTP 401 (even after renewing the credential)" in second.result
    assert "credential 'cred-1'" in second.result
    assert len(credentials.refreshes) == 1
