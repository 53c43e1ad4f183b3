"""The triggers API through the official SDK: create, get, list (filter), update
(pause/resume, display_name), delete, run now, executions; bad input is a clear 400
that changes nothing."""

from __future__ import annotations

import subprocess
import sys

import httpx2 as httpx
import pytest
from google.genai._interactions_errors import NotFoundError

from tests.schedule.conftest import AGENT, Sched, agent_template

pytestmark = pytest.mark.filterwarnings("ignore:Triggers usage is experimental")


def test_create_get_list_update_delete(sched: Sched) -> None:
    sched.at("2026-01-05T11:59:30")
    client = sched.client
    created = client.triggers.create(
        schedule="0 9 * * MON-FRI",
        time_zone="America/New_York",
        interaction={"agent": AGENT, "input": "morning report"},
        display_name="daily",
        execution_timeout_seconds=600,
        max_consecutive_failures=3,
    )
    assert created.id.startswith("trg_")
    assert created.status == "active"
    assert created.display_name == "daily"
    assert created.interaction.agent == AGENT
    assert created.consecutive_failure_count == 0
    assert created.execution_timeout_seconds == 600
    assert created.max_consecutive_failures == 3
    # 2026-01-05 is a Monday; 11:59:30 UTC is 06:59:30 in New York (EST, UTC-5)
    assert created.next_run_time.isoformat() == "2026-01-05T14:00:00+00:00"
    assert created.create_time is not None and created.last_run_time is None

    got = client.triggers.get(created.id)
    assert got.model_dump() == created.model_dump()

    other = client.triggers.create(
        schedule="*/5 * * * *", time_zone="UTC", interaction=agent_template()
    )
    paused = client.triggers.update(other.id, status="paused")
    assert paused.status == "paused"
    assert paused.next_run_time is None
    assert paused.last_pause_time is not None

    listed = client.triggers.list()
    assert {t.id for t in listed.triggers} == {created.id, other.id}
    active = client.triggers.list(filter_="status=active")
    assert [t.id for t in active.triggers] == [created.id]
    both = client.triggers.list(filter_='status = "active|paused"')
    assert len(both.triggers) == 2
    first = client.triggers.list(page_size=1)
    assert len(first.triggers) == 1 and first.next_page_token
    second = client.triggers.list(page_size=1, page_token=first.next_page_token)
    assert {first.triggers[0].id, second.triggers[0].id} == {created.id, other.id}
    assert not second.next_page_token

    sched.at("2026-01-05T12:10:00")
    resumed = client.triggers.update(other.id, status="active", display_name="five")
    assert resumed.status == "active"
    assert resumed.display_name == "five"
    assert resumed.last_resume_time.isoformat() == "2026-01-05T12:10:00+00:00"
    assert resumed.next_run_time.isoformat() == "2026-01-05T12:15:00+00:00"

    assert client.triggers.delete(other.id) is not None
    with pytest.raises(NotFoundError):
        client.triggers.get(other.id)
    assert [t.id for t in client.triggers.list().triggers] == [created.id]


BAD_CREATES = [
    ({"schedule": "* * * * * *"}, "5-field cron"),
    ({"schedule": "61 * * * *"}, "not a valid cron"),
    ({"schedule": "@hourly"}, "5-field cron"),
    ({"time_zone": "Mars/Olympus"}, "unknown time_zone"),
    ({"time_zone": "../../etc/passwd"}, "IANA"),
    ({"interaction": {"model": "offline/echo", "input": "x"}}, "must name an 'agent'"),
    ({"interaction": {"agent": "no-such-agent", "input": "x"}}, "interaction: "),
    ({"interaction": {"agent": AGENT}}, "interaction: 'input' is required"),
    ({"interaction": {"agent": AGENT, "input": "x", "store": False}}, "store"),
    ({"interaction": "run it"}, "must be an object"),
    ({"environment_id": "env_missing"}, "environment_id"),
    ({"execution_timeout_seconds": 0}, "execution_timeout_seconds"),
    ({"max_consecutive_failures": -1}, "max_consecutive_failures"),
    ({"concurrency": "sometimes"}, "concurrency"),
    ({"catch_up": "all"}, "catch_up"),
    ({"cron": "* * * * *"}, "unknown trigger field 'cron'"),
]


@pytest.mark.parametrize(("change", "says"), BAD_CREATES)
def test_bad_creates_are_400_and_write_nothing(sched: Sched, change: dict, says: str) -> None:
    body = {"schedule": "0 * * * *", "time_zone": "UTC", "interaction": agent_template()}
    body.update(change)
    reply = httpx.post(
        f"{sched.api.url}/v1beta/triggers",
        json=body,
        headers={"x-goog-api-key": sched.cluster.api_key},
    )
    assert reply.status_code == 400, reply.text
    assert says in reply.json()["error"]["message"]
    assert not sched.client.triggers.list().triggers


def test_schedule_limits_and_bad_updates(sched: Sched) -> None:
    client = sched.client
    url = f"{sched.api.url}/v1beta/triggers"
    headers = {"x-goog-api-key": sched.cluster.api_key}
    ok = {"time_zone": "UTC", "interaction": agent_template()}
    made = [
        client.triggers.create(
            schedule=f"{i} * * * *", time_zone="UTC", interaction=ok["interaction"]
        )
        for i in range(12)
    ]
    full = httpx.post(url, json={"schedule": "30 1 * * *", **ok}, headers=headers)
    assert full.status_code == 400 and "most allowed" in full.json()["error"]["message"]
    for trigger in made[1:]:
        client.triggers.delete(trigger.id)

    # JUNCTION_TRIGGER_MIN_INTERVAL_SECONDS=120 here: every minute is too often, also
    # when only part of the hour is that dense
    for schedule in ("* * * * *", "0,1 * * * *", "*/1 3 * * *", "* 4 * * 1"):
        dense = httpx.post(url, json={"schedule": schedule, **ok}, headers=headers)
        assert dense.status_code == 400, dense.text
    every_two = httpx.post(url, json={"schedule": "*/2 * * * *", **ok}, headers=headers)
    assert every_two.status_code == 200, every_two.text
    message = httpx.post(url, json={"schedule": "0,1 * * * *", **ok}, headers=headers)
    assert "more often than every 120 seconds" in message.json()["error"]["message"]

    trigger_url = f"{url}/{made[0].id}"
    for body, says in [
        ({"status": "error"}, "set by the server"),
        ({"status": "sleeping"}, "active (resume) or paused"),
        ({"schedule": "5 * * * *"}, "cannot be updated"),
        ({"display_name": 5}, "display_name"),
    ]:
        reply = httpx.patch(trigger_url, json=body, headers=headers)
        assert reply.status_code == 400, reply.text
        assert says in reply.json()["error"]["message"]
    assert client.triggers.get(made[0].id).status == "active"
    bad_filter = httpx.get(url, params={"filter": "state=on"}, headers=headers)
    assert bad_filter.status_code == 400
    assert "fields: status" in bad_filter.json()["error"]["message"]
    bad_value = httpx.get(url, params={"filter": "status=sleeping"}, headers=headers)
    assert bad_value.status_code == 400
    missing = httpx.post(f"{url}/trg_nope/executions", headers=headers)
    assert missing.status_code == 404


def test_other_projects_cannot_see_triggers(sched: Sched) -> None:
    trigger = sched.client.triggers.create(
        schedule="0 * * * *", time_zone="UTC", interaction=agent_template()
    )
    proc = sched.cluster.procs[0]
    made = subprocess.run(
        [
            sys.executable,
            "-m",
            "junction.cli",
            "keys",
            "create",
            "--project",
            "other",
            "--database-url",
            sched.cluster.database_url,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    key = made.stdout.strip().split()[-1]
    headers = {"x-goog-api-key": key}
    base = f"{proc.url}/v1beta/triggers"
    assert httpx.get(f"{base}/{trigger.id}", headers=headers).status_code == 404
    assert httpx.get(base, headers=headers).json().get("triggers", []) == []
    assert httpx.delete(f"{base}/{trigger.id}", headers=headers).status_code == 404
    assert httpx.post(f"{base}/{trigger.id}/executions", headers=headers).status_code == 404
