"""Observability: cost (prices per model), Prometheus metrics, OpenTelemetry tracing and
structured logs. Everything here is off or free unless the operator configures it."""
