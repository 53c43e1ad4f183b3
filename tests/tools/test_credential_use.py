"""Where stored credentials and inline headers may go (issue 8), end to end: an
``mcp_server`` tool cannot send a credential outside its ``trusted_domains``, the egress
proxy cannot inject it outside them, and inline ``mcp_server`` headers are used but never
echoed back (interaction create/GET, the stream, agent definitions)."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator

import httpx2 as httpx
import pytest

from junction.testing.fake_openai import FakeOpenAI
from junction.testing.fakeserver import Reply
from tests.conftest import Junction
from tests.tools.test_environment_network import Echo
from tests.tools.test_mcp import McpHttp, declare, mcp, servers  # noqa: F401

pytestmark = pytest.mark.filterwarnings("ignore:Credentials usage is experimental")


@pytest.fixture
def echo() -> Iterator[Echo]:
    server = Echo().start()
    yield server
    server.stop()


def _headers(junction: Junction) -> dict[str, str]:
    return {"x-goog-api-key": junction.api_key}


@pytest.mark.parametrize("domains", [None, ["mcp.example.com"], ["*.0.0.1"]])
def test_an_mcp_server_cannot_take_a_credential_elsewhere(
    junction: Junction,
    openai_fake: FakeOpenAI,
    mcp: dict[str, McpHttp],  # noqa: F811
    domains: list[str] | None,
) -> None:
    vault = mcp["vault"]
    secret = "tok-" + secrets.token_hex(6)
    cred = f"c-{junction.backend}-{secrets.token_hex(3)}"
    body = {"type": "bearer_token", "id": cred, "token": secret}
    if domains is not None:
        body["trusted_domains"] = domains
    assert (
        httpx.post(
            f"{junction.url}/v1beta/credentials", json=body, headers=_headers(junction)
        ).status_code
        == 200
    )
    openai_fake.enqueue(Reply(text="", tool_calls=[("mcp__vault__secret", {})]), Reply(text="ok"))
    response = httpx.post(
        f"{junction.url}/v1beta/interactions",
        json={
            "model": "openai/x",
            "input": "x",
            "tools": [declare(vault, "vault", credential=cred)],
        },
        headers=_headers(junction),
    )
    assert response.status_code == 200 and response.json()["status"] == "failed", response.text
    assert f"credential '{cred}' may not be sent to '127.0.0.1'" in response.text
    assert secret not in response.text
    assert all(secret not in json.dumps(h) for h in vault.headers)


def test_inline_mcp_headers_are_used_but_never_echoed(
    junction: Junction,
    openai_fake: FakeOpenAI,
    mcp: dict[str, McpHttp],  # noqa: F811
) -> None:
    weather = mcp["weather"]
    secret = "inline-" + secrets.token_hex(8)
    tool = declare(weather, "weather", headers={"X-Api-Key": secret})
    for stream in (False, True):
        openai_fake.enqueue(Reply(text="no tools needed"))
        created = httpx.post(
            f"{junction.url}/v1beta/interactions",
            json={"model": "openai/x", "input": "x", "tools": [tool], "stream": stream},
            headers=_headers(junction),
        )
        assert created.status_code == 200, created.text
        assert secret not in created.text
        if stream:
            first = created.text.split("data:", 2)[1].split("\n", 1)[0]
            interaction_id = json.loads(first)["interaction"]["id"]
        else:
            assert created.json()["tools"][0] == {k: v for k, v in tool.items() if k != "headers"}
            interaction_id = created.json()["id"]
        for query in ("", "?stream=true"):
            fetched = httpx.get(
                f"{junction.url}/v1beta/interactions/{interaction_id}{query}",
                headers=_headers(junction),
            )
            assert fetched.status_code == 200 and secret not in fetched.text
    assert any(h.get("x-api-key") == secret for h in weather.headers)  # it was used
    agent_id = f"a-{junction.backend}-{secrets.token_hex(3)}"
    agent = httpx.post(
        f"{junction.url}/v1beta/agents",
        json={"id": agent_id, "base_agent": "junction-general", "tools": [tool]},
        headers=_headers(junction),
    )
    assert agent.status_code == 200 and secret not in agent.text
    for path in (f"agents/{agent_id}", "agents?page_size=1000"):
        shown = httpx.get(f"{junction.url}/v1beta/{path}", headers=_headers(junction))
        assert shown.status_code == 200 and agent_id in shown.text and secret not in shown.text


def test_the_egress_proxy_injects_a_credential_only_where_it_is_trusted(
    tools_junction: Junction, openai_fake: FakeOpenAI, echo: Echo
) -> None:
    client = tools_junction.client()
    secret = "s3cr3t-" + secrets.token_hex(8)
    cred = f"elsewhere-{secrets.token_hex(3)}"
    client.credentials.create(
        type="bearer_token",
        id=cred,
        token=secret,
        extra_body={"trusted_domains": ["api.example.com"]},
    )
    env = client.environments.create(
        network={"allowlist": [{"domain": "127.0.0.1", "credential": cred}]}
    )
    code = f"curl -s --noproxy '' --max-time 5 http://127.0.0.1:{echo.port}/hi"
    openai_fake.enqueue(
        Reply(text="", tool_calls=[("code_execution", {"code": code, "language": "bash"})]),
        Reply(text="checked"),
    )
    done = client.interactions.create(
        model="openai/x", input="x", environment=env.id, tools=[{"type": "code_execution"}]
    )
    assert done.status == "completed", done.errors
    output = str(done.steps[2].result)
    assert f"credential '{cred}' may not be sent to '127.0.0.1'" in output
    assert echo.seen == []  # the request never left the proxy
    assert secret not in output
