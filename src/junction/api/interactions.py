"""/{version}/interactions routes."""

from __future__ import annotations

import time
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from junction import jsonutil
from junction.api import legacy, media
from junction.api.common import (
    JSONResponse,
    check_version,
    read_json,
    services,
)
from junction.api.filters import list_filters
from junction.api.spec import Raw, operation, query
from junction.api.sse import event_stream
from junction.schema import answers
from junction.schema.params import GetInteraction, ListInteractions
from junction.schema.requests import CreateInteraction

SSE = Raw("text/event-stream", "with stream=true: the events, as server-sent events")
ONE = (Raw("application/json", "the interaction", answers.Interaction), SSE)


@operation(
    summary="Create an interaction (run a model or agent turn)",
    tag="interactions",
    body=CreateInteraction,
    headers={"Idempotency-Key": "a retried request with the same key returns the same answer"},
    responses={200: ONE},
)
async def create_interaction(request: Request) -> Response:
    started = time.perf_counter()
    check_version(request)
    svc = services(request)
    principal = await svc.auth.principal(request)
    project_id = principal.project_id
    body = await read_json(request)
    if principal.interaction_id is not None:
        # An auth token may only continue its own interaction (and its own turn's hops).
        principal.require(await svc.interactions.token_target(project_id, body))
    old = legacy.is_legacy(request.headers, body)
    if old:
        body = legacy.request_body(body)
    created = await svc.interactions.create(
        project_id,
        body,
        request.headers.get("idempotency-key"),
        api_key_id=getattr(request.state, "api_key_id", None),
    )
    request.state.interaction_id = created.record.id
    if created.stream:
        events = media.events(
            request, created.record, svc.interactions.stream_events(created, hops=not old)
        )
        if old:
            events = legacy.events(events, legacy.input_steps(created.record.steps))
        return event_stream(events, svc.interactions.settings.sse_keepalive_seconds)
    record = await svc.interactions.finish(created, hops=not old)
    wire = await media.wire(request, record)
    response = JSONResponse(legacy.interaction(wire) if old else wire)
    if created.run is not None:
        # Server-side cost of this request: total time minus the model and tool time.
        run = created.run
        provider_ms = run.provider_seconds * 1000
        tools_ms = run.tool_seconds * 1000
        total_ms = (time.perf_counter() - started) * 1000
        response.headers["Server-Timing"] = (
            f"junction;dur={total_ms - provider_ms - tools_ms:.3f}, "
            f"provider;dur={provider_ms:.3f}, tools;dur={tools_ms:.3f}, "
            f"steps;desc={run.model_calls}"
        )
    return response


@operation(
    summary="Get an interaction, or follow its events (stream=true)",
    tag="interactions",
    query=GetInteraction,
    responses={200: ONE},
)
async def get_interaction(request: Request) -> Response:
    check_version(request)
    svc = services(request)
    principal = await svc.auth.principal(request)
    project_id = principal.project_id
    interaction_id = request.path_params["interaction_id"]
    principal.require(interaction_id)
    request.state.interaction_id = interaction_id
    params = query(request, GetInteraction)
    stream, after = params.stream, params.after
    record = await svc.interactions.get(project_id, interaction_id)
    old = legacy.is_legacy(request.headers)
    if stream:
        events = media.events(request, record, svc.interactions.follow.events(record, after))
        if old:
            events = legacy.events(events, legacy.input_steps(record.steps))
        return event_stream(events, svc.interactions.settings.sse_keepalive_seconds)
    wire = await media.wire(request, record, include_input=params.include_input)
    return JSONResponse(legacy.interaction(wire) if old else wire)


@operation(
    summary="List the project's interactions, newest first",
    tag="interactions",
    query=ListInteractions,
    responses={200: answers.InteractionList},
)
async def list_interactions(request: Request) -> Response:
    check_version(request)
    svc = services(request)
    project_id = await svc.auth.project_for(request)
    params = query(request, ListInteractions)
    records, token = await svc.interactions.list_page(
        project_id, params.page_size, params.page_token, list_filters(params)
    )
    body: dict[str, Any] = {"interactions": [r.to_wire(steps=False) for r in records]}
    if token:
        body["next_page_token"] = token
    return JSONResponse(body)


@operation(
    summary="Cancel a running (background) interaction",
    tag="interactions",
    responses={200: answers.Interaction},
)
async def cancel_interaction(request: Request) -> Response:
    check_version(request)
    svc = services(request)
    project_id = await svc.auth.project_for(request)
    interaction_id = request.path_params["interaction_id"]
    request.state.interaction_id = interaction_id
    record = await svc.interactions.cancel(project_id, interaction_id)
    wire = await media.wire(request, record)
    return JSONResponse(legacy.interaction(wire) if legacy.is_legacy(request.headers) else wire)


@operation(
    summary="Delete an interaction (and its auth tokens)",
    tag="interactions",
    responses={200: answers.Empty},
)
async def delete_interaction(request: Request) -> Response:
    check_version(request)
    svc = services(request)
    project_id = await svc.auth.project_for(request)
    interaction_id = request.path_params["interaction_id"]
    request.state.interaction_id = interaction_id
    await svc.interactions.delete(project_id, interaction_id)
    if svc.auth.tokens is not None:
        await svc.auth.tokens.delete_for(project_id, interaction_id)
    svc.auth.forget_tokens_of(interaction_id)
    return Response(jsonutil.dumpb({}), media_type="application/json")


routes = [
    Route("/{version}/interactions", create_interaction, methods=["POST"]),
    Route("/{version}/interactions", list_interactions, methods=["GET"]),
    Route("/{version}/interactions/{interaction_id}", get_interaction, methods=["GET"]),
    Route("/{version}/interactions/{interaction_id}", delete_interaction, methods=["DELETE"]),
    Route("/{version}/interactions/{interaction_id}/cancel", cancel_interaction, methods=["POST"]),
]
