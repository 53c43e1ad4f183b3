"""Where Junction's ended spans go: batched to the OTLP/HTTP exporter on a thread of
their own (the production path), or one by one into an SDK ``SpanExporter`` (tests).

:class:`SpanBuffer` batches as the SDK's ``BatchSpanProcessor`` does, with its
``OTEL_BSP_*`` settings (read by the SDK's own functions): a span is appended to a queue
(at most ``OTEL_BSP_MAX_QUEUE_SIZE``; beyond it spans are dropped and counted), the
thread wakes when a batch is full (``OTEL_BSP_MAX_EXPORT_BATCH_SIZE``) or after
``OTEL_BSP_SCHEDULE_DELAY`` and exports everything queued in batches, and shutting down
exports what is left (within ``OTEL_BSP_EXPORT_TIMEOUT``). Ending a span costs an append
and a length check: no lock, no copy.
"""

from __future__ import annotations

import atexit
import logging
import threading
from collections import deque
from typing import Any

from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter

from junction.observe.spans import JunctionSpan

log = logging.getLogger(__name__)


class SpanBuffer:
    def __init__(
        self,
        exporter: Any,
        *,
        max_queue_size: int | None = None,
        max_export_batch_size: int | None = None,
        schedule_delay_millis: float | None = None,
        export_timeout_millis: float | None = None,
    ) -> None:
        """``exporter``: has ``export(spans)`` and ``shutdown()`` (an OTLP exporter)."""
        self.exporter = exporter
        # (the defaults are the SDK's functions reading the OTEL_BSP_* variables)
        bsp: Any = BatchSpanProcessor
        self.max_queue_size: int = max_queue_size or bsp._default_max_queue_size()
        batch: int = max_export_batch_size or bsp._default_max_export_batch_size()
        self.batch_size = min(batch, self.max_queue_size)
        self.delay = (schedule_delay_millis or bsp._default_schedule_delay_millis()) / 1000
        self.timeout = (export_timeout_millis or bsp._default_export_timeout_millis()) / 1000
        #: spans dropped because the queue was full (and how many of them were logged)
        self.dropped = 0
        self._reported = 0
        self._queue: deque[JunctionSpan] = deque()
        self._wake = threading.Event()
        self._closing = False
        self._thread = threading.Thread(target=self._run, name="junction-spans", daemon=True)
        self._thread.start()
        atexit.register(self.shutdown)  # (as the SDK's provider: flushed at exit too)

    def add(self, span: JunctionSpan) -> None:
        """The sink of every ended span (any thread; appends are atomic)."""
        queue = self._queue
        size = len(queue)
        if size >= self.max_queue_size:
            self.dropped += 1
            return
        queue.append(span)
        if size + 1 == self.batch_size:
            self._wake.set()

    def _run(self) -> None:
        while not self._closing:
            full = self._wake.wait(self.delay)
            self._wake.clear()
            self._drain(len(self._queue) if not full or self._closing else 0)
        self._drain(len(self._queue))

    def _drain(self, due: int) -> None:
        """Export full batches, and the first ``due`` spans even in a partial batch (what
        was queued when the delay ran out): spans that come meanwhile wait for theirs."""
        queue, size = self._queue, self.batch_size
        while len(queue) >= size or (due > 0 and queue):
            batch = [queue.popleft() for _ in range(min(len(queue), size))]
            due -= len(batch)
            try:
                self.exporter.export(batch)
            except Exception:
                log.exception("exporting %d spans failed", len(batch))
        dropped = self.dropped
        if dropped != self._reported:
            log.warning(
                "span queue full (OTEL_BSP_MAX_QUEUE_SIZE=%d): %d spans dropped",
                self.max_queue_size,
                dropped - self._reported,
            )
            self._reported = dropped

    def shutdown(self) -> None:
        """Export what is queued (waiting at most the export timeout), then stop."""
        if self._closing:
            return
        self._closing = True
        atexit.unregister(self.shutdown)
        self._wake.set()
        self._thread.join(self.timeout)
        self.exporter.shutdown()


class ExporterBridge:
    """An SDK ``SpanExporter`` (tests' in-memory one) fed each span as it ends, converted
    to the SDK's ``ReadableSpan`` — what the SDK's ``SimpleSpanProcessor`` does."""

    def __init__(self, exporter: SpanExporter) -> None:
        self.exporter = exporter

    def add(self, span: JunctionSpan) -> None:
        try:
            self.exporter.export((span.readable(),))
        except Exception:
            log.exception("exporting a span failed")

    def shutdown(self) -> None:
        self.exporter.shutdown()
