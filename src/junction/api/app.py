"""The ASGI application: routes, error mapping, access log, and start-up/shut-down."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

from opentelemetry.sdk.trace.export import SpanExporter
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from junction.api import (
    agents,
    auth_tokens,
    credentials,
    decisions,
    environments,
    interactions,
    live,
    openapi,
    projects,
    triggers,
    voices,
    webhooks,
)
from junction.api import media as media_api
from junction.api import usage as usage_api
from junction.api.auth import Authenticator
from junction.api.common import JSONResponse, Services
from junction.api.errors import error_response
from junction.api.limits import BodyLimit
from junction.api.ratelimit import KeyRateLimiter
from junction.api.spec import Raw, operation
from junction.api.sse import DetachStreams
from junction.config import Settings
from junction.console import routes as console_routes
from junction.decisions.service import DecisionService
from junction.errors import ApiError, BadRequest
from junction.gc_tuning import settle
from junction.logsafe import printable
from junction.observe.http import ObserveMiddleware, metrics_endpoint
from junction.observe.telemetry import open_telemetry
from junction.runtime.uploads import UploadStore
from junction.sandbox.errors import SandboxError
from junction.schema import answers
from junction.schema.guards import is_control
from junction.store.auth_tokens import AuthTokenStore
from junction.store.db import DatabaseBusy
from junction.system import open_system

log = logging.getLogger("junction")
access = logging.getLogger("junction.access")


async def _api_error(request: Request, exc: Exception) -> Response:
    return error_response(exc)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404 and any(is_control(c) for c in request.scope["path"]):
        # e.g. a newline in a file path: no route matches it, but the fix is the path
        return error_response(
            BadRequest("the URL path contains a control character: paths may not hold them")
        )
    code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "error")
    message = {
        404: f"no route for {request.method} {request.url.path}",
        405: f"method {request.method} is not allowed on {request.url.path}",
    }.get(exc.status_code, str(exc.detail))
    body = {"error": {"code": code, "message": message, "status": code.upper()}}
    return JSONResponse(body, status_code=exc.status_code)


async def _unexpected(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    body = {"error": {"code": "internal", "message": "internal server error", "status": "INTERNAL"}}
    return JSONResponse(body, status_code=500)


@operation(summary="Liveness", tag="meta", public=True, responses={200: answers.Health})
async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


METRICS = operation(
    summary="Prometheus metrics: Authorization: Bearer <JUNCTION_METRICS_TOKEN> (404 when unset)",
    tag="meta",
    responses={200: Raw("text/plain", "the Prometheus text format", {"type": "string"})},
)


class AccessLog:
    """One line per request: method, path, status, milliseconds, interaction id."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 0

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            state: dict[str, Any] = scope.get("state") or {}
            access.info(
                "%s %s %d %.1fms interaction=%s",
                scope["method"],
                printable(scope["path"]),
                status,
                (time.perf_counter() - started) * 1000,
                state.get("interaction_id", "-"),
                extra={"interaction_id": state.get("interaction_id")},
            )


def create_app(settings: Settings, *, span_exporter: SpanExporter | None = None) -> Starlette:
    """``span_exporter``: spans go there instead of to the OTEL_* exporter (tests)."""
    telemetry = open_telemetry(settings, span_exporter=span_exporter)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        metrics_server = None
        if telemetry.metrics is not None and settings.metrics_port:
            metrics_server = telemetry.metrics.serve(settings.host, settings.metrics_port)
        system = await open_system(settings, telemetry=telemetry)
        if metrics_server is not None:
            system.interactions.start_queue_sampler()
        app.state.services = Services(
            auth=Authenticator(
                system.projects,
                limiter=KeyRateLimiter(
                    settings.key_requests_per_second, settings.key_request_burst
                ),
                tokens=AuthTokenStore(system.db),
            ),
            interactions=system.interactions,
            credentials=system.credentials,
            agents=system.agents,
            environments=system.environments,
            uploads=UploadStore(settings.data_dir / "uploads", settings.upload_idle_seconds),
            retention=system.retention,
        )
        app.state.system = system
        app.state.decisions = DecisionService(system.router, settings)
        app.state.loop = asyncio.get_running_loop()
        upload_sweeper = asyncio.create_task(app.state.services.uploads.sweep_loop())
        if getattr(app.state, "settle_gc", False):
            settle()  # a server process, started: see gc_tuning
        try:
            yield
        finally:
            upload_sweeper.cancel()
            await system.close()
            if metrics_server is not None:
                metrics_server.shutdown()
            telemetry.close()

    app = Starlette(
        routes=[
            Route("/healthz", healthz, methods=["GET"]),
            *interactions.routes,
            *credentials.routes,
            *agents.routes,
            *environments.routes,
            *webhooks.routes,
            *triggers.routes,
            *media_api.routes,
            *voices.routes,
            *decisions.routes,
            *usage_api.routes,
            Route("/metrics", METRICS(metrics_endpoint), methods=["GET"]),
            *auth_tokens.routes,
            *live.routes,
            *console_routes.routes,
            *projects.routes,
            *openapi.routes,
        ],
        exception_handlers={
            ApiError: _api_error,
            SandboxError: _api_error,
            DatabaseBusy: _api_error,
            HTTPException: _http_error,
            Exception: _unexpected,
        },
        lifespan=lifespan,
    )
    app.add_middleware(
        BodyLimit,
        json_bytes=settings.http_max_json_bytes,
        upload_bytes=settings.http_max_upload_bytes,
    )
    app.add_middleware(DetachStreams)  # outside the body limit: see api/sse.py
    if settings.access_log:
        app.add_middleware(AccessLog)
    app.state.settings = settings
    app.state.telemetry = telemetry
    if telemetry.metrics is not None or telemetry.tracing is not None:
        app.add_middleware(ObserveMiddleware, telemetry=telemetry)
    return app
