"""What the statements a process runs on a timer cost on a grown SQLite database: the
worker's claim walk (every poll), the lease renewal (every few seconds) and the lease
queries of start-up, each as it was before 0022 and as it is now, on one database of
finished interactions with a few active ones. On SQLite they run on the event loop: their
time is a stall of every request in flight.

    .venv/bin/python bench/timed_statements.py [--rows 50000]
"""

from __future__ import annotations

import argparse
import asyncio
import re
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path

import orjson

from junction import ids
from junction.store import queue
from junction.store.migrate import migrate
from junction.store.sqlite import SqliteDatabase

ACTIVE = queue.ACTIVE
#: (name, before, now); the claim walk before had no INDEXED BY, the lease statements no
#: condition matching a partial index
STATEMENTS = [
    ("claim walk (every worker poll)", queue._PROJECTS, queue._PROJECTS_SQLITE),
    (
        "lease renewal (every 5 s)",
        "UPDATE interactions SET lease_expires = 1 WHERE lease_owner = 'me' "
        "AND status = 'in_progress'",
        "UPDATE interactions SET lease_expires = 1 WHERE lease_owner = 'me' "
        f"AND status = 'in_progress' AND {ACTIVE}",
    ),
    (
        "lease owners (start-up)",
        "SELECT DISTINCT lease_owner FROM interactions WHERE status = 'in_progress' "
        "AND lease_owner IS NOT NULL",
        "SELECT DISTINCT lease_owner FROM interactions WHERE status = 'in_progress' "
        f"AND {ACTIVE} AND lease_owner IS NOT NULL",
    ),
]


async def _prepare(path: Path) -> None:
    db = await SqliteDatabase.open(f"sqlite:///{path}")
    await migrate(db)
    await db.close()


def _fill(path: Path, rows: int) -> None:
    config = orjson.dumps({"model": "openai/fake-model", "input": "hello " * 40}).decode()
    conn = sqlite3.connect(path, isolation_level=None)
    now = ids.now_iso()
    columns = (
        "id, project_id, status, model, chain_id, first_seq, last_seq, config, lease_owner, "
        "lease_expires, fence, attempts, created, updated"
    )

    def row(status: str, owner: str) -> tuple[object, ...]:
        return (ids.interaction_id(), "proj_1", status, "openai/fake-model",
                ids.sortable_id("ch_"), 0, 1, config, owner, 0, 1, 1, now, now)  # fmt: skip

    data = [row("completed", "old") for _ in range(rows)]
    data += [row("in_progress", "me") for _ in range(4)]
    conn.execute("BEGIN")
    conn.executemany(f"INSERT INTO interactions ({columns}) VALUES ({', '.join('?' * 14)})", data)
    conn.execute("COMMIT")
    conn.close()


def _time(conn: sqlite3.Connection, sql: str, repeats: int) -> float:
    sql = re.sub(r"\$(\d+)", r"?\1", sql)
    args = [int(time.time() * 1000), 1] if "?2" in sql else []
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        conn.execute(sql, args).fetchall()
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--rows", type=int, default=50_000, help="finished interactions")
    p.add_argument("--repeats", type=int, default=20)
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "junction.db"
        asyncio.run(_prepare(path))
        _fill(path, args.rows)
        conn = sqlite3.connect(path, isolation_level=None)
        print(f"SQLite, {args.rows} finished interactions and 4 running, median of "
              f"{args.repeats} (ms)")  # fmt: skip
        print(f"  {'statement':<34}{'before':>10}{'now':>10}")
        for name, before, now in STATEMENTS:
            old, new = _time(conn, before, args.repeats), _time(conn, now, args.repeats)
            print(f"  {name:<34}{old:>10.3f}{new:>10.3f}")
        conn.close()


if __name__ == "__main__":
    main()
