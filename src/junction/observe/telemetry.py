"""What one process observes with: metrics and tracing, each ``None`` when off, so that
every instrumented spot costs one ``is None`` check when they are."""

from __future__ import annotations

from dataclasses import dataclass

from opentelemetry.sdk.trace.export import SpanExporter

from junction.config import Settings
from junction.observe.metrics import Metrics, multiprocess_dir
from junction.observe.tracing import Tracing, open_tracing


@dataclass
class Telemetry:
    metrics: Metrics | None = None
    tracing: Tracing | None = None

    def close(self) -> None:
        if self.tracing is not None:
            self.tracing.shutdown()
        if self.metrics is not None:
            self.metrics.process_exited()


def metrics_enabled(settings: Settings) -> bool:
    return bool(settings.metrics_token or settings.metrics_port or multiprocess_dir())


def open_telemetry(settings: Settings, *, span_exporter: SpanExporter | None = None) -> Telemetry:
    return Telemetry(
        metrics=Metrics() if metrics_enabled(settings) else None,
        tracing=open_tracing(
            settings.tracing, content=settings.trace_content, exporter=span_exporter
        ),
    )
