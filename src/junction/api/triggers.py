"""/{version}/triggers routes (REFERENCE 9.2): scheduled agent runs and their executions."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from junction.api.common import JSONResponse, int_param, project_of, read_json
from junction.schedule.service import TriggerService


def triggers_of(request: Request) -> TriggerService:
    service: TriggerService = request.app.state.system.triggers
    return service


async def create_trigger(request: Request) -> Response:
    project_id = await project_of(request)
    body = await read_json(request)
    return JSONResponse(await triggers_of(request).create(project_id, body))


async def list_triggers(request: Request) -> Response:
    project_id = await project_of(request)
    size = int_param(request, "page_size", default=50, low=1, high=1000)
    query = request.query_params
    return JSONResponse(
        await triggers_of(request).list(
            project_id, query.get("filter"), size, query.get("page_token") or None
        )
    )


async def get_trigger(request: Request) -> Response:
    project_id = await project_of(request)
    return JSONResponse(await triggers_of(request).get(project_id, request.path_params["id"]))


async def update_trigger(request: Request) -> Response:
    project_id = await project_of(request)
    body = await read_json(request)
    return JSONResponse(
        await triggers_of(request).update(project_id, request.path_params["id"], body)
    )


async def delete_trigger(request: Request) -> Response:
    project_id = await project_of(request)
    await triggers_of(request).delete(project_id, request.path_params["id"])
    return JSONResponse({})


async def run_trigger(request: Request) -> Response:
    project_id = await project_of(request)
    return JSONResponse(await triggers_of(request).run_now(project_id, request.path_params["id"]))


async def list_executions(request: Request) -> Response:
    project_id = await project_of(request)
    size = int_param(request, "page_size", default=50, low=1, high=1000)
    query = request.query_params
    return JSONResponse(
        await triggers_of(request).list_executions(
            project_id,
            request.path_params["id"],
            query.get("filter"),
            size,
            query.get("page_token") or None,
        )
    )


routes = [
    Route("/{version}/triggers", create_trigger, methods=["POST"]),
    Route("/{version}/triggers", list_triggers, methods=["GET"]),
    Route("/{version}/triggers/{id}", get_trigger, methods=["GET"]),
    Route("/{version}/triggers/{id}", update_trigger, methods=["PATCH"]),
    Route("/{version}/triggers/{id}", delete_trigger, methods=["DELETE"]),
    Route("/{version}/triggers/{id}/executions", run_trigger, methods=["POST"]),
    Route("/{version}/triggers/{id}/executions", list_executions, methods=["GET"]),
]
