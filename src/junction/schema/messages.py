"""pydantic validation errors worded for people: which parameter or field, and what to
send instead. A model may add its own hints (``HINTS``: field name -> "must be …")."""

from __future__ import annotations

from typing import Any

from annotated_types import Ge, Gt, Le, Lt, MaxLen
from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

_WORDS = {
    "string_type": "must be a string",
    "int_type": "must be an integer",
    "int_parsing": "must be an integer",
    "int_from_float": "must be an integer",
    "float_type": "must be a number",
    "float_parsing": "must be a number",
    "bool_type": "must be true or false",
    "bool_parsing": "must be true or false",
    "dict_type": "must be an object",
    "model_type": "must be an object",
    "model_attributes_type": "must be an object",
    "list_type": "must be a list",
    "missing": "is required",
    "extra_forbidden": "is not a field this request takes",
    "date_parsing": "must be a UTC day as YYYY-MM-DD",
    "date_from_datetime_parsing": "must be a UTC day as YYYY-MM-DD",
    "date_from_datetime_inexact": "must be a UTC day as YYYY-MM-DD",
    "date_type": "must be a UTC day as YYYY-MM-DD",
}


def _bounds(model: type[BaseModel], name: str) -> tuple[Any, Any, Any]:
    info = model.model_fields.get(name)
    low = high = longest = None
    for item in info.metadata if info is not None else ():
        if isinstance(item, Ge | Gt):
            low = getattr(item, "ge", None) or getattr(item, "gt", None)
        elif isinstance(item, Le | Lt):
            high = getattr(item, "le", None) or getattr(item, "lt", None)
        elif isinstance(item, MaxLen):
            longest = item.max_length
    return low, high, longest


def _predicate(err: ErrorDetails, model: type[BaseModel], name: str) -> str:
    kind = err["type"]
    ctx = err.get("ctx") or {}
    hints: dict[str, str] = getattr(model, "HINTS", {})
    if name in hints and kind != "extra_forbidden":
        return hints[name]
    if kind in ("greater_than_equal", "less_than_equal", "greater_than", "less_than"):
        low, high, _ = _bounds(model, name)
        if low is not None and high is not None:
            return f"must be between {low} and {high}"
        if low is not None or high is not None:
            return f"must be at least {low}" if low is not None else f"must be at most {high}"
        return str(err["msg"]).lower()
    if kind == "string_too_long":
        return f"is longer than {ctx.get('max_length')} characters"
    if kind == "string_too_short":
        return "must not be empty"
    if kind in ("literal_error", "enum"):
        return f"must be one of {ctx.get('expected', '')}".replace("'", "")
    if kind == "value_error":
        return str(err["msg"]).removeprefix("Value error, ")
    return _WORDS.get(kind, str(err["msg"]).lower())


def _shown(value: Any) -> str:
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def query_message(exc: ValidationError, model: type[BaseModel]) -> str:
    problems = []
    for err in exc.errors()[:3]:
        if not err["loc"]:
            problems.append(str(err["msg"]).removeprefix("Value error, "))
            continue
        name = str(err["loc"][0])
        text = f"query parameter {name} {_predicate(err, model, name)}"
        if err["type"] not in ("missing", "less_than_equal", "greater_than_equal"):
            value = err.get("input")
            if isinstance(value, list):
                value = value[0] if len(value) == 1 else value
            text += f", not '{_shown(value)}'"
        problems.append(text)
    return "; ".join(problems)


def _where(loc: tuple[int | str, ...]) -> str:
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        elif not str(part).startswith(("function-", "union[", "tagged-union")):
            text += ("." if text else "") + str(part)
    return text


def body_message(exc: ValidationError, model: type[BaseModel]) -> str:
    problems = []
    for err in exc.errors()[:5]:
        where = _where(err["loc"])
        if not where:
            problems.append(str(err["msg"]).removeprefix("Value error, "))
            continue
        name = str(err["loc"][0])
        unknown: str = getattr(model, "UNKNOWN", "")
        if err["type"] == "extra_forbidden" and unknown:
            problems.append(unknown.format(name=name))
            continue
        hints: dict[str, str] = getattr(model, "HINTS", {})
        if len(err["loc"]) == 1 or (name in hints and err["type"] != "extra_forbidden"):
            problems.append(f"'{name}' {_predicate(err, model, name)}")
        else:
            problems.append(f"{where} {_predicate(err, model, '')}")
    return "; ".join(problems)
