"""Prometheus metrics (the official ``prometheus-client``), one :class:`Metrics` per
process. With several processes on a host (``uvicorn --workers``, ``junction worker``)
set ``PROMETHEUS_MULTIPROC_DIR`` to one empty directory shared by all of them, before they
start: every process writes its values there and any one of them serves the sum.

The full list, with meanings, is in docs/observability.md.
"""

from __future__ import annotations

import os
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    start_http_server,
)
from prometheus_client import multiprocess as mp

#: distinct values a free-form label (model, agent) may take before it reads "other"
MAX_LABEL_VALUES = 200
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300)
WAIT_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800)


def multiprocess_dir() -> str | None:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or os.environ.get("prometheus_multiproc_dir")


class Metrics:
    def __init__(self) -> None:
        r = self.registry = CollectorRegistry()
        self.multiprocess = multiprocess_dir() is not None
        self._seen: dict[str, set[str]] = {}
        #: labelled children already looked up (label values are bounded, see label())
        self._children: dict[tuple[int, tuple[str, ...]], Any] = {}
        self.http_duration = Histogram(
            "junction_http_request_duration_seconds",
            "HTTP requests by route template, method and status (until the response ends)",
            ["method", "route", "status"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.runs = Counter(
            "junction_runs_total",
            "Runs that ended, by final status, provider, model and agent",
            ["status", "provider", "model", "agent"],
            registry=r,
        )
        self.runs_active = Gauge(
            "junction_runs_active",
            "Runs executing now",
            registry=r,
            multiprocess_mode="livesum",
        )
        self.queue_depth = Gauge(
            "junction_queue_depth",
            "Background interactions waiting for a worker (sampled when scraped)",
            registry=r,
            multiprocess_mode="mostrecent",
        )
        self.queue_pickup = Histogram(
            "junction_queue_pickup_seconds",
            "Time from a queued interaction's creation to a worker claiming it",
            buckets=WAIT_BUCKETS,
            registry=r,
        )
        self.lease_takeovers = Counter(
            "junction_lease_takeovers_total",
            "Runs claimed again after their worker stopped or lost its lease",
            registry=r,
        )
        self.model_calls = Histogram(
            "junction_model_call_duration_seconds",
            "Model calls (with their retries) by provider and model",
            ["provider", "model"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.provider_errors = Counter(
            "junction_provider_errors_total",
            "Failed provider attempts by provider and HTTP status ('none': no response)",
            ["provider", "status"],
            registry=r,
        )
        self.provider_retries = Counter(
            "junction_provider_retries_total",
            "Provider attempts retried after a retryable error",
            ["provider"],
            registry=r,
        )
        self.tokens = Counter(
            "junction_tokens_total",
            "Tokens used, by provider, model and type (input, output, thought, cached)",
            ["provider", "model", "type"],
            registry=r,
        )
        self.cost = Counter(
            "junction_cost_total",
            "Cost of the tokens used, in the configured currency",
            ["provider", "model", "currency"],
            registry=r,
        )
        self.tool_calls = Counter(
            "junction_tool_calls_total",
            "Server-side tool calls by tool and outcome (ok, error)",
            ["tool", "outcome"],
            registry=r,
        )
        self.sandbox_starts = Counter(
            "junction_sandbox_starts_total",
            "Sandboxes started, by backend",
            ["backend"],
            registry=r,
        )
        self.sandbox_start_seconds = Histogram(
            "junction_sandbox_start_seconds",
            "Time to start a sandbox, by backend",
            ["backend"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.sandboxes_live = Gauge(
            "junction_sandboxes_live",
            "Environments with a live sandbox workspace (sampled when scraped)",
            registry=r,
            multiprocess_mode="mostrecent",
        )
        self.webhook_deliveries = Counter(
            "junction_webhook_deliveries_total",
            "Webhook delivery attempts by outcome (delivered, retry, failed: given up)",
            ["outcome"],
            registry=r,
        )
        self.webhook_delivery_seconds = Histogram(
            "junction_webhook_delivery_seconds",
            "Time of one webhook delivery attempt",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )

    def label(self, kind: str, value: str | None) -> str:
        """A free-form label value, capped at MAX_LABEL_VALUES distinct ones per kind."""
        if not value:
            return ""
        seen = self._seen.setdefault(kind, set())
        if value in seen:
            return value
        if len(seen) >= MAX_LABEL_VALUES:
            return "other"
        seen.add(value)
        return value

    def child(self, metric: Any, *values: str) -> Any:
        """``metric.labels(*values)``, remembered: the client validates and locks on every
        ``labels`` call, which the per-request metrics would pay each time."""
        key = (id(metric), values)
        found = self._children.get(key)
        if found is None:
            found = self._children[key] = metric.labels(*values)
        return found

    def webhook_delivery(self, outcome: str, seconds: float) -> None:
        """For the webhook sender: one delivery attempt and how long it took."""
        self.webhook_deliveries.labels(outcome).inc()
        self.webhook_delivery_seconds.observe(seconds)

    def exposition(self) -> bytes:
        """The text format of every metric (summed over processes in multiprocess mode)."""
        if self.multiprocess:
            registry = CollectorRegistry()
            mp.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
            return generate_latest(registry)
        return generate_latest(self.registry)

    def serve(self, host: str, port: int) -> Any:
        """Serve the metrics on their own port (a thread of prometheus-client's)."""
        if self.multiprocess:
            registry = CollectorRegistry()
            mp.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        else:
            registry = self.registry
        server, _thread = start_http_server(port, addr=host, registry=registry)
        return server

    def process_exited(self, pid: int | None = None) -> None:
        """Drop a stopped process's live gauges (multiprocess mode)."""
        if self.multiprocess:
            mp.mark_process_dead(pid or os.getpid())  # type: ignore[no-untyped-call]
