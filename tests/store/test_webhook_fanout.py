"""The static webhook fan-out in the transaction that ends an interaction, on a real
SQLite and PostgreSQL database: a project without webhooks gets no delivery (and, on
SQLite, the costly fan-out statement is not run at all), and a webhook another process
has just created is found by the next write (the check reads the database, not a cache)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from junction.notify import outbox
from junction.store.db import Conn, Database, Row, connect
from junction.store.deliveries import OutboxMessage, write_message
from junction.store.webhooks import WebhookRows


class Counting(Conn):
    """A transaction's connection that records the statements run on it."""

    def __init__(self, inner: Conn) -> None:
        self.inner = inner
        self.in_process = inner.in_process
        self.statements: list[str] = []

    async def execute(self, sql: str, *args: Any) -> int:
        self.statements.append(sql)
        return await self.inner.execute(sql, *args)

    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        self.statements.append(sql)
        await self.inner.executemany(sql, rows)

    async def fetchone(self, sql: str, *args: Any) -> Row | None:
        self.statements.append(sql)
        return await self.inner.fetchone(sql, *args)

    async def fetchall(self, sql: str, *args: Any) -> list[Row]:
        self.statements.append(sql)
        return await self.inner.fetchall(sql, *args)


def message(project_id: str, n: int) -> OutboxMessage:
    return OutboxMessage(f"msg_{n}", project_id, "interaction.completed", f'{{"n": {n}}}')


async def write(db: Database, msg: OutboxMessage) -> tuple[int, list[str]]:
    async with db.transaction() as tx:
        counting = Counting(tx)
        written = await write_message(counting, msg, outbox.now_ms(), "now", 100)
    return written, counting.statements


async def test_no_webhooks_no_deliveries_and_a_new_webhook_is_seen(
    db: Database, db_url: str
) -> None:
    written, statements = await write(db, message("p1", 1))
    assert written == 0
    fanouts = [s for s in statements if s.startswith("INSERT INTO webhook_deliveries")]
    assert len(fanouts) == (0 if db.dialect == "sqlite" else 1)
    assert len(statements) == 1
    other = await connect(db_url)  # another process creates a webhook for p1
    try:
        row = {
            "id": "wh_1",
            "project_id": "p1",
            "name": None,
            "uri": "https://example.com/hook",
            "events": ["interaction.completed"],
            "state": "enabled",
            "secrets": "x",
            "secret_info": [],
            "created": "now",
        }
        async with other.transaction() as tx:
            await WebhookRows(other).insert(tx, row)
    finally:
        await other.close()
    assert (await write(db, message("p1", 2)))[0] == 1
    assert (await write(db, message("p2", 3)))[0] == 0  # another project's webhook
    rows = await db.fetchall("SELECT message_id, webhook_id FROM webhook_deliveries")
    assert [(r["message_id"], r["webhook_id"]) for r in rows] == [("msg_2", "wh_1")]
