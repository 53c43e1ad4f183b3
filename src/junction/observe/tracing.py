"""OpenTelemetry tracing along the GenAI semantic conventions.

One trace per interaction: the API request (server span) → the run (``invoke_agent`` for
agents, ``junction.run`` otherwise) → the queue wait of a background run, each model call
(``chat {model}``), each tool call (``execute_tool {tool}``) and each sandbox command
(``sandbox.exec``). The run's trace context is stored with the interaction, so a run
claimed by a worker in another process continues the same trace.

Configured with the standard ``OTEL_*`` variables (exporter endpoint, headers, sampler,
service name, batching; docs/observability.md). The spans are Junction's own
(:mod:`junction.observe.spans`: the ``opentelemetry-api`` span interface without the
SDK's per-span validation, locks and copies), batched on a thread and sent by the
official OTLP/HTTP exporter's transport (:mod:`junction.observe.span_export`). Off unless
configured: then nothing here is called beyond ``is None`` checks. Message contents are put on spans
(``gen_ai.input.messages`` …) only when the operator opts in (``trace_content``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from contextvars import ContextVar
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace.export import SpanExporter
from opentelemetry.trace import Span, SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from junction import jsonutil
from junction.observe.span_export import ExporterBridge, SpanBuffer
from junction.observe.spans import Recorder

#: the tracing of the run this task belongs to (read by code far from the run, such as
#: the sandbox command of a tool); None when tracing is off
CURRENT: ContextVar[Tracing | None] = ContextVar("junction_tracing", default=None)

#: gen_ai.provider.name per provider dialect (semantic conventions' well-known values)
PROVIDER_NAMES = {"openai": "openai", "anthropic": "anthropic", "gemini": "gcp.gemini"}

_PROPAGATOR = TraceContextTextMapPropagator()


class Tracing:
    def __init__(
        self, recorder: Recorder, sink: SpanBuffer | ExporterBridge, *, content: bool = False
    ) -> None:
        self.recorder = recorder
        self.sink = sink
        self.content = content

    # -- context that travels with a run ------------------------------------------------
    def inject(self) -> str | None:
        """The current trace context as JSON (stored with the interaction): the W3C
        ``traceparent`` written directly, the propagator only when there is trace state."""
        ctx = trace.get_current_span().get_span_context()
        if not ctx.is_valid:
            return None
        if ctx.trace_state:
            carrier: dict[str, str] = {}
            _PROPAGATOR.inject(carrier)
            return jsonutil.dumps(carrier)
        return (
            f'{{"traceparent":"00-{ctx.trace_id:032x}-{ctx.span_id:016x}-'
            f'{int(ctx.trace_flags):02x}"}}'
        )

    @staticmethod
    def extract(stored: str | None) -> otel_context.Context | None:
        if not stored:
            return None
        try:
            carrier = jsonutil.loads(stored)
        except ValueError:
            return None
        return _PROPAGATOR.extract(carrier) if isinstance(carrier, dict) else None

    @staticmethod
    def from_headers(headers: Mapping[str, str]) -> otel_context.Context:
        return _PROPAGATOR.extract(headers)

    # -- spans --------------------------------------------------------------------------
    CLIENT = SpanKind.CLIENT

    @staticmethod
    def event(name: str, attributes: Mapping[str, Any]) -> None:
        """An event on the current span."""
        trace.get_current_span().add_event(name, dict(attributes))

    def start(
        self,
        name: str,
        *,
        kind: SpanKind = SpanKind.INTERNAL,
        parent: otel_context.Context | None = None,
        attributes: Mapping[str, Any] | None = None,
        start_time: int | None = None,
    ) -> Span:
        return self.recorder.start(name, parent, kind, attributes, start_time)

    @staticmethod
    def activate(span: Span) -> object:
        """Make ``span`` the current span of this task; give the token to :meth:`leave`."""
        return otel_context.attach(trace.set_span_in_context(span))

    @staticmethod
    def leave(token: object) -> None:
        otel_context.detach(token)  # type: ignore[arg-type]

    @staticmethod
    def fail(span: Span, message: str, error_type: str = "error") -> None:
        span.set_status(Status(StatusCode.ERROR, message))
        span.set_attribute("error.type", error_type)

    def contents(self, span: Span, key: str, value: Any) -> None:
        """Message contents, only when the operator opted in."""
        if self.content:
            span.set_attribute(key, jsonutil.dumps(value))

    @staticmethod
    def current_server_span() -> Span | None:
        """The current span when it is a live server span (an HTTP request's)."""
        span = trace.get_current_span()
        if span.is_recording() and getattr(span, "kind", None) is SpanKind.SERVER:
            return span
        return None

    @staticmethod
    def trace_id() -> str | None:
        ctx = trace.get_current_span().get_span_context()
        return format(ctx.trace_id, "032x") if ctx.is_valid else None

    def shutdown(self) -> None:
        self.sink.shutdown()


def open_tracing(
    enabled: bool, *, content: bool = False, exporter: SpanExporter | None = None
) -> Tracing | None:
    """This process's tracing (the global tracer provider is left alone), exporting with
    OTLP/HTTP as the OTEL_* variables say, or into ``exporter`` (tests)."""
    if not enabled and exporter is None:
        return None
    resource = Resource.create({"service.name": os.environ.get("OTEL_SERVICE_NAME") or "junction"})
    sink: SpanBuffer | ExporterBridge
    if exporter is not None:
        sink = ExporterBridge(exporter)
    else:
        from junction.observe.otlp_encode import JunctionSpanExporter

        sink = SpanBuffer(JunctionSpanExporter())
    return Tracing(Recorder(resource, sink.add), sink, content=content)
