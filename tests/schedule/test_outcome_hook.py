"""The outcome hook (where webhook events are enqueued): every execution outcome reaches
it once, inside the transaction that records it, on both databases."""

from __future__ import annotations

import asyncio
import secrets
from pathlib import Path
from typing import Any

import pytest

from junction.config import Settings, load_settings
from junction.schedule.executor import event_of
from junction.schedule.records import ExecutionRecord
from junction.store.db import Conn
from junction.system import System, open_system, open_triggers
from tests.conftest import SECRET_KEY


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "postgres":
        return str(request.getfixturevalue("pg_url"))
    return f"sqlite:///{tmp_path / 'hook.db'}"


async def _system(database_url: str, tmp_path: Path) -> tuple[Settings, System]:
    """Junction's services in this process, the trigger scheduler left to the test."""
    settings = load_settings(
        env={"JUNCTION_SECRET_KEY": SECRET_KEY},
        overrides={"database_url": database_url, "data_dir": tmp_path, "trigger_scheduler": False},
    )
    return settings, await open_system(settings, api=False)


def _body(sleep: float) -> dict[str, Any]:
    """A trigger whose interactions take ``sleep`` seconds."""
    return {
        "schedule": "0 * * * *",
        "time_zone": "UTC",
        "interaction": {"agent": "junction-general", "input": f"/sleep {sleep}"},
    }


async def test_every_outcome_reaches_the_hook_in_its_transaction(
    database_url: str, tmp_path: Path
) -> None:
    settings, system = await _system(database_url, tmp_path)
    seen: list[tuple[str, str, str]] = []

    async def hook(tx: Conn, execution: ExecutionRecord) -> None:
        row = await tx.fetchone("SELECT status FROM trigger_executions WHERE id = $1", execution.id)
        assert row is not None  # the outcome is visible in this very transaction
        kind, data = event_of(execution)
        seen.append((kind, row["status"], data["id"]))

    triggers = open_triggers(system.db, settings, system.interactions, system.environments, hook)
    try:
        project = await system.projects.ensure_project("hook-" + secrets.token_hex(3))
        trigger = await triggers.create(project, _body(0.5))
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
    settings, system = await _system(database_url, tmp_path)
    triggers = open_triggers(system.db, settings, system.interactions, system.environments)
    try:
        project = await system.projects.ensure_project("race-" + secrets.token_hex(3))
        for _ in range(15):
            trigger = await triggers.create(project, _body(30))
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
