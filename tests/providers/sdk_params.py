"""Checking request bodies against a vendor SDK's parameter types (TypedDicts)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pydantic import TypeAdapter


def materialize(value: Any) -> Any:
    """Force pydantic's lazy ``Iterable`` validators (the SDKs' params use them)."""
    if isinstance(value, dict):
        return {k: materialize(v) for k, v in value.items()}
    if isinstance(value, list | Iterator):
        return [materialize(v) for v in value]
    return value


def validate_param(adapter: TypeAdapter[Any], value: Any) -> None:
    """Check ``value`` against an SDK parameter type, deeply; unknown keys (which
    TypedDict validation drops) show up as a difference."""
    assert materialize(adapter.validate_python(value)) == value
