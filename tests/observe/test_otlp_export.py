"""The production tracing path end to end: a Junction server configured only with the
standard OTEL_* variables exports its spans over OTLP/HTTP protobuf to a collector on
loopback; the requests are decoded with the official ``ExportTraceServiceRequest`` and
checked: names, kinds, parent/child ids, GenAI attributes, status, events, resource.
(The queue wait of a run claimed by a worker process: tests/observe/test_processes.py.)"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import httpx2 as httpx
import pytest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from junction.config import load_settings
from junction.testing.fake_openai import FakeOpenAI
from junction.testing.fakeserver import Reply
from junction.testing.otlp import FakeCollector
from junction.testing.server import JunctionThread
from tests.conftest import API_KEY, traversable

ROUTE = "POST /{version}/interactions"


class Exported:
    def __init__(self, thread: JunctionThread, collector: FakeCollector) -> None:
        self.thread, self.collector = thread, collector

    def create(self, body: dict[str, Any], **headers: str) -> dict[str, Any]:
        response = httpx.post(
            f"{self.thread.url}/v1beta/interactions",
            json=body,
            headers={"x-goog-api-key": API_KEY, **headers},
            timeout=30,
        )
        assert response.status_code == 200, response.text
        result: dict[str, Any] = response.json()
        return result

    def trace(self, interaction_id: str, *names: str) -> tuple[dict[str, Any], list[Span]]:
        """The resource attributes and spans of the trace holding this interaction, once
        the spans ``names`` have arrived at the collector."""
        deadline = time.monotonic() + 10
        while True:
            found = [
                (resource, scope, span)
                for export in list(self.collector.exports)
                for rs in export.resource_spans
                for resource in [{a.key: _value(a.value) for a in rs.resource.attributes}]
                for scope in rs.scope_spans
                for span in scope.spans
            ]
            mine = [
                span
                for _, _, span in found
                if _attrs(span).get("junction.interaction.id") == interaction_id
            ]
            if mine:
                spans = [s for _, _, s in found if s.trace_id == mine[0].trace_id]
                if all(any(s.name == name for s in spans) for name in names):
                    assert {scope.scope.name for _, scope, s in found if s in spans} == {"junction"}
                    return found[0][0], spans
            assert time.monotonic() < deadline, f"spans of {interaction_id} never exported"
            time.sleep(0.02)


def _value(value: AnyValue) -> Any:
    kind = value.WhichOneof("value")
    if kind == "array_value":
        return tuple(_value(v) for v in value.array_value.values)
    return getattr(value, kind) if kind else None


def _attrs(span: Any) -> dict[str, Any]:
    return {a.key: _value(a.value) for a in span.attributes}


def _one(spans: list[Span], name: str) -> Span:
    (span,) = [s for s in spans if s.name == name]
    return span


@pytest.fixture(scope="module")
def exported(
    fake_openai: FakeOpenAI, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Exported]:
    tmp = tmp_path_factory.mktemp("otlp-export")
    traversable(tmp)
    collector = FakeCollector().start()
    with pytest.MonkeyPatch.context() as env:  # what the exporter, sampler, resource read
        env.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", collector.url)
        env.setenv("OTEL_BSP_SCHEDULE_DELAY", "50")
        env.setenv("OTEL_SERVICE_NAME", "junction-under-test")
        env.setenv("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment=test,team=platform")
        settings = load_settings(
            env={
                "JUNCTION_API_KEY": API_KEY,
                "OPENAI_BASE_URL": fake_openai.url + "/v1",
                "OPENAI_API_KEY": "sk-fake",
                "OTEL_EXPORTER_OTLP_ENDPOINT": collector.url,
            },
            overrides={
                "database_url": f"sqlite:///{tmp / 'j.db'}",
                "data_dir": tmp,
                "access_log": False,
                "provider_backoff_base": 0.01,
            },
        )
        assert settings.tracing
        thread = JunctionThread(settings).start()
    yield Exported(thread, collector)
    thread.stop()
    collector.stop()


def test_a_synchronous_call_is_exported_as_otlp(
    exported: Exported, openai_fake: FakeOpenAI
) -> None:
    openai_fake.replies.append(Reply(text="hello", input_tokens=7, output_tokens=2))
    caller_trace, caller_span = secrets.token_hex(16), secrets.token_hex(8)
    done = exported.create(
        {"model": "openai/gpt-x", "input": "hi"},
        traceparent=f"00-{caller_trace}-{caller_span}-01",
    )
    resource, spans = exported.trace(done["id"], ROUTE, "chat gpt-x")
    assert resource["service.name"] == "junction-under-test"
    assert resource["deployment.environment"] == "test" and resource["team"] == "platform"
    assert resource["telemetry.sdk.name"] == "opentelemetry"
    assert {s.trace_id.hex() for s in spans} == {caller_trace}

    server, chat = _one(spans, ROUTE), _one(spans, "chat gpt-x")
    assert server.kind == Span.SPAN_KIND_SERVER and chat.kind == Span.SPAN_KIND_CLIENT
    assert server.parent_span_id.hex() == caller_span  # the caller's span, remote
    assert server.flags & 0x300 == 0x300
    assert chat.parent_span_id == server.span_id and chat.flags & 0x300 == 0x100
    assert server.start_time_unix_nano <= chat.start_time_unix_nano
    assert chat.end_time_unix_nano <= server.end_time_unix_nano
    assert _attrs(server) == {
        "http.request.method": "POST",
        "url.path": "/v1beta/interactions",
        "junction.interaction.id": done["id"],
        "gen_ai.request.model": "gpt-x",
        "gen_ai.provider.name": "openai",
        "junction.status": "completed",
        "gen_ai.usage.input_tokens": 7,
        "gen_ai.usage.output_tokens": 2,
        "http.route": "/{version}/interactions",
        "http.response.status_code": 200,
    }
    assert _attrs(chat) == {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "gpt-x",
        "gen_ai.usage.input_tokens": 7,
        "gen_ai.usage.output_tokens": 2,
        "gen_ai.response.finish_reasons": ("stop",),
    }
    for span in (server, chat):
        assert span.status.code == Status.STATUS_CODE_UNSET and not span.events


def test_a_failed_call_exports_error_status_and_events(
    exported: Exported, openai_fake: FakeOpenAI
) -> None:
    openai_fake.enqueue(
        Reply(status=503, error_message="overloaded"),
        Reply(status=400, error_message="bad request upstream"),
    )
    failed = exported.create({"model": "openai/gpt-x", "input": "x"})
    assert failed["status"] == "failed"
    _, spans = exported.trace(failed["id"], ROUTE, "chat gpt-x")
    server, chat = _one(spans, ROUTE), _one(spans, "chat gpt-x")
    assert not server.parent_span_id  # a new trace
    for span in (server, chat):
        assert span.status.code == Status.STATUS_CODE_ERROR
        assert span.status.message
    assert [e.name for e in chat.events] == ["provider_error", "provider_error"]
    retried, final = (_attrs(e) for e in chat.events)
    assert retried["junction.retried"] is True and final["junction.retried"] is False
    assert all(chat.start_time_unix_nano <= e.time_unix_nano for e in chat.events)
    assert _attrs(chat)["error.type"]


def test_a_background_run_is_a_child_of_the_request(
    exported: Exported,
) -> None:
    started = exported.create({"model": "offline/echo", "input": "later", "background": True})
    _, spans = exported.trace(started["id"], ROUTE, "interaction", "chat echo")
    server, run = _one(spans, ROUTE), _one(spans, "interaction")
    chat = _one(spans, "chat echo")
    assert run.parent_span_id == server.span_id and chat.parent_span_id == run.span_id
    assert _attrs(run)["junction.status"] == "completed"
    assert _attrs(chat)["gen_ai.provider.name"] == "offline"
    assert len({s.span_id for s in spans}) == len(spans)


def test_spans_still_queued_are_sent_when_the_process_exits() -> None:
    """As with the SDK's provider: a process that exits without closing its telemetry
    still sends what it had queued (long schedule delay, one span)."""
    code = (
        "from junction.observe.tracing import open_tracing\n"
        "tracing = open_tracing(True)\n"
        "tracing.start('left behind', attributes={'junction.interaction.id': 'v1_exit'}).end()\n"
    )
    with FakeCollector() as collector:
        env = dict(
            os.environ,
            OTEL_EXPORTER_OTLP_ENDPOINT=collector.url,
            OTEL_BSP_SCHEDULE_DELAY="600000",
        )
        subprocess.run([sys.executable, "-c", code], env=env, check=True, timeout=60)
        assert [s.name for s in collector.spans] == ["left behind"]
