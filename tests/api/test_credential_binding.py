"""Credentials bound to where they may go (issue 8): ``trusted_domains`` on every type,
checked at every use, and changing where a secret goes needs the secret again."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Iterator
from typing import Any

import httpx2 as httpx
import pytest

from junction.runtime.credentials import UntrustedDestination
from junction.testing.fake_oauth import FakeTokenEndpoint
from tests.conftest import Junction

pytestmark = pytest.mark.filterwarnings("ignore:Credentials usage is experimental")


def _call(junction: Junction, method: str, path: str, body: Any = None) -> httpx.Response:
    return httpx.request(
        method,
        f"{junction.url}/v1beta/{path}",
        json=body,
        headers={"x-goog-api-key": junction.api_key},
    )


def _run(junction: Junction, coro: Any) -> Any:
    return asyncio.run_coroutine_threadsafe(coro, junction.thread.state.loop).result(10)


def _project(junction: Junction) -> str:
    projects = junction.thread.state.services.auth.projects
    project: str = _run(junction, projects.project_for_key(junction.api_key))
    return project


def _meta(junction: Junction, cred_id: str) -> dict[str, Any]:
    rows = junction.thread.state.system.credentials.rows
    row = _run(junction, rows.get(_project(junction), cred_id))
    assert row is not None
    meta: dict[str, Any] = row["meta"]
    return meta


@pytest.fixture
def token_endpoint() -> Iterator[FakeTokenEndpoint]:
    endpoint = FakeTokenEndpoint(refresh_token="rt-1", client_secret="cs-1", prefix="at-").start()
    yield endpoint
    endpoint.stop()


def _name(junction: Junction, stem: str) -> str:
    return f"{stem}-{junction.backend}-{secrets.token_hex(3)}"


@pytest.mark.parametrize(
    ("domains", "needle"),
    [(["*"], "trusted_domains"), ("api.example.com", "trusted_domains"),
     (["ok.example.com", 5], "trusted_domains"), (["bad host"], "'bad host' is not one")],
)  # fmt: skip
def test_trusted_domains_are_validated(junction: Junction, domains: Any, needle: str) -> None:
    body = {"type": "bearer_token", "id": _name(junction, "v"), "token": "t"}
    response = _call(junction, "POST", "credentials", {**body, "trusted_domains": domains})
    assert response.status_code == 400 and needle in response.json()["error"]["message"]
    assert _call(junction, "GET", f"credentials/{body['id']}").status_code == 404


def test_a_credential_is_sent_only_to_its_trusted_domains(junction: Junction) -> None:
    creds = junction.thread.state.system.credentials
    project = _project(junction)
    bound, unbound = _name(junction, "bound"), _name(junction, "unbound")
    assert _call(junction, "POST", "credentials", {
        "type": "bearer_token", "id": bound, "token": "tok-1",
        "trusted_domains": ["api.example.com", "*.corp.example"],
    }).status_code == 200  # fmt: skip
    assert (
        _call(
            junction, "POST", "credentials", {"type": "bearer_token", "id": unbound, "token": "t2"}
        ).status_code
        == 200
    )
    for url in ("https://api.example.com/v1", "https://mcp.corp.example/mcp", "API.example.com"):
        assert _run(junction, creds.headers_for(project, bound, url)) == {
            "Authorization": "Bearer tok-1"
        }
    for url in ("https://evil.example.net/", "https://api.example.com.evil.net/", "corp.example"):
        with pytest.raises(UntrustedDestination, match="its trusted_domains are"):
            _run(junction, creds.headers_for(project, bound, url))
    with pytest.raises(UntrustedDestination, match="has no trusted_domains"):
        _run(junction, creds.headers_for(project, unbound, "https://api.example.com/"))


def test_moving_a_credential_needs_the_secret_again(
    junction: Junction, token_endpoint: FakeTokenEndpoint
) -> None:
    cred = _name(junction, "oauth")
    created = _call(junction, "POST", "credentials", {
        "type": "oauth2", "id": cred, "client_id": "cid", "client_secret": "cs-1",
        "refresh_token": "rt-1", "token_url": token_endpoint.token_url,
        "trusted_domains": ["127.0.0.1", "mcp.example.com"],
    })  # fmt: skip
    assert created.status_code == 200, created.text
    evil = "https://attacker.example.net/token"
    moved = _call(junction, "PATCH", f"credentials/{cred}", {"type": "oauth2", "token_url": evil})
    message = moved.json()["error"]["message"]
    assert moved.status_code == 400 and "'token_url'" in message
    assert "'client_secret'" in message and "'refresh_token'" in message
    widened = _call(
        junction,
        "PATCH",
        f"credentials/{cred}?update_mask=trusted_domains",
        {"type": "oauth2", "trusted_domains": ["attacker.example.net"]},
    )
    assert widened.status_code == 400 and "'trusted_domains'" in widened.json()["error"]["message"]
    meta = _meta(junction, cred)
    assert meta["token_url"] == token_endpoint.token_url  # nothing changed
    assert meta["trusted_domains"] == ["127.0.0.1", "mcp.example.com"]
    outside = _call(junction, "PATCH", f"credentials/{cred}", {
        "type": "oauth2", "token_url": evil, "client_secret": "cs-1", "refresh_token": "rt-1",
    })  # fmt: skip
    assert outside.status_code == 400 and "not in 'trusted_domains'" in outside.text
    scopes = _call(junction, "PATCH", f"credentials/{cred}", {"type": "oauth2", "scopes": ["x"]})
    assert scopes.status_code == 200  # other settings need no secret
    resupplied = _call(junction, "PATCH", f"credentials/{cred}", {
        "type": "oauth2", "token_url": evil, "client_secret": "cs-2", "refresh_token": "rt-2",
        "trusted_domains": ["attacker.example.net", "mcp.example.com"],
    })  # fmt: skip
    assert resupplied.status_code == 200, resupplied.text
    assert _meta(junction, cred)["token_url"] == evil

    bearer = _name(junction, "bearer")
    _call(junction, "POST", "credentials", {
        "type": "bearer_token", "id": bearer, "token": "t", "trusted_domains": ["a.example.com"],
    })  # fmt: skip
    again = _call(
        junction,
        "PATCH",
        f"credentials/{bearer}",
        {"type": "bearer_token", "trusted_domains": ["b.example.com"]},
    )
    assert again.status_code == 400 and "supply 'token'" in again.json()["error"]["message"]
    assert _meta(junction, bearer)["trusted_domains"] == ["a.example.com"]


def test_token_refresh_only_to_a_trusted_token_url(
    junction: Junction, token_endpoint: FakeTokenEndpoint
) -> None:
    outside = _call(junction, "POST", "credentials", {
        "type": "oauth2", "id": _name(junction, "o1"), "client_id": "c", "client_secret": "cs-1",
        "refresh_token": "rt-1", "token_url": token_endpoint.token_url,
        "trusted_domains": ["mcp.example.com"],
    })  # fmt: skip
    assert outside.status_code == 400 and "'token_url' host '127.0.0.1'" in outside.text
    unbound = _name(junction, "o2")
    assert _call(junction, "POST", "credentials", {
        "type": "oauth2", "id": unbound, "client_id": "c", "client_secret": "cs-1",
        "refresh_token": "rt-1", "token_url": token_endpoint.token_url,
    }).status_code == 200  # fmt: skip
    creds = junction.thread.state.system.credentials
    with pytest.raises(UntrustedDestination):
        _run(junction, creds.headers_for(_project(junction), unbound, "https://mcp.example.com/"))
    assert token_endpoint.grants == []  # the refresh token never left
