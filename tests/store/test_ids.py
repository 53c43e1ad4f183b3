"""Identifiers and timestamps, made the quick way, are the same text the standard
library's slower calls make."""

from __future__ import annotations

import base64
import os
import time
from datetime import UTC, datetime

from junction import ids


def test_b32_is_base32hex_lower_case_without_padding() -> None:
    for size in (1, 2, 5, 6, 10, 16, 21, 32):
        for raw in (bytes(size), b"\xff" * size, *(os.urandom(size) for _ in range(300))):
            want = base64.b32hexencode(raw).decode().rstrip("=").lower()
            assert ids._b32(raw) == want, raw


def test_ids_sort_in_creation_order_and_decode_to_their_time() -> None:
    made = [ids.interaction_id() for _ in range(2000)]
    assert made == sorted(made) and len(set(made)) == len(made)
    raw = base64.b32hexdecode(made[0][3:].upper() + "======")
    assert abs(int.from_bytes(raw[:6], "big") - time.time() * 1000) < 60_000


def test_timestamps_match_datetime_formatting() -> None:
    for _ in range(3):
        before = datetime.now(UTC)
        stamp, day, second = ids.now_iso(), ids.today(), ids.now_iso_seconds()
        after = datetime.now(UTC)
        parsed = datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
        assert before <= parsed <= after
        assert len(stamp) == len("2026-01-01T00:00:00.000000Z")
        assert day in (before.strftime("%Y-%m-%d"), after.strftime("%Y-%m-%d"))
        assert second in (
            before.strftime("%Y-%m-%dT%H:%M:%SZ"),
            after.strftime("%Y-%m-%dT%H:%M:%SZ"),
        )
        assert stamp.startswith(second[:-1]) or after.second != before.second
        time.sleep(0.4)
