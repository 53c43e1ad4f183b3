"""The release-matrix scenario, run by a given google-genai release in its own venv:
``python scenario.py BASE_URL API_KEY``. Prints one JSON object of observations.

It uses only what every release with ``client.interactions`` offers, and reads results
the way that release exposes them (``outputs`` before 2.0, ``steps`` after)."""

from __future__ import annotations

import json
import sys
import time
import warnings
from typing import Any

from google import genai
from google.genai import types

warnings.simplefilter("ignore")

WEATHER = {
    "type": "function",
    "name": "get_weather",
    "description": "The weather in a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
}
SCHEMA = {"type": "object", "properties": {"answer": {"type": "string"}}}


def items(interaction: Any) -> list[Any]:
    """The model's output items: ``outputs`` (before 2.0) or the steps after the input."""
    outputs = getattr(interaction, "outputs", None)
    if outputs is not None:
        return list(outputs)
    steps = list(getattr(interaction, "steps", None) or [])
    return [s for s in steps if s.type not in ("user_input", "function_result")]


def text(interaction: Any) -> str:
    parts = []
    for item in items(interaction):
        if item.type == "text":
            parts.append(item.text)
        elif item.type == "model_output":
            parts.extend(c.text for c in item.content or [] if c.type == "text")
    return "".join(parts)


def delta_text(events: list[Any]) -> str:
    out = []
    for event in events:
        delta = getattr(event, "delta", None)
        if delta is not None and getattr(delta, "type", None) == "text":
            out.append(delta.text or "")
    return "".join(out)


def call_arguments(events: list[Any]) -> Any:
    """A streamed function call's arguments: one ``function_call`` delta (before 2.0)
    or the ``arguments_delta`` fragments (after)."""
    fragments = []
    for event in events:
        delta = getattr(event, "delta", None)
        kind = getattr(delta, "type", None)
        if kind == "function_call":
            return [delta.name, dict(delta.arguments)]
        if kind == "arguments_delta":
            fragments.append(delta.arguments)
    start = next(e for e in events if e.event_type == "step.start")
    return [start.step.name, json.loads("".join(fragments))]


def main(base_url: str, api_key: str) -> dict[str, Any]:
    client = genai.Client(
        api_key=api_key,
        http_options=types.HttpOptions(base_url=base_url, api_version="v1beta"),
    )
    api = client.interactions
    seen: dict[str, Any] = {}

    first = api.create(model="offline/echo", input="hello matrix")
    seen["create"] = [first.status, text(first)]

    second = api.create(model="offline/echo", input="/history", previous_interaction_id=first.id)
    seen["chain"] = text(second)

    call = api.create(
        model="offline/echo", input='/call get_weather {"city": "Paris"}', tools=[WEATHER]
    )
    fc = next(i for i in items(call) if i.type == "function_call")
    answered = api.create(
        model="offline/echo",
        previous_interaction_id=call.id,
        tools=[WEATHER],
        input=[{"type": "function_result", "call_id": fc.id, "name": fc.name, "result": "sunny"}],
    )
    seen["function_call"] = [call.status, fc.name, dict(fc.arguments), text(answered)]

    events = list(api.create(model="offline/echo", input="/reply streamed words", stream=True))
    kinds = [e.event_type for e in events]
    starts = [e.index for e in events if e.event_type in ("content.start", "step.start")]
    seen["stream"] = [kinds[0], kinds[-1], delta_text(events), starts]
    stream_id = next(e.interaction.id for e in events if getattr(e, "interaction", None))

    streamed_call = list(
        api.create(
            model="offline/echo",
            input='/call get_weather {"city": "Oslo"}',
            tools=[WEATHER],
            stream=True,
        )
    )
    seen["stream_call"] = call_arguments(streamed_call)

    replay = list(api.get(stream_id, stream=True))
    middle = replay[len(replay) // 2].event_id
    resumed = list(api.get(stream_id, stream=True, last_event_id=middle))
    seen["resume"] = [
        len(replay),
        len(resumed),
        [e.event_id for e in replay][len(replay) // 2 + 1 :] == [e.event_id for e in resumed],
    ]

    background = api.create(model="offline/echo", input="/sleep 0.3\n/reply later", background=True)
    status0 = background.status
    while True:
        got = api.get(background.id)
        if got.status not in ("in_progress", "queued"):
            break
        time.sleep(0.1)
    seen["background"] = [status0, got.status, text(got)]

    if hasattr(first, "outputs"):  # before 2.0: the schema itself
        structured = api.create(
            model="offline/echo",
            input='/reply {"answer": "42"}',
            response_format=SCHEMA,
            response_mime_type="application/json",
        )
    else:
        structured = api.create(
            model="offline/echo",
            input='/reply {"answer": "42"}',
            response_format={"type": "text", "mime_type": "application/json", "schema": SCHEMA},
        )
    seen["structured"] = [structured.status, json.loads(text(structured))]
    if hasattr(first, "outputs"):
        # Releases before 2.0 may send role/content turns.
        turns = api.create(
            model="offline/echo",
            input=[
                {"role": "user", "content": "earlier question"},
                {"role": "model", "content": "earlier answer"},
                {"role": "user", "content": [{"type": "text", "text": "/history"}]},
            ],
        )
        seen["turns"] = text(turns)
    return seen


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1], sys.argv[2])))
