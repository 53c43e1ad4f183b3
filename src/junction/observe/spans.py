"""Junction's own spans: the ``opentelemetry-api`` :class:`~opentelemetry.trace.Span`
interface, without the SDK's per-span work.

The SDK's span validates every attribute through a locked ``BoundedAttributes``, asks a
sampler object, and copies itself into a ``ReadableSpan`` for its span processor when
it ends; on Junction's request path that was most of what tracing cost. These spans keep
the same observable behaviour (the sampler and span limits of the ``OTEL_*`` variables,
W3C trace flags, status rules, attribute cleaning, events) with plain slots and a dict:
attribute values are checked with one type test, and only a value that is not a plain
``str``/``bool``/``int``/``float`` (or any value under a length limit) goes through the
SDK's own cleaning (:mod:`junction.observe.span_attributes`). An ended span is handed
to a sink: the batching exporter (:mod:`junction.observe.span_export`) or, in tests, a
bridge to an SDK ``SpanExporter``.

Being API spans, they work with the ``opentelemetry.trace`` context functions
(``set_span_in_context``, ``get_current_span``), the W3C propagator and the log
formatter's trace ids like the SDK's.
"""

from __future__ import annotations

import logging
import random
import traceback
from collections.abc import Callable, Mapping
from time import time_ns
from typing import Any

from opentelemetry import trace
from opentelemetry.attributes import BoundedAttributes
from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan, SpanLimits, sampling
from opentelemetry.sdk.util import BoundedList
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import Link, SpanContext, SpanKind, Status, StatusCode, TraceFlags
from opentelemetry.util import types

from junction.observe.span_attributes import SCALARS, cleaned, put

log = logging.getLogger(__name__)

_UNSET = Status(StatusCode.UNSET)
#: the four trace flag values a span can have (sampled, random trace id)
_FLAGS = [TraceFlags(n) for n in range(4)]
_SAMPLED, _RANDOM = TraceFlags.SAMPLED, TraceFlags.RANDOM_TRACE_ID
#: where an ended (sampled) span goes
Sink = Callable[["JunctionSpan"], None]


class SpanEvent:
    __slots__ = ("attributes", "dropped_attributes", "name", "timestamp")

    def __init__(self, name: str, attributes: dict[str, Any], dropped: int, timestamp: int) -> None:
        self.name = name
        self.attributes = attributes
        self.dropped_attributes = dropped
        self.timestamp = timestamp


class Recorder:
    """What the spans of one process share: resource, scope, sampler, limits, sink."""

    def __init__(self, resource: Resource, sink: Sink, *, scope: str = "junction") -> None:
        self.resource = resource
        self.scope = InstrumentationScope(scope)
        self.sink = sink
        #: the sampler the OTEL_TRACES_SAMPLER(_ARG) variables name, as the SDK reads them
        self.sampler = sampling._get_from_env_or_default()
        #: the default (parent-based, always on) decided here without a sampler call
        self.default_sampler = self.sampler is sampling.DEFAULT_ON
        limits = SpanLimits()  # OTEL_SPAN_* / OTEL_ATTRIBUTE_* limits, as the SDK reads them
        self.max_attributes: int = limits.max_span_attributes or 2**31
        self.max_length: int | None = limits.max_span_attribute_length
        self.max_event_length: int | None = limits.max_attribute_length
        self.max_events: int = limits.max_events or 2**31
        self.max_event_attributes: int = limits.max_event_attributes or 2**31
        self.max_links: int = limits.max_links or 2**31
        self.max_link_attributes: int = limits.max_link_attributes or 2**31

    def start(
        self,
        name: str,
        parent: Context | None,
        kind: SpanKind,
        attributes: Mapping[str, Any] | None,
        start_time: int | None,
    ) -> trace.Span:
        """A span under ``parent`` (the current context when None), as the SDK's
        ``Tracer.start_span`` makes it: a non-recording span when sampled out."""
        parent_ctx: SpanContext | None = trace.get_current_span(parent).get_span_context()
        if parent_ctx is not None and parent_ctx.is_valid:
            trace_id = parent_ctx.trace_id
            random_id = parent_ctx.trace_flags & _RANDOM
        else:
            parent_ctx = None
            trace_id = random.getrandbits(128) or 1
            random_id = _RANDOM
        if self.default_sampler:
            sampled = parent_ctx is None or parent_ctx.trace_flags & _SAMPLED
            recording = bool(sampled)
            state = parent_ctx.trace_state if parent_ctx is not None else None
        else:
            result = self.sampler.should_sample(parent, trace_id, name, kind, attributes, ())
            sampled = result.decision is sampling.Decision.RECORD_AND_SAMPLE
            recording = result.decision is not sampling.Decision.DROP
            state = result.trace_state
            attributes = result.attributes
        flags = _FLAGS[(_SAMPLED if sampled else 0) | random_id]
        context = SpanContext(trace_id, random.getrandbits(64) or 1, False, flags, state)
        if not recording:
            return trace.NonRecordingSpan(context)
        return JunctionSpan(self, name, context, parent_ctx, kind, attributes, start_time)


class JunctionSpan(trace.Span):
    __slots__ = (
        "attributes",
        "context",
        "dropped_attributes",
        "dropped_events",
        "dropped_links",
        "end_time",
        "events",
        "kind",
        "links",
        "name",
        "parent",
        "recorder",
        "start_time",
        "status",
    )

    def __init__(
        self,
        recorder: Recorder,
        name: str,
        context: SpanContext,
        parent: SpanContext | None,
        kind: SpanKind,
        attributes: Mapping[str, Any] | None,
        start_time: int | None,
    ) -> None:
        self.recorder = recorder
        self.name = name
        self.context = context
        self.parent = parent
        self.kind = kind
        if attributes:
            self.attributes, self.dropped_attributes = cleaned(
                attributes, recorder.max_attributes, recorder.max_length
            )
        else:
            self.attributes, self.dropped_attributes = {}, 0
        self.events: list[SpanEvent] = []
        self.links: list[Link] = []
        self.dropped_events = self.dropped_links = 0
        self.status = _UNSET
        self.start_time = start_time or time_ns()
        self.end_time: int | None = None

    # -- what the exporters read -----------------------------------------------------
    @property
    def resource(self) -> Resource:
        return self.recorder.resource

    @property
    def instrumentation_scope(self) -> InstrumentationScope:
        return self.recorder.scope

    def readable(self) -> ReadableSpan:
        """The SDK's form of this ended span (for a configured ``SpanExporter``)."""
        rec = self.recorder
        attributes = BoundedAttributes(rec.max_attributes, self.attributes, immutable=True)
        attributes.dropped = self.dropped_attributes
        events: BoundedList[Any] = BoundedList.from_seq(  # type: ignore[no-untyped-call]
            rec.max_events, [Event(e.name, e.attributes, e.timestamp) for e in self.events]
        )
        events.dropped = self.dropped_events
        links: BoundedList[Any] = BoundedList.from_seq(rec.max_links, self.links)  # type: ignore[no-untyped-call]
        links.dropped = self.dropped_links
        return ReadableSpan(
            name=self.name,
            context=self.context,
            parent=self.parent,
            resource=rec.resource,
            attributes=attributes,
            events=events,
            links=links,
            kind=self.kind,
            status=self.status,
            start_time=self.start_time,
            end_time=self.end_time,
            instrumentation_scope=rec.scope,
        )

    # -- the Span interface ----------------------------------------------------------
    def get_span_context(self) -> SpanContext:
        return self.context

    def is_recording(self) -> bool:
        return self.end_time is None

    def set_attribute(self, key: str, value: types.AnyValue) -> None:
        if self.end_time is not None:
            log.warning("Setting attribute on ended span.")
            return
        rec = self.recorder
        self.dropped_attributes += put(
            self.attributes, key, value, rec.max_attributes, rec.max_length
        )

    def set_attributes(self, attributes: Mapping[str, types.AnyValue]) -> None:
        if self.end_time is not None:
            log.warning("Setting attribute on ended span.")
            return
        rec, attrs = self.recorder, self.attributes
        limit, length = rec.max_attributes, rec.max_length
        for key, value in attributes.items():
            if (
                type(value) in SCALARS
                and length is None
                and (key in attrs or (len(attrs) < limit and type(key) is str and key))
            ):
                attrs[key] = value
            else:
                self.dropped_attributes += put(attrs, key, value, limit, length)

    def add_event(
        self, name: str, attributes: types.Attributes = None, timestamp: int | None = None
    ) -> None:
        if self.end_time is not None:
            return
        rec = self.recorder
        attrs, dropped = cleaned(attributes or {}, rec.max_event_attributes, rec.max_event_length)
        if len(self.events) >= rec.max_events:
            del self.events[0]
            self.dropped_events += 1
        self.events.append(SpanEvent(name, attrs, dropped, timestamp or time_ns()))

    def add_link(self, context: SpanContext, attributes: types.Attributes = None) -> None:
        if self.end_time is not None or (
            not context.is_valid and not attributes and not context.trace_state
        ):
            return
        if len(self.links) >= self.recorder.max_links:
            del self.links[0]
            self.dropped_links += 1
        rec = self.recorder
        attrs = BoundedAttributes(
            rec.max_link_attributes, attributes, max_value_len=rec.max_event_length
        )
        self.links.append(Link(context, attrs))

    def update_name(self, name: str) -> None:
        if self.end_time is None:
            self.name = name

    def set_status(self, status: Status | StatusCode, description: str | None = None) -> None:
        if self.end_time is not None or self.status.status_code is StatusCode.OK:
            return
        if isinstance(status, Status):
            if status.status_code is not StatusCode.UNSET:
                self.status = status
        elif status is not StatusCode.UNSET:
            self.status = Status(status, description)

    def record_exception(
        self,
        exception: BaseException,
        attributes: types.Attributes = None,
        timestamp: int | None = None,
        escaped: bool = False,
    ) -> None:
        kind = type(exception)
        module = kind.__module__
        event: dict[str, Any] = {
            "exception.type": f"{module}.{kind.__qualname__}"
            if module and module != "builtins"
            else kind.__qualname__,
            "exception.message": str(exception),
            "exception.stacktrace": "".join(traceback.format_exception(exception)),
            "exception.escaped": str(escaped),
        }
        event.update(attributes or {})
        self.add_event("exception", event, timestamp)

    def end(self, end_time: int | None = None) -> None:
        if self.end_time is not None:
            log.warning("Calling end() on an ended span.")
            return
        self.end_time = end_time or time_ns()
        if self.context.trace_flags & _SAMPLED:
            self.recorder.sink(self)
