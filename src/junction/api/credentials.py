"""/{version}/credentials routes (REFERENCE 9.1): secrets go in, never come out."""

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
from junction.errors import BadRequest


async def create_credential(request: Request) -> Response:
    project_id = await project_of(request)
    body = await read_json(request)
    return JSONResponse(await services(request).credentials.create(project_id, body))


async def list_credentials(request: Request) -> Response:
    project_id = await project_of(request)
    size = int_param(request, "page_size", default=50, low=1, high=1000)
    token = request.query_params.get("page_token") or None
    svc = services(request).credentials
    rows = await svc.rows.page(project_id, size + 1, token)
    return JSONResponse(page([svc.to_wire(r) for r in rows], size, "credentials"))


async def get_credential(request: Request) -> Response:
    project_id = await project_of(request)
    svc = services(request).credentials
    row = await svc.get(project_id, request.path_params["credential_id"])
    return JSONResponse(svc.to_wire(row))


async def update_credential(request: Request) -> Response:
    project_id = await project_of(request)
    body = await read_json(request)
    raw_mask = request.query_params.get("update_mask")
    mask = [m.strip() for m in raw_mask.split(",") if m.strip()] if raw_mask else None
    if raw_mask is not None and not mask:
        raise BadRequest("update_mask is empty: name the fields to change, comma-separated")
    updated = await services(request).credentials.update(
        project_id, request.path_params["credential_id"], body, mask
    )
    return JSONResponse(updated)


async def delete_credential(request: Request) -> Response:
    project_id = await project_of(request)
    await services(request).credentials.delete(project_id, request.path_params["credential_id"])
    return Response(jsonutil.dumpb({}), media_type="application/json")


routes = [
    Route("/{version}/credentials", create_credential, methods=["POST"]),
    Route("/{version}/credentials", list_credentials, methods=["GET"]),
    Route("/{version}/credentials/{credential_id}", get_credential, methods=["GET"]),
    Route("/{version}/credentials/{credential_id}", update_credential, methods=["PATCH"]),
    Route("/{version}/credentials/{credential_id}", delete_credential, methods=["DELETE"]),
]
