"""The GenAI semantic-convention spans of a run's model calls and tool calls: names and
attributes in one place, so the runner only says when a call starts and ends."""

from __future__ import annotations

from typing import Any

from junction.observe import tracing as otel
from junction.providers.base import Usage


def model_span(
    tracing: otel.Tracing,
    *,
    provider_kind: str,
    provider_name: str,
    model: str,
    system_instruction: str | None,
    messages: Any,
) -> Any:
    """A ``chat {model}`` client span, with the input recorded when contents are on."""
    provider = otel.PROVIDER_NAMES.get(provider_kind, provider_name)
    attributes = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": provider,
        "gen_ai.request.model": model,
    }
    if provider != provider_name:  # e.g. a vLLM server configured as "myvllm"
        attributes["junction.provider"] = provider_name
    span = tracing.start(f"chat {model}", kind=tracing.CLIENT, attributes=attributes)
    if system_instruction:
        tracing.contents(span, "gen_ai.system_instructions", system_instruction)
    tracing.contents(span, "gen_ai.input.messages", messages)
    return span


def end_model_span(
    tracing: otel.Tracing,
    span: Any,
    usage: Usage | None,
    finish_reason: str | None,
    produced: Any,
) -> None:
    """Token usage, the finish reason and (contents on) the output; then the span ends."""
    attributes: dict[str, Any] = {}
    if usage is not None:
        attributes["gen_ai.usage.input_tokens"] = usage.input_tokens
        attributes["gen_ai.usage.output_tokens"] = usage.output_tokens + usage.thought_tokens
        if usage.cached_tokens:
            attributes["gen_ai.usage.cache_read.input_tokens"] = usage.cached_tokens
    if finish_reason is not None:
        attributes["gen_ai.response.finish_reasons"] = (finish_reason,)
        tracing.contents(span, "gen_ai.output.messages", produced)
    span.set_attributes(attributes)
    span.end()


def tool_span(tracing: otel.Tracing, call: dict[str, Any]) -> Any:
    """An ``execute_tool {name}`` span for a server tool's call step."""
    name = call.get("name") or call["type"].removesuffix("_call")
    span = tracing.start(
        f"execute_tool {name}",
        attributes={
            "gen_ai.operation.name": "execute_tool",
            "gen_ai.tool.name": name,
            "gen_ai.tool.call.id": call["id"],
            "gen_ai.tool.type": "extension",
        },
    )
    tracing.contents(span, "gen_ai.tool.call.arguments", call.get("arguments"))
    return span


def run_span(
    tracing: otel.Tracing,
    *,
    interaction_id: str,
    agent: str | None,
    background: bool,
    attempts: int,
    trace_context: Any,
    model: str,
    provider_kind: str,
    provider_name: str,
) -> tuple[Any, object, bool]:
    """The run's span, in the trace stored with the interaction (whichever process runs
    it), made current: ``(span, token to leave it, borrowed)``. A synchronous model call's
    first attempt runs inside its request, so the request's server span is borrowed (one
    span fewer per call; the request ends it)."""
    attributes: dict[str, Any] = {
        "junction.interaction.id": interaction_id,
        "gen_ai.request.model": model,
        "gen_ai.provider.name": otel.PROVIDER_NAMES.get(provider_kind, provider_name),
    }
    if not background and not agent and attempts <= 1:
        request_span = tracing.current_server_span()
        if request_span is not None:
            request_span.set_attributes(attributes)
            return request_span, None, True
    if attempts > 1:
        attributes["junction.attempt"] = attempts
    if agent:
        attributes["gen_ai.operation.name"] = "invoke_agent"
        attributes["gen_ai.agent.name"] = agent
        name = f"invoke_agent {agent}"
    else:
        name = "interaction"
    span = tracing.start(name, parent=tracing.extract(trace_context), attributes=attributes)
    return span, tracing.activate(span), False


def end_run_span(
    tracing: otel.Tracing,
    span: Any,
    token: object,
    borrowed: bool,
    *,
    status: str,
    errors: list[dict[str, Any]] | None,
    input_tokens: int,
    output_tokens: int,
) -> None:
    span.set_attributes(
        {
            "junction.status": status,
            "gen_ai.usage.input_tokens": input_tokens,
            "gen_ai.usage.output_tokens": output_tokens,
        }
    )
    if status == "failed":
        first = (errors or [{}])[0]
        tracing.fail(span, str(first.get("message", "failed")), first.get("code", "error"))
    if not borrowed:  # the request ends its own span
        span.end()
        tracing.leave(token)
