"""/{version}/credentials routes (REFERENCE 9.1): secrets go in, never come out."""

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
from junction.errors import BadRequest
from junction.schema import answers
from junction.schema.bodies import CreateCredential, UpdateCredential
from junction.schema.params import Page, UpdateMask


@operation(
    summary="Store a credential (its secret is never returned)",
    tag="credentials",
    body=CreateCredential,
    responses={200: answers.Credential},
)
async def create_credential(request: Request) -> Response:
    project_id = await project_of(request)
    body = await json_body(request, CreateCredential)
    return JSONResponse(await services(request).credentials.create(project_id, body))


@operation(
    summary="List the project's credentials",
    tag="credentials",
    query=Page,
    responses={200: answers.CredentialList},
)
async def list_credentials(request: Request) -> Response:
    project_id = await project_of(request)
    params = query(request, Page)
    size, token = params.page_size, params.page_token
    svc = services(request).credentials
    rows = await svc.rows.page(project_id, size + 1, token)
    return JSONResponse(page([svc.to_wire(r) for r in rows], size, "credentials"))


@operation(summary="Get a credential", tag="credentials", responses={200: answers.Credential})
async def get_credential(request: Request) -> Response:
    project_id = await project_of(request)
    svc = services(request).credentials
    row = await svc.get(project_id, request.path_params["credential_id"])
    return JSONResponse(svc.to_wire(row))


@operation(
    summary="Change a credential (update_mask names the fields)",
    tag="credentials",
    query=UpdateMask,
    body=UpdateCredential,
    responses={200: answers.Credential},
)
async def update_credential(request: Request) -> Response:
    project_id = await project_of(request)
    body = await json_body(request, UpdateCredential)
    mask = mask_of(request)
    updated = await services(request).credentials.update(
        project_id, request.path_params["credential_id"], body, mask
    )
    return JSONResponse(updated)


def mask_of(request: Request) -> list[str] | None:
    params = query(request, UpdateMask)
    if "update_mask" in request.query_params and not params.fields:
        raise BadRequest("update_mask is empty: name the fields to change, comma-separated")
    return params.fields


@operation(summary="Delete a credential", tag="credentials", responses={200: answers.Empty})
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
