"""The credentials API through the official SDK: write-only, encrypted at rest, scoped."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Iterator

import httpx2 as httpx
import pytest
from google import genai
from google.genai import _interactions_errors as gerr

from junction.testing.fake_oauth import FakeTokenEndpoint
from tests.conftest import Junction


def _unique(junction: Junction, name: str) -> str:
    import secrets

    return f"{name}-{junction.backend}-{secrets.token_hex(3)}"


def test_create_get_list_update_delete(
    junction: Junction, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    client = junction.client()
    cred_id = _unique(junction, "gh")
    created = client.credentials.create(
        type="bearer_token",
        id=cred_id,
        token="ghp_SECRET123",
        header_name="Authorization",
        prefix="token",
        extra_body={"trusted_domains": ["api.github.com"]},
    )
    assert created.id == cred_id and created.type == "bearer_token"
    assert created.status == "active" and created.create_time is not None
    fetched = client.credentials.get(cred_id)
    assert fetched.id == cred_id
    listed = client.credentials.list(page_size=1000)
    assert cred_id in [c.id for c in listed.credentials]
    updated = client.credentials.update(
        cred_id, update_mask="token", type="bearer_token", token="ghp_NEWER456"
    )
    assert updated.id == cred_id
    raw = httpx.get(
        f"{junction.url}/v1beta/credentials/{cred_id}", headers={"x-goog-api-key": junction.api_key}
    ).text
    listing = httpx.get(
        f"{junction.url}/v1beta/credentials", headers={"x-goog-api-key": junction.api_key}
    ).text
    for text in (raw, listing, caplog.text):
        assert "SECRET123" not in text and "NEWER456" not in text
    creds = junction.thread.state.system.credentials
    project_id = asyncio.run_coroutine_threadsafe(
        junction.thread.state.services.auth.projects.project_for_key(junction.api_key),
        junction_loop(junction),
    ).result(5)
    headers = asyncio.run_coroutine_threadsafe(
        creds.headers_for(project_id, cred_id, "https://api.github.com/user"),
        junction_loop(junction),
    ).result(5)
    assert headers == {"Authorization": "token ghp_NEWER456"}
    client.credentials.delete(cred_id)
    with pytest.raises(gerr.NotFoundError):
        client.credentials.get(cred_id)


def junction_loop(junction: Junction) -> asyncio.AbstractEventLoop:
    loop: asyncio.AbstractEventLoop = junction.thread.state.loop
    return loop


def test_secrets_are_encrypted_at_rest(junction: Junction) -> None:
    client = junction.client()
    cred_id = _unique(junction, "plain")
    client.credentials.create(
        type="environment_variable",
        id=cred_id,
        value="VALUE-XYZ-987",
        injection_location="header",
        trusted_domains=["api.example.com"],
    )
    if junction.backend == "sqlite":
        path = junction.database_url.removeprefix("sqlite:///")
        with sqlite3.connect(path) as conn:
            (secret, meta) = conn.execute(
                "SELECT secret, meta FROM credentials WHERE id = ?", (cred_id,)
            ).fetchone()
    else:
        import asyncpg

        async def read() -> tuple[str, str]:
            conn = await asyncpg.connect(junction.database_url)
            try:
                row = await conn.fetchrow(
                    "SELECT secret, meta FROM credentials WHERE id = $1", cred_id
                )
                return row["secret"], row["meta"]
            finally:
                await conn.close()

        secret, meta = asyncio.run(read())
    assert "VALUE-XYZ-987" not in secret and "api.example.com" in meta


@pytest.mark.parametrize(
    ("body", "status", "needle"),
    [
        ({"type": "bearer_token", "id": "x1"}, 400, "token"),
        ({"type": "nope", "id": "x2", "token": "t"}, 400, "'type'"),
        ({"type": "bearer_token", "id": "Bad Id", "token": "t"}, 400, "'id'"),
        ({"type": "oauth2", "id": "x3", "client_id": "c"}, 400, "client_secret"),
    ],
)
def test_bad_credentials_are_400(
    junction: Junction, body: dict[str, str], status: int, needle: str
) -> None:
    response = httpx.post(
        f"{junction.url}/v1beta/credentials",
        json=body,
        headers={"x-goog-api-key": junction.api_key},
    )
    assert response.status_code == status, response.text
    assert needle in response.json()["error"]["message"]


def test_duplicates_and_other_projects(junction: Junction) -> None:
    client = junction.client()
    cred_id = _unique(junction, "dup")
    client.credentials.create(type="bearer_token", id=cred_id, token="t")
    with pytest.raises(gerr.ConflictError):
        client.credentials.create(type="bearer_token", id=cred_id, token="t")
    other_key = junction.cli(
        "keys", "create", "--project", f"cred-{junction.backend}"
    ).stdout.split()[1]
    other = junction.client(api_key=other_key)
    with pytest.raises(gerr.NotFoundError):
        other.credentials.get(cred_id)
    with pytest.raises(gerr.NotFoundError):
        other.credentials.delete(cred_id)
    assert cred_id not in [c.id for c in other.credentials.list().credentials or []]


@pytest.fixture
def token_endpoint() -> Iterator[FakeTokenEndpoint]:
    endpoint = FakeTokenEndpoint(refresh_token="rt-1", client_secret="cs-1", prefix="at-").start()
    yield endpoint
    endpoint.stop()


def test_oauth2_access_tokens_are_refreshed(
    junction: Junction, token_endpoint: FakeTokenEndpoint
) -> None:
    url, seen = token_endpoint.token_url, token_endpoint.grants
    client: genai.Client = junction.client()
    cred_id = _unique(junction, "oauth")
    client.credentials.create(
        type="oauth2",
        id=cred_id,
        client_id="cid",
        client_secret="cs-1",
        refresh_token="rt-1",
        token_url=url,
        scopes=["read"],
        extra_body={"trusted_domains": ["127.0.0.1", "mcp.example.com"]},
    )
    creds = junction.thread.state.system.credentials
    loop = junction_loop(junction)
    project_id = asyncio.run_coroutine_threadsafe(
        junction.thread.state.services.auth.projects.project_for_key(junction.api_key), loop
    ).result(5)
    target = "https://mcp.example.com/mcp"
    first = asyncio.run_coroutine_threadsafe(
        creds.headers_for(project_id, cred_id, target), loop
    ).result(5)
    again = asyncio.run_coroutine_threadsafe(
        creds.headers_for(project_id, cred_id, target), loop
    ).result(5)
    assert first == again == {"Authorization": "Bearer at-1"}  # cached
    refreshed = asyncio.run_coroutine_threadsafe(
        creds.refresh(project_id, cred_id, target), loop
    ).result(5)
    assert refreshed == {"Authorization": "Bearer at-2"}
    assert seen[0]["grant_type"] == "refresh_token" and seen[0]["scope"] == "read"
