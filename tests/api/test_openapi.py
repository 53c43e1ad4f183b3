"""``GET /openapi.json``: a valid OpenAPI 3.1 document covering every route of the route
table, whose request schemas refuse what the routes refuse (the same models validate)."""

from __future__ import annotations

import re
from typing import Any

import httpx2 as httpx
import jsonschema
import pytest
from openapi_spec_validator import validate
from starlette.routing import Route, WebSocketRoute

from junction.api.app import create_app
from junction.api.openapi import document
from junction.config import load_settings
from tests.api.hardening_support import new_project
from tests.conftest import Junction


def _routes() -> list[Any]:
    app = create_app(load_settings(env={"JUNCTION_API_KEY": "k"}, overrides={"access_log": False}))
    return list(app.routes)


@pytest.fixture(scope="module")
def served(junction: Junction) -> dict[str, Any]:
    """The document as the server serves it: without an API key."""
    response = httpx.get(junction.url + "/openapi.json", timeout=10)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    doc: dict[str, Any] = response.json()
    return doc


def test_the_document_is_valid_openapi_3_1(served: dict[str, Any]) -> None:
    assert served["openapi"].startswith("3.1")
    validate(served)  # raises on any violation of the OpenAPI 3.1 schema
    assert served == document(_routes())  # generated from the route table, nothing else


def test_every_route_of_the_route_table_is_documented(served: dict[str, Any]) -> None:
    assert "x-junction-undocumented" not in served
    paths = served["paths"]
    seen = 0
    websockets = {w["path"] for w in served["x-junction-websockets"]}
    for route in _routes():
        if isinstance(route, WebSocketRoute):
            assert route.path in websockets
            assert route.path in served["info"]["description"]
            continue
        assert isinstance(route, Route), route
        path = re.sub(r"{([^}:]+)(?::[^}]+)?}", r"{\1}", route.path)
        for method in (route.methods or set()) - {"HEAD"}:
            assert method.lower() in paths.get(path, {}), f"{method} {route.path} undocumented"
            seen += 1
    assert seen == sum(len(ops) for ops in paths.values())
    assert seen > 50


def test_binary_and_streaming_answers_carry_their_content_types(served: dict[str, Any]) -> None:
    paths = served["paths"]

    def types(path: str, method: str, status: str = "200") -> set[str]:
        return set(paths[path][method]["responses"][status]["content"])

    files = "/{version}/environments/{env_id}/files/{path}"
    assert {"application/json", "application/octet-stream"} <= types(files, "get")
    assert "text/event-stream" in types("/{version}/interactions", "post")
    assert "text/event-stream" in types("/{version}/interactions/{interaction_id}", "get")
    assert "text/csv" in types("/{version}/usage", "get")
    assert "application/jsonl" in types("/{version}/interactions:export", "get")
    upload = paths["/upload" + files]["post"]
    assert "application/octet-stream" in upload["requestBody"]["content"]
    # public routes need no key; the others take x-goog-api-key or a bearer token
    assert paths["/openapi.json"]["get"]["security"] == []
    assert paths["/.well-known/jwks.json"]["get"]["security"] == []
    assert "security" not in paths["/{version}/agents"]["get"]
    version = paths["/{version}/agents"]["get"]["parameters"][0]
    assert version["name"] == "version" and "v1beta" in version["schema"]["enum"]


@pytest.fixture(scope="module")
def spot_key(junction: Junction) -> str:
    return new_project(junction, f"openapi-spots-{junction.backend}")[0]


def _validator(doc: dict[str, Any], schema: dict[str, Any]) -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(
        {**schema, "components": doc["components"]},
        format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER,
    )


def _body(doc: dict[str, Any], path: str, method: str) -> jsonschema.Draft202012Validator:
    content = doc["paths"][path][method]["requestBody"]["content"]["application/json"]
    return _validator(doc, content["schema"])


def _param(doc: dict[str, Any], path: str, name: str) -> jsonschema.Draft202012Validator:
    params = doc["paths"][path]["get"]["parameters"]
    return _validator(doc, next(p for p in params if p["name"] == name)["schema"])


BODY_SPOTS: list[tuple[str, str, Any, bool]] = [
    ("/{version}/agents", "/agents", {"id": 5}, False),
    ("/{version}/agents", "/agents", {"tools": []}, False),
    ("/{version}/agents", "/agents", {"id": "Not Valid!"}, False),
    ("/{version}/agents", "/agents", {"id": "spot-agent", "tools": []}, True),
    ("/{version}/credentials", "/credentials", {"id": "c", "type": "password"}, False),
    ("/{version}/webhooks", "/webhooks", {"uri": "https://example.com/h"}, False),
    ("/{version}/triggers", "/triggers", {"schedule": "* * * * *", "bogus": 1}, False),
    ("/{version}/environments", "/environments", {"mode": "somewhere"}, False),
    ("/{version}/environments", "/environments", {"custom_config": 5}, False),
    ("/{version}/voices", "/voices", {"voice": {"type": "prompted"}, "extra": 1}, False),
]


@pytest.mark.parametrize(("doc_path", "url", "body", "accepted"), BODY_SPOTS)
def test_a_request_body_schema_refuses_what_the_route_refuses(
    junction: Junction,
    served: dict[str, Any],
    spot_key: str,
    doc_path: str,
    url: str,
    body: Any,
    accepted: bool,
) -> None:
    key = spot_key
    assert _body(served, doc_path, "post").is_valid(body) is accepted
    response = httpx.post(
        junction.url + "/v1beta" + url, json=body, headers={"x-goog-api-key": key}, timeout=30
    )
    assert (response.status_code == 200) is accepted, response.text
    if not accepted:
        assert response.status_code == 400, response.text
        assert response.json()["error"]["status"] == "INVALID_ARGUMENT"


QUERY_SPOTS: list[tuple[str, str, str, str, str]] = [
    ("/{version}/agents", "/agents", "page_size", "0", "page_size must be between 1 and 1000"),
    ("/{version}/agents", "/agents", "page_size", "ten", "page_size must be an integer"),
    ("/{version}/interactions", "/interactions", "status", "sleeping", "status must be one of"),
    ("/{version}/usage", "/usage", "start", "yesterday", "start must be a UTC day"),
    ("/{version}/usage", "/usage", "format", "xml", "format must be one of json or csv"),
    ("/{version}/environments", "/environments", "mode", "x", "mode must be one of"),
]


@pytest.mark.parametrize(("doc_path", "url", "name", "value", "needle"), QUERY_SPOTS)
def test_a_query_parameter_schema_refuses_what_the_route_refuses(
    junction: Junction,
    served: dict[str, Any],
    doc_path: str,
    url: str,
    name: str,
    value: str,
    needle: str,
) -> None:
    validator = _param(served, doc_path, name)
    typed: Any = int(value) if value.lstrip("-").isdigit() else value
    assert not validator.is_valid(typed)
    response = httpx.get(
        junction.url + "/v1beta" + url,
        params={name: value},
        headers={"x-goog-api-key": junction.api_key},
        timeout=30,
    )
    assert response.status_code == 400, response.text
    assert f"query parameter {needle}" in response.json()["error"]["message"]
