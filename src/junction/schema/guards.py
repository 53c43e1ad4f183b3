"""Shape guards applied to untrusted input before anything else looks at it: JSON nesting
depth (request bodies and the JSON schemas inside them) and path strings (no NUL or
control characters, checked before any file system call)."""

from __future__ import annotations

from typing import Any

from junction.errors import BadRequest

#: defaults of the settings ``max_json_depth`` and ``max_schema_depth``
MAX_JSON_DEPTH = 64
MAX_SCHEMA_DEPTH = 32


def json_depth(value: Any, limit: int) -> int:
    """The nesting depth of a decoded JSON value (a scalar is 0, ``[]`` is 1), counted
    without recursion; stops counting once ``limit`` is exceeded."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        depth += 1
        if depth > deepest:
            deepest = depth
            if deepest > limit:
                return deepest
        stack.extend((child, depth) for child in children if isinstance(child, dict | list))
    return deepest


def check_depth(value: Any, limit: int, what: str, setting: str) -> None:
    """400 when ``value`` nests deeper than ``limit`` levels, naming the limit."""
    if json_depth(value, limit) > limit:
        raise BadRequest(
            f"{what} nests deeper than {limit} levels (the server's {setting} limit): flatten it"
        )


def is_control(char: str) -> bool:
    code = ord(char)
    return code < 0x20 or 0x7F <= code < 0xA0 or code in (0x2028, 0x2029)


def check_path(value: Any, what: str) -> str:
    """A path string as given, or 400 when it is not a string or holds NUL or control
    characters (they have no place in a file name and confuse logs and tools)."""
    if not isinstance(value, str):
        raise BadRequest(f"{what} must be a string, not {type(value).__name__}")
    bad = next((c for c in value if is_control(c)), None)
    if bad is not None:
        raise BadRequest(
            f"{what} contains the control character U+{ord(bad):04X}: "
            "paths may not hold NUL or control characters"
        )
    return value
