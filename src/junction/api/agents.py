"""/{version}/agents routes (REFERENCE 7)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from junction import jsonutil
from junction.api.common import (
    JSONResponse,
    int_param,
    page,
    project_of,
    read_json,
    services,
)
from junction.redact import public_config


async def create_agent(request: Request) -> Response:
    project_id = await project_of(request)
    body = await read_json(request)
    return JSONResponse(public_config(await services(request).agents.create(project_id, body)))


async def list_agents(request: Request) -> Response:
    project_id = await project_of(request)
    size = int_param(request, "page_size", default=50, low=1, high=1000)
    rows = await services(request).agents.rows.page(
        project_id, size + 1, request.query_params.get("page_token") or None
    )
    return JSONResponse(page([public_config(r) for r in rows], size, "agents"))


async def get_agent(request: Request) -> Response:
    project_id = await project_of(request)
    agent = await services(request).agents.get(project_id, request.path_params["agent_id"])
    return JSONResponse(public_config(agent))


async def delete_agent(request: Request) -> Response:
    project_id = await project_of(request)
    await services(request).agents.delete(project_id, request.path_params["agent_id"])
    return Response(jsonutil.dumpb({}), media_type="application/json")


routes = [
    Route("/{version}/agents", create_agent, methods=["POST"]),
    Route("/{version}/agents", list_agents, methods=["GET"]),
    Route("/{version}/agents/{agent_id}", get_agent, methods=["GET"]),
    Route("/{version}/agents/{agent_id}", delete_agent, methods=["DELETE"]),
]
