"""Junction's own spans behave as the OpenTelemetry SDK's: the same operations on an SDK
span and on a Junction span give the same finished span (attribute cleaning and limits,
status rules, events, trace flags, sampling by the OTEL_* variables); they work with the
API's context and propagation; and the batching exporter batches, drops with a count
when full and flushes on shutdown."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans as official
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import (
    NonRecordingSpan,
    SpanContext,
    SpanKind,
    Status,
    StatusCode,
    TraceFlags,
    TraceState,
)
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from junction.observe.otlp_encode import encode_spans
from junction.observe.span_export import SpanBuffer
from junction.observe.spans import JunctionSpan, Recorder

RESOURCE = Resource.create({"service.name": "junction"})
REMOTE = SpanContext(
    0x0AF7651916CD43DD8448EB211C80319C,
    0xB7AD6B7169203331,
    is_remote=True,
    trace_flags=TraceFlags(1),
    trace_state=TraceState([("vendor", "abc")]),
)


class Unprintable:
    def __str__(self) -> str:
        return "custom"


def _pair() -> tuple[Callable[..., trace.Span], Callable[..., trace.Span], list[Any], Any]:
    """``(sdk_start, junction_start, junction_ended, sdk_exporter)`` made with the current
    environment's OTEL_* settings."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider(resource=RESOURCE)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("junction")
    ended: list[JunctionSpan] = []
    recorder = Recorder(RESOURCE, ended.append)

    def sdk(name: str, parent: Any = None, **kw: Any) -> trace.Span:
        return tracer.start_span(name, context=parent, **kw)

    def ours(name: str, parent: Any = None, **kw: Any) -> trace.Span:
        return recorder.start(
            name, parent, kw.get("kind", SpanKind.INTERNAL), kw.get("attributes"), None
        )

    return sdk, ours, ended, exporter


def _same(theirs: ReadableSpan, ours: JunctionSpan) -> None:
    mine = ours.readable()
    assert mine.name == theirs.name and mine.kind == theirs.kind
    assert ours.attributes == dict(theirs.attributes or {})
    assert mine.dropped_attributes == theirs.dropped_attributes
    assert mine.dropped_events == theirs.dropped_events
    assert mine.status.status_code == theirs.status.status_code
    assert mine.status.description == theirs.status.description
    assert [(e.name, dict(e.attributes or {})) for e in mine.events] == [
        (e.name, dict(e.attributes or {})) for e in theirs.events
    ]
    assert [(k.context, dict(k.attributes or {})) for k in mine.links] == [
        (k.context, dict(k.attributes or {})) for k in theirs.links
    ]
    assert mine.context and theirs.context
    assert mine.context.trace_flags == theirs.context.trace_flags
    assert (mine.parent is None) == (theirs.parent is None)
    if mine.parent is not None and theirs.parent is not None:
        assert mine.parent == theirs.parent
        assert mine.context.trace_id == theirs.context.trace_id
        assert mine.context.trace_state == theirs.context.trace_state
    # and the direct encoding of a Junction span is the official message of its SDK form
    assert ExportTraceServiceRequest.FromString(encode_spans([ours])) == official([mine])


def _both(operate: Callable[[trace.Span], None], **start: Any) -> None:
    sdk, ours, ended, exporter = _pair()
    for make in (sdk, ours):
        span = make("op", **start)
        operate(span)
        span.end()
    (theirs,) = exporter.get_finished_spans()
    (mine,) = ended
    _same(theirs, mine)


def test_attributes_are_cleaned_as_the_sdk_cleans_them() -> None:
    def operate(span: trace.Span) -> None:
        span.set_attribute("list", [1, 2, 3])
        span.set_attribute("reasons", ("stop",))
        span.set_attribute("object", Unprintable())  # type: ignore[arg-type]
        span.set_attribute("none", None)  # type: ignore[arg-type]
        span.set_attributes({"n": 1, "f": 0.5, "b": True, "s": "x", "bytes": b"\x00"})
        span.set_attribute("", "empty key")

    _both(operate, attributes={"start": "yes", "tuple": ["a", "b"]})


def test_limits_come_from_the_otel_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT", "3")
    monkeypatch.setenv("OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT", "4")
    monkeypatch.setenv("OTEL_SPAN_EVENT_COUNT_LIMIT", "2")

    def operate(span: trace.Span) -> None:
        span.set_attributes({"a": "long value", "b": 2, "c": ["abcdef", "x"]})
        span.set_attribute("d", "truncated")
        span.set_attribute("b", 3)  # replaces, drops nothing
        for n in range(3):
            span.add_event(f"e{n}", {"text": "event text"})

    _both(operate, attributes={"first": 1})


def test_status_events_and_ended_spans_follow_the_sdks_rules() -> None:
    def operate(span: trace.Span) -> None:
        span.set_status(Status(StatusCode.ERROR, "first"))
        span.set_status(StatusCode.UNSET)  # ignored
        span.set_status(StatusCode.ERROR, "second")
        span.add_event("provider_error", {"error.type": "503", "junction.retried": True})
        span.record_exception(ValueError("broken"), {"extra": 1})
        span.update_name("renamed")
        span.add_link(REMOTE, {"why": "resumed"})
        span.add_link(trace.INVALID_SPAN_CONTEXT)  # ignored

    _both(operate, kind=SpanKind.CLIENT)

    def ok_is_final(span: trace.Span) -> None:
        span.set_status(Status(StatusCode.OK))
        span.set_status(StatusCode.ERROR, "too late")

    _both(ok_is_final)

    _, ours, ended, _ = _pair()
    span = ours("once")
    span.end()
    span.end()  # a second end is ignored: exported once
    span.set_attribute("late", 1)
    span.update_name("late")
    assert len(ended) == 1 and not span.is_recording()
    assert ended[0].name == "once" and "late" not in ended[0].attributes


def test_parents_trace_flags_and_trace_state_as_in_the_sdk() -> None:
    remote = trace.set_span_in_context(NonRecordingSpan(REMOTE))
    _both(lambda span: None, parent=remote, kind=SpanKind.SERVER)
    _both(lambda span: None)  # a root: a new trace, sampled, random trace id flag

    _, ours, _, _ = _pair()
    root = ours("root")
    token = trace.context_api.attach(trace.set_span_in_context(root))
    try:
        child = ours("child")  # the current span is the parent
    finally:
        trace.context_api.detach(token)
    assert child.get_span_context().trace_id == root.get_span_context().trace_id
    assert isinstance(child, JunctionSpan) and child.parent == root.get_span_context()
    assert root.get_span_context().span_id != child.get_span_context().span_id


def test_the_api_context_and_propagation_see_junction_spans() -> None:
    _, ours, _, _ = _pair()
    span = ours("request", kind=SpanKind.SERVER)
    token = trace.context_api.attach(trace.set_span_in_context(span))
    try:
        assert trace.get_current_span() is span
        carrier: dict[str, str] = {}
        TraceContextTextMapPropagator().inject(carrier)
        ctx = span.get_span_context()
        assert carrier["traceparent"] == (
            f"00-{ctx.trace_id:032x}-{ctx.span_id:016x}-{int(ctx.trace_flags):02x}"
        )
        extracted = TraceContextTextMapPropagator().extract(carrier)
        assert trace.get_current_span(extracted).get_span_context().span_id == ctx.span_id
    finally:
        trace.context_api.detach(token)


@pytest.mark.parametrize(
    ("sampler", "arg", "exported"),
    [  # spans exported of three: a root, a child of a sampled and of an unsampled parent
        ("always_off", None, 0),
        ("parentbased_traceidratio", "0", 1),
        ("parentbased_traceidratio", "1", 2),
        ("traceidratio", "0", 0),
        ("parentbased_always_off", None, 1),
        ("parentbased_always_on", None, 2),
    ],
)
def test_the_sampler_of_the_otel_variables_decides(
    monkeypatch: pytest.MonkeyPatch, sampler: str, arg: str | None, exported: int
) -> None:
    monkeypatch.setenv("OTEL_TRACES_SAMPLER", sampler)
    if arg is not None:
        monkeypatch.setenv("OTEL_TRACES_SAMPLER_ARG", arg)
    sdk, ours, ended, exporter = _pair()
    remote = trace.set_span_in_context(NonRecordingSpan(REMOTE))
    unsampled = SpanContext(REMOTE.trace_id, REMOTE.span_id, True, TraceFlags(0))
    for parent in (None, remote, trace.set_span_in_context(NonRecordingSpan(unsampled))):
        theirs, mine = sdk("op", parent), ours("op", parent)
        assert mine.is_recording() == theirs.is_recording()
        assert mine.get_span_context().trace_flags == theirs.get_span_context().trace_flags
        assert mine.get_span_context().is_valid
        theirs.end()
        mine.end()
    assert len(ended) == len(exporter.get_finished_spans()) == exported


class Collecting:
    def __init__(self, fail: bool = False) -> None:
        self.batches: list[list[str]] = []
        self.fail = fail
        self.shut = False
        self.called = threading.Event()
        self.release = threading.Event()
        self.release.set()

    def export(self, spans: list[JunctionSpan]) -> None:
        self.batches.append([s.name for s in spans])
        self.called.set()
        self.release.wait(10)
        if self.fail:
            raise ConnectionError("collector down")

    def shutdown(self) -> None:
        self.shut = True


def test_the_buffer_batches_drops_when_full_and_flushes_on_shutdown(
    caplog: pytest.LogCaptureFixture,
) -> None:
    exporter = Collecting()
    exporter.release.clear()  # the first export blocks: the queue fills meanwhile
    buffer = SpanBuffer(
        exporter, max_queue_size=5, max_export_batch_size=2, schedule_delay_millis=60_000
    )
    recorder = Recorder(RESOURCE, buffer.add)
    for n in range(2):
        recorder.start(f"s{n}", None, SpanKind.INTERNAL, None, None).end()
    assert exporter.called.wait(5)  # a full batch woke the thread before the delay
    for n in range(2, 9):
        recorder.start(f"s{n}", None, SpanKind.INTERNAL, None, None).end()
    assert buffer.dropped == 2  # s7 and s8: the queue holds five
    exporter.release.set()
    with caplog.at_level(logging.WARNING):
        buffer.shutdown()
    assert exporter.shut
    assert exporter.batches == [["s0", "s1"], ["s2", "s3"], ["s4", "s5"], ["s6"]]
    assert "2 spans dropped" in caplog.text


def test_a_failed_export_is_logged_and_the_thread_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    exporter = Collecting(fail=True)
    buffer = SpanBuffer(exporter, max_export_batch_size=1, schedule_delay_millis=60_000)
    recorder = Recorder(RESOURCE, buffer.add)
    with caplog.at_level(logging.ERROR):
        recorder.start("first", None, SpanKind.INTERNAL, None, None).end()
        assert exporter.called.wait(5)
        recorder.start("second", None, SpanKind.INTERNAL, None, None).end()
        buffer.shutdown()
    assert exporter.batches == [["first"], ["second"]]
    assert "exporting 1 spans failed" in caplog.text
