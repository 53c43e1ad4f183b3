"""The earlier wire schema (google-genai 1.55–1.75, @google/genai 1.x) is chosen by the
SDK's client header or by request shape, and rendered from the same stored steps."""

from __future__ import annotations

import json

import httpx2 as httpx

from tests.conftest import Junction

OLD = "google-genai-sdk/1.60.0 gl-python/3.11.7"
NEW = "google-genai-sdk/3.6.1 gl-python/3.11.7"


def _post(junction: Junction, body: dict[str, object], client: str | None) -> httpx.Response:
    headers = {"x-goog-api-key": junction.api_key}
    if client:
        headers["x-goog-api-client"] = client
    return httpx.post(f"{junction.url}/v1beta/interactions", json=body, headers=headers)


def test_role_content_turns_are_recognised_without_a_header(junction: Junction) -> None:
    reply = _post(
        junction,
        {
            "model": "offline/echo",
            "input": [
                {"role": "user", "content": "first"},
                {"role": "model", "content": [{"type": "text", "text": "an answer"}]},
                {"role": "user", "content": "/history"},
            ],
        },
        None,
    )
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert "steps" not in body
    assert body["outputs"] == [{"type": "text", "text": "first | /history"}]


def test_one_stored_interaction_renders_in_both_schemas(junction: Junction) -> None:
    made = _post(junction, {"model": "offline/echo", "input": "/think hmm\n/reply done"}, NEW)
    assert made.status_code == 200, made.text
    current = made.json()
    assert [s["type"] for s in current["steps"]] == ["user_input", "thought", "model_output"]
    earlier = httpx.get(
        f"{junction.url}/v1beta/interactions/{current['id']}",
        headers={"x-goog-api-key": junction.api_key, "x-goog-api-client": OLD},
    ).json()
    assert "steps" not in earlier
    assert [o["type"] for o in earlier["outputs"]] == ["thought", "text"]
    assert earlier["outputs"][0]["signature"] == current["steps"][1]["signature"]
    assert earlier["outputs"][1]["text"] == "done"


def test_earlier_streams_use_content_events(junction: Junction) -> None:
    headers = {"x-goog-api-key": junction.api_key, "x-goog-api-client": OLD}
    body = {
        "model": "offline/echo",
        "input": '/call lookup {"q": "x"}',
        "tools": [{"type": "function", "name": "lookup", "parameters": {"type": "object"}}],
        "stream": True,
    }
    with httpx.stream(
        "POST", f"{junction.url}/v1beta/interactions", json=body, headers=headers
    ) as reply:
        lines = [line for line in reply.iter_lines() if line.startswith("data: ")]

    events = [json.loads(line[6:]) for line in lines]
    kinds = [e["event_type"] for e in events]
    assert kinds[0] == "interaction.start" and kinds[-1] == "interaction.complete"
    assert not any(k.startswith("step.") for k in kinds)
    start = next(e for e in events if e["event_type"] == "content.start")
    assert start["index"] == 0 and start["content"]["type"] == "function_call"
    call = [e for e in events if e["event_type"] == "content.delta"]
    assert call[-1]["delta"] == {
        "type": "function_call",
        "id": start["content"]["id"],
        "name": "lookup",
        "arguments": {"q": "x"},
    }
    assert events[-1]["interaction"]["status"] == "requires_action"
