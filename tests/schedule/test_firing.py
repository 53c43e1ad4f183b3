"""Triggers firing on the scheduler's (file) clock, in a real `junction serve` process:
daylight-saving changes, pause/resume, run now, timeouts, the failure pause, and
skipped overlaps. Each execution runs a real background agent interaction on the
offline provider (its directives make a run fail or take long)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from tests.schedule.conftest import AGENT, Sched, agent_template

pytestmark = pytest.mark.filterwarnings("ignore:Triggers usage is experimental")


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def fire(sched: Sched, trigger_id: str, when: str) -> Any:
    """Move the clock one second past ``when`` (UTC) and wait for the execution
    scheduled at ``when``."""
    sched.clock.set(utc(when).replace(second=1))

    def found() -> Any:
        return next(
            (e for e in sched.executions(trigger_id) if e.scheduled_time == utc(when)), None
        )

    return sched.until(found, what=f"the execution of {trigger_id} at {when}")


def next_run(sched: Sched, trigger_id: str) -> str:
    return sched.client.triggers.get(trigger_id).next_run_time.isoformat()


def test_new_york_spring_forward_and_fall_back(sched: Sched) -> None:
    client = sched.client
    sched.at("2026-03-07T12:00", "America/New_York")
    daily = client.triggers.create(
        schedule="30 2 * * *", time_zone="America/New_York", interaction=agent_template()
    )
    # 02:30 does not exist on 2026-03-08 (02:00 EST jumps to 03:00 EDT): it runs at 03:00
    assert daily.next_run_time == utc("2026-03-08T07:00")
    fired = fire(sched, daily.id, "2026-03-08T07:00")
    assert fired.status in {"in_progress", "completed"}
    assert next_run(sched, daily.id) == "2026-03-09T06:30:00+00:00"  # 02:30 EDT

    sched.at("2026-10-31T12:00", "America/New_York")
    once = client.triggers.create(
        schedule="30 1 * * *", time_zone="America/New_York", interaction=agent_template()
    )
    hourly = client.triggers.create(
        schedule="30 * * * *", time_zone="America/New_York", interaction=agent_template()
    )
    assert once.next_run_time == utc("2026-11-01T05:30")  # 01:30 EDT
    fire(sched, once.id, "2026-11-01T05:30")
    assert next_run(sched, once.id) == "2026-11-02T06:30:00+00:00"
    # 01:30 comes again at 06:30 UTC (EST): the hourly trigger runs in both passes,
    # the daily one at a fixed time does not run twice.
    fire(sched, hourly.id, "2026-11-01T05:30")
    fire(sched, hourly.id, "2026-11-01T06:30")
    assert [e.scheduled_time for e in sched.executions(once.id)] == [utc("2026-11-01T05:30")]
    settled = sched.settled(once.id, 1)
    assert settled[0].status == "completed", settled[0].error


def test_berlin_spring_forward_and_fall_back(sched: Sched) -> None:
    client = sched.client
    sched.at("2026-03-28T12:00", "Europe/Berlin")
    daily = client.triggers.create(
        schedule="30 2 * * *", time_zone="Europe/Berlin", interaction=agent_template()
    )
    assert daily.next_run_time == utc("2026-03-29T01:00")  # 03:00 CEST, right after the jump
    fire(sched, daily.id, "2026-03-29T01:00")
    assert next_run(sched, daily.id) == "2026-03-30T00:30:00+00:00"

    sched.at("2026-10-24T12:00", "Europe/Berlin")
    fixed = client.triggers.create(
        schedule="15 2 * * *", time_zone="Europe/Berlin", interaction=agent_template()
    )
    half_hourly = client.triggers.create(
        schedule="*/30 2 * * *", time_zone="Europe/Berlin", interaction=agent_template()
    )
    fire(sched, fixed.id, "2026-10-25T00:15")  # 02:15 CEST
    assert next_run(sched, fixed.id) == "2026-10-26T01:15:00+00:00"
    for when in ("00:00", "00:30", "01:00", "01:30"):  # 02:00 and 02:30, CEST then CET
        fire(sched, half_hourly.id, f"2026-10-25T{when}")
    times = [e.scheduled_time for e in sched.settled(half_hourly.id, 4)]
    assert times == [utc(f"2026-10-25T{w}") for w in ("00:00", "00:30", "01:00", "01:30")]
    assert [e.scheduled_time for e in sched.executions(fixed.id)] == [utc("2026-10-25T00:15")]


def test_pause_resume_and_run_now(sched: Sched) -> None:
    client = sched.client
    sched.at("2026-02-02T10:00:00")
    trigger = client.triggers.create(
        schedule="0 * * * *",
        time_zone="UTC",
        interaction={"agent": AGENT, "input": "/reply scheduled hello"},
    )
    paused = client.triggers.update(trigger.id, status="paused")
    assert paused.status == "paused" and paused.next_run_time is None
    marker = client.triggers.create(
        schedule="0 * * * *", time_zone="UTC", interaction=agent_template()
    )
    fire(sched, marker.id, "2026-02-02T11:00")  # the scheduler has seen 11:00 pass
    assert sched.executions(trigger.id) == []

    # run now works on a paused trigger and creates a background agent interaction
    run = client.triggers.run(trigger.id)
    assert run.trigger_id == trigger.id
    assert run.status == "in_progress"
    assert run.interaction_id
    done = sched.settled(trigger.id, 1)[0]
    assert done.status == "completed", done.error
    assert done.end_time is not None and done.start_time is not None
    interaction = client.interactions.get(done.interaction_id)
    assert interaction.status == "completed"
    assert interaction.agent == AGENT
    assert interaction.output_text == "scheduled hello"
    after = client.triggers.get(trigger.id)
    assert after.previous_interaction_id == done.interaction_id
    assert after.last_run_time is not None

    sched.at("2026-02-02T11:20:00")
    resumed = client.triggers.update(trigger.id, status="active")
    assert resumed.next_run_time == utc("2026-02-02T12:00")
    assert resumed.last_resume_time == utc("2026-02-02T11:20")
    scheduled = fire(sched, trigger.id, "2026-02-02T12:00")
    assert scheduled.interaction_id != done.interaction_id
    statuses = {e.status for e in sched.settled(trigger.id, 2)}
    assert statuses == {"completed"}


def test_timeout_cancels_the_run(sched: Sched) -> None:
    client = sched.client
    sched.at("2026-02-03T10:00:00")
    trigger = client.triggers.create(
        schedule="0 * * * *",
        time_zone="UTC",
        interaction={"agent": AGENT, "input": "/sleep 60"},
        execution_timeout_seconds=30,
    )
    run = client.triggers.run(trigger.id)
    assert run.status == "in_progress"
    sched.at("2026-02-03T10:00:31")
    ended = sched.settled(trigger.id, 1)[0]
    assert ended.status == "timed_out"
    assert "execution_timeout_seconds" in ended.error
    interaction = sched.until(
        lambda: (i := client.interactions.get(run.interaction_id)).status != "in_progress" and i,
        what="the cancelled interaction",
    )
    assert interaction.status == "cancelled"
    assert client.triggers.get(trigger.id).consecutive_failure_count == 1


def test_consecutive_failures_pause_the_trigger(sched: Sched) -> None:
    client = sched.client
    sched.at("2026-02-04T09:30:00")
    trigger = client.triggers.create(
        schedule="0 * * * *",
        time_zone="UTC",
        interaction={"agent": AGENT, "input": "/error 400"},
        max_consecutive_failures=2,
    )
    fire(sched, trigger.id, "2026-02-04T10:00")
    first = sched.settled(trigger.id, 1)
    assert first[0].status == "failed"
    assert "failed" in first[0].error
    assert client.triggers.get(trigger.id).consecutive_failure_count == 1
    fire(sched, trigger.id, "2026-02-04T11:00")
    assert [e.status for e in sched.settled(trigger.id, 2)] == ["failed", "failed"]
    stopped = client.triggers.get(trigger.id)
    assert stopped.status == "error"
    assert stopped.consecutive_failure_count == 2
    assert stopped.next_run_time is None
    assert stopped.last_pause_time == utc("2026-02-04T11:00:01")
    assert [t.id for t in client.triggers.list(filter_="status=error").triggers] == [trigger.id]

    resumed = client.triggers.update(trigger.id, status="active")
    assert resumed.status == "active"
    assert resumed.consecutive_failure_count == 0
    assert resumed.next_run_time == utc("2026-02-04T12:00")


def test_overlap_is_skipped_unless_concurrency_allows_it(sched: Sched) -> None:
    client = sched.client
    sched.at("2026-02-05T09:59:00")
    slow = {"agent": AGENT, "input": "/sleep 60"}
    forbid = client.triggers.create(schedule="*/2 * * * *", time_zone="UTC", interaction=slow)
    allow = client.triggers.create(
        schedule="*/2 * * * *",
        time_zone="UTC",
        interaction=slow,
        extra_body={"concurrency": "allow"},
    )
    assert client.triggers.get(allow.id).model_extra.get("concurrency") == "allow"
    for trigger in (forbid, allow):
        fire(sched, trigger.id, "2026-02-05T10:00")
    for trigger in (forbid, allow):
        fire(sched, trigger.id, "2026-02-05T10:02")
    first, second = sched.executions(forbid.id)
    assert first.status == "in_progress"
    assert second.status == "skipped"
    assert first.id in second.error and "concurrency=forbid" in second.error
    assert second.interaction_id is None
    both = sched.executions(allow.id)
    assert [e.status for e in both] == ["in_progress", "in_progress"]
    assert both[0].interaction_id != both[1].interaction_id
    skipped_only = client.triggers.list_executions(
        forbid.id, extra_query={"filter": "status=skipped"}
    )
    assert [e.id for e in skipped_only.trigger_executions] == [second.id]
    for execution in [first, *both]:
        client.interactions.cancel(execution.interaction_id)
