"""/{version}/triggers routes (REFERENCE 9.2): scheduled agent runs and their executions."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from junction.api.common import JSONResponse, project_of
from junction.api.spec import json_body, operation, query
from junction.schedule.service import TriggerService
from junction.schema import answers
from junction.schema.bodies import CreateTrigger, UpdateTrigger
from junction.schema.params import ListTriggers


def triggers_of(request: Request) -> TriggerService:
    service: TriggerService = request.app.state.system.triggers
    return service


@operation(
    summary="Schedule an agent run (cron)",
    tag="triggers",
    body=CreateTrigger,
    responses={200: answers.Trigger},
)
async def create_trigger(request: Request) -> Response:
    project_id = await project_of(request)
    body = await json_body(request, CreateTrigger)
    return JSONResponse(await triggers_of(request).create(project_id, body))


@operation(
    summary="List the project's triggers",
    tag="triggers",
    query=ListTriggers,
    responses={200: answers.TriggerList},
)
async def list_triggers(request: Request) -> Response:
    project_id = await project_of(request)
    params = query(request, ListTriggers)
    return JSONResponse(
        await triggers_of(request).list(
            project_id, params.filter, params.page_size, params.page_token
        )
    )


@operation(summary="Get a trigger", tag="triggers", responses={200: answers.Trigger})
async def get_trigger(request: Request) -> Response:
    project_id = await project_of(request)
    return JSONResponse(await triggers_of(request).get(project_id, request.path_params["id"]))


@operation(
    summary="Rename, pause or resume a trigger",
    tag="triggers",
    body=UpdateTrigger,
    responses={200: answers.Trigger},
)
async def update_trigger(request: Request) -> Response:
    project_id = await project_of(request)
    body = await json_body(request, UpdateTrigger)
    return JSONResponse(
        await triggers_of(request).update(project_id, request.path_params["id"], body)
    )


@operation(summary="Delete a trigger", tag="triggers", responses={200: answers.Empty})
async def delete_trigger(request: Request) -> Response:
    project_id = await project_of(request)
    await triggers_of(request).delete(project_id, request.path_params["id"])
    return JSONResponse({})


@operation(summary="Run a trigger now", tag="triggers", responses={200: answers.Answer})
async def run_trigger(request: Request) -> Response:
    project_id = await project_of(request)
    return JSONResponse(await triggers_of(request).run_now(project_id, request.path_params["id"]))


@operation(
    summary="A trigger's executions, newest first",
    tag="triggers",
    query=ListTriggers,
    responses={200: answers.ExecutionList},
)
async def list_executions(request: Request) -> Response:
    project_id = await project_of(request)
    params = query(request, ListTriggers)
    return JSONResponse(
        await triggers_of(request).list_executions(
            project_id,
            request.path_params["id"],
            params.filter,
            params.page_size,
            params.page_token,
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
