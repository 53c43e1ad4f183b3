"""Translation between Interactions-API steps and the Anthropic Messages API (request
bodies, and the non-streaming ``Message`` answer). The provider lives in
:mod:`junction.providers.anthropic`.

Choices worth knowing:

* consecutive steps that map to the same role are merged into one message (Anthropic
  requires alternation) and, in a user message, ``tool_result`` blocks come first;
* a thought step without a signature is dropped (Anthropic rejects unsigned thinking);
  a redacted thinking block travels as a thought whose signature starts with
  :data:`REDACTED_PREFIX` and goes back as ``redacted_thinking``;
* thinking cannot be combined with a forced tool choice, a temperature or a top_p on
  Anthropic: a request asking for both thinking and a forced call is refused at create
  time (:meth:`AnthropicProvider.check_options`); with thinking the sampling parameters
  are left off;
* ``thinking_summaries`` sets ``thinking.display`` (``summarized`` / ``omitted``) and,
  without a ``thinking_level``, turns thinking on at the ``low`` budget;
* temperature is clamped to Anthropic's range (0..1).
"""

from __future__ import annotations

import binascii
from base64 import b64decode
from collections.abc import Iterator
from typing import Any

from junction import jsonutil
from junction.errors import BadRequest
from junction.providers.base import (
    Finish,
    ModelRequest,
    ProviderEvent,
    TextDelta,
    ThoughtDelta,
    ThoughtSignature,
    ToolCallDelta,
    ToolCallEnd,
    ToolCallStart,
    Usage,
)
from junction.providers.options import ANTHROPIC_TIER_VALUES

THINKING_BUDGETS = {"minimal": 1024, "low": 2048, "medium": 8192, "high": 16384, "xhigh": 32000}
REDACTED_PREFIX = "anthropic-redacted:"
STOP_REASONS = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}
IMAGE_TYPES = ("image/jpeg", "image/png", "image/gif", "image/webp")
_RESULT_ITEMS = ("text", "image", "document")


# -- request --------------------------------------------------------------------------
def build_body(request: ModelRequest, *, default_max_tokens: int) -> dict[str, Any]:
    """The ``/v1/messages`` body for ``request`` (without ``stream``)."""
    gen = request.generation
    body: dict[str, Any] = {"model": request.model, "messages": to_messages(request.steps)}
    if request.system_instruction:
        body["system"] = request.system_instruction
    tools, choice = translate_tools(request.tools, request.tool_choice or gen.get("tool_choice"))
    if tools:
        body["tools"] = tools
        if choice is not None:
            body["tool_choice"] = choice
    max_tokens = int(gen.get("max_output_tokens") or default_max_tokens)
    budget = thinking_budget(gen)
    forced = choice is not None and choice["type"] in ("any", "tool")
    if budget and not forced:
        thinking: dict[str, Any] = {"type": "enabled", "budget_tokens": budget}
        summaries = gen.get("thinking_summaries")
        if summaries:
            thinking["display"] = "summarized" if summaries == "auto" else "omitted"
        body["thinking"] = thinking
        if max_tokens <= budget:
            max_tokens = budget + 4096
    else:
        if gen.get("temperature") is not None:
            body["temperature"] = min(float(gen["temperature"]), 1.0)
        if gen.get("top_p") is not None:
            body["top_p"] = float(gen["top_p"])
        if isinstance(gen.get("top_k"), int):
            body["top_k"] = gen["top_k"]
    body["max_tokens"] = max_tokens
    if gen.get("stop_sequences"):
        body["stop_sequences"] = list(gen["stop_sequences"])
    if gen.get("service_tier"):
        body["service_tier"] = ANTHROPIC_TIER_VALUES[gen["service_tier"]]
    return body


def thinking_budget(gen: dict[str, Any]) -> int | None:
    """Thinking tokens for ``thinking_level``; summaries asked for without a level turn
    thinking on at the ``low`` budget (Anthropic thinks only when asked to)."""
    level = gen.get("thinking_level") or ("low" if gen.get("thinking_summaries") == "auto" else "")
    return THINKING_BUDGETS.get(level)


def forces_call(tools: list[dict[str, Any]], choice: str | dict[str, Any] | None) -> bool:
    """Whether the tool choice makes Anthropic call a tool (``any`` or one named tool)."""
    _, translated = translate_tools(tools, choice)
    return translated is not None and translated["type"] in ("any", "tool")


def to_messages(steps: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Steps → alternating user/assistant messages."""
    messages: list[dict[str, Any]] = []
    for step in steps:
        role, blocks = _step_blocks(step)
        if not blocks:
            continue
        if messages and messages[-1]["role"] == role:
            messages[-1]["content"].extend(blocks)
        else:
            messages.append({"role": role, "content": blocks})
    for message in messages:
        if message["role"] == "user":
            # Anthropic wants the tool results of a user turn before anything else.
            message["content"].sort(key=lambda block: block["type"] != "tool_result")
    return messages


def _step_blocks(step: dict[str, Any]) -> tuple[str, list[dict[str, Any]]]:
    kind = step.get("type")
    if kind == "user_input":
        return "user", [b for item in step.get("content") or () if (b := content_block(item))]
    if kind == "model_output":
        return "assistant", [
            {"type": "text", "text": item["text"]}
            for item in step.get("content") or ()
            if item.get("type") == "text" and item.get("text")
        ]
    if kind == "thought":
        signature = step.get("signature")
        if not signature:
            return "assistant", []
        if signature.startswith(REDACTED_PREFIX):
            data = signature.removeprefix(REDACTED_PREFIX)
            return "assistant", [{"type": "redacted_thinking", "data": data}]
        text = "".join(
            item.get("text", "") for item in step.get("summary") or () if item.get("type") == "text"
        )
        return "assistant", [{"type": "thinking", "thinking": text, "signature": signature}]
    if kind == "function_call":
        return "assistant", [
            {
                "type": "tool_use",
                "id": step["id"],
                "name": step["name"],
                "input": step.get("arguments") or {},
            }
        ]
    if kind == "function_result":
        block: dict[str, Any] = {
            "type": "tool_result",
            "tool_use_id": step["call_id"],
            "content": _result_content(step.get("result")),
        }
        if step.get("is_error"):
            block["is_error"] = True
        return "user", [block]
    return "user", []  # built-in tool steps have no Anthropic form: left out


def _result_content(result: Any) -> str | list[dict[str, Any]]:
    if isinstance(result, str):
        return result
    if (
        isinstance(result, list)
        and result
        and all(isinstance(i, dict) and i.get("type") in _RESULT_ITEMS for i in result)
    ):
        return [b for item in result if (b := content_block(item))]
    return jsonutil.dumps(result)


def content_block(item: dict[str, Any]) -> dict[str, Any] | None:
    """One Interactions content item → an Anthropic content block (None: nothing to send)."""
    kind = item.get("type")
    mime = item.get("mime_type")
    if kind == "text":
        return {"type": "text", "text": item["text"]} if item.get("text") else None
    if kind == "image":
        if item.get("data"):
            if mime not in IMAGE_TYPES:
                raise BadRequest(
                    f"Anthropic models do not accept {mime} images "
                    f"(supported: {', '.join(IMAGE_TYPES)})"
                )
            source = {"type": "base64", "media_type": mime, "data": item["data"]}
            return {"type": "image", "source": source}
        return {"type": "image", "source": {"type": "url", "url": item["uri"]}}
    if kind == "document":
        return {"type": "document", "source": _document_source(item)}
    raise BadRequest(f"Anthropic models do not accept {kind} input")


def _document_source(item: dict[str, Any]) -> dict[str, Any]:
    mime = item.get("mime_type")
    data = item.get("data")
    if mime == "application/pdf" or (mime is None and not data):
        if data:
            return {"type": "base64", "media_type": "application/pdf", "data": data}
        return {"type": "url", "url": item["uri"]}
    if isinstance(mime, str) and mime.startswith("text/"):
        if not data:
            raise BadRequest(f"send {mime} documents inline ('data'): Anthropic fetches only PDFs")
        try:
            text = b64decode(data, altchars=b"-_" if "-" in data or "_" in data else None)
            return {"type": "text", "media_type": "text/plain", "data": text.decode("utf-8")}
        except (binascii.Error, ValueError):
            raise BadRequest(f"a {mime} document is not valid base64 UTF-8 text") from None
    raise BadRequest(
        f"Anthropic models do not accept {mime} documents (supported: application/pdf, text/plain)"
    )


def check_documents(steps: list[dict[str, Any]]) -> None:
    """Reject document and image types Anthropic cannot take, before any call is made."""
    for step in steps:
        items = step.get("content") if step.get("type") == "user_input" else step.get("result")
        if not isinstance(items, list):
            continue
        for item in items:
            if isinstance(item, dict) and item.get("type") in ("image", "document"):
                content_block(item)


def translate_tools(
    tools: list[dict[str, Any]], choice: str | dict[str, Any] | None
) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """Function declarations and the tool choice in Anthropic form."""
    declared = [
        {
            "name": tool["name"],
            "description": tool.get("description") or "",
            "input_schema": tool.get("parameters") or {"type": "object", "properties": {}},
        }
        for tool in tools
        if tool.get("type") == "function"
    ]
    for tool in declared:
        if not tool["description"]:
            del tool["description"]
    if choice is None:
        return declared, None
    if isinstance(choice, dict):
        allowed = choice.get("allowed_tools") or {}
        names = set(allowed.get("tools") or ())
        mode = allowed.get("mode", "auto")
        if names:
            declared = [tool for tool in declared if tool["name"] in names]
        if mode == "any" and len(declared) == 1:
            return declared, {"type": "tool", "name": declared[0]["name"]}
    else:
        mode = choice
    # ``validated``: the model may answer or call; Junction validates the calls' arguments
    mapped = {"auto": "auto", "any": "any", "validated": "auto", "none": "none"}.get(mode)
    return declared, {"type": mapped} if mapped else None


# -- response -------------------------------------------------------------------------
def usage_of(usage: dict[str, Any]) -> Usage:
    cached = usage.get("cache_read_input_tokens") or 0
    created = usage.get("cache_creation_input_tokens") or 0
    output = usage.get("output_tokens") or 0
    details = usage.get("output_tokens_details") or {}
    thought = min(details.get("thinking_tokens") or 0, output)
    return Usage(
        input_tokens=(usage.get("input_tokens") or 0) + cached + created,
        output_tokens=output - thought,
        thought_tokens=thought,
        cached_tokens=cached,
    )


def finish_of(stop_reason: str | None) -> Finish:
    return Finish(STOP_REASONS.get(stop_reason or "end_turn", "other"))


def message_events(message: dict[str, Any]) -> Iterator[ProviderEvent]:
    """Events for a complete (non-streamed) ``Message``."""
    for block in message.get("content") or ():
        kind = block.get("type")
        if kind == "text" and block.get("text"):
            yield TextDelta(block["text"])
        elif kind == "thinking":
            if block.get("thinking"):
                yield ThoughtDelta(block["thinking"])
            if block.get("signature"):
                yield ThoughtSignature(block["signature"])
        elif kind == "redacted_thinking":
            yield ThoughtSignature(REDACTED_PREFIX + block.get("data", ""))
        elif kind == "tool_use":
            arguments = block.get("input") or {}
            yield ToolCallStart(id=block["id"], name=block["name"])
            yield ToolCallDelta(jsonutil.dumps(arguments))
            yield ToolCallEnd(arguments)
    yield usage_of(message.get("usage") or {})
    yield finish_of(message.get("stop_reason"))
