"""``GET /openapi.json``: an OpenAPI 3.1 document generated from the route table and the
``@operation`` specs on its handlers (``api/spec.py``), with pydantic's JSON Schema of
the very models that validate requests (``#/components/schemas/…``). See docs/openapi.md.

Paths keep the version segment as a ``{version}`` path parameter. The WebSocket route
cannot be described by OpenAPI: it is listed under ``x-junction-websockets``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from importlib import metadata
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route, WebSocketRoute

from junction.api.common import JSONResponse
from junction.api.spec import Answer, Operation, Raw, operation, operation_of
from junction.schema import answers

REF = "#/components/schemas/{model}"
VERSION_PARAM = {
    "name": "version",
    "in": "path",
    "required": True,
    "description": "the API version segment: v1beta (what the SDK sends), v1 or v1alpha; "
    "any vN, vNbetaM or vNalphaM is served alike",
    "schema": {"type": "string", "enum": ["v1beta", "v1", "v1alpha"], "default": "v1beta"},
}
_PARAM = re.compile(r"{([^}:]+)(?::[^}]+)?}")
WEBSOCKET_NOTE = (
    "a WebSocket (live interactions, docs/interactions.md 'Live mode'): OpenAPI cannot "
    "describe it; connect with the API key in x-goog-api-key, then send "
    "interaction.connect / input / interaction.disconnect frames"
)


def _title() -> str:
    try:
        return metadata.version("junction")
    except metadata.PackageNotFoundError:  # pragma: no cover - run from a source tree
        return "0.0.0"


def _models(ops: Iterable[Operation]) -> set[tuple[type[BaseModel], JsonSchemaMode]]:
    found: set[tuple[type[BaseModel], JsonSchemaMode]] = {(answers.Error, "serialization")}
    for op in ops:
        if isinstance(op.body, type):
            found.add((op.body, "validation"))
        for answer in op.responses.values():
            for item in answer if isinstance(answer, tuple) else (answer,):
                schema = item.schema if isinstance(item, Raw) else item
                if isinstance(schema, type):
                    found.add((schema, "serialization"))
    return found


def _content(answer: Answer, refs: dict[Any, Any]) -> dict[str, Any]:
    if answer is None:
        return {}
    if isinstance(answer, type):
        return {"application/json": {"schema": refs[(answer, "serialization")]}}
    out: dict[str, Any] = {}
    for raw in answer if isinstance(answer, tuple) else (answer,):
        schema = raw.schema
        if isinstance(schema, type):
            out[raw.media_type] = {"schema": refs[(schema, "serialization")]}
        else:
            out[raw.media_type] = {"schema": dict(schema or {})}
    return out


def _response(answer: Answer, refs: dict[Any, Any]) -> dict[str, Any]:
    items = answer if isinstance(answer, tuple) else (answer,)
    text = "; ".join(i.description for i in items if isinstance(i, Raw) and i.description)
    doc = answer.__doc__ if isinstance(answer, type) else None
    out: dict[str, Any] = {"description": text or (doc or "").strip().split("\n")[0] or "OK"}
    if content := _content(answer, refs):
        out["content"] = content
    headers = {k: v for i in items if isinstance(i, Raw) for k, v in i.headers.items()}
    if headers:
        out["headers"] = {
            k: {"description": v, "schema": {"type": "string"}} for k, v in headers.items()
        }
    return out


def _present(prop: dict[str, Any]) -> dict[str, Any]:
    """A query parameter is there or not: ``X | None`` is documented as ``X``."""
    prop = {k: v for k, v in prop.items() if k != "title"}
    options = [o for o in prop.get("anyOf", []) if o != {"type": "null"}]
    if len(options) == 1 and len(prop["anyOf"]) == 2:
        del prop["anyOf"]
        prop = {**options[0], **prop}
        if prop.get("default", 0) is None:
            del prop["default"]
    return prop


def _query(model: type[BaseModel]) -> list[dict[str, Any]]:
    schema = model.model_json_schema(ref_template=REF)
    required = set(schema.get("required", []))
    params = []
    for name, prop in schema.get("properties", {}).items():
        prop = _present(prop)
        param = {"name": name, "in": "query", "required": name in required, "schema": prop}
        if "description" in prop:
            param["description"] = prop["description"]
        params.append(param)
    return params


def _operation(op: Operation, path: str, op_id: str, refs: dict[Any, Any]) -> dict[str, Any]:
    params: list[dict[str, Any]] = []
    for name in _PARAM.findall(path):
        if name == "version":
            params.append(VERSION_PARAM)
            continue
        text = op.path.get(name, f"the {name.replace('_', ' ')}")
        params.append(
            {
                "name": name,
                "in": "path",
                "required": True,
                "description": text,
                "schema": {"type": "string"},
            }
        )
    if op.query is not None:
        params.extend(_query(op.query))
    for header, text in op.headers.items():
        params.append(
            {
                "name": header,
                "in": "header",
                "required": False,
                "description": text,
                "schema": {"type": "string"},
            }
        )
    out: dict[str, Any] = {"operationId": op_id, "summary": op.summary, "tags": [op.tag]}
    if op.description:
        out["description"] = op.description
    if params:
        out["parameters"] = params
    if isinstance(op.body, type):
        out["requestBody"] = {
            "required": op.body_required,
            "content": {"application/json": {"schema": refs[(op.body, "validation")]}},
        }
    elif isinstance(op.body, Raw):
        out["requestBody"] = {
            "required": op.body_required,
            "description": op.body.description,
            "content": _content(op.body, refs),
        }
    responses = {str(code): _response(answer, refs) for code, answer in op.responses.items()}
    responses["4XX"] = {
        "description": "the request was refused: error.message says what to fix",
        "content": {"application/json": {"schema": refs[(answers.Error, "serialization")]}},
    }
    out["responses"] = responses
    if op.public:
        out["security"] = []
    return out


def document(routes: Sequence[BaseRoute]) -> dict[str, Any]:
    """The OpenAPI 3.1 document of ``routes``. A route without a spec is listed under
    ``x-junction-undocumented`` (the test suite requires that list to be empty)."""
    specced: list[tuple[Route, Operation]] = []
    websockets: list[dict[str, str]] = []
    missing: list[str] = []
    for route in routes:
        if isinstance(route, WebSocketRoute):
            websockets.append({"path": route.path, "description": WEBSOCKET_NOTE})
        elif isinstance(route, Route):
            op = operation_of(route.endpoint)
            if op is None:
                missing.append(f"{','.join(sorted(route.methods or ()))} {route.path}")
            else:
                specced.append((route, op))
    refs, defs = models_json_schema(
        sorted(_models(op for _, op in specced), key=lambda m: (m[0].__name__, m[1])),
        ref_template=REF,
    )
    paths: dict[str, dict[str, Any]] = {}
    used: set[str] = set()
    for route, op in specced:
        path = _PARAM.sub(r"{\1}", route.path)
        for method in sorted((route.methods or set()) - {"HEAD"}):
            op_id = route.name if route.name not in used else f"{route.name}_{len(used)}"
            used.add(op_id)
            paths.setdefault(path, {})[method.lower()] = _operation(op, path, op_id, refs)
    doc: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {
            "title": "Junction",
            "version": _title(),
            "description": "A self-hosted server for the Interactions API. Paths carry the "
            "API version as {version} (v1beta for the SDK). Not described here: "
            + "; ".join(f"{w['path']} is {w['description']}" for w in websockets),
        },
        "servers": [{"url": "/", "description": "this server"}],
        "security": [{"apiKey": []}, {"bearer": []}],
        "paths": paths,
        "components": {
            "schemas": defs.get("$defs", {}),
            "securitySchemes": {
                "apiKey": {"type": "apiKey", "in": "header", "name": "x-goog-api-key"},
                "bearer": {"type": "http", "scheme": "bearer"},
            },
        },
        "x-junction-websockets": websockets,
    }
    if missing:
        doc["x-junction-undocumented"] = missing
    return doc


@operation(
    summary="This OpenAPI 3.1 document",
    tag="meta",
    public=True,
    responses={200: Raw("application/json", "the OpenAPI 3.1 document", {"type": "object"})},
)
async def openapi_json(request: Request) -> Response:
    cached: dict[str, Any] | None = getattr(request.app.state, "openapi", None)
    if cached is None:
        cached = document(request.app.routes)
        request.app.state.openapi = cached
    return JSONResponse(cached, headers={"cache-control": "public, max-age=300"})


routes = [Route("/openapi.json", openapi_json, methods=["GET"])]
