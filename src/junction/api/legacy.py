"""The earlier wire schema, for google-genai 1.55–1.75 and @google/genai 1.x clients.

Those releases speak the Interactions API as it was before steps: an interaction has
``outputs`` (a flat list of content items) instead of ``steps``, input may be
role/content turns, and streams carry ``interaction.start`` / ``content.start`` /
``content.delta`` / ``content.stop`` / ``interaction.complete``. This module translates
their requests into the current schema and renders the current stored steps back in
the earlier shape: a rendering layer at the HTTP edge; the runtime knows nothing of it.

A client is recognised by the SDK's own header (``x-goog-api-client`` or
``user-agent``: ``google-genai-sdk/1.x``) or by request shape (role/content turns).
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Mapping
from typing import Any

from junction import jsonutil

_SDK = re.compile(r"google-genai-sdk/(\d+)\.(\d+)")
#: the first SDK major version that speaks steps
STEPS_MAJOR = 2
_PLAIN = frozenset({"text", "image", "audio", "document", "video"})
_INPUT_STEPS = frozenset({"user_input", "function_result"})


def sdk_version(headers: Mapping[str, str]) -> tuple[int, int] | None:
    for name in ("x-goog-api-client", "user-agent"):
        match = _SDK.search(headers.get(name, ""))
        if match:
            return int(match[1]), int(match[2])
    return None


def _turn_shaped(body: Any) -> bool:
    items = body.get("input") if isinstance(body, dict) else None
    if isinstance(items, dict):
        items = [items]
    return isinstance(items, list) and any(isinstance(i, dict) and "role" in i for i in items)


def is_legacy(headers: Mapping[str, str], body: Any = None) -> bool:
    version = sdk_version(headers)
    if version is not None:
        return version[0] < STEPS_MAJOR
    return _turn_shaped(body)


# -- requests ------------------------------------------------------------------------------
def _steps(items: list[Any], role: str) -> list[dict[str, Any]]:
    """Content items of one turn as steps: plain content grouped into a user_input (or
    model_output) step; thoughts, calls and results become steps of their own type."""
    steps: list[dict[str, Any]] = []
    plain: list[dict[str, Any]] = []
    kind = "model_output" if role == "model" else "user_input"

    def flush() -> None:
        if plain:
            steps.append({"type": kind, "content": list(plain)})
            plain.clear()

    for item in items:
        if isinstance(item, str):
            item = {"type": "text", "text": item}
        if isinstance(item, dict) and item.get("type", "text") in _PLAIN:
            plain.append({"type": "text", **item} if "type" not in item else item)
        else:
            flush()
            steps.append(item)
    flush()
    return steps


def request_body(body: Any) -> Any:
    """An earlier-schema create body in the current schema."""
    if not isinstance(body, dict):
        return body
    body = dict(body)
    value = body.get("input")
    if isinstance(value, dict):
        value = [value]
    if isinstance(value, list) and value:
        steps: list[dict[str, Any]] = []
        for item in value:
            if isinstance(item, dict) and "role" in item:
                content = item.get("content")
                parts = [content] if isinstance(content, str | dict) else list(content or [])
                steps.extend(_steps(parts, str(item.get("role"))))
            else:
                steps.extend(_steps([item], "user"))
        body["input"] = steps
    schema = body.get("response_format")
    if isinstance(schema, dict):
        # The earlier response_format is the JSON schema itself.
        body["response_format"] = {
            "type": "text",
            "mime_type": "application/json",
            "schema": schema,
        }
    return body


# -- responses -----------------------------------------------------------------------------
def _lead(steps: list[dict[str, Any]]) -> int:
    """The turn's input: every step up to the last one only a client writes (a turn
    given as role/content history may hold model steps before its last user input)."""
    last = -1
    for index, step in enumerate(steps):
        if step.get("type") in _INPUT_STEPS:
            last = index
    return last + 1


def outputs(steps: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for step in steps[_lead(steps) :]:
        kind = step.get("type")
        if kind == "model_output":
            out.extend(step.get("content") or [])
        elif kind != "user_input":
            out.append(step)
    return out


def interaction(wire: dict[str, Any]) -> dict[str, Any]:
    """An Interaction resource in the earlier shape (``outputs``, ``role``)."""
    out = {k: v for k, v in wire.items() if k != "steps"}
    if "steps" in wire:
        out["outputs"] = outputs(wire["steps"])
        out["role"] = "model"
    return out


def input_steps(steps: list[dict[str, Any]]) -> int:
    """How many leading steps are the turn's input (their stream indexes come first)."""
    return _lead(steps)


def _content_shell(step: dict[str, Any]) -> dict[str, Any]:
    kind = step.get("type")
    if kind == "model_output":
        return {"type": "text", "text": ""}
    return dict(step)


async def events(
    source: AsyncIterator[tuple[int, str]], lead: int
) -> AsyncIterator[tuple[int, str]]:
    """A current event stream in the earlier event vocabulary. ``lead``: the number of
    input steps before the first output (output indexes start at 0 after them)."""
    calls: dict[int, dict[str, Any]] = {}
    fragments: dict[int, list[str]] = {}
    async for seq, data in source:
        event = jsonutil.loads(data)
        kind = event.get("event_type")
        if kind in ("interaction.created", "interaction.completed"):
            event["event_type"] = (
                "interaction.start" if kind == "interaction.created" else "interaction.complete"
            )
            event["interaction"] = interaction(event.get("interaction") or {})
        elif kind == "step.start":
            index = int(event["index"])
            step = event.get("step") or {}
            if step.get("type") == "function_call":
                calls[index] = step
                fragments[index] = []
            event = {
                "event_type": "content.start",
                "event_id": event.get("event_id"),
                "index": index - lead,
                "content": _content_shell(step),
            }
        elif kind == "step.delta":
            index = int(event["index"])
            delta = event.get("delta") or {}
            if delta.get("type") == "arguments_delta":
                fragments.setdefault(index, []).append(str(delta.get("arguments", "")))
                continue
            event = {**event, "event_type": "content.delta", "index": index - lead}
        elif kind == "step.stop":
            index = int(event["index"])
            if index in calls:
                call = calls.pop(index)
                raw = "".join(fragments.pop(index, []))
                try:
                    arguments = jsonutil.loads(raw) if raw else call.get("arguments", {})
                except ValueError:
                    arguments = call.get("arguments", {})
                delta = {"type": "function_call", "id": call.get("id"), "name": call.get("name")}
                yield (
                    seq,
                    jsonutil.dumps(
                        {
                            "event_type": "content.delta",
                            "event_id": event.get("event_id"),
                            "index": index - lead,
                            "delta": {**delta, "arguments": arguments},
                        }
                    ),
                )
            event = {**event, "event_type": "content.stop", "index": index - lead}
        yield seq, jsonutil.dumps(event)
