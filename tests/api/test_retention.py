"""Retention, whole-project deletion and export (issue 8, item 7), on SQLite and
PostgreSQL: rows are really gone, other projects are untouched, running interactions
are kept, and runs go on while a purge works through its batches."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from junction import jsonutil
from junction.retention.hooks import RetentionHook
from tests.api.hardening_support import new_project, project_rows, query, send, wait_idle
from tests.conftest import Junction

OLD = "2020-01-01T00:00:00.000000Z"


def cli(junction: Junction, *args: str, env: dict[str, str] | None = None) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "junction.cli", *args, "--database-url", junction.database_url],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, **(env or {})},
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def create(junction: Junction, key: str, count: int, text: str = "hello") -> list[str]:
    made = []
    for i in range(count):
        response = send(
            junction,
            key,
            "POST",
            "/v1beta/interactions",
            {"model": "offline/echo", "input": f"{text} {i}"},
        )
        assert response.status_code == 200, response.text
        made.append(response.json()["id"])
    return made


def backdate(junction: Junction, interaction_ids: list[str]) -> None:
    for interaction_id in interaction_ids:
        query(
            junction.database_url,
            "UPDATE interactions SET created = $1 WHERE id = $2",
            OLD,
            interaction_id,
        )


def workspaces(junction: Junction, env_id: str) -> list[Path]:
    """The directories of an environment's workspace under the sandbox root."""
    return list((junction.thread.settings.data_dir / "sandboxes").rglob(env_id))


def rows_of(junction: Junction, interaction_id: str) -> tuple[int, int, int]:
    """(interaction rows, step rows, event rows) of one interaction."""
    url = junction.database_url
    return (
        query(url, "SELECT COUNT(*) FROM interactions WHERE id = $1", interaction_id)[0][0],
        query(url, "SELECT COUNT(*) FROM steps WHERE interaction_id = $1", interaction_id)[0][0],
        query(url, "SELECT COUNT(*) FROM events WHERE interaction_id = $1", interaction_id)[0][0],
    )


def test_interaction_retention_purges_old_rows_of_that_project_only(junction: Junction) -> None:
    key, _ = new_project(junction, f"ret-a-{junction.backend}")
    other_key, other_id = new_project(junction, f"ret-b-{junction.backend}")
    old = create(junction, key, 5)
    recent = create(junction, key, 2)
    running = create(junction, key, 1)[0]
    others_old = create(junction, other_key, 3)
    backdate(junction, [*old, running, *others_old])
    query(
        junction.database_url,
        "UPDATE interactions SET status = 'in_progress', lease_owner = 'elsewhere:1:x', "
        "lease_expires = 9000000000000000 WHERE id = $1",
        running,
    )
    others_before = project_rows(junction, other_id)
    assert all(rows_of(junction, i)[1] > 0 for i in old)

    out = cli(
        junction,
        "projects",
        "set-retention",
        f"ret-a-{junction.backend}",
        "--interactions-days",
        "30",
    )
    assert jsonutil.loads(out)["interactions_days"] == 30
    shown = send(junction, key, "GET", "/v1beta/project/retention").json()
    assert shown["interactions_days"] == 30 and shown["overridden"] == ["interactions_days"]

    purged = jsonutil.loads(
        cli(
            junction,
            "projects",
            "purge",
            f"ret-a-{junction.backend}",
            env={"JUNCTION_RETENTION_BATCH_SIZE": "2"},
        )
    )
    assert purged["interactions"] == 5
    for interaction_id in old:
        assert rows_of(junction, interaction_id) == (0, 0, 0)
        got = send(junction, key, "GET", f"/v1beta/interactions/{interaction_id}")
        assert got.status_code == 404
    for interaction_id in recent:
        assert rows_of(junction, interaction_id)[0] == 1
        assert send(junction, key, "GET", f"/v1beta/interactions/{interaction_id}").json()["steps"]
    assert rows_of(junction, running)[0] == 1  # a running interaction is never purged
    assert project_rows(junction, other_id) == others_before
    query(
        junction.database_url,
        "UPDATE interactions SET status = 'completed', lease_owner = NULL, lease_expires = 0 "
        "WHERE id = $1",
        running,
    )


def test_event_retention_keeps_interactions(junction: Junction) -> None:
    name = f"ret-ev-{junction.backend}"
    key, _ = new_project(junction, name)
    old = create(junction, key, 3)
    recent = create(junction, key, 1)
    backdate(junction, old)
    cli(junction, "projects", "set-retention", name, "--events-days", "7")
    result = jsonutil.loads(cli(junction, "projects", "purge", name))
    assert result["events"] > 0
    for interaction_id in old:
        interactions, steps, events = rows_of(junction, interaction_id)
        assert (interactions, events) == (1, 0) and steps > 0
        body = send(junction, key, "GET", f"/v1beta/interactions/{interaction_id}").json()
        assert body["status"] == "completed" and body["steps"]
    assert rows_of(junction, recent[0])[2] > 0
    # the next pass starts at the watermark and finds nothing more
    assert jsonutil.loads(cli(junction, "projects", "purge", name)).get("events", 0) == 0
    # clearing the override returns to the server default (keep forever)
    out = jsonutil.loads(
        cli(junction, "projects", "set-retention", name, "--events-days", "default")
    )
    assert out["events_days"] == 0 and out["overridden"] == []


def test_purge_does_not_block_runs(junction: Junction) -> None:
    """Runs are created and finish while the purge deletes 120 interactions in batches of
    5 (each batch one short transaction)."""
    name = f"ret-busy-{junction.backend}"
    key, project_id = new_project(junction, name)
    old = create(junction, key, 120, "old")
    backdate(junction, old)
    cli(junction, "projects", "set-retention", name, "--interactions-days", "1")
    purge = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "junction.cli",
            "projects",
            "purge",
            name,
            "--database-url",
            junction.database_url,
        ],
        env={
            **os.environ,
            "JUNCTION_RETENTION_BATCH_SIZE": "5",
            "JUNCTION_RETENTION_PAUSE_SECONDS": "0.01",
        },
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        during = []
        while purge.poll() is None and len(during) < 200:
            response = send(
                junction,
                key,
                "POST",
                "/v1beta/interactions",
                {"model": "offline/echo", "input": "during"},
            )
            assert response.status_code == 200, response.text
            assert response.json()["status"] == "completed"
            during.append(response.json()["id"])
        background = send(
            junction,
            key,
            "POST",
            "/v1beta/interactions",
            {"model": "offline/echo", "input": "bg", "background": True},
        ).json()
        out, err = purge.communicate(timeout=120)
    finally:
        if purge.poll() is None:
            purge.kill()
    assert purge.returncode == 0, err
    assert jsonutil.loads(out)["interactions"] == 120
    assert all(rows_of(junction, i)[0] == 0 for i in old)
    assert all(rows_of(junction, i)[0] == 1 for i in during)
    wait_idle(junction, project_id)
    final = send(junction, key, "GET", f"/v1beta/interactions/{background['id']}").json()
    assert final["status"] == "completed"


class DirectoryHook(RetentionHook):
    """A store of files under one directory per project: the shape of the media store."""

    name = "media"
    policy = "media_days"

    def __init__(self, root: Path) -> None:
        self.root = root

    async def purge(self, project_id: str, before: str, limit: int) -> int:
        folder = self.root / project_id
        old = sorted(p for p in folder.glob("*") if p.name < before)[:limit]
        for path in old:
            path.unlink()
        return len(old)

    async def delete_project(self, project_id: str) -> int:
        files = list((self.root / project_id).glob("*"))
        for path in files:
            path.unlink()
        return len(files)


def test_media_hook_takes_part_in_purge_and_delete(junction: Junction, tmp_path: Path) -> None:
    name = f"ret-media-{junction.backend}"
    _, project_id = new_project(junction, name)
    _, other_id = new_project(junction, f"ret-media-other-{junction.backend}")
    for project in (project_id, other_id):
        (tmp_path / project).mkdir()
        for stamp in (
            "2019-01-01T00:00:00.000000Z",
            "2020-06-01T00:00:00.000000Z",
            "2999-01-01T00:00:00.000000Z",
        ):
            (tmp_path / project / stamp).write_text("x")
    retention = junction.thread.state.services.retention
    hook = DirectoryHook(tmp_path)
    retention.hooks.append(hook)
    loop = junction.thread.state.loop
    try:
        cli(junction, "projects", "set-retention", name, "--media-days", "30")
        done = asyncio.run_coroutine_threadsafe(retention.purge_project(project_id), loop)
        assert done.result(30)["media"] == 2
        assert [p.name for p in (tmp_path / project_id).iterdir()] == [
            "2999-01-01T00:00:00.000000Z"
        ]
        assert len(list((tmp_path / other_id).iterdir())) == 3
        deleted = asyncio.run_coroutine_threadsafe(
            retention.delete_project_data(project_id), loop
        ).result(30)
        assert deleted["media"] == 1
        assert len(list((tmp_path / other_id).iterdir())) == 3
    finally:
        retention.hooks.remove(hook)


def test_delete_project_data_over_api(junction: Junction) -> None:
    key, project_id = new_project(junction, f"ret-del-{junction.backend}")
    other_key, other_id = new_project(junction, f"ret-keep-{junction.backend}")
    create(junction, key, 3)
    create(junction, other_key, 2)
    assert (
        send(
            junction,
            key,
            "POST",
            "/v1beta/credentials",
            {"type": "bearer_token", "id": "tok", "token": "secret"},
        ).status_code
        == 200
    )
    assert send(junction, key, "POST", "/v1beta/agents", {"id": "helper"}).status_code == 200
    env = send(junction, key, "POST", "/v1beta/environments", {"network": "disabled"})
    sandbox = env.status_code == 200
    if sandbox:
        assert workspaces(junction, env.json()["id"])
    others_before = project_rows(junction, other_id)

    refused = send(junction, key, "DELETE", "/v1beta/project/data")
    assert refused.status_code == 400 and "confirm=true" in refused.json()["error"]["message"]
    assert project_rows(junction, project_id)["interactions"] == 3

    response = send(junction, key, "DELETE", "/v1beta/project/data", params={"confirm": "true"})
    assert response.status_code == 200, response.text
    deleted = response.json()["deleted"]
    assert deleted["interactions"] == 3 and deleted["credentials"] == 1 and deleted["agents"] == 1
    assert set(project_rows(junction, project_id).values()) == {0}
    if sandbox:
        assert deleted["environments"] == 1
        assert not workspaces(junction, env.json()["id"])
    assert project_rows(junction, other_id) == others_before
    # the key still works: the project is empty, not gone
    listing = send(junction, key, "GET", "/v1beta/interactions")
    assert listing.status_code == 200 and listing.json()["interactions"] == []


def test_delete_project_from_cli(junction: Junction) -> None:
    name = f"ret-cli-del-{junction.backend}"
    key, project_id = new_project(junction, name)
    create(junction, key, 2)
    refused = subprocess.run(
        [
            sys.executable,
            "-m",
            "junction.cli",
            "projects",
            "delete",
            name,
            "--database-url",
            junction.database_url,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert refused.returncode == 2 and "--yes" in refused.stderr
    deleted = jsonutil.loads(cli(junction, "projects", "delete", name, "--yes"))
    assert deleted["interactions"] == 2 and deleted["api_keys"] == 1
    assert set(project_rows(junction, project_id).values()) == {0}
    assert (
        query(junction.database_url, "SELECT COUNT(*) FROM projects WHERE id = $1", project_id)[0][
            0
        ]
        == 0
    )
    # verified keys are cached for a few seconds; then the deleted key is refused
    deadline = time.monotonic() + 30
    status = 200
    while status != 401 and time.monotonic() < deadline:
        status = send(junction, key, "GET", "/v1beta/interactions").status_code
        time.sleep(0.2)
    assert status == 401


def test_export_streams_every_interaction_as_json_lines(junction: Junction, tmp_path: Path) -> None:
    name = f"ret-export-{junction.backend}"
    key, _ = new_project(junction, name)
    other_key, _ = new_project(junction, f"ret-export-other-{junction.backend}")
    made = create(junction, key, 7, "export me")
    create(junction, other_key, 2, "not mine")
    with_call = send(
        junction,
        key,
        "POST",
        "/v1beta/interactions",
        {
            "model": "offline/echo",
            "input": '/call get_weather {"city": "Oslo"}',
            "tools": [{"type": "function", "name": "get_weather"}],
        },
    ).json()
    made.append(with_call["id"])

    response = send(junction, key, "GET", "/v1beta/interactions:export")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/jsonl")
    lines = response.content.decode().splitlines()
    exported = [jsonutil.loads(line) for line in lines]
    assert [e["id"] for e in exported] == sorted(made)
    assert all(e["steps"] and e["object"] == "interaction" for e in exported)
    assert exported[0]["steps"][0]["content"][0]["text"] == "export me 0"
    assert any(s["type"] == "function_call" for s in exported[-1]["steps"])
    assert not any("not mine" in line for line in lines)

    target = tmp_path / "export.jsonl"
    cli(junction, "projects", "export", name, "--output", str(target))
    assert target.read_bytes() == response.content


@pytest.mark.parametrize("option", ["--interactions-days", "--environment-idle-hours"])
def test_set_retention_refuses_negative(junction: Junction, option: str) -> None:
    name = f"ret-neg-{junction.backend}"
    new_project(junction, name)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "junction.cli",
            "projects",
            "set-retention",
            name,
            option,
            "-1",
            "--database-url",
            junction.database_url,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2 and "0 (keep forever) or positive" in result.stderr


def test_idle_environment_period_per_project(junction: Junction, envs: object) -> None:
    """A project's own idle period wins over the server's in both directions: shorter
    (the purge job expires its environments) and longer (the server-wide expiry skips
    them)."""
    moment = datetime.now(UTC) - timedelta(days=2)
    two_days_ago = moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    made = {}
    for label, hours in (("short", "0.001"), ("long", "1000"), ("plain", None)):
        name = f"ret-idle-{label}-{junction.backend}"
        key, _ = new_project(junction, name)
        if hours is not None:
            cli(junction, "projects", "set-retention", name, "--environment-idle-hours", hours)
        env = send(junction, key, "POST", "/v1beta/environments", {"network": "disabled"})
        assert env.status_code == 200, env.text
        made[label] = (name, key, env.json()["id"])
        query(
            junction.database_url,
            "UPDATE environments SET last_accessed = $1 WHERE id = $2",
            two_days_ago,
            env.json()["id"],
        )

    def status(label: str) -> str:
        _, key, env_id = made[label]
        return str(send(junction, key, "GET", f"/v1beta/environments/{env_id}").json()["status"])

    environments = junction.thread.state.services.environments
    expired = asyncio.run_coroutine_threadsafe(
        environments.expire_idle(), junction.thread.state.loop
    ).result(60)
    assert expired >= 1
    assert (status("plain"), status("short"), status("long")) == ("expired", "active", "active")
    data_dir = str(junction.thread.settings.data_dir)
    for label in ("short", "long"):
        cli(junction, "projects", "purge", made[label][0], "--data-dir", data_dir)
    assert (status("short"), status("long")) == ("expired", "active")
    assert not workspaces(junction, made["short"][2])
    assert workspaces(junction, made["long"][2])
