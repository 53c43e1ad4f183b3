"""A run's usage at its end (``ProjectBudget.at_end``), on a real SQLite and PostgreSQL
database: counted exactly once, whether it is written in the transaction that writes the
run's end (SQLite), in the run's group-committed final write (PostgreSQL), or on its own
(any end whose write did not go through: the run was ended elsewhere)."""

from __future__ import annotations

import pytest

from junction.ids import today
from junction.runtime.budget import ProjectBudget
from junction.runtime.journal import Journal, LostOwnership
from junction.store.db import Database
from junction.store.interactions import InteractionStore
from tests.store.test_fair_queue import add_runs, project
from tests.store.test_usage_groups import delta


async def end_of(db: Database, status_elsewhere: str | None = None) -> tuple[str, str]:
    """A running interaction ended with usage (after another process set its status to
    ``status_elsewhere``, when given): its project and status."""
    store = InteractionStore(db)
    project_id = await project(db, "end-usage")
    (interaction_id,) = await add_runs(db, project_id, 1, status="in_progress")
    record = await store.get(project_id, interaction_id)
    assert record is not None
    if status_elsewhere is not None:
        await db.execute(
            "UPDATE interactions SET status = $1 WHERE id = $2", status_elsewhere, interaction_id
        )
    budget = ProjectBudget(db, daily_tokens=0)
    journal = Journal(store, record)
    usage = await budget.at_end(journal, delta(project_id, "m", 10))
    assert (journal.with_write is not None) == (db.dialect == "sqlite")
    journal.set_status("completed")
    try:
        await journal.persist()
    except LostOwnership:
        pass
    finally:
        await usage.settle()
    await usage.settle()  # settling again changes nothing
    row = await db.fetchone("SELECT status FROM interactions WHERE id = $1", interaction_id)
    assert row is not None
    assert await budget.used_today(project_id) == (30, 0.5)
    rows = await budget.usage.report(project_id, today(), today(), [])
    assert [r["interactions"] for r in rows] == [1]
    return project_id, str(row["status"])


async def test_usage_is_counted_once_with_the_runs_end(db: Database) -> None:
    assert (await end_of(db))[1] == "completed"


@pytest.mark.parametrize("elsewhere", ["cancelled", "failed"])
async def test_usage_of_an_end_written_elsewhere_is_counted_once(
    db: Database, elsewhere: str
) -> None:
    assert (await end_of(db, elsewhere))[1] == elsewhere
