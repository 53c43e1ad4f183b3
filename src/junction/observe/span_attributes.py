"""Span attributes cleaned as the SDK's ``BoundedAttributes`` cleans them, cheaply: a plain
``str``/``bool``/``int``/``float`` value (or a tuple of them) under no length limit is
stored as it is; anything else goes through the SDK's own cleaning (sequences become
tuples, unknown types strings); invalid keys are dropped; past the count limit the oldest
attribute goes. Each function returns how many attributes it dropped."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from opentelemetry.attributes import _clean_attribute_value

log = logging.getLogger(__name__)

SCALARS = frozenset({str, bool, int, float})


def plain_tuple(value: Any, length: int | None) -> bool:
    """A tuple of plain scalars (finish reasons): already what cleaning would return."""
    if type(value) is not tuple or length is not None:
        return False
    for item in value:
        if type(item) not in SCALARS:
            return False
    return True


def put(attrs: dict[str, Any], key: str, value: Any, limit: int, length: int | None) -> int:
    """Set one attribute as ``BoundedAttributes`` would; the number of attributes dropped."""
    if not key or type(key) is not str:
        log.warning("invalid attribute key %r: dropped", key)
        return 1
    if (type(value) not in SCALARS or length is not None) and not plain_tuple(value, length):
        value = _clean_attribute_value(value, length)
    if key not in attrs and len(attrs) >= limit:
        del attrs[next(iter(attrs))]  # the oldest goes, as in the SDK
        attrs[key] = value
        return 1
    attrs[key] = value
    return 0


def cleaned(
    attributes: Mapping[str, Any], limit: int, length: int | None
) -> tuple[dict[str, Any], int]:
    """Attributes given at once (a span's start, an event): ``(cleaned, dropped)``."""
    out = dict(attributes)
    if length is None and len(out) <= limit:
        for key, value in out.items():
            if type(value) not in SCALARS or type(key) is not str or not key:
                break
        else:
            return out, 0
    out, dropped = {}, 0
    for key, value in attributes.items():
        dropped += put(out, key, value, limit, length)
    return out, dropped
