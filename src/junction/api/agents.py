"""/{version}/agents routes (REFERENCE 7)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from junction import jsonutil
from junction.api.common import (
    JSONResponse,
    page,
    project_of,
    services,
)
from junction.api.spec import json_body, operation, query
from junction.redact import public_config
from junction.schema import answers
from junction.schema.bodies import CreateAgent
from junction.schema.params import Page


@operation(
    summary="Create a custom agent", tag="agents", body=CreateAgent, responses={200: answers.Agent}
)
async def create_agent(request: Request) -> Response:
    project_id = await project_of(request)
    body = await json_body(request, CreateAgent)
    return JSONResponse(public_config(await services(request).agents.create(project_id, body)))


@operation(
    summary="List the project's custom agents",
    tag="agents",
    query=Page,
    responses={200: answers.AgentList},
)
async def list_agents(request: Request) -> Response:
    project_id = await project_of(request)
    params = query(request, Page)
    size = params.page_size
    rows = await services(request).agents.rows.page(project_id, size + 1, params.page_token)
    return JSONResponse(page([public_config(r) for r in rows], size, "agents"))


@operation(
    summary="Get an agent (custom or built-in)", tag="agents", responses={200: answers.Agent}
)
async def get_agent(request: Request) -> Response:
    project_id = await project_of(request)
    agent = await services(request).agents.get(project_id, request.path_params["agent_id"])
    return JSONResponse(public_config(agent))


@operation(summary="Delete a custom agent", tag="agents", responses={200: answers.Empty})
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
