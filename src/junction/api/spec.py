"""Route specs: what each route takes and answers, declared on its handler with
``@operation(...)``. The handler validates its query string and JSON body with the
same pydantic models (``query()``, ``json_body()``) from which ``api/openapi.py``
generates ``/openapi.json``, so the document cannot drift from what is enforced.

A validation failure is a 400 in the SDK's error shape naming the parameter or field
and what to send instead (``schema/messages.py`` words pydantic's errors).
"""

from __future__ import annotations

import typing
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from starlette.requests import Request
from starlette.responses import Response

from junction.api.common import read_json
from junction.errors import BadRequest
from junction.schema.messages import body_message, query_message

Handler = Callable[[Request], Awaitable[Response]]
M = TypeVar("M", bound=BaseModel)
_ATTR = "__junction_operation__"


@dataclass(frozen=True)
class Raw:
    """A request or response body that is not one JSON model (bytes, a stream, a page)."""

    media_type: str
    description: str = ""
    schema: Mapping[str, Any] | type[BaseModel] | None = None
    headers: Mapping[str, str] = field(default_factory=dict)


#: a documented response: a JSON model, several content types, or nothing
Answer = type[BaseModel] | Raw | tuple[Raw, ...] | None


@dataclass(frozen=True)
class Operation:
    summary: str
    tag: str
    responses: Mapping[int, Answer]
    query: type[BaseModel] | None = None
    body: type[BaseModel] | Raw | None = None
    #: False: an empty body is taken as ``{}``
    body_required: bool = True
    #: request headers the route reads (name -> description), e.g. the upload protocol
    headers: Mapping[str, str] = field(default_factory=dict)
    #: no API key needed
    public: bool = False
    description: str = ""
    #: path parameter descriptions (name -> text)
    path: Mapping[str, str] = field(default_factory=dict)


def operation(**spec: Any) -> Callable[[Handler], Handler]:
    """Attach an :class:`Operation` to a route handler."""
    op = Operation(**spec)

    def mark(handler: Handler) -> Handler:
        setattr(handler, _ATTR, op)
        return handler

    return mark


def operation_of(endpoint: Any) -> Operation | None:
    op = getattr(endpoint, _ATTR, None)
    return op if isinstance(op, Operation) else None


def _is_list(annotation: Any) -> bool:
    for option in typing.get_args(annotation) or (annotation,):
        if typing.get_origin(option) is list:
            return True
    return False


def query(request: Request, model: type[M]) -> M:
    """The query string validated by ``model``; an empty value counts as absent."""
    data: dict[str, Any] = {}
    params = request.query_params
    for name, info in model.model_fields.items():
        key = info.alias or name
        if _is_list(info.annotation):
            values = [v for v in params.getlist(key) if v != ""]
            if values:
                data[key] = values
        elif (value := params.get(key)) not in (None, ""):
            data[key] = value
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise BadRequest(query_message(exc, model)) from None


def validate_body(model: type[M], body: Any) -> M:
    if not isinstance(body, dict):
        raise BadRequest("the request body must be a JSON object")
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        raise BadRequest(body_message(exc, model)) from None


async def json_body(request: Request, model: type[BaseModel], *, required: bool = True) -> Any:
    """The JSON body after ``model`` accepted it (the services take the parsed JSON).
    ``required=False``: an empty body is ``{}``."""
    raw = await request.body()
    body = await read_json(request) if required or raw.strip() else {}
    validate_body(model, body)
    return body
