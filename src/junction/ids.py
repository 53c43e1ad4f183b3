"""Identifiers: time-ordered, URL-safe, unguessable."""

from __future__ import annotations

import base64
import os
import secrets
import time
from datetime import UTC, datetime


def _b32(raw: bytes) -> str:
    return base64.b32encode(raw).decode().rstrip("=").lower()


def sortable_id(prefix: str) -> str:
    """``prefix`` + 48-bit millisecond time + 80 random bits, base32: sorts by creation."""
    ms = int(time.time() * 1000)
    return prefix + _b32(ms.to_bytes(6, "big") + os.urandom(10))


def interaction_id() -> str:
    return sortable_id("v1_")


def call_id() -> str:
    return "call_" + secrets.token_hex(8)


def api_key() -> str:
    return "jk_" + secrets.token_urlsafe(32)


def now_iso() -> str:
    """UTC timestamp, ISO-8601 with microseconds and a ``Z`` (fixed width, sorts as text)."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def encode_token(value: str) -> str:
    """An opaque page token."""
    return base64.urlsafe_b64encode(("p1:" + value).encode()).decode().rstrip("=")


def decode_token(token: str) -> str:
    raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
    if not raw.startswith("p1:"):
        raise ValueError("not a page token")
    return raw[3:]
