"""Cron evaluation and the filter syntax, as functions (no server needed)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from junction.errors import BadRequest
from junction.schedule import cron, filters
from junction.schedule.records import TRIGGER_STATUSES


def ms(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp() * 1000)


def run(schedule: str, zone: str, after: str, count: int) -> list[str]:
    found, current = [], ms(after)
    for _ in range(count):
        following = cron.next_after(schedule, zone, current)
        assert following is not None
        found.append(cron.iso(following) or "")
        current = following
    return [f[:16] for f in found]


def test_next_after_is_strictly_after_and_in_the_zone() -> None:
    assert run("0 9 * * *", "Asia/Tokyo", "2026-01-05T00:00", 2) == [
        "2026-01-06T00:00",  # 09:00 JST is exactly the start: strictly after
        "2026-01-07T00:00",
    ]
    assert run("0 9 * * *", "Asia/Tokyo", "2026-01-04T23:59:59.999", 1) == ["2026-01-05T00:00"]


def test_spring_forward_runs_the_skipped_time_right_after_the_jump() -> None:
    assert run("30 2 * * *", "America/New_York", "2026-03-07T12:00", 3) == [
        "2026-03-08T07:00",  # 03:00 EDT
        "2026-03-09T06:30",
        "2026-03-10T06:30",
    ]


def test_fall_back_fixed_times_once_wildcards_twice() -> None:
    assert run("30 1 * * *", "America/New_York", "2026-10-31T12:00", 2) == [
        "2026-11-01T05:30",
        "2026-11-02T06:30",
    ]
    assert run("30 * * * *", "America/New_York", "2026-11-01T04:00", 3) == [
        "2026-11-01T04:30",
        "2026-11-01T05:30",  # 01:30 EDT
        "2026-11-01T06:30",  # 01:30 EST
    ]


def test_times_between_and_shortest_interval() -> None:
    times = cron.times_between("*/5 * * * *", "UTC", ms("2026-04-01T10:05"), ms("2026-04-01T10:52"))
    assert len(times) == 10
    assert cron.shortest_interval("0,1 * * * *", "UTC", ms("2026-04-01T00:00")) == 60
    assert cron.shortest_interval("0 12 * * *", "UTC", ms("2026-04-01T00:00")) == 86400


@pytest.mark.parametrize(
    ("schedule", "zone"),
    [
        ("* * * *", "UTC"),
        ("0 0 31 2 * *", "UTC"),
        ("0 25 * * *", "UTC"),
        ("0 0 * * *", "Nowhere/X"),
    ],
)
def test_bad_schedules(schedule: str, zone: str) -> None:
    with pytest.raises(BadRequest):
        cron.check(schedule, zone)


def test_filter_syntax() -> None:
    allowed = {"status": TRIGGER_STATUSES}
    assert filters.parse("", allowed) == {}
    assert filters.parse("status=active", allowed) == {"status": ["active"]}
    assert filters.parse('STATUS = "Paused|error"', allowed) == {"status": ["paused", "error"]}
    for bad in ("status", "status=on", "name=x", "status=active OR status=paused"):
        with pytest.raises(BadRequest):
            filters.parse(bad, allowed)
