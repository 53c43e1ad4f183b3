"""/{version}/interactions/{id}/auth_tokens: short-lived tokens bound to one interaction,
for browser and mobile clients (docs/interactions.md, "Interaction auth tokens")."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from junction import jsonutil
from junction.api.common import JSONResponse, project_of, services
from junction.api.spec import json_body, operation
from junction.errors import BadRequest, NotFound
from junction.schema import answers
from junction.schema.bodies import CreateAuthToken
from junction.store.auth_tokens import TOKEN_PREFIX

#: live (unexpired) tokens one interaction may have at once
MAX_TOKENS_PER_INTERACTION = 100


def _expiry_ms(raw: str | None, default_s: float, max_s: float, now_ms: int) -> int:
    if raw is None:
        return now_ms + int(default_s * 1000)
    try:
        when = datetime.fromisoformat(raw.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise BadRequest(
            f"expire_time '{raw}' is not an RFC 3339 timestamp (e.g. 2026-06-01T13:00:00Z)"
        ) from None
    if when.tzinfo is None:
        raise BadRequest("expire_time needs a time zone (e.g. a trailing Z)")
    expires = int(when.timestamp() * 1000)
    if expires <= now_ms:
        raise BadRequest("expire_time is in the past")
    if expires > now_ms + int(max_s * 1000):
        raise BadRequest(
            f"expire_time is too far ahead: a token lives at most {int(max_s)} seconds "
            "(JUNCTION_AUTH_TOKEN_MAX_SECONDS)"
        )
    return expires


def _rfc3339(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@operation(
    summary="Issue a short-lived token bound to this interaction",
    tag="interactions",
    body=CreateAuthToken,
    body_required=False,
    responses={200: answers.AuthToken},
)
async def create_token(request: Request) -> Response:
    project_id = await project_of(request)
    svc = services(request)
    interaction_id = request.path_params["interaction_id"]
    body = await json_body(request, CreateAuthToken, required=False)
    settings = svc.interactions.settings
    now_ms = int(time.time() * 1000)
    expires = _expiry_ms(
        body.get("expire_time"),
        settings.auth_token_default_seconds,
        settings.auth_token_max_seconds,
        now_ms,
    )
    if await svc.interactions.store.get(project_id, interaction_id) is None:
        raise NotFound(f"interaction '{interaction_id}' not found")
    store = svc.auth.tokens
    assert store is not None
    if await store.count(project_id, interaction_id, now_ms) >= MAX_TOKENS_PER_INTERACTION:
        raise BadRequest(
            f"interaction '{interaction_id}' already has {MAX_TOKENS_PER_INTERACTION} live auth "
            "tokens: revoke some (DELETE …/auth_tokens/{token}) or let them expire"
        )
    token = await store.create(project_id, interaction_id, expires, now_ms)
    return JSONResponse({"auth_token": TOKEN_PREFIX + token, "expires_at": _rfc3339(expires)})


@operation(summary="Revoke an auth token", tag="interactions", responses={200: answers.Empty})
async def delete_token(request: Request) -> Response:
    project_id = await project_of(request)
    svc = services(request)
    interaction_id = request.path_params["interaction_id"]
    token = request.path_params["token"].removeprefix(TOKEN_PREFIX)
    store = svc.auth.tokens
    assert store is not None
    if not await store.delete(project_id, interaction_id, token):
        raise NotFound(f"no auth token of interaction '{interaction_id}' matches")
    svc.auth.forget_token(token)
    return Response(jsonutil.dumpb({}), media_type="application/json")


routes = [
    Route("/{version}/interactions/{interaction_id}/auth_tokens", create_token, methods=["POST"]),
    Route(
        "/{version}/interactions/{interaction_id}/auth_tokens/{token}",
        delete_token,
        methods=["DELETE"],
    ),
]
