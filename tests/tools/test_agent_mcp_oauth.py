"""An agent calling an MCP server through a real OAuth2 credential: the access token
expires mid-run, the MCP server answers 401, Junction refreshes the token at the token
endpoint and the run goes on."""

from __future__ import annotations

import asyncio
import secrets
import threading
from collections.abc import Iterator

import pytest
from aiohttp import web

from junction.testing.fake_openai import FakeOpenAI
from junction.testing.fakeserver import Reply
from tests.conftest import Junction
from tests.tools.test_mcp import McpHttp, vault_server


class TokenEndpoint:
    """An OAuth2 token endpoint issuing token-1, then token-2, … for the refresh token."""

    def __init__(self) -> None:
        self.grants: list[dict[str, str]] = []
        self.loop = asyncio.new_event_loop()
        self.port = 0

    async def token(self, request: web.Request) -> web.Response:
        form = {k: str(v) for k, v in (await request.post()).items()}
        self.grants.append(form)
        if form.get("refresh_token") != "refresh-me" or form.get("client_secret") != "cs":
            return web.json_response({"error": "invalid_grant"}, status=400)
        return web.json_response(
            {
                "access_token": f"token-{len(self.grants)}",
                "expires_in": 3600,
                "token_type": "Bearer",
            }
        )

    def start(self) -> TokenEndpoint:
        app = web.Application()
        app.router.add_post("/token", self.token)
        runner = web.AppRunner(app)
        self.loop.run_until_complete(runner.setup())
        site = web.TCPSite(runner, "127.0.0.1", 0)
        self.loop.run_until_complete(site.start())
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        threading.Thread(target=self.loop.run_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)


@pytest.fixture
def vault() -> Iterator[McpHttp]:
    app: list[McpHttp] = []
    server = McpHttp(vault_server(app)).start()
    app.append(server)
    yield server
    server.stop()


@pytest.fixture
def token_endpoint() -> Iterator[TokenEndpoint]:
    endpoint = TokenEndpoint().start()
    yield endpoint
    endpoint.stop()


def test_agent_mcp_call_survives_an_expiring_oauth2_token(
    junction: Junction, openai_fake: FakeOpenAI, vault: McpHttp, token_endpoint: TokenEndpoint
) -> None:
    client = junction.client()
    cred = f"vault-{secrets.token_hex(3)}"
    client.credentials.create(
        type="oauth2",
        id=cred,
        client_id="junction",
        client_secret="cs",
        refresh_token="refresh-me",
        token_url=f"http://127.0.0.1:{token_endpoint.port}/token",
    )
    vault.tokens = {"token-1", "token-2"}  # token-1 stops working after one call
    agent_id = f"keeper-{secrets.token_hex(3)}"
    client.agents.create(
        id=agent_id,
        base_agent="junction-general",
        tools=[{"type": "mcp_server", "name": "vault", "url": vault.url, "credential": cred}],
        agent_config={"type": "antigravity", "model": "openai/x"},
    )
    openai_fake.enqueue(
        Reply(text="", tool_calls=[("mcp__vault__secret", {})]),
        Reply(text="", tool_calls=[("mcp__vault__secret", {})]),
        Reply(text="The secret is 42, twice."),
    )
    done = client.interactions.create(agent=agent_id, input="read the secret twice")
    assert done.status == "completed", done.errors
    results = [s for s in done.steps if s.type == "mcp_server_tool_result"]
    assert len(results) == 2
    assert all(not getattr(r, "is_error", False) for r in results)
    assert vault.server.calls == [("secret", {}), ("secret", {})]
    assert len(token_endpoint.grants) == 2  # the first token, then one refresh after a 401
    assert vault.rejected  # the expired token really was refused once
    assert all(g["grant_type"] == "refresh_token" for g in token_endpoint.grants)
