"""An agent calling an MCP server through a real OAuth2 credential: the access token
expires mid-run, the MCP server answers 401, Junction refreshes the token at the token
endpoint and the run goes on."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest

from junction.testing.fake_oauth import FakeTokenEndpoint
from junction.testing.fake_openai import FakeOpenAI
from junction.testing.fakeserver import Reply
from tests.conftest import Junction
from tests.tools.test_mcp import McpHttp, vault_server


@pytest.fixture
def vault() -> Iterator[McpHttp]:
    app: list[McpHttp] = []
    server = McpHttp(vault_server(app)).start()
    app.append(server)
    yield server
    server.stop()


@pytest.fixture
def token_endpoint() -> Iterator[FakeTokenEndpoint]:
    endpoint = FakeTokenEndpoint(refresh_token="refresh-me", client_secret="cs").start()
    yield endpoint
    endpoint.stop()


def test_agent_mcp_call_survives_an_expiring_oauth2_token(
    junction: Junction, openai_fake: FakeOpenAI, vault: McpHttp, token_endpoint: FakeTokenEndpoint
) -> None:
    client = junction.client()
    cred = f"vault-{secrets.token_hex(3)}"
    client.credentials.create(
        type="oauth2",
        id=cred,
        client_id="junction",
        client_secret="cs",
        refresh_token="refresh-me",
        token_url=token_endpoint.token_url,
        extra_body={"trusted_domains": ["127.0.0.1"]},
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
