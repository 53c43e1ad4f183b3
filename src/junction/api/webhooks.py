"""/{version}/webhooks routes (REFERENCE 9.3), Junction's delivery log and redelivery,
and the public JWKS document that verifies dynamic-webhook signatures."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from junction.api.common import JSONResponse, page, project_of
from junction.api.credentials import mask_of
from junction.api.spec import json_body, operation, query
from junction.errors import Unavailable
from junction.notify.setup import Notify
from junction.schema import answers
from junction.schema.bodies import CreateWebhook, PingWebhook, RotateSecret, UpdateWebhook
from junction.schema.params import Page, UpdateMask

JWKS_PATH = "/.well-known/jwks.json"


def _notify(request: Request) -> Notify:
    notify: Notify | None = getattr(request.app.state.system, "notify", None)
    if notify is None:
        raise Unavailable("webhooks are not available in this process")
    return notify


@operation(
    summary="Create a webhook", tag="webhooks", body=CreateWebhook, responses={200: answers.Webhook}
)
async def create_webhook(request: Request) -> Response:
    project_id = await project_of(request)
    body = await json_body(request, CreateWebhook)
    return JSONResponse(await _notify(request).service.create(project_id, body))


@operation(
    summary="List the project's webhooks",
    tag="webhooks",
    query=Page,
    responses={200: answers.WebhookList},
)
async def list_webhooks(request: Request) -> Response:
    project_id = await project_of(request)
    params = query(request, Page)
    size, token = params.page_size, params.page_token
    svc = _notify(request).service
    rows = await svc.rows.page(project_id, size + 1, token)
    return JSONResponse(page([svc.to_wire(r) for r in rows], size, "webhooks"))


@operation(summary="Get a webhook", tag="webhooks", responses={200: answers.Webhook})
async def get_webhook(request: Request) -> Response:
    project_id = await project_of(request)
    svc = _notify(request).service
    return JSONResponse(svc.to_wire(await svc.get(project_id, request.path_params["webhook_id"])))


@operation(
    summary="Change a webhook (update_mask names the fields)",
    tag="webhooks",
    query=UpdateMask,
    body=UpdateWebhook,
    responses={200: answers.Webhook},
)
async def update_webhook(request: Request) -> Response:
    project_id = await project_of(request)
    body = await json_body(request, UpdateWebhook)
    mask = mask_of(request)
    svc = _notify(request).service
    return JSONResponse(await svc.update(project_id, request.path_params["webhook_id"], body, mask))


@operation(summary="Delete a webhook", tag="webhooks", responses={200: answers.Empty})
async def delete_webhook(request: Request) -> Response:
    project_id = await project_of(request)
    await _notify(request).service.delete(project_id, request.path_params["webhook_id"])
    return JSONResponse({})


@operation(
    summary="Send a test delivery now",
    tag="webhooks",
    body=PingWebhook,
    body_required=False,
    responses={200: answers.Answer},
)
async def ping_webhook(request: Request) -> Response:
    project_id = await project_of(request)
    await json_body(request, PingWebhook, required=False)
    svc = _notify(request).service
    return JSONResponse(await svc.ping(project_id, request.path_params["webhook_id"]))


@operation(
    summary="Issue a new signing secret",
    tag="webhooks",
    body=RotateSecret,
    body_required=False,
    responses={200: answers.Answer},
)
async def rotate_secret(request: Request) -> Response:
    project_id = await project_of(request)
    body = await json_body(request, RotateSecret, required=False)
    svc = _notify(request).service
    return JSONResponse(await svc.rotate(project_id, request.path_params["webhook_id"], body))


@operation(
    summary="A webhook's delivery log, newest first",
    tag="webhooks",
    query=Page,
    responses={200: answers.DeliveryList},
)
async def list_deliveries(request: Request) -> Response:
    project_id = await project_of(request)
    params = query(request, Page)
    size, token = params.page_size, params.page_token
    svc = _notify(request).service
    return JSONResponse(
        await svc.list_deliveries(project_id, request.path_params["webhook_id"], size, token)
    )


@operation(summary="Send a delivery again", tag="webhooks", responses={200: answers.Answer})
async def redeliver(request: Request) -> Response:
    project_id = await project_of(request)
    svc = _notify(request).service
    return JSONResponse(
        await svc.redeliver(
            project_id, request.path_params["webhook_id"], request.path_params["delivery_id"]
        )
    )


@operation(
    summary="The keys that verify dynamic-webhook signatures",
    tag="webhooks",
    public=True,
    responses={200: answers.Jwks},
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
