"""OpenTelemetry traces along the GenAI semantic conventions, collected by the SDK's
in-memory exporter: one trace per interaction (API request → run → model calls → tool
calls → sandbox commands), the caller's traceparent honoured, contents only on opt-in."""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator

import httpx2 as httpx
import pytest
from google import genai
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from junction.config import load_settings
from junction.testing.fake_openai import FakeOpenAI
from junction.testing.fakeserver import Reply
from junction.testing.server import JunctionThread
from tests.conftest import API_KEY, REQUIRE_SANDBOX, traversable
from tests.observe.conftest import Observed


def trace_of(spans: InMemorySpanExporter, interaction_id: str, *names: str) -> list[ReadableSpan]:
    """Every finished span of the trace that holds this interaction's run, once the spans
    ``names`` have ended too (the server span ends just after the response is sent)."""
    deadline = time.monotonic() + 10
    while True:
        finished = spans.get_finished_spans()
        run = next(
            (
                s
                for s in finished
                if (s.attributes or {}).get("junction.interaction.id") == interaction_id
                and "junction.status" in (s.attributes or {})
            ),
            None,
        )
        if run is not None and run.context is not None:
            trace = [
                s for s in finished if s.context and s.context.trace_id == run.context.trace_id
            ]
            if all(by_name(trace, name) for name in names):
                return trace
        assert time.monotonic() < deadline, f"spans of {interaction_id} never ended"
        time.sleep(0.02)


def by_name(spans: list[ReadableSpan], name: str) -> list[ReadableSpan]:
    return [s for s in spans if s.name == name]


def parent_of(span: ReadableSpan, spans: list[ReadableSpan]) -> ReadableSpan:
    assert span.parent is not None
    return next(s for s in spans if s.context and s.context.span_id == span.parent.span_id)


def test_one_trace_per_interaction_with_genai_attributes(
    observed: Observed, openai_fake: FakeOpenAI
) -> None:
    assert observed.spans is not None
    observed.spans.clear()
    openai_fake.replies.append(Reply(text="hello there", input_tokens=12, output_tokens=3))
    done = observed.client(api_key=observed.new_key()[1]).interactions.create(
        model="openai/priced", input="a secret prompt"
    )
    spans = trace_of(observed.spans, done.id, "POST /{version}/interactions")
    server = by_name(spans, "POST /{version}/interactions")
    assert len(server) == 1 and server[0].kind is SpanKind.SERVER
    assert server[0].parent is None  # the trace starts at the API request
    attrs = server[0].attributes or {}
    assert attrs["http.route"] == "/{version}/interactions"
    assert attrs["http.response.status_code"] == 200
    assert attrs["junction.interaction.id"] == done.id

    # a synchronous model interaction runs inside its request: the request's span is
    # the run's (background runs and agents have their own, see test_processes.py)
    assert not by_name(spans, "interaction")
    assert attrs["junction.status"] == "completed"
    assert attrs["gen_ai.request.model"] == "priced"

    (chat,) = by_name(spans, "chat priced")
    assert parent_of(chat, spans) is server[0]
    assert chat.kind is SpanKind.CLIENT
    attrs = chat.attributes or {}
    assert attrs["gen_ai.operation.name"] == "chat"
    assert attrs["gen_ai.provider.name"] == "openai"
    assert attrs["gen_ai.request.model"] == "priced"
    assert attrs["gen_ai.usage.input_tokens"] == 12
    assert attrs["gen_ai.usage.output_tokens"] == 3
    assert tuple(attrs["gen_ai.response.finish_reasons"]) == ("stop",)  # type: ignore[arg-type]
    # contents are not recorded unless the operator opts in
    for span in spans:
        for key, value in (span.attributes or {}).items():
            assert "secret prompt" not in str(value), key
            assert not key.startswith(("gen_ai.input", "gen_ai.output"))


def test_the_callers_traceparent_is_continued(observed: Observed) -> None:
    assert observed.spans is not None
    trace_id = secrets.token_hex(16)
    response = httpx.post(
        f"{observed.url}/v1beta/interactions",
        json={"model": "offline/echo", "input": "hi"},
        headers={
            "x-goog-api-key": observed.api_key,
            "traceparent": f"00-{trace_id}-{secrets.token_hex(8)}-01",
        },
    )
    assert response.status_code == 200
    spans = trace_of(observed.spans, response.json()["id"], "POST /{version}/interactions")
    assert {format(s.context.trace_id, "032x") for s in spans if s.context} == {trace_id}


def test_provider_failure_marks_the_spans(observed: Observed, openai_fake: FakeOpenAI) -> None:
    assert observed.spans is not None
    openai_fake.replies.append(Reply(status=400, error_message="bad request upstream"))
    failed = observed.client(api_key=observed.new_key()[1]).interactions.create(
        model="openai/priced", input="x"
    )
    assert failed.status == "failed"
    spans = trace_of(observed.spans, failed.id, "POST /{version}/interactions")
    (chat,) = by_name(spans, "chat priced")
    (run,) = by_name(spans, "POST /{version}/interactions")
    assert chat.status.status_code is StatusCode.ERROR
    assert run.status.status_code is StatusCode.ERROR
    assert [e.name for e in chat.events] == ["provider_error"]


@pytest.fixture(scope="module")
def content_server(
    fake_openai: FakeOpenAI, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[JunctionThread, InMemorySpanExporter]]:
    tmp = tmp_path_factory.mktemp("trace-content")
    traversable(tmp)
    settings = load_settings(
        env={
            "JUNCTION_API_KEY": API_KEY,
            "OPENAI_BASE_URL": fake_openai.url + "/v1",
            "OPENAI_API_KEY": "sk-fake",
            "JUNCTION_TRACING": "1",
            "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT": "true",
        },
        overrides={
            "database_url": f"sqlite:///{tmp / 'j.db'}",
            "data_dir": tmp,
            "access_log": False,
        },
    )
    spans = InMemorySpanExporter()
    thread = JunctionThread(settings, span_exporter=spans).start()
    yield thread, spans
    thread.stop()


def _client(url: str) -> genai.Client:
    return genai.Client(
        api_key=API_KEY,
        http_options=genai.types.HttpOptions(
            base_url=url,
            api_version="v1beta",
            retry_options=genai.types.HttpRetryOptions(attempts=1),
        ),
    )


def test_contents_only_when_the_operator_opts_in(
    content_server: tuple[JunctionThread, InMemorySpanExporter], openai_fake: FakeOpenAI
) -> None:
    thread, spans = content_server
    openai_fake.replies.append(Reply(text="the answer"))
    client = _client(thread.url)  # kept: a collected client closes its HTTP client
    done = client.interactions.create(
        model="openai/x", input="the question", system_instruction="be brief"
    )
    (chat,) = by_name(trace_of(spans, done.id, "POST /{version}/interactions"), "chat x")
    attrs = chat.attributes or {}
    assert "the question" in str(attrs["gen_ai.input.messages"])
    assert "the answer" in str(attrs["gen_ai.output.messages"])
    assert "be brief" in str(attrs["gen_ai.system_instructions"])


def _need_sandbox(thread: JunctionThread) -> None:
    probe = httpx.post(
        f"{thread.url}/v1beta/environments",
        json={"network": "disabled"},
        headers={"x-goog-api-key": API_KEY},
    )
    if probe.status_code == 503:
        reason = probe.json()["error"]["message"]
        if REQUIRE_SANDBOX:
            pytest.fail(f"the sandbox is required (JUNCTION_REQUIRE_SANDBOX=1): {reason}")
        pytest.skip(reason)


def test_tool_calls_and_sandbox_commands_are_spans(
    content_server: tuple[JunctionThread, InMemorySpanExporter], openai_fake: FakeOpenAI
) -> None:
    thread, spans = content_server
    _need_sandbox(thread)
    openai_fake.enqueue(
        Reply(text="", tool_calls=[("code_execution", {"code": "print(6*7)"})]),
        Reply(text="42"),
    )
    client = _client(thread.url)
    done = client.interactions.create(
        model="openai/x", input="compute", tools=[{"type": "code_execution"}]
    )
    assert done.status == "completed", done.errors
    trace = trace_of(spans, done.id, "POST /{version}/interactions")
    (run,) = by_name(trace, "POST /{version}/interactions")
    chats = by_name(trace, "chat x")
    assert len(chats) == 2 and all(parent_of(c, trace) is run for c in chats)
    (tool,) = [s for s in trace if s.name.startswith("execute_tool ")]
    assert parent_of(tool, trace) is run
    attrs = tool.attributes or {}
    assert attrs["gen_ai.operation.name"] == "execute_tool"
    assert attrs["gen_ai.tool.call.id"] == done.steps[1].id
    assert "42" in str(attrs["gen_ai.tool.call.result"])
    (command,) = by_name(trace, "sandbox.exec")
    assert parent_of(command, trace) is tool
    assert (command.attributes or {})["process.exit.code"] == 0
    assert (command.attributes or {})["junction.environment.id"] == done.environment_id


def test_a_background_run_has_its_own_span_in_the_requests_trace(observed: Observed) -> None:
    assert observed.spans is not None
    client = observed.client()
    started = client.interactions.create(model="offline/echo", input="later", background=True)
    spans = trace_of(observed.spans, started.id, "POST /{version}/interactions", "chat echo")
    (server,) = by_name(spans, "POST /{version}/interactions")
    (run,) = by_name(spans, "interaction")
    (chat,) = by_name(spans, "chat echo")
    assert parent_of(run, spans) is server and parent_of(chat, spans) is run
    assert (run.attributes or {})["junction.status"] == "completed"
    assert "junction.status" not in (server.attributes or {})


def test_an_agent_run_is_an_invoke_agent_span(
    content_server: tuple[JunctionThread, InMemorySpanExporter], openai_fake: FakeOpenAI
) -> None:
    thread, spans = content_server
    _need_sandbox(thread)
    openai_fake.enqueue(Reply(text="agent answer"))
    client = _client(thread.url)
    done = client.interactions.create(
        agent="junction-general",
        input="hello agent",
        agent_config={"type": "antigravity", "model": "openai/agent-model"},
    )
    assert done.status == "completed", done.errors
    trace = trace_of(spans, done.id, "POST /{version}/interactions")
    (run,) = [s for s in trace if s.name == "invoke_agent junction-general"]
    attrs = run.attributes or {}
    assert attrs["gen_ai.operation.name"] == "invoke_agent"
    assert attrs["gen_ai.agent.name"] == "junction-general"
    (chat,) = by_name(trace, "chat agent-model")
    assert parent_of(chat, trace) is run
    assert parent_of(run, trace).name == "POST /{version}/interactions"
