"""Translation of a :class:`ModelRequest` into an OpenAI Chat Completions request body.

Steps become messages: ``user_input`` → a user message, ``model_output`` and
``function_call`` steps of one turn → one assistant message (text + ``tool_calls``),
``function_result`` → a ``tool`` message. Thought steps are dropped: the dialect has no
way to take reasoning back. Tools, tool choice, generation settings and the response
schema map onto their Chat Completions counterparts.
"""

from __future__ import annotations

import mimetypes
from collections.abc import Mapping
from typing import Any

from junction import jsonutil
from junction.errors import BadRequest
from junction.providers.base import ModelRequest
from junction.providers.options import OPENAI_TIER_VALUES

_AUDIO_FORMATS = {
    "audio/wav": "wav",
    "audio/x-wav": "wav",
    "audio/wave": "wav",
    "audio/vnd.wave": "wav",
    "audio/mpeg": "mp3",
    "audio/mp3": "mp3",
    "audio/mpeg3": "mp3",
    "audio/x-mpeg-3": "mp3",
}
_IMAGE_DETAIL = {"low": "low", "medium": "auto", "high": "high", "ultra_high": "high"}
# ``validated``: the model may answer or call; Junction validates the calls' arguments
_CHOICE_MODES = {"auto": "auto", "none": "none", "any": "required", "validated": "auto"}
EFFORTS = {"minimal": "minimal", "low": "low", "medium": "medium", "high": "high", "xhigh": "high"}
_PASSTHROUGH = ("temperature", "top_p", "seed", "presence_penalty", "frequency_penalty")


def build_body(
    request: ModelRequest, options: Mapping[str, Any], *, with_messages: bool = True
) -> dict[str, Any]:
    """The JSON body of ``POST /chat/completions`` for ``request`` (with an empty
    ``messages`` list when ``with_messages`` is false, for the caller to splice in)."""
    messages = messages_of(request) if with_messages else []
    body: dict[str, Any] = {"model": request.model, "messages": messages}
    tools, choice = tools_of(request.tools, request.tool_choice)
    if tools:
        body["tools"] = tools
        if choice is not None:
            body["tool_choice"] = choice
    gen = request.generation
    for key in _PASSTHROUGH:
        if gen.get(key) is not None:
            body[key] = gen[key]
    if gen.get("stop_sequences"):
        body["stop"] = list(gen["stop_sequences"])
    if gen.get("logprobs"):  # the Decisions API: log-probabilities of the first token
        body["logprobs"] = True
        body["top_logprobs"] = int(gen["logprobs"])
    if gen.get("max_output_tokens") is not None:
        legacy = options.get("max_tokens_field") == "max_tokens"
        body["max_tokens" if legacy else "max_completion_tokens"] = gen["max_output_tokens"]
    level = gen.get("thinking_level")
    if level and options.get("reasoning", True) and level in EFFORTS:
        body["reasoning_effort"] = EFFORTS[level]
    tier = gen.get("service_tier")
    if tier:
        body["service_tier"] = OPENAI_TIER_VALUES[tier]
    schema = request.response_schema
    if schema is not None:
        body["response_format"] = (
            {
                "type": "json_schema",
                "json_schema": {"name": "response", "schema": schema, "strict": False},
            }
            if schema
            else {"type": "json_object"}
        )
    if request.stream:
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}
    else:
        body["stream"] = False
    extra = options.get("extra_body") or {}
    if isinstance(extra, Mapping):
        body.update(extra)
    return body


def messages_of(request: ModelRequest) -> list[dict[str, Any]]:
    system = system_messages(request)
    return system + encode_steps(request.steps)


def system_messages(request: ModelRequest) -> list[dict[str, Any]]:
    if request.system_instruction:
        return [{"role": "system", "content": request.system_instruction}]
    return []


def encode_steps(steps: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Messages for a run of steps (a run that starts at a turn boundary encodes the same
    alone as inside the whole conversation)."""
    messages: list[dict[str, Any]] = []
    assistant: dict[str, Any] | None = None  # the assistant message being assembled
    for step in steps:
        kind = step.get("type")
        if kind in ("model_output", "function_call"):
            if assistant is None:
                assistant = {"role": "assistant", "content": None}
                messages.append(assistant)
            if kind == "model_output":
                text = "".join(
                    item.get("text", "")
                    for item in step.get("content") or ()
                    if item.get("type") == "text"
                )
                if text:
                    assistant["content"] = (assistant["content"] or "") + text
            else:
                assistant.setdefault("tool_calls", []).append(
                    {
                        "id": step["id"],
                        "type": "function",
                        "function": {
                            "name": step["name"],
                            "arguments": jsonutil.dumps(step.get("arguments") or {}),
                        },
                    }
                )
        elif kind == "user_input":
            assistant = None
            messages.append({"role": "user", "content": user_content(step.get("content") or [])})
        elif kind == "function_result":
            assistant = None
            result = step.get("result")
            messages.append(
                {
                    "role": "tool",
                    "tool_call_id": step["call_id"],
                    "content": result if isinstance(result, str) else jsonutil.dumps(result),
                }
            )
        # thought steps (and built-in tool steps) cannot be sent back in this dialect
    for message in messages:
        if (
            message["role"] == "assistant"
            and message["content"] is None
            and not message.get("tool_calls")
        ):
            message["content"] = ""
    return messages


def user_content(items: list[dict[str, Any]]) -> str | list[dict[str, Any]]:
    if len(items) == 1 and items[0].get("type") == "text":
        return str(items[0].get("text", ""))
    if not items:
        return ""
    return [content_part(item) for item in items]


def _data_url(item: dict[str, Any]) -> str:
    return f"data:{item.get('mime_type') or 'application/octet-stream'};base64,{item['data']}"


def content_part(item: dict[str, Any]) -> dict[str, Any]:
    kind = item.get("type")
    if kind == "text":
        return {"type": "text", "text": item.get("text", "")}
    if kind == "image":
        image: dict[str, Any] = {"url": _data_url(item) if item.get("data") else item.get("uri")}
        detail = _IMAGE_DETAIL.get(str(item.get("resolution") or ""))
        if detail:
            image["detail"] = detail
        return {"type": "image_url", "image_url": image}
    if kind == "audio":
        mime = str(item.get("mime_type") or "").lower()
        if not item.get("data"):
            raise BadRequest(
                "audio given by 'uri' is not supported by the OpenAI chat dialect; "
                "send the audio inline as base64 'data' (wav or mp3)"
            )
        audio_format = _AUDIO_FORMATS.get(mime)
        if audio_format is None:
            raise BadRequest(
                f"audio of type '{mime or 'unknown'}' is not supported by the OpenAI chat "
                "dialect (it takes audio/wav or audio/mpeg); convert it or choose another model"
            )
        return {
            "type": "input_audio",
            "input_audio": {"data": item["data"], "format": audio_format},
        }
    if kind == "document":
        if not item.get("data"):
            raise BadRequest(
                "documents given by 'uri' are not supported by the OpenAI chat dialect; "
                "send the document inline as base64 'data'"
            )
        mime = str(item.get("mime_type") or "application/pdf")
        filename = (
            item.get("filename")
            or item.get("name")
            or ("document" + (mimetypes.guess_extension(mime) or ""))
        )
        return {"type": "file", "file": {"filename": filename, "file_data": _data_url(item)}}
    raise BadRequest(f"content of type '{kind}' is not supported by the OpenAI chat dialect")


def check_items(steps: list[dict[str, Any]]) -> None:
    """Refuse audio and document items this dialect cannot send (before any call)."""
    for step in steps:
        if step.get("type") != "user_input":
            continue
        for item in step.get("content") or ():
            if isinstance(item, dict) and item.get("type") in ("audio", "document"):
                content_part(item)


def tools_of(
    tools: list[dict[str, Any]], tool_choice: str | dict[str, Any] | None
) -> tuple[list[dict[str, Any]], Any]:
    """Function tools in Chat Completions form and the matching ``tool_choice``."""
    functions = [t for t in tools if t.get("type") == "function"]
    mode: str | None = None
    if isinstance(tool_choice, str):
        mode = tool_choice
    elif isinstance(tool_choice, dict) and isinstance(tool_choice.get("allowed_tools"), dict):
        allowed = tool_choice["allowed_tools"]
        mode = str(allowed.get("mode") or "auto")
        names = allowed.get("tools")
        if names:
            functions = [t for t in functions if t.get("name") in set(names)]
    out = [_function(t) for t in functions]
    if not out or mode is None:
        return out, None
    choice = _CHOICE_MODES.get(mode)
    if choice is None:
        raise BadRequest(f"unknown tool_choice mode '{mode}'")
    if choice == "required" and len(out) == 1 and isinstance(tool_choice, dict):
        return out, {"type": "function", "function": {"name": out[0]["function"]["name"]}}
    return out, choice


def _function(tool: dict[str, Any]) -> dict[str, Any]:
    function: dict[str, Any] = {"name": tool["name"]}
    if tool.get("description"):
        function["description"] = tool["description"]
    function["parameters"] = tool.get("parameters") or {"type": "object", "properties": {}}
    return {"type": "function", "function": function}
