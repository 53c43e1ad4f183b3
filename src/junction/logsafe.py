"""Text from a request made safe for a log line."""

from __future__ import annotations

_ESCAPES = {c: f"\\x{c:02x}" for c in (*range(0x20), 0x7F)} | {0x5C: "\\\\"}


def printable(text: str) -> str:
    """``text`` with control characters (CR, LF, ESC …) and backslashes escaped, so a
    request path cannot forge or corrupt log lines."""
    return text.translate(_ESCAPES)
