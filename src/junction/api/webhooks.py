"""/{version}/webhooks routes (REFERENCE 9.3), Junction's delivery log and redelivery,
and the public JWKS document that verifies dynamic-webhook signatures."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from junction.api.common import JSONResponse, int_param, page, project_of, read_json
from junction.errors import BadRequest, Unavailable
from junction.notify.setup import Notify

JWKS_PATH = "/.well-known/jwks.json"


def _notify(request: Request) -> Notify:
    notify: Notify | None = getattr(request.app.state.system, "notify", None)
    if notify is None:
        raise Unavailable("webhooks are not available in this process")
    return notify


async def _optional_json(request: Request) -> object:
    raw = await request.body()
    return await read_json(request) if raw.strip() else {}


async def create_webhook(request: Request) -> Response:
    project_id = await project_of(request)
    body = await read_json(request)
    return JSONResponse(await _notify(request).service.create(project_id, body))


async def list_webhooks(request: Request) -> Response:
    project_id = await project_of(request)
    size = int_param(request, "page_size", default=50, low=1, high=1000)
    token = request.query_params.get("page_token") or None
    svc = _notify(request).service
    rows = await svc.rows.page(project_id, size + 1, token)
    return JSONResponse(page([svc.to_wire(r) for r in rows], size, "webhooks"))


async def get_webhook(request: Request) -> Response:
    project_id = await project_of(request)
    svc = _notify(request).service
    return JSONResponse(svc.to_wire(await svc.get(project_id, request.path_params["webhook_id"])))


async def update_webhook(request: Request) -> Response:
    project_id = await project_of(request)
    body = await read_json(request)
    raw_mask = request.query_params.get("update_mask")
    mask = [m.strip() for m in raw_mask.split(",") if m.strip()] if raw_mask else None
    if raw_mask is not None and not mask:
        raise BadRequest("update_mask is empty: name the fields to change, comma-separated")
    svc = _notify(request).service
    return JSONResponse(await svc.update(project_id, request.path_params["webhook_id"], body, mask))


async def delete_webhook(request: Request) -> Response:
    project_id = await project_of(request)
    await _notify(request).service.delete(project_id, request.path_params["webhook_id"])
    return JSONResponse({})


async def ping_webhook(request: Request) -> Response:
    project_id = await project_of(request)
    await _optional_json(request)
    svc = _notify(request).service
    return JSONResponse(await svc.ping(project_id, request.path_params["webhook_id"]))


async def rotate_secret(request: Request) -> Response:
    project_id = await project_of(request)
    body = await _optional_json(request)
    svc = _notify(request).service
    return JSONResponse(await svc.rotate(project_id, request.path_params["webhook_id"], body))


async def list_deliveries(request: Request) -> Response:
    project_id = await project_of(request)
    size = int_param(request, "page_size", default=50, low=1, high=1000)
    token = request.query_params.get("page_token") or None
    svc = _notify(request).service
    return JSONResponse(
        await svc.list_deliveries(project_id, request.path_params["webhook_id"], size, token)
    )


async def redeliver(request: Request) -> Response:
    project_id = await project_of(request)
    svc = _notify(request).service
    return JSONResponse(
        await svc.redeliver(
            project_id, request.path_params["webhook_id"], request.path_params["delivery_id"]
        )
    )


async def jwks(request: Request) -> Response:
    """Public: the keys that verify dynamic-webhook JWTs (no API key needed)."""
    document = await _notify(request).keys.jwks()
    return JSONResponse(document, headers={"cache-control": "public, max-age=300"})


routes = [
    Route(JWKS_PATH, jwks, methods=["GET"]),
    Route("/{version}/webhooks", create_webhook, methods=["POST"]),
    Route("/{version}/webhooks", list_webhooks, methods=["GET"]),
    Route("/{version}/webhooks/{webhook_id}:ping", ping_webhook, methods=["POST"]),
    Route("/{version}/webhooks/{webhook_id}:rotateSigningSecret", rotate_secret, methods=["POST"]),
    Route("/{version}/webhooks/{webhook_id}/deliveries", list_deliveries, methods=["GET"]),
    Route(
        "/{version}/webhooks/{webhook_id}/deliveries/{delivery_id}:redeliver",
        redeliver,
        methods=["POST"],
    ),
    Route("/{version}/webhooks/{webhook_id}", get_webhook, methods=["GET"]),
    Route("/{version}/webhooks/{webhook_id}", update_webhook, methods=["PATCH"]),
    Route("/{version}/webhooks/{webhook_id}", delete_webhook, methods=["DELETE"]),
]
