"""Cron evaluation: standard 5-field expressions in an IANA time zone, through cronsim
(which follows Debian cron across daylight-saving changes: a time skipped by a spring
forward runs right after the jump; in a repeated hour a fixed time runs once, while
minute/hour wildcards run in both passes). Times cross this module as epoch milliseconds."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cronsim import CronSim, CronSimError

from junction.errors import BadRequest

#: fire times inspected when checking a schedule's shortest interval
INTERVAL_SAMPLE = 500


def zone(name: str) -> ZoneInfo:
    """The IANA time zone ``name`` (400 when unknown)."""
    if not isinstance(name, str) or not name or name.startswith(("/", ".")) or ".." in name:
        raise BadRequest("time_zone must be an IANA time zone name such as 'Europe/Berlin'")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise BadRequest(
            f"unknown time_zone '{name}': use an IANA name such as 'America/New_York' or 'UTC'"
        ) from None


def check(schedule: str, time_zone: str) -> None:
    """Raise BadRequest unless ``schedule`` is a 5-field cron expression cronsim accepts."""
    tz = zone(time_zone)
    if not isinstance(schedule, str) or len(schedule.split()) != 5:
        raise BadRequest(
            "schedule must be a standard 5-field cron expression "
            "(minute hour day-of-month month day-of-week), e.g. '0 9 * * MON-FRI'"
        )
    try:
        CronSim(schedule, datetime.now(tz))
    except CronSimError as exc:
        raise BadRequest(f"schedule '{schedule}' is not a valid cron expression: {exc}") from None


def next_after(schedule: str, time_zone: str, after_ms: int) -> int | None:
    """The first fire time strictly after ``after_ms`` (None: never again)."""
    tz = ZoneInfo(time_zone)
    # cronsim works at minute resolution from the given local time (its seconds are
    # dropped), so start from the instant itself; a result equal to it is skipped.
    start = datetime.fromtimestamp(after_ms / 1000, UTC).astimezone(tz)
    for moment in CronSim(schedule, start):
        ms = int(moment.timestamp() * 1000)
        if ms > after_ms:
            return ms
    return None


def times_between(schedule: str, time_zone: str, first_ms: int, until_ms: int) -> list[int]:
    """Fire times in ``[first_ms, until_ms]`` (``first_ms`` is itself a fire time)."""
    found = []
    current: int | None = first_ms
    while current is not None and current <= until_ms:
        found.append(current)
        current = next_after(schedule, time_zone, current)
    return found


def shortest_interval(schedule: str, time_zone: str, from_ms: int) -> float:
    """The shortest gap in seconds between the next INTERVAL_SAMPLE fire times."""
    shortest = float("inf")
    previous = next_after(schedule, time_zone, from_ms)
    for _ in range(INTERVAL_SAMPLE):
        if previous is None:
            break
        following = next_after(schedule, time_zone, previous)
        if following is None:
            break
        shortest = min(shortest, (following - previous) / 1000)
        previous = following
    return shortest


def iso(ms: int | None) -> str | None:
    """Epoch milliseconds as the wire's UTC timestamp."""
    if ms is None:
        return None
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
