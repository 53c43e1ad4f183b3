"""Environments with an egress allowlist, through the API and the real sandbox: the
proxy lets allowlisted hosts through, injects headers and credential secrets that never
enter the sandbox, and refuses everything else."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Iterator

import pytest
from aiohttp import web

from junction.testing.fake_openai import FakeOpenAI
from junction.testing.fakeserver import FakeProviderServer, Reply
from tests.conftest import Junction


class Echo(FakeProviderServer):
    """An HTTP server on 127.0.0.1 that records the headers it receives."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[dict[str, str]] = []

    def routes(self, app: web.Application) -> None:
        app.router.add_get("/{tail:.*}", self.handle)

    async def handle(self, request: web.Request) -> web.Response:
        self.seen.append(dict(request.headers))
        return web.Response(text="hello from the allowlisted host\n")


@pytest.fixture
def echo() -> Iterator[Echo]:
    server = Echo().start()
    yield server
    server.stop()


def test_allowlist_injects_secrets_the_sandbox_never_sees(
    tools_junction: Junction,
    openai_fake: FakeOpenAI,
    echo: Echo,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    client = tools_junction.client()
    secret = "s3cr3t-" + secrets.token_hex(8)
    cred = f"echo-{secrets.token_hex(3)}"
    client.credentials.create(
        type="bearer_token", id=cred, token=secret, extra_body={"trusted_domains": ["127.0.0.1"]}
    )
    env = client.environments.create(
        network={
            "allowlist": [
                {"domain": "127.0.0.1", "credential": cred, "transform": {"X-Team": "blue"}},
            ]
        }
    )
    code = (
        # the test host is loopback on the proxy's side: --noproxy '' sends it through
        f"curl -s --noproxy '' --max-time 5 http://127.0.0.1:{echo.port}/hi; "
        "echo proxy=$HTTP_PROXY; env | grep -c s3cr3t || true; "
        "curl -s -o /dev/null -w 'other:%{http_code}\\n' --max-time 5 http://10.1.2.3/; "
        "getent hosts example.com || echo no-dns"
    )
    openai_fake.enqueue(
        Reply(text="", tool_calls=[("code_execution", {"code": code, "language": "bash"})]),
        Reply(text="checked"),
    )
    done = client.interactions.create(
        model="openai/x", input="x", environment=env.id, tools=[{"type": "code_execution"}]
    )
    assert done.status == "completed", done.errors
    output = done.steps[2].result
    assert "hello from the allowlisted host" in output
    assert "other:403" in output  # not on the allowlist: refused by the proxy
    assert "no-dns" in output  # no resolver inside the sandbox
    assert echo.seen and echo.seen[0].get("Authorization") == f"Bearer {secret}"
    assert echo.seen[0].get("X-Team") == "blue"
    lines = output.splitlines()
    assert "0" in lines  # grep -c found no secret in the sandbox's environment
    everything = str(done.model_dump()) + caplog.text + str([r.body for r in openai_fake.requests])
    assert secret not in everything


def test_network_disabled_means_no_network(
    tools_junction: Junction, openai_fake: FakeOpenAI, echo: Echo
) -> None:
    client = tools_junction.client()
    env = client.environments.create(network="disabled")
    code = (
        f"curl -s -o /dev/null -w 'code:%{{http_code}}\\n' --max-time 3 "
        f"http://127.0.0.1:{echo.port}/ || echo unreachable"
    )
    openai_fake.enqueue(
        Reply(text="", tool_calls=[("code_execution", {"code": code, "language": "bash"})]),
        Reply(text="ok"),
    )
    done = client.interactions.create(
        model="openai/x", input="x", environment=env.id, tools=[{"type": "code_execution"}]
    )
    assert "code:000" in done.steps[2].result or "unreachable" in done.steps[2].result
    assert echo.seen == []
