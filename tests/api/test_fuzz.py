"""Fuzzing every route with mutated JSON bodies and query strings (hypothesis), through
real HTTP, on SQLite and PostgreSQL: no answer is ever a 5xx, and a 4xx writes no row.

Each example starts from a valid request and changes one thing: a value replaced by
JSON of another type, a key removed, an unknown key added, or the body swapped for
another JSON value. The example count is bounded so the whole test takes seconds.
"""

from __future__ import annotations

import copy
import os
import urllib.parse
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.api.hardening_support import new_project, project_rows, send, wait_idle
from tests.conftest import Junction

EXAMPLES = int(os.environ.get("JUNCTION_FUZZ_EXAMPLES", "120"))

SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12)
    | st.sampled_from(["", "\x00", "a\nb", "../x", "/etc", "text", "user_input", "function"])
)
JSON = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)

TEXT = [{"type": "text", "text": "a"}]
SEEDS: list[tuple[str, str, Any]] = [
    ("POST", "/v1beta/interactions", {"model": "offline/echo", "input": "hi"}),
    (
        "POST",
        "/v1beta/interactions",
        {
            "model": "offline/echo",
            "input": [
                {"type": "user_input", "content": TEXT},
                {"type": "thought", "summary": TEXT, "signature": "c2ln"},
                {"type": "model_output", "content": TEXT},
                {"type": "function_call", "id": "c1", "name": "f", "arguments": {"x": 1}},
                {"type": "function_result", "call_id": "c1", "name": "f", "result": "ok"},
                {
                    "type": "user_input",
                    "content": [{"type": "image", "data": "aGk=", "mime_type": "image/png"}],
                },
            ],
            "tools": [
                {"type": "function", "name": "f", "parameters": {"type": "object"}},
                {"type": "code_execution"},
            ],
            "generation_config": {
                "temperature": 0.5,
                "max_output_tokens": 50,
                "tool_choice": {"allowed_tools": {"mode": "auto", "tools": ["f"]}},
            },
            "response_format": {
                "type": "text",
                "mime_type": "application/json",
                "schema": {"type": "object"},
            },
            "system_instruction": "be brief",
            "labels": {"a": "b"},
            "store": True,
            "background": False,
        },
    ),
    (
        "POST",
        "/v1beta/interactions",
        {"model": "offline/echo", "input": "hi", "background": True, "stream": False},
    ),
    (
        "POST",
        "/v1beta/interactions",
        {
            "agent": "antigravity-preview-05-2026",
            "input": "hi",
            "agent_config": {"type": "antigravity", "model": "offline/echo"},
            "environment": {"network": "disabled"},
        },
    ),
    ("POST", "/v1beta/credentials", {"type": "bearer_token", "id": "c1", "token": "t"}),
    (
        "POST",
        "/v1beta/credentials",
        {
            "type": "oauth2",
            "id": "o1",
            "client_id": "c",
            "client_secret": "s",
            "refresh_token": "r",
            "token_url": "https://auth.example.com/token",
            "scopes": ["a"],
        },
    ),
    ("PATCH", "/v1beta/credentials/fixed", {"token": "t2", "header_name": "X-Key"}),
    (
        "POST",
        "/v1beta/agents",
        {
            "id": "ag1",
            "base_agent": "junction-general",
            "system_instruction": "x",
            "tools": [{"type": "code_execution"}],
            "agent_config": {"model": "offline/echo"},
        },
    ),
    (
        "POST",
        "/v1beta/environments",
        {"network": "disabled", "sources": [{"type": "inline", "content": "x", "target": "a.txt"}]},
    ),
]
QUERIES: list[tuple[str, dict[str, str]]] = [
    ("/v1beta/interactions", {"page_size": "5", "page_token": ""}),
    ("/v1beta/credentials", {"page_size": "5"}),
    ("/v1beta/agents", {"page_size": "5"}),
    ("/v1beta/environments", {"page_size": "5", "mode": "on_demand"}),
    ("/v1beta/interactions/ix", {"stream": "true", "last_event_id": "1", "include_input": "1"}),
]


def paths_of(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(value, dict):
        for key, child in value.items():
            found += paths_of(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            found += paths_of(child, (*prefix, index))
    return found


@st.composite
def mutated(draw: st.DrawFn) -> tuple[str, str, Any]:
    method, path, seed = draw(st.sampled_from(SEEDS))
    body = copy.deepcopy(seed)
    target = draw(st.sampled_from(paths_of(body)))
    operation = draw(st.sampled_from(["replace", "replace", "delete", "add", "whole"]))
    if operation == "whole" or not target:
        return method, path, draw(JSON)
    parent = body
    for part in target[:-1]:
        parent = parent[part]
    last = target[-1]
    if operation == "replace":
        parent[last] = draw(JSON)
    elif operation == "delete":
        del parent[last]
    elif isinstance(parent[last], dict):
        parent[last][draw(st.text(max_size=10))] = draw(JSON)
    else:
        parent[last] = [parent[last], draw(JSON)]
    return method, path, body


@pytest.fixture
def fuzz_project(junction: Junction) -> tuple[str, str, bool]:
    key, project_id = new_project(junction, f"fuzz-{junction.backend}")
    send(
        junction,
        key,
        "POST",
        "/v1beta/credentials",
        {"type": "bearer_token", "id": "fixed", "token": "t"},
    )
    probe = send(junction, key, "POST", "/v1beta/environments", {"network": "disabled"})
    sandbox = probe.status_code == 200
    if sandbox:
        send(junction, key, "DELETE", f"/v1beta/environments/{probe.json()['id']}")
    return key, project_id, sandbox


def test_fuzzed_bodies(junction: Junction, fuzz_project: tuple[str, str, bool]) -> None:
    key, project_id, sandbox = fuzz_project

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    )
    @given(mutated())
    def check(request: tuple[str, str, Any]) -> None:
        method, path, body = request
        if path.endswith("/environments") and not sandbox:
            return
        if (
            path.endswith("/interactions")
            and isinstance(body, dict)
            and (body.get("agent") is not None or body.get("environment") is not None)
            and not sandbox
        ):
            return
        before = project_rows(junction, project_id)
        response = send(junction, key, method, path, body)
        assert response.status_code < 500, (method, path, body, response.text)
        if response.status_code >= 400:
            assert response.json()["error"]["message"], response.text
            assert project_rows(junction, project_id) == before, (method, path, body)
        else:
            response.read()
            wait_idle(junction, project_id)

    check()


def test_fuzzed_query_strings(junction: Junction, fuzz_project: tuple[str, str, bool]) -> None:
    key, _, _ = fuzz_project

    @settings(
        max_examples=EXAMPLES // 2,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    )
    @given(st.sampled_from(QUERIES), st.data())
    def check(route: tuple[str, dict[str, str]], data: st.DataObject) -> None:
        path, params = route
        params = dict(params)
        name = data.draw(st.sampled_from([*params, "page_size", "x"]))
        params[name] = data.draw(st.text(max_size=30))
        response = send(junction, key, "GET", path, params=params)
        assert response.status_code < 500, (path, params, response.text)

    check()


def test_fuzzed_file_paths(junction: Junction, fuzz_project: tuple[str, str, bool]) -> None:
    """Any text as a file path of the files API and the upload protocol: never a 5xx, and
    nothing is ever written (uploads are only started, never sent)."""
    key, _, sandbox = fuzz_project
    if not sandbox:
        pytest.skip("environments are unavailable on this server")
    env_id = send(junction, key, "POST", "/v1beta/environments", {"network": "disabled"}).json()[
        "id"
    ]

    @settings(
        max_examples=EXAMPLES // 2,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    )
    @given(st.text(max_size=40) | st.sampled_from(["../../etc/passwd", "a/../../b", "%00", "."]))
    def check(path: str) -> None:
        quoted = urllib.parse.quote(path, safe="/")
        listing = send(junction, key, "GET", f"/v1beta/environments/{env_id}/files/{quoted}")
        assert listing.status_code < 500, (path, listing.text)
        upload = send(
            junction,
            key,
            "PUT",
            f"/upload/v1beta/environments/{env_id}/files/{quoted}",
            headers={"x-goog-upload-command": "start"},
        )
        assert upload.status_code < 500, (path, upload.text)

    try:
        check()
        files = send(
            junction, key, "GET", f"/v1beta/environments/{env_id}/files", params={"recursive": "1"}
        )
        assert files.json().get("files", []) == []
    finally:
        send(junction, key, "DELETE", f"/v1beta/environments/{env_id}")
