"""Observability across real processes: an API process (no workers) and a `junction
worker` sharing one database, PROMETHEUS_MULTIPROC_DIR and an OTLP collector on loopback.
The background run is queued by one process and run by the other: its metrics are served
by the API process, its trace continues the API request's, and the JSON log lines of both
carry the interaction and trace ids and none of the secrets."""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Iterator
from pathlib import Path

import httpx2 as httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from junction.testing.fake_openai import FakeOpenAI
from junction.testing.fakeserver import Reply
from junction.testing.otlp import FakeCollector
from tests.cluster.conftest import Cluster
from tests.observe.conftest import _database

PROVIDER_KEY = "sk-provider-" + secrets.token_hex(12)
METRICS_TOKEN = "mt-" + secrets.token_hex(12)


class ObservedCluster(Cluster):
    collector: FakeCollector
    multiproc: Path

    def env(self) -> dict[str, str]:
        env = super().env()
        env.update(
            OPENAI_API_KEY=PROVIDER_KEY,
            PROMETHEUS_MULTIPROC_DIR=str(self.multiproc),
            JUNCTION_METRICS_TOKEN=METRICS_TOKEN,
            OTEL_EXPORTER_OTLP_ENDPOINT=self.collector.url,
            OTEL_BSP_SCHEDULE_DELAY="100",
            JUNCTION_LOG_FORMAT="json",
            JUNCTION_ACCESS_LOG="1",
        )
        return env


@pytest.fixture(params=["sqlite", "postgres"])
def observed_cluster(
    request: pytest.FixtureRequest, fake_openai: FakeOpenAI, tmp_path: Path
) -> Iterator[ObservedCluster]:
    if request.param == "postgres":
        request.getfixturevalue("pg_url")
    fake_openai.reset()
    collector = FakeCollector().start()
    for url in _database(request.param, tmp_path):
        cluster = ObservedCluster(request.param, url, fake_openai, tmp_path)
        cluster.collector = collector
        cluster.multiproc = tmp_path / "prometheus"
        cluster.multiproc.mkdir()
        try:
            yield cluster
        finally:
            cluster.close()
    collector.stop()


def _samples(text: str) -> dict[str, float]:
    out: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name in out and not sample.labels:
                continue
            key = sample.name + json.dumps(sample.labels, sort_keys=True)
            out[key] = sample.value
    return out


def _sum(samples: dict[str, float], name: str, **labels: str) -> float:
    total = 0.0
    for key, value in samples.items():
        metric, _, raw = key.partition("{")
        if metric != name:
            continue
        got = json.loads("{" + raw)
        if labels.items() <= got.items():
            total += value
    return total


def test_a_run_moved_between_processes_is_observed_as_one(
    observed_cluster: ObservedCluster, fake_openai: FakeOpenAI
) -> None:
    cluster = observed_cluster
    api = cluster.api()
    worker = cluster.worker()
    fake_openai.enqueue(
        Reply(status=503, error_message=f"overloaded (Authorization: Bearer {PROVIDER_KEY})"),
        Reply(text="done in the worker"),
    )
    client = cluster.client(api)
    started = client.interactions.create(model="openai/x", input="work", background=True)
    assert started.status == "queued"  # the API process runs nothing itself
    done = cluster.wait_status(client, started.id, {"completed", "failed"})
    assert done.status == "completed"  # type: ignore[attr-defined]

    # metrics: the API process serves what the worker process counted
    response = httpx.get(f"{api.url}/metrics", headers={"authorization": f"Bearer {METRICS_TOKEN}"})
    assert response.status_code == 200
    samples = _samples(response.text)
    assert _sum(samples, "junction_runs_total", status="completed", model="openai/x") == 1
    assert _sum(samples, "junction_queue_pickup_seconds_count") == 1
    assert _sum(samples, "junction_provider_retries_total", provider="openai") == 1
    created = dict(method="POST", route="/{version}/interactions", status="200")
    assert _sum(samples, "junction_http_request_duration_seconds_count", **created) == 1

    # a worker killed mid-run: the next one takes the run over, and says so
    fake_openai.enqueue(Reply(text="never delivered", delay=30))
    slow = client.interactions.create(model="openai/x", input="slow", background=True)
    deadline = time.monotonic() + 30
    while len(fake_openai.requests) < 3:  # the worker is waiting on the model
        assert time.monotonic() < deadline, "the worker never called the model"
        time.sleep(0.05)
    worker.kill9()
    cluster.worker()
    resumed = cluster.wait_status(client, slow.id, {"completed", "failed"})
    assert resumed.status == "completed"  # type: ignore[attr-defined]
    samples = _samples(
        httpx.get(f"{api.url}/metrics", headers={"authorization": f"Bearer {METRICS_TOKEN}"}).text
    )
    assert _sum(samples, "junction_lease_takeovers_total") == 1
    assert _sum(samples, "junction_runs_total", status="completed", model="openai/x") == 2

    cluster.close()  # the processes flush their spans as they stop

    # one trace: the API request, then the queue wait and the run in the worker
    spans = cluster.collector.spans
    (request,) = [
        s
        for s in spans
        if s.name == "POST /{version}/interactions"
        and s.attributes.get("junction.interaction.id") == started.id
    ]
    trace = [s for s in spans if s.trace_id == request.trace_id]
    (run,) = [s for s in trace if s.name == "interaction"]
    (wait,) = [s for s in trace if s.name == "queue_wait"]
    chats = [s for s in trace if s.name == "chat x"]
    assert run.parent_span_id == wait.parent_span_id == request.span_id
    assert len(chats) == 1 and chats[0].parent_span_id == run.span_id
    assert chats[0].attributes["gen_ai.request.model"] == "x"
    assert run.attributes["junction.interaction.id"] == started.id

    # JSON logs with the interaction and trace ids; no secret anywhere
    api_log, worker_log = api.log.read_text(), worker.log.read_text()
    for text in (api_log, worker_log):
        for secret in (PROVIDER_KEY, METRICS_TOKEN, cluster.api_key):
            assert secret not in text
    lines = [json.loads(line) for line in worker_log.splitlines() if line.startswith("{")]
    retry = [entry for entry in lines if "retrying" in entry["message"]]
    assert len(retry) == 1
    assert retry[0]["interaction_id"] == started.id
    assert retry[0]["trace_id"] == request.trace_id
    assert "Bearer [redacted]" in retry[0]["message"]
    access = [
        json.loads(line)
        for line in api_log.splitlines()
        if line.startswith("{") and '"junction.access"' in line
    ]
    assert any(entry.get("interaction_id") == started.id for entry in access)
