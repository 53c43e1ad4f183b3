"""Interaction auth tokens: minted with a project key, usable as ``api_key`` by the SDK,
bound to one interaction (read, stream, continue), refused everywhere else, expiring
and revocable."""

from __future__ import annotations

import re
import time
import warnings
from datetime import UTC, datetime, timedelta

import httpx2 as httpx
import pytest
from google import genai
from google.genai import _interactions_errors as gerr
from starlette.routing import Route

from tests.conftest import Junction


@pytest.fixture(autouse=True)
def _quiet_experimental_warning() -> None:
    warnings.filterwarnings("ignore", message=".*Live Interactions usage.*")


def _mint(client: genai.Client, interaction_id: str, **kwargs: object) -> str:
    created = client.interactions.auth_tokens.create(interaction_id, **kwargs)
    assert created.auth_token is not None and created.auth_token.startswith("auth_tokens/")
    assert created.expires_at is not None
    return created.auth_token


def test_a_token_reads_streams_and_continues_its_interaction(junction: Junction) -> None:
    client = junction.client()
    mine = client.interactions.create(model="offline/echo", input="hello token")
    token = _mint(client, mine.id)
    browser = junction.client(api_key=token)

    got = browser.interactions.get(mine.id)
    assert got.output_text == "hello token"
    events = list(browser.interactions.get(mine.id, stream=True))
    assert events[-1].event_type == "interaction.completed"
    turn = browser.interactions.create(
        model="offline/echo", input="/history", previous_interaction_id=mine.id
    )
    assert turn.output_text == "hello token | /history"
    streamed = list(
        browser.interactions.create(
            model="offline/echo", input="again", previous_interaction_id=mine.id, stream=True
        )
    )
    assert streamed[-1].interaction.status == "completed"


def test_a_token_cannot_do_anything_else(junction: Junction) -> None:
    client = junction.client()
    mine = client.interactions.create(model="offline/echo", input="mine")
    other = client.interactions.create(model="offline/echo", input="other")
    browser = junction.client(api_key=_mint(client, mine.id))

    with pytest.raises(gerr.PermissionDeniedError):
        browser.interactions.get(other.id)
    with pytest.raises(gerr.PermissionDeniedError):
        browser.interactions.create(model="offline/echo", input="fresh")
    with pytest.raises(gerr.PermissionDeniedError):
        browser.interactions.create(
            model="offline/echo", input="x", previous_interaction_id=other.id
        )
    with pytest.raises(gerr.PermissionDeniedError):
        browser.interactions.cancel(mine.id)
    with pytest.raises(gerr.PermissionDeniedError):
        browser.interactions.delete(mine.id)
    with pytest.raises(gerr.PermissionDeniedError):
        browser.interactions.auth_tokens.create(mine.id)
    with pytest.raises(gerr.PermissionDeniedError):
        browser.agents.list()
    # nothing changed
    assert client.interactions.get(mine.id).status == "completed"


def _fill(path: str, interaction_id: str) -> str:
    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if name == "version":
            return "v1beta"
        if name == "interaction_id":
            return interaction_id
        return "x"

    return re.sub(r"\{(\w+)(?::\w+)?\}", value, path)


#: routes that take no API key at all (a token gains nothing there): the health check,
#: the JWKS receivers verify dynamic webhooks with, the operator-token metrics, the
#: OpenAPI document, and the console's static pages (the console's data comes from the
#: API routes checked here)
PUBLIC = {
    "/healthz",
    "/openapi.json",
    "/.well-known/jwks.json",
    "/metrics",
    "/console",
    "/console/",
    "/console/static/{path:path}",
}


def test_every_route_refuses_a_token_except_read_stream_continue(junction: Junction) -> None:
    """Walks the app's own route table, so routes added later are covered too."""
    client = junction.client()
    mine = client.interactions.create(model="offline/echo", input="scoped")
    other = client.interactions.create(model="offline/echo", input="unscoped")
    token = _mint(client, mine.id)
    headers = {"x-goog-api-key": token, "content-type": "application/json"}
    read = "/{version}/interactions/{interaction_id}"
    allowed = {("GET", read), ("HEAD", read)}
    checked = 0
    for route in junction.thread.app.routes:
        if not isinstance(route, Route) or route.path in PUBLIC:
            continue
        for method in sorted(route.methods or ()):
            for target in (mine.id, other.id):
                url = junction.url + _fill(route.path, target)
                body = {"model": "offline/echo", "input": "x", "previous_interaction_id": other.id}
                reply = httpx.request(method, url, headers=headers, json=body, timeout=30)
                ok = (method, route.path) in allowed and target == mine.id
                if method == "HEAD":
                    assert reply.status_code == (200 if ok else 403), (method, route.path)
                    continue
                if ok:
                    assert reply.status_code == 200, (method, route.path, reply.text)
                else:
                    assert reply.status_code == 403, (method, route.path, reply.text)
                    assert reply.json()["error"]["code"] == "permission_denied"
                checked += 1
    assert checked >= 30
    # the one create a token may make: continuing its own interaction
    reply = httpx.post(
        f"{junction.url}/v1beta/interactions",
        headers=headers,
        json={"model": "offline/echo", "input": "ok", "previous_interaction_id": mine.id},
    )
    assert reply.status_code == 200, reply.text


def test_expiry_revocation_and_bad_requests(junction: Junction) -> None:
    client = junction.client()
    mine = client.interactions.create(model="offline/echo", input="expiring")
    soon = datetime.now(UTC) + timedelta(seconds=1)
    short = _mint(client, mine.id, expire_time=soon)
    revoked = _mint(client, mine.id)
    assert junction.client(api_key=revoked).interactions.get(mine.id).id == mine.id
    client.interactions.auth_tokens.delete(mine.id, revoked)
    with pytest.raises(gerr.AuthenticationError):
        junction.client(api_key=revoked).interactions.get(mine.id)
    with pytest.raises(gerr.NotFoundError):
        client.interactions.auth_tokens.delete(mine.id, revoked)
    time.sleep(max(0.0, (soon - datetime.now(UTC)).total_seconds()) + 0.2)
    with pytest.raises(gerr.AuthenticationError):
        junction.client(api_key=short).interactions.get(mine.id)
    with pytest.raises(gerr.AuthenticationError):
        junction.client(api_key="auth_tokens/not-a-token").interactions.get(mine.id)

    with pytest.raises(gerr.BadRequestError, match="in the past"):
        client.interactions.auth_tokens.create(
            mine.id, expire_time=datetime.now(UTC) - timedelta(minutes=1)
        )
    with pytest.raises(gerr.BadRequestError, match="at most 86400 seconds"):
        client.interactions.auth_tokens.create(
            mine.id, expire_time=datetime.now(UTC) + timedelta(days=2)
        )
    with pytest.raises(gerr.NotFoundError):
        client.interactions.auth_tokens.create("v1_no_such_interaction")
    # default lifetime: 30 minutes
    default = client.interactions.auth_tokens.create(mine.id)
    assert default.expires_at is not None
    left = (default.expires_at - datetime.now(UTC)).total_seconds()
    assert 1700 < left <= 1800


def test_tokens_are_project_scoped_and_die_with_their_interaction(junction: Junction) -> None:
    created = junction.cli("keys", "create", "--project", f"tokens-{junction.backend}")
    assert created.returncode == 0, created.stderr
    stranger = junction.client(api_key=created.stdout.split()[1])
    client = junction.client()
    mine = client.interactions.create(model="offline/echo", input="private")
    with pytest.raises(gerr.NotFoundError):
        stranger.interactions.auth_tokens.create(mine.id)
    token = _mint(client, mine.id)
    with pytest.raises(gerr.NotFoundError):
        stranger.interactions.auth_tokens.delete(mine.id, token)
    assert junction.client(api_key=token).interactions.get(mine.id).id == mine.id
    client.interactions.delete(mine.id)
    with pytest.raises(gerr.AuthenticationError):
        junction.client(api_key=token).interactions.get(mine.id)


def test_live_tokens_per_interaction_are_capped(junction: Junction) -> None:
    from junction.api.auth_tokens import MAX_TOKENS_PER_INTERACTION

    client = junction.client()
    mine = client.interactions.create(model="offline/echo", input="popular")
    url = f"{junction.url}/v1beta/interactions/{mine.id}/auth_tokens"
    with httpx.Client(headers={"x-goog-api-key": junction.api_key}, timeout=30) as http:
        minted = []
        for _ in range(MAX_TOKENS_PER_INTERACTION):
            reply = http.post(url, json={})
            assert reply.status_code == 200, reply.text
            minted.append(reply.json()["auth_token"])
        assert len(set(minted)) == MAX_TOKENS_PER_INTERACTION
        refused = http.post(url, json={})
        assert refused.status_code == 400, refused.text
        message = refused.json()["error"]["message"]
        assert f"already has {MAX_TOKENS_PER_INTERACTION} live auth tokens" in message
        assert "revoke some" in message
        # the refusal wrote nothing: revoking one token makes room for exactly one more
        gone = minted.pop()
        client.interactions.auth_tokens.delete(mine.id, gone)
        again = http.post(url, json={})
        assert again.status_code == 200, again.text
        assert http.post(url, json={}).status_code == 400
    # the tokens minted before the cap still work; the cap is per interaction
    assert junction.client(api_key=minted[0]).interactions.get(mine.id).id == mine.id
    other = client.interactions.create(model="offline/echo", input="another")
    _mint(client, other.id)
