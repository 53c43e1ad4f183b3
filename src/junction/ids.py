"""Identifiers: time-ordered, URL-safe, unguessable."""

from __future__ import annotations

import base64
import os
import secrets
import time

_B32HEX = "0123456789abcdefghijklmnopqrstuv"


def _b32(raw: bytes) -> str:
    """``base64.b32hexencode(raw)``, lower case, without padding (order-preserving): the
    same text, made from one integer (the standard library's is a Python loop, ~5x
    slower)."""
    bits = len(raw) * 8
    chars = -(-bits // 5)
    n = int.from_bytes(raw, "big") << (chars * 5 - bits)
    return "".join([_B32HEX[(n >> shift) & 31] for shift in range(chars * 5 - 5, -1, -5)])


_last = [0, 0]  # (milliseconds, random part) of the previous id from this process


def sortable_id(prefix: str) -> str:
    """``prefix`` + 48-bit millisecond time + 80 random bits, base32: sorts by creation
    (monotonic within a process, like a monotonic ULID)."""
    ms = int(time.time() * 1000)
    if ms <= _last[0]:
        ms, rand = _last[0], (_last[1] + 1) % (1 << 80)
    else:
        rand = int.from_bytes(os.urandom(10), "big") >> 1  # leave room to increment
    _last[0], _last[1] = ms, rand
    return prefix + _b32(ms.to_bytes(6, "big") + rand.to_bytes(10, "big"))


def id_floor(prefix: str, ms: int) -> str:
    """The smallest ``sortable_id(prefix)`` made at or after epoch millisecond ``ms``."""
    return prefix + _b32(max(ms, 0).to_bytes(6, "big") + bytes(10))


def interaction_id() -> str:
    return sortable_id("v1_")


def call_id() -> str:
    return "call_" + secrets.token_hex(8)


def api_key() -> str:
    return "jk_" + secrets.token_urlsafe(32)


class _Second:
    """The last whole second formatted (epoch second, its date, its date and time)."""

    epoch, date, stamp = -1, "", ""


def _clock() -> tuple[str, str, int]:
    """(YYYY-MM-DD, YYYY-MM-DDTHH:MM:SS, microseconds) of now in UTC; the calendar part
    is formatted once per second (``strftime`` per call was a visible share of a create)."""
    second, rest = divmod(time.time_ns(), 1_000_000_000)
    if second != _Second.epoch:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        _Second.epoch, _Second.date, _Second.stamp = second, stamp[:10], stamp
    return _Second.date, _Second.stamp, rest // 1000


def now_iso() -> str:
    """UTC timestamp, ISO-8601 with microseconds and a ``Z`` (fixed width, sorts as text)."""
    _, stamp, micros = _clock()
    return f"{stamp}.{micros:06d}Z"


def now_iso_seconds() -> str:
    """UTC timestamp, ISO-8601 to the second, with a ``Z``."""
    return _clock()[1] + "Z"


def today() -> str:
    """Today's UTC date, YYYY-MM-DD."""
    return _clock()[0]


def encode_token(value: str) -> str:
    """An opaque page token."""
    return base64.urlsafe_b64encode(("p1:" + value).encode()).decode().rstrip("=")


def decode_token(token: str) -> str:
    raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
    if not raw.startswith("p1:"):
        raise ValueError("not a page token")
    return raw[3:]
