"""The direct OTLP span encoding is the official encoder's message: both are decoded with
the official ``opentelemetry-proto`` types and compared, for spans with every attribute
type, events, links, remote parents, trace state and error status."""

from __future__ import annotations

from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans as official
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import (
    Link,
    NonRecordingSpan,
    SpanContext,
    SpanKind,
    Status,
    StatusCode,
    TraceFlags,
    TraceState,
    set_span_in_context,
)

from junction.observe.otlp_encode import encode_spans


def _spans() -> list:  # type: ignore[type-arg]
    exporter = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "junction", "n": 3}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("junction", "1.2", schema_url="https://example/schema")
    other = provider.get_tracer("other")
    remote = SpanContext(
        trace_id=0x0AF7651916CD43DD8448EB211C80319C,
        span_id=0xB7AD6B7169203331,
        is_remote=True,
        trace_flags=TraceFlags(1),
        trace_state=TraceState([("vendor", "abc")]),
    )
    with tracer.start_as_current_span(
        "POST /v1beta/interactions",
        context=set_span_in_context(NonRecordingSpan(remote)),
        kind=SpanKind.SERVER,
        attributes={"http.request.method": "POST", "http.response.status_code": 200},
    ) as root:
        root.add_event("provider_error", {"error.type": "503", "junction.retried": True})
        with tracer.start_as_current_span(
            "chat gpt-5",
            kind=SpanKind.CLIENT,
            links=[Link(remote, {"why": "resumed"})],
            attributes={
                "gen_ai.request.model": "gpt-5",
                "gen_ai.response.finish_reasons": ("stop", "length"),
                "gen_ai.usage.input_tokens": 12,
                "big": 2**62,
                "negative": -5,
                "ratio": 0.25,
                "flags": [True, False],
                "unicode": "naïve ☃",
            },
        ) as child:
            child.set_status(Status(StatusCode.ERROR, "provider failed"))
        with other.start_as_current_span("execute_tool run", kind=SpanKind.INTERNAL) as tool:
            tool.set_status(Status(StatusCode.OK))
    with tracer.start_as_current_span("interaction", kind=SpanKind.PRODUCER):
        pass
    return list(exporter.get_finished_spans())


def test_direct_encoding_is_the_official_message() -> None:
    spans = _spans()
    ours = ExportTraceServiceRequest.FromString(encode_spans(spans))
    theirs = official(spans)
    assert ours == theirs
    assert len(ours.resource_spans[0].scope_spans) == 2
    assert sum(len(s.spans) for s in ours.resource_spans[0].scope_spans) == len(spans) == 4
