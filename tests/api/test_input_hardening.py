"""Regression table for malformed input (issue 8, item 5): each case once gave a 500, a
crashed run or reached the file system; now each is a 400 in the SDK's error shape that
names what to fix, and writes no row. Real HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

import urllib.parse
from typing import Any

import httpx2 as httpx
import pytest

from junction import ids
from tests.api.hardening_support import new_project, project_rows, query, send, wait_idle
from tests.conftest import Junction

TEXT = [{"type": "text", "text": "a"}]
USER = {"type": "user_input", "content": TEXT}


def _nested(depth: int) -> Any:
    value: Any = "leaf"
    for _ in range(depth):
        value = {"a": value}
    return value


def _deep_list(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = [value]
    return value


# (name, method, path, body, needle in the error message)
BODY_CASES: list[tuple[str, str, str, Any, str]] = [
    ("credential type list", "POST", "/credentials", {"type": ["x"], "id": "c"}, "'type' must"),
    ("credential type object", "POST", "/credentials", {"type": {"a": 1}, "id": "c"}, "'type'"),
    (
        "credential token_url number",
        "POST",
        "/credentials",
        {
            "type": "oauth2",
            "id": "o",
            "client_id": "c",
            "client_secret": "s",
            "refresh_token": "r",
            "token_url": 5,
        },
        "'token_url' must be a string",
    ),
    (
        "credential scopes string list",
        "POST",
        "/credentials",
        {
            "type": "oauth2",
            "id": "o",
            "client_id": "c",
            "client_secret": "s",
            "refresh_token": "r",
            "token_url": "https://a.example/t",
            "scopes": [1],
        },
        "'scopes' must be a list of strings",
    ),
    (
        "credential header_name list",
        "POST",
        "/credentials",
        {"type": "bearer_token", "id": "b", "token": "t", "header_name": ["x"]},
        "'header_name' must be a string",
    ),
    (
        "thought content number",
        "POST",
        "/interactions",
        {"model": "offline/echo", "input": [{"type": "thought", "content": 5}]},
        "input[0].thought.content",
    ),
    (
        "thought summary number",
        "POST",
        "/interactions",
        {"model": "offline/echo", "input": [{"type": "thought", "summary": 5}]},
        "input[0].thought.summary",
    ),
    (
        "function call without id",
        "POST",
        "/interactions",
        {"model": "offline/echo", "input": [USER, {"type": "function_call", "name": "f"}]},
        "function_call.id",
    ),
    (
        "code execution call without id",
        "POST",
        "/interactions",
        {
            "model": "offline/echo",
            "input": [USER, {"type": "code_execution_call", "arguments": {"code": "1"}}],
        },
        "code_execution_call.id",
    ),
    (
        "mcp call without id",
        "POST",
        "/interactions",
        {"model": "offline/echo", "input": [USER, {"type": "mcp_server_tool_call"}]},
        "mcp_server_tool_call.id",
    ),
    (
        "tool result without call_id",
        "POST",
        "/interactions",
        {"model": "offline/echo", "input": [USER, {"type": "url_context_result", "result": []}]},
        "url_context_result.call_id",
    ),
    (
        "tool call arguments not an object",
        "POST",
        "/interactions",
        {
            "model": "offline/echo",
            "input": [USER, {"type": "google_search_call", "id": "g", "arguments": 5}],
        },
        "google_search_call.arguments",
    ),
    (
        "environment id number",
        "POST",
        "/interactions",
        {
            "agent": "antigravity-preview-05-2026",
            "input": "x",
            "environment": {"environment_id": 5},
        },
        "environment id must be a string",
    ),
    (
        "agent config budget text",
        "POST",
        "/agents",
        {"id": "a1", "agent_config": {"max_total_tokens": "lots"}},
        "max_total_tokens",
    ),
    (
        "agent config model number",
        "POST",
        "/agents",
        {"id": "a2", "agent_config": {"model": 5}},
        "agent_config.model",
    ),
    (
        "agent function without name",
        "POST",
        "/agents",
        {"id": "a3", "tools": [{"type": "function"}]},
        "tools[0]",
    ),
    (
        "body nested too deep",
        "POST",
        "/interactions",
        {"model": "offline/echo", "input": "x", "labels": _deep_list(80)},
        "max_json_depth",
    ),
    (
        "credential body nested too deep",
        "POST",
        "/credentials",
        {"type": "bearer_token", "id": "d", "token": "t", "x": _nested(70)},
        "max_json_depth",
    ),
    (
        "tool parameters nested too deep",
        "POST",
        "/interactions",
        {
            "model": "offline/echo",
            "input": "x",
            "tools": [{"type": "function", "name": "f", "parameters": _nested(40)}],
        },
        "tools[0].parameters nests deeper than 32 levels (the server's max_schema_depth",
    ),
    (
        "response schema nested too deep",
        "POST",
        "/interactions",
        {
            "model": "offline/echo",
            "input": "x",
            "response_format": {"type": "text", "schema": _nested(40)},
        },
        "response_format.schema nests deeper than 32 levels",
    ),
    (
        "agent response schema nested too deep",
        "POST",
        "/interactions",
        {
            "agent": "antigravity-preview-05-2026",
            "input": "x",
            "response_format": {"type": "text", "schema": _nested(40)},
        },
        "max_schema_depth",
    ),
    (
        "environment custom_config number",
        "POST",
        "/environments",
        {"custom_config": 5},
        "'custom_config' must be an object",
    ),
    (
        "environment from_environment list",
        "POST",
        "/environments",
        {"from_environment": ["env_x"]},
        "'from_environment' must be an environment id",
    ),
    (
        "inline source target with NUL",
        "POST",
        "/environments",
        {"sources": [{"type": "inline", "content": "x", "target": "a\x00b"}]},
        "sources[0].target contains the control character U+0000",
    ),
    (
        "inline source target with newline",
        "POST",
        "/environments",
        {"sources": [{"type": "inline", "content": "x", "target": "a\nb"}]},
        "U+000A",
    ),
    (
        "inline source target not a string",
        "POST",
        "/environments",
        {"sources": [{"type": "inline", "content": "x", "target": ["a"]}]},
        "sources[0].target must be a string",
    ),
    (
        "repository source with NUL",
        "POST",
        "/environments",
        {"sources": [{"type": "repository", "source": "/srv/repo\x00x"}]},
        "sources[0].source contains the control character",
    ),
]

QUERY_CASES: list[tuple[str, str, dict[str, str], str]] = [
    ("page_size text", "/interactions", {"page_size": "ten"}, "page_size must be an integer"),
    ("page_size huge", "/credentials", {"page_size": "99999999999"}, "page_size must be between"),
    ("page_size negative", "/agents", {"page_size": "-3"}, "page_size must be between"),
    ("page_size float", "/environments", {"page_size": "1.5"}, "page_size must be an integer"),
    ("page_token garbage", "/interactions", {"page_token": "\x00zz"}, "page_token"),
    ("stream not a bool", "/interactions/abc", {"stream": "maybe"}, "stream must be true"),
]


@pytest.fixture
def hardening_project(junction: Junction) -> tuple[str, str]:
    return new_project(junction, f"hardening-{junction.backend}")


@pytest.fixture(scope="module")
def table_project(junction: Junction) -> tuple[str, str]:
    """One project per database for the table's cases (each checks its own rows)."""
    return new_project(junction, f"hardening-table-{junction.backend}")


@pytest.mark.parametrize(
    ("method", "path", "body", "needle"),
    [case[1:] for case in BODY_CASES],
    ids=[case[0] for case in BODY_CASES],
)
def test_malformed_body_gets_400_and_writes_nothing(
    junction: Junction,
    table_project: tuple[str, str],
    method: str,
    path: str,
    body: Any,
    needle: str,
) -> None:
    key, project_id = table_project
    before = project_rows(junction, project_id)
    response = send(junction, key, method, "/v1beta" + path, body)
    assert response.status_code == 400, (response.status_code, response.text)
    error = response.json()["error"]
    assert error["code"] == "invalid_argument" and error["status"] == "INVALID_ARGUMENT", error
    assert needle in error["message"], error["message"]
    assert project_rows(junction, project_id) == before


@pytest.mark.parametrize(
    ("path", "params", "needle"),
    [case[1:] for case in QUERY_CASES],
    ids=[case[0] for case in QUERY_CASES],
)
def test_malformed_query_parameter_gets_400(
    junction: Junction,
    table_project: tuple[str, str],
    path: str,
    params: dict[str, str],
    needle: str,
) -> None:
    key, _ = table_project
    response = send(junction, key, "GET", "/v1beta" + path, params=params)
    assert response.status_code == 400, (response.status_code, response.text)
    assert needle in response.json()["error"]["message"], response.text


def test_depth_limit_counts_levels_exactly(
    junction: Junction, hardening_project: tuple[str, str]
) -> None:
    """64 levels pass the body limit, 65 do not; 32 pass the schema limit, 33 do not."""
    key, project_id = hardening_project
    ok = send(
        junction,
        key,
        "POST",
        "/v1beta/interactions",
        {"model": "offline/echo", "input": "x", "generation_config": {"x": _deep_list(61)}},
    )
    assert ok.status_code == 200, ok.text
    too_deep = send(
        junction,
        key,
        "POST",
        "/v1beta/interactions",
        {"model": "offline/echo", "input": "x", "generation_config": {"x": _deep_list(63)}},
    )
    assert too_deep.status_code == 400
    assert "64 levels" in too_deep.json()["error"]["message"]
    schema_ok = send(
        junction,
        key,
        "POST",
        "/v1beta/interactions",
        {
            "model": "offline/echo",
            "input": "x",
            "tools": [{"type": "function", "name": "f", "parameters": _nested(32)}],
        },
    )
    assert schema_ok.status_code == 200, schema_ok.text
    schema_deep = send(
        junction,
        key,
        "POST",
        "/v1beta/interactions",
        {
            "model": "offline/echo",
            "input": "x",
            "tools": [{"type": "function", "name": "f", "parameters": _nested(33)}],
        },
    )
    assert schema_deep.status_code == 400
    wait_idle(junction, project_id)


@pytest.mark.parametrize(
    "path",
    ["a%00b.txt", "dir%0A/x", "x%1B[31m", "tab%09name", "del%7F"],
)
def test_control_characters_in_file_paths_refused(
    junction: Junction, hardening_project: tuple[str, str], path: str
) -> None:
    """The files API and the upload protocol refuse NUL and control characters with a 400
    before the path reaches the sandbox's file system calls."""
    key, _ = hardening_project
    created = send(junction, key, "POST", "/v1beta/environments", {"network": "disabled"})
    if created.status_code == 503:
        pytest.skip(created.json()["error"]["message"])
    env_id = created.json()["id"]
    try:
        listing = send(junction, key, "GET", f"/v1beta/environments/{env_id}/files/{path}")
        assert listing.status_code == 400, listing.text
        assert "control character" in listing.json()["error"]["message"]
        upload = send(
            junction,
            key,
            "PUT",
            f"/upload/v1beta/environments/{env_id}/files/{path}",
            headers={"x-goog-upload-command": "start"},
        )
        assert upload.status_code == 400, upload.text
        assert "control character" in upload.json()["error"]["message"]
        files = send(
            junction, key, "GET", f"/v1beta/environments/{env_id}/files", params={"recursive": "1"}
        )
        assert files.json().get("files", []) == []
    finally:
        send(junction, key, "DELETE", f"/v1beta/environments/{env_id}")


def test_background_run_with_unparseable_stored_request_fails_clearly(
    junction: Junction, hardening_project: tuple[str, str]
) -> None:
    """A queued run whose stored request no longer parses (written by another version, or
    edited by hand) ends ``failed`` with the reason at its first claim: it is neither
    retried until its attempts run out nor left in progress."""
    key, project_id = hardening_project
    interaction = ids.interaction_id()
    chain = "ch_" + interaction
    now = ids.now_iso()
    query(
        junction.database_url,
        "INSERT INTO chains (id, project_id, head_interaction_id, created) VALUES ($1, $2, $3, $4)",
        chain,
        project_id,
        interaction,
        now,
    )
    query(
        junction.database_url,
        "INSERT INTO interactions (id, project_id, status, model, chain_id, first_seq, "
        "last_seq, config, background, created, updated) "
        "VALUES ($1, $2, 'queued', 'offline/echo', $3, 0, 0, $4, 1, $5, $5)",
        interaction,
        project_id,
        chain,
        '{"tools": 5, "input": "hi"}',
        now,
    )
    send(
        junction,
        key,
        "POST",
        "/v1beta/interactions",
        {"model": "offline/echo", "input": "x", "background": True},
    )  # wakes workers
    wait_idle(junction, project_id, timeout=30)
    got = send(junction, key, "GET", f"/v1beta/interactions/{interaction}").json()
    assert got["status"] == "failed", got
    row = query(
        junction.database_url,
        "SELECT errors, attempts FROM interactions WHERE id = $1",
        interaction,
    )[0]
    assert "cannot be run" in row[0] and "tools" in row[0], row
    assert row[1] == 1, row


def test_agent_limits_accept_what_agent_runs_accept(
    junction: Junction, hardening_project: tuple[str, str]
) -> None:
    """Numbers and numeric strings pass (as in an interaction's agent_config); zero,
    negatives and booleans do not."""
    key, _ = hardening_project
    ok = send(
        junction,
        key,
        "POST",
        "/v1beta/agents",
        {"id": "limits-ok", "agent_config": {"max_total_tokens": "30", "max_steps": 3}},
    )
    assert ok.status_code == 200, ok.text
    for bad in ({"max_steps": 0}, {"max_seconds": -1}, {"max_total_tokens": True}):
        refused = send(
            junction, key, "POST", "/v1beta/agents", {"id": "limits-bad", "agent_config": bad}
        )
        assert refused.status_code == 400, (bad, refused.text)


def test_upload_of_a_unicode_file_name(
    junction: Junction, hardening_project: tuple[str, str]
) -> None:
    """The upload URL handed back is percent-encoded (it once put the raw name in a
    Latin-1 header: a 500 for any name outside Latin-1)."""
    key, _ = hardening_project
    created = send(junction, key, "POST", "/v1beta/environments", {"network": "disabled"})
    if created.status_code == 503:
        pytest.skip(created.json()["error"]["message"])
    env_id = created.json()["id"]
    name = "données/Ādvent 日本.txt"
    try:
        start = send(
            junction,
            key,
            "PUT",
            f"/upload/v1beta/environments/{env_id}/files/{urllib.parse.quote(name)}",
            headers={"x-goog-upload-command": "start"},
        )
        assert start.status_code == 200, start.text
        url = start.headers["x-goog-upload-url"]
        assert url.isascii()
        done = httpx.post(
            url,
            content=b"hello",
            headers={
                "x-goog-api-key": key,
                "x-goog-upload-command": "upload, finalize",
                "x-goog-upload-offset": "0",
            },
        )
        assert done.status_code == 200, done.text
        assert done.json()["file"]["path"] == name
        got = send(
            junction,
            key,
            "GET",
            f"/v1beta/environments/{env_id}/files/{urllib.parse.quote(name)}",
            params={"alt": "media"},
        )
        assert got.content == b"hello"
    finally:
        send(junction, key, "DELETE", f"/v1beta/environments/{env_id}")
