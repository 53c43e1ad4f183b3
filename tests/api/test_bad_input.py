"""Bad input: a clear 4xx in the SDK's error shape, and nothing written."""

from __future__ import annotations

from typing import Any

import httpx2 as httpx
import pytest

from tests.conftest import Junction

CASES: list[tuple[str, Any, int, str]] = [
    ("not json", b"{oops", 400, "not valid JSON"),
    ("not an object", [1, 2], 400, "JSON object"),
    ("no model or agent", {"input": "x"}, 400, "exactly one of 'model' or 'agent'"),
    (
        "model and agent",
        {"model": "offline/echo", "agent": "a", "input": "x"},
        400,
        "exactly one of 'model' or 'agent'",
    ),
    ("no input", {"model": "offline/echo"}, 400, "'input' is required"),
    ("empty input", {"model": "offline/echo", "input": ""}, 400, "empty"),
    ("empty list", {"model": "offline/echo", "input": []}, 400, "non-empty"),
    (
        "unknown step",
        {"model": "offline/echo", "input": [{"type": "user_input"}, {"type": "bogus"}]},
        400,
        "input",
    ),
    (
        "text without text",
        {"model": "offline/echo", "input": [{"type": "text"}]},
        400,
        "input[0].text",
    ),
    (
        "image without data",
        {"model": "offline/echo", "input": [{"type": "image", "mime_type": "image/png"}]},
        400,
        "'data' (base64) or 'uri'",
    ),
    (
        "bad base64",
        {
            "model": "offline/echo",
            "input": [{"type": "image", "data": "***", "mime_type": "image/png"}],
        },
        400,
        "not valid base64",
    ),
    (
        "mixed steps and content",
        {
            "model": "offline/echo",
            "input": [
                {"type": "text", "text": "a"},
                {"type": "user_input", "content": [{"type": "text", "text": "b"}]},
            ],
        },
        400,
        "mixes",
    ),
    ("unknown model", {"model": "gpt-unknown", "input": "x"}, 400, "unknown model 'gpt-unknown'"),
    ("unknown provider", {"model": "nowhere/m", "input": "x"}, 400, "unknown provider 'nowhere'"),
    (
        "provider without key",
        {"model": "anthropic/claude-x", "input": "x"},
        400,
        "ANTHROPIC_API_KEY",
    ),
    ("gemini without key", {"model": "gemini-2.5-pro", "input": "x"}, 400, "GEMINI_API_KEY"),
    (
        "tool not available",
        {"model": "offline/echo", "input": "x", "tools": [{"type": "computer_use"}]},
        400,
        "computer_use",
    ),
    (
        "duplicate function",
        {
            "model": "offline/echo",
            "input": "x",
            "tools": [{"type": "function", "name": "f"}, {"type": "function", "name": "f"}],
        },
        400,
        "declared twice",
    ),
    (
        "bad function name",
        {
            "model": "offline/echo",
            "input": "x",
            "tools": [{"type": "function", "name": "no spaces"}],
        },
        400,
        "function names",
    ),
    (
        "temperature out of range",
        {"model": "offline/echo", "input": "x", "generation_config": {"temperature": 9}},
        400,
        "temperature",
    ),
    (
        "generation_config on agent",
        {"agent": "a", "input": "x", "generation_config": {}},
        400,
        "generation_config",
    ),
    (
        "continuation token",
        {"model": "offline/echo", "input": "x", "continuation_token": "t"},
        400,
        "continuation_token",
    ),
    (
        "background without store",
        {"model": "offline/echo", "input": "x", "store": False, "background": True},
        400,
        "store=true",
    ),
    ("wrong store type", {"model": "offline/echo", "input": "x", "store": "maybe"}, 400, "store"),
]


def _count(junction: Junction, key: str) -> int:
    page = httpx.get(
        f"{junction.url}/v1beta/interactions",
        params={"page_size": 1000},
        headers={"x-goog-api-key": key},
    ).json()
    return len(page["interactions"])


@pytest.fixture
def project_key(junction: Junction) -> str:
    result = junction.cli("keys", "create", "--project", f"bad-input-{junction.backend}")
    return result.stdout.split()[1]


def test_bad_create_requests(junction: Junction, project_key: str) -> None:
    headers = {"x-goog-api-key": project_key, "content-type": "application/json"}
    before = _count(junction, project_key)
    for name, body, status, needle in CASES:
        content = (
            body
            if isinstance(body, bytes)
            else httpx.Request("POST", "http://x", json=body).content
        )
        response = httpx.post(
            f"{junction.url}/v1beta/interactions", content=content, headers=headers
        )
        assert response.status_code == status, (name, response.text)
        error = response.json()["error"]
        assert isinstance(error["code"], str) and isinstance(error["message"], str), name
        assert needle in error["message"], (name, error["message"])
    assert _count(junction, project_key) == before


@pytest.mark.parametrize(
    ("method", "path", "params", "status", "needle"),
    [
        ("GET", "/v1beta/interactions/v1_missing", {}, 404, "v1_missing"),
        ("GET", "/v1beta/interactions/v1_x", {"last_event_id": "3"}, 400, "stream=true"),
        ("GET", "/v1beta/interactions/v1_x", {"stream": "perhaps"}, 400, "true or false"),
        ("GET", "/v1beta/interactions", {"page_size": "0"}, 400, "page_size"),
        ("GET", "/v1beta/interactions", {"page_token": "garbage"}, 400, "page_token"),
        ("POST", "/v1beta/interactions/v1_missing/cancel", {}, 404, "v1_missing"),
        ("DELETE", "/v1beta/interactions/v1_missing", {}, 404, "v1_missing"),
        ("GET", "/version9/interactions", {}, 404, "no route"),
        ("PUT", "/v1beta/interactions", {}, 405, "not allowed"),
    ],
)
def test_bad_paths_and_parameters(
    junction: Junction, method: str, path: str, params: dict[str, str], status: int, needle: str
) -> None:
    response = httpx.request(
        method, f"{junction.url}{path}", params=params, headers={"x-goog-api-key": junction.api_key}
    )
    assert response.status_code == status, response.text
    assert needle in response.json()["error"]["message"]


def test_bad_last_event_id(junction: Junction) -> None:
    created = junction.client().interactions.create(model="offline/echo", input="x")
    response = httpx.get(
        f"{junction.url}/v1beta/interactions/{created.id}",
        params={"stream": "true", "last_event_id": "nope"},
        headers={"x-goog-api-key": junction.api_key},
    )
    assert response.status_code == 400
    assert "nope" in response.json()["error"]["message"]
