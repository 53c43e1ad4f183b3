"""OpenAI's Responses API (``POST {base_url}/responses``): the ``openai`` provider's
second dialect, used when thought summaries are asked for (``thinking_summaries:
"auto"``) of a model on api.openai.com, or of any model of a provider configured with
``responses_api = true``. OpenAI returns reasoning summaries only here, not from Chat
Completions.

The request is stateless (``store: false``): the conversation goes in ``input`` every
time, as in the chat dialect. Thought steps are not sent back (reasoning items would
need OpenAI's encrypted content). What the dialect has no field for is refused at create
time (:func:`check`): audio input, ``stop_sequences``, ``seed``, media output.

Streamed events map onto provider events: ``response.reasoning_summary_text.delta`` →
thought text, ``response.output_text.delta`` → text, ``function_call`` items → tool calls;
``response.completed`` / ``response.incomplete`` carry usage and the finish reason.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any

from junction import jsonutil
from junction.errors import BadRequest, ProviderRejected, ProviderUnavailable
from junction.providers.base import (
    Finish,
    ModelRequest,
    ProviderEvent,
    TextDelta,
    ThoughtDelta,
    ToolCallDelta,
    ToolCallEnd,
    ToolCallStart,
    Usage,
)
from junction.providers.http import HttpClient, sse_events
from junction.providers.openai_messages import EFFORTS, tools_of
from junction.providers.options import OPENAI_TIER_VALUES, refuse

_IMAGE_DETAIL = {"low": "low", "medium": "auto", "high": "high", "ultra_high": "high"}


def wanted(request: ModelRequest, options: Mapping[str, Any], official: bool) -> bool:
    """Whether ``request`` goes to the Responses API (summaries asked of OpenAI)."""
    enabled = options.get("responses_api", official)
    return bool(enabled) and request.generation.get("thinking_summaries") == "auto"


def check(request: ModelRequest, model_id: str) -> None:
    """Refuse what the Responses dialect cannot carry (a 400 naming the field)."""
    gen = request.generation
    if request.output.media:
        raise refuse(
            "generation_config.thinking_summaries",
            model_id,
            "cannot return thought summaries with image or audio output (OpenAI gives "
            "them only through its Responses API, which Junction uses for text); drop one "
            "of them",
        )
    for name in ("stop_sequences", "seed"):
        if gen.get(name):
            raise refuse(
                f"generation_config.{name}",
                model_id,
                "cannot take it together with thinking_summaries 'auto' (thought "
                "summaries come from OpenAI's Responses API, which has no such field); "
                "drop one of them",
            )
    for step in request.steps[request.history_len :]:
        for item in step.get("content") or ():
            if isinstance(item, dict) and item.get("type") == "audio":
                raise refuse(
                    "input",
                    model_id,
                    "cannot take audio together with thinking_summaries 'auto' (OpenAI's "
                    "Responses API takes no audio input); drop one of them",
                )


# -- request --------------------------------------------------------------------------
def build_body(request: ModelRequest, options: Mapping[str, Any]) -> dict[str, Any]:
    gen = request.generation
    body: dict[str, Any] = {
        "model": request.model,
        "input": input_items(request.steps),
        "store": False,
        "stream": request.stream,
    }
    if request.system_instruction:
        body["instructions"] = request.system_instruction
    functions, choice = tools_of(request.tools, request.tool_choice)
    if functions:
        body["tools"] = [
            {
                "type": "function",
                "name": f["function"]["name"],
                **(
                    {"description": f["function"]["description"]}
                    if f["function"].get("description")
                    else {}
                ),
                "parameters": f["function"]["parameters"],
                "strict": False,
            }
            for f in functions
        ]
        if isinstance(choice, dict):
            body["tool_choice"] = {"type": "function", "name": choice["function"]["name"]}
        elif choice is not None:
            body["tool_choice"] = choice
    reasoning: dict[str, Any] = {"summary": "auto"}
    level = gen.get("thinking_level")
    if level in EFFORTS and options.get("reasoning", True):
        reasoning["effort"] = EFFORTS[level]
    body["reasoning"] = reasoning
    for key in ("temperature", "top_p", "max_output_tokens"):
        if gen.get(key) is not None:
            body[key] = gen[key]
    if gen.get("service_tier"):
        body["service_tier"] = OPENAI_TIER_VALUES[gen["service_tier"]]
    schema = request.response_schema
    if schema is not None:
        body["text"] = {
            "format": (
                {"type": "json_schema", "name": "response", "schema": schema, "strict": False}
                if schema
                else {"type": "json_object"}
            )
        }
    extra = options.get("extra_body") or {}
    if isinstance(extra, Mapping):
        body.update(extra)
    return body


def _data_url(item: dict[str, Any]) -> str:
    return f"data:{item.get('mime_type') or 'application/octet-stream'};base64,{item['data']}"


def input_part(item: dict[str, Any]) -> dict[str, Any] | None:
    kind = item.get("type")
    if kind == "text":
        return {"type": "input_text", "text": item.get("text", "")}
    if kind == "image":
        url = _data_url(item) if item.get("data") else item.get("uri")
        detail = _IMAGE_DETAIL.get(str(item.get("resolution") or ""), "auto")
        return {"type": "input_image", "image_url": url, "detail": detail}
    if kind == "document":
        if not item.get("data"):
            return {"type": "input_file", "file_url": item.get("uri")}
        name = item.get("filename") or item.get("name") or "document.pdf"
        return {"type": "input_file", "file_data": _data_url(item), "filename": name}
    if kind == "audio":
        raise BadRequest("OpenAI's Responses API takes no audio input")
    return None


def input_items(steps: list[dict[str, Any]]) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    for step in steps:
        kind = step.get("type")
        if kind == "user_input":
            parts = [p for i in step.get("content") or () if (p := input_part(i)) is not None]
            if parts:
                items.append({"role": "user", "content": parts})
        elif kind == "model_output":
            text = "".join(
                i.get("text", "") for i in step.get("content") or () if i.get("type") == "text"
            )
            if text:
                items.append({"role": "assistant", "content": text})
        elif kind == "function_call":
            items.append(
                {
                    "type": "function_call",
                    "call_id": step["id"],
                    "name": step["name"],
                    "arguments": jsonutil.dumps(step.get("arguments") or {}),
                }
            )
        elif kind == "function_result":
            result = step.get("result")
            items.append(
                {
                    "type": "function_call_output",
                    "call_id": step["call_id"],
                    "output": result if isinstance(result, str) else jsonutil.dumps(result),
                }
            )
        # thought steps (and built-in tool steps) are not sent back in this dialect
    return items


# -- response -------------------------------------------------------------------------
def _arguments(raw: str) -> dict[str, Any]:
    try:
        value = jsonutil.loads(raw) if raw.strip() else {}
    except ValueError:
        value = None
    return value if isinstance(value, dict) else {"_raw": raw}


class EventParser:
    """Turns Responses API stream events into provider events."""

    def __init__(self, who: str) -> None:
        self.who = who
        self.called = False
        self.done = False
        self.final: list[ProviderEvent] = []

    def feed(self, event: dict[str, Any]) -> list[ProviderEvent]:
        kind = event.get("type")
        if kind == "response.reasoning_summary_text.delta" and event.get("delta"):
            return [ThoughtDelta(str(event["delta"]))]
        if kind == "response.reasoning_summary_part.added" and event.get("summary_index"):
            return [ThoughtDelta("\n\n")]
        if kind in ("response.output_text.delta", "response.refusal.delta") and event.get("delta"):
            return [TextDelta(str(event["delta"]))]
        raw_item = event.get("item")
        item: dict[str, Any] = raw_item if isinstance(raw_item, dict) else {}
        if kind == "response.output_item.added" and item.get("type") == "function_call":
            self.called = True
            return [ToolCallStart(str(item.get("call_id") or item.get("id")), str(item["name"]))]
        if kind == "response.function_call_arguments.delta" and event.get("delta"):
            return [ToolCallDelta(str(event["delta"]))]
        if kind == "response.output_item.done" and item.get("type") == "function_call":
            return [ToolCallEnd(_arguments(str(item.get("arguments") or "")))]
        if kind in ("response.completed", "response.incomplete"):
            self.done = True
            return self.end(event.get("response") or {})
        if kind == "response.failed":
            error = (event.get("response") or {}).get("error") or {}
            raise ProviderUnavailable(f"{self.who} failed: {error.get('message') or error}")
        if kind == "error":
            message = f"{self.who} failed mid-answer: {event.get('message') or event}"
            code = str(event.get("code") or "")
            if code.startswith(("invalid", "context_length")):
                raise ProviderRejected(message, status=400)
            raise ProviderUnavailable(message)
        return []

    def end(self, response: dict[str, Any]) -> list[ProviderEvent]:
        usage = response.get("usage") or {}
        cached = (usage.get("input_tokens_details") or {}).get("cached_tokens")
        details = response.get("incomplete_details") or {}
        reason = str(details.get("reason") or "")
        if response.get("status") == "incomplete":
            finish = "length" if reason == "max_output_tokens" else "content_filter"
        else:
            finish = "tool_calls" if self.called else "stop"
        return [
            Usage(
                input_tokens=int(usage.get("input_tokens") or 0),
                output_tokens=int(usage.get("output_tokens") or 0),
                thought_tokens=int(
                    (usage.get("output_tokens_details") or {}).get("reasoning_tokens") or 0
                ),
                cached_tokens=int(cached or 0),
            ),
            Finish(finish),
        ]


def response_events(response: dict[str, Any], who: str) -> list[ProviderEvent]:
    """Events for a complete (non-streamed) ``response`` object."""
    parser = EventParser(who)
    events: list[ProviderEvent] = []
    for item in response.get("output") or ():
        kind = item.get("type") if isinstance(item, dict) else None
        if kind == "reasoning":
            texts = [s.get("text", "") for s in item.get("summary") or () if isinstance(s, dict)]
            if any(texts):
                events.append(ThoughtDelta("\n\n".join(t for t in texts if t)))
        elif kind == "message":
            for part in item.get("content") or ():
                text = part.get("text") or part.get("refusal") if isinstance(part, dict) else None
                if text:
                    events.append(TextDelta(str(text)))
        elif kind == "function_call":
            parser.called = True
            raw = str(item.get("arguments") or "")
            events.append(ToolCallStart(str(item.get("call_id") or item.get("id")), item["name"]))
            events.append(ToolCallDelta(raw))
            events.append(ToolCallEnd(_arguments(raw)))
    return events + parser.end(response)


async def stream(
    http: HttpClient, url: str, headers: Mapping[str, str], body: dict[str, Any]
) -> AsyncIterator[ProviderEvent]:
    """POST ``body`` to ``{base_url}/responses`` and yield its events."""
    who = http.who
    parser = EventParser(who)
    async with http.post(url, body, headers) as response:
        if response.content_type != "text/event-stream":
            try:
                data = jsonutil.loads(await response.read())
            except ValueError:
                raise ProviderUnavailable(f"{who} sent a response that is not JSON") from None
            for event in response_events(data if isinstance(data, dict) else {}, who):
                yield event
            return
        async for _name, data in sse_events(response):
            try:
                decoded = jsonutil.loads(data)
            except ValueError:
                raise ProviderUnavailable(f"{who} sent an unreadable stream event") from None
            if isinstance(decoded, dict):
                for event in parser.feed(decoded):
                    yield event
            if parser.done:
                return
    raise ProviderUnavailable(f"{who} ended the stream before the response was complete")
