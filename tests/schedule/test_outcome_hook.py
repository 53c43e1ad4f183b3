"""The outcome hook (where webhook events are enqueued): every execution outcome reaches
it once, inside the transaction that records it, on both databases."""

from __future__ import annotations

import asyncio
import secrets
from pathlib import Path

import pytest

from junction.config import load_settings
from junction.schedule.executor import event_of
from junction.schedule.records import ExecutionRecord
from junction.store.db import Conn
from junction.system import open_system, open_triggers
from tests.conftest import SECRET_KEY


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "postgres":
        return str(request.getfixturevalue("pg_url"))
    return f"sqlite:///{tmp_path / 'hook.db'}"


async def test_every_outcome_reaches_the_hook_in_its_transaction(
    database_url: str, tmp_path: Path
) -> None:
    url = database_url
    settings = load_settings(
        env={"JUNCTION_SECRET_KEY": SECRET_KEY},
        overrides={"database_url": url, "data_dir": tmp_path, "trigger_scheduler": False},
    )
    system = await open_system(settings, api=False)
    seen: list[tuple[str, str, str]] = []

    async def hook(tx: Conn, execution: ExecutionRecord) -> None:
        row = await tx.fetchone("SELECT status FROM trigger_executions WHERE id = $1", execution.id)
        assert row is not None  # the outcome is visible in this very transaction
        kind, data = event_of(execution)
        seen.append((kind, row["status"], data["id"]))

    triggers = open_triggers(system.db, settings, system.interactions, system.environments, hook)
    try:
        project = await system.projects.ensure_project("hook-" + secrets.token_hex(3))
        body = {
            "schedule": "0 * * * *",
            "time_zone": "UTC",
            "interaction": {"agent": "junction-general", "input": "/sleep 0.5"},
        }
        trigger = await triggers.create(project, body)
        first = await triggers.run_now(project, trigger["id"])
        second = await triggers.run_now(project, trigger["id"])  # overlaps: skipped
        assert second["status"] == "skipped"
        for _ in range(200):
            await triggers.scheduler.sweep()
            if len(seen) == 2:
                break
            await asyncio.sleep(0.05)
        assert sorted(seen) == sorted(
            [
                ("trigger.execution.skipped", "skipped", second["id"]),
                ("trigger.execution.completed", "completed", first["id"]),
            ]
        )
        await triggers.scheduler.sweep()  # a second sweep records nothing twice
        assert len(seen) == 2
    finally:
        await triggers.scheduler.stop()
        await system.close()


async def test_an_execution_ending_while_its_trigger_is_deleted_never_deadlocks(
    database_url: str, tmp_path: Path
) -> None:
    """The end of an execution and the delete of its trigger take the trigger's row
    before the executions' (the other order deadlocked on PostgreSQL)."""
    settings = load_settings(
        env={"JUNCTION_SECRET_KEY": SECRET_KEY},
        overrides={"database_url": database_url, "data_dir": tmp_path, "trigger_scheduler": False},
    )
    system = await open_system(settings, api=False)
    triggers = open_triggers(system.db, settings, system.interactions, system.environments)
    try:
        project = await system.projects.ensure_project("race-" + secrets.token_hex(3))
        body = {
            "schedule": "0 * * * *",
            "time_zone": "UTC",
            "interaction": {"agent": "junction-general", "input": "/sleep 30"},
        }
        for _ in range(15):
            trigger = await triggers.create(project, body)
            started = await triggers.run_now(project, trigger["id"])
            execution = await triggers.store.get_execution(started["id"])
            assert execution is not None
            deleted, finished = await asyncio.gather(
                triggers.delete(project, trigger["id"]),
                triggers.executor.finish(execution, "failed", "stopped by the test"),
            )
            assert deleted is None and finished in (True, False)
            if execution.interaction_id:
                await system.interactions.cancel(project, execution.interaction_id)
    finally:
        await triggers.scheduler.stop()
        await system.close()
