"""The HTTP side of observability: one middleware that times every request into the
latency histogram (by route template, never the raw path) and opens the request's server
span, and the ``/metrics`` endpoint with its operator token."""

from __future__ import annotations

import hmac
import time
from typing import Any

from opentelemetry.trace import SpanKind
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from junction.observe.telemetry import Telemetry

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_TRACE_HEADERS = frozenset({b"traceparent", b"tracestate"})


def route_of(scope: Scope) -> str:
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else "unmatched"


#: the method label's values (the semantic conventions' known methods); any other method a
#: client sends is counted as ``_OTHER``, so clients cannot grow the label set
METHODS = frozenset(
    {"GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"}
)


class ObserveMiddleware:
    """Added only when metrics or tracing are on."""

    def __init__(self, app: ASGIApp, telemetry: Telemetry) -> None:
        self.app = app
        self.metrics = telemetry.metrics
        self.tracing = telemetry.tracing

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500
        tracing = self.tracing
        span: Any = None
        token: object = None
        if tracing is not None:
            carrier = {
                k.decode("latin-1"): v.decode("latin-1")
                for k, v in scope["headers"]
                if k in _TRACE_HEADERS
            }
            span = tracing.start(
                scope["method"],
                kind=SpanKind.SERVER,
                parent=tracing.from_headers(carrier) if carrier else None,
                attributes={"http.request.method": scope["method"], "url.path": scope["path"]},
            )
            token = tracing.activate(span)

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = route_of(scope)
            if self.metrics is not None and route != "/metrics":
                metrics = self.metrics
                method = scope["method"] if scope["method"] in METHODS else "_OTHER"
                metrics.child(metrics.http_duration, method, route, str(status)).observe(
                    time.perf_counter() - started
                )
            if span is not None and tracing is not None:
                span.update_name(f"{scope['method']} {route}")
                state: dict[str, Any] = scope.get("state") or {}
                attributes: dict[str, Any] = {
                    "http.route": route,
                    "http.response.status_code": status,
                }
                if state.get("interaction_id"):
                    attributes["junction.interaction.id"] = state["interaction_id"]
                span.set_attributes(attributes)
                if status >= 500:
                    tracing.fail(span, f"HTTP {status}", str(status))
                span.end()
                tracing.leave(token)


def _not_found(request: Request) -> Response:
    body = b'{"error": {"code": "not_found", "message": "no route for GET /metrics", '
    body += b'"status": "NOT_FOUND"}}'
    return Response(body, status_code=404, media_type="application/json")


async def metrics_endpoint(request: Request) -> Response:
    """``GET /metrics``: only with ``Authorization: Bearer <JUNCTION_METRICS_TOKEN>``;
    404 when no token is configured (metrics then live on their own port, if any)."""
    settings = request.app.state.settings
    telemetry: Telemetry = request.app.state.telemetry
    token = settings.metrics_token
    if not token or telemetry.metrics is None:
        return _not_found(request)
    auth = request.headers.get("authorization", "")
    given = auth[7:].strip() if auth[:7].lower() == "bearer " else ""
    if not hmac.compare_digest(given.encode(), token.encode()):
        body = b'{"error": {"code": "unauthenticated", "message": "send the metrics token '
        body += b'as Authorization: Bearer <JUNCTION_METRICS_TOKEN>", '
        body += b'"status": "UNAUTHENTICATED"}}'
        return Response(
            body,
            status_code=401,
            media_type="application/json",
            headers={"www-authenticate": "Bearer"},
        )
    system = getattr(request.app.state, "system", None)
    if system is not None:
        await system.interactions.sample_queue_depth()
    return Response(telemetry.metrics.exposition(), media_type=CONTENT_TYPE)
