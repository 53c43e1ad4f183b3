"""The webhook outbox: delivery rows (one per message and destination), written in the
transaction that produced the event, claimed by dispatchers, finished with their result.

Fan-out to a project's static webhooks is one ``INSERT … SELECT`` over its enabled
webhooks subscribed to the event (``STATIC_FANOUT``), so the transaction that ends an
interaction pays one statement — or none extra on PostgreSQL, where the fan-out rides in
the run's single progress statement as one more CTE. On SQLite that statement costs more
than the interaction's own row (it reads the table it writes, so SQLite stages its rows
in a temporary table); a project without webhooks, the common case, skips it after one
index lookup in the same transaction (``HAS_WEBHOOKS``), which sees every process's
webhooks as the statement itself would.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from junction import jsonutil
from junction.store.db import Conn, Database

_COLUMNS = (
    "id, message_id, project_id, webhook_id, uri, user_metadata, event_type, payload, state, "
    "attempts, next_attempt_ms, created_ms, last_status, last_error, history, created, updated"
)

#: $1 message id, $2 project, $3 event type, $4 payload, $5 now (ms), $6 now (text),
#: $7 LIKE pattern for the event, $8 max pending deliveries per webhook
STATIC_FANOUT = (
    "INSERT INTO webhook_deliveries (id, message_id, project_id, webhook_id, event_type, "
    "payload, state, attempts, next_attempt_ms, created_ms, created, updated) "
    "SELECT {msg} || ':' || w.id, {msg}, w.project_id, w.id, {evt}, {payload}, 'pending', 0, "
    "{now_ms}, {now_ms}, {now}, {now} FROM webhooks w WHERE w.project_id = {project} "
    "AND w.state = 'enabled' AND w.events LIKE {pattern} AND (SELECT COUNT(*) FROM "
    "webhook_deliveries d WHERE d.webhook_id = w.id AND d.state = 'pending') < {limit}"
)

#: $1 project: whether :data:`STATIC_FANOUT` can write anything (an index-only lookup)
HAS_WEBHOOKS = "SELECT 1 FROM webhooks WHERE project_id = $1 LIMIT 1"


#: evaluated in a claim's WHERE: this statement's commit does not wait for the WAL flush
_ASYNC_COMMIT = "(SELECT set_config('synchronous_commit', 'off', true)) = 'off'"


def static_fanout(**marks: str) -> str:
    """:data:`STATIC_FANOUT` with its parameters at the given placeholders."""
    return STATIC_FANOUT.format(**marks)


def event_pattern(event_type: str) -> str:
    return f"%,{event_type},%"


@dataclass
class OutboxMessage:
    """One event to deliver: to the project's webhooks, or to ``uris`` (dynamic).
    ``body``: the payload, or what makes it when first needed (most messages are never
    delivered: their project has no webhook, and the SQLite path looks before it builds)."""

    message_id: str
    project_id: str
    event_type: str
    body: str | Callable[[], str]
    uris: Sequence[str] = ()
    user_metadata: dict[str, Any] | None = None

    @property
    def payload(self) -> str:
        if not isinstance(self.body, str):
            self.body = self.body()
        return self.body


async def write_message(
    tx: Conn, message: OutboxMessage, now_ms: int, now: str, max_pending: int
) -> int:
    """Insert the delivery rows of ``message`` inside ``tx``; return how many."""
    if message.uris:
        metadata = jsonutil.dumps(message.user_metadata) if message.user_metadata else None
        rows = [
            (
                f"{message.message_id}:{index}",
                message.message_id,
                message.project_id,
                uri,
                metadata,
                message.event_type,
                message.payload,
                now_ms,
                now,
            )
            for index, uri in enumerate(message.uris)
        ]
        await tx.executemany(
            "INSERT INTO webhook_deliveries (id, message_id, project_id, uri, user_metadata, "
            "event_type, payload, state, attempts, next_attempt_ms, created_ms, created, updated) "
            "VALUES ($1, $2, $3, $4, $5, $6, $7, 'pending', 0, $8, $8, $9, $9)",
            rows,
        )
        return len(rows)
    if tx.in_process and await tx.fetchone(HAS_WEBHOOKS, message.project_id) is None:
        return 0
    return await tx.execute(
        static_fanout(
            msg="$1",
            project="$2",
            evt="$3",
            payload="$4",
            now_ms="$5",
            now="$6",
            pattern="$7",
            limit="$8",
        ),
        message.message_id,
        message.project_id,
        message.event_type,
        message.payload,
        now_ms,
        now,
        event_pattern(message.event_type),
        max_pending,
    )


def decode(row: Any) -> dict[str, Any]:
    out = dict(row)
    out["history"] = jsonutil.loads(row["history"]) if row["history"] else []
    out["user_metadata"] = jsonutil.loads(row["user_metadata"]) if row["user_metadata"] else None
    return out


class DeliveryRows:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def claim(self, now_ms: int, lease_ms: int, limit: int) -> list[dict[str, Any]]:
        """Take up to ``limit`` due deliveries: one statement (``FOR UPDATE SKIP LOCKED``
        on PostgreSQL). Their due time moves past the attempt's lease, so a dispatcher
        that dies mid-attempt leaves them to be claimed again; ``attempts`` is the fence
        its result is written against."""
        postgres = self.db.dialect == "postgresql"
        lock = " FOR UPDATE SKIP LOCKED" if postgres else ""
        # A claim lost in a crash only means the delivery is sent again (at least once),
        # so on PostgreSQL its commit does not wait for the WAL flush.
        relaxed = f"{_ASYNC_COMMIT} AND " if postgres else ""
        sql = (
            "UPDATE webhook_deliveries SET next_attempt_ms = $1, attempts = attempts + 1 "
            f"WHERE {relaxed}id IN (SELECT id FROM webhook_deliveries WHERE state = 'pending' "
            f"AND next_attempt_ms <= $2 ORDER BY next_attempt_ms LIMIT $3{lock}) "
            f"RETURNING {_COLUMNS}"
        )
        if self.db.dialect == "postgresql":
            rows = await self.db.fetchall(sql, now_ms + lease_ms, now_ms, limit)
        else:
            async with self.db.transaction() as tx:
                rows = await tx.fetchall(sql, now_ms + lease_ms, now_ms, limit)
        return [decode(r) for r in rows]

    async def finish(self, results: Sequence[dict[str, Any]]) -> None:
        """Write attempt results: ``{id, attempts, state, next_attempt_ms, last_status,
        last_error, history, updated}``; a row claimed again since is left alone. (A
        result lost in a crash means one more send, so PostgreSQL commits it without
        waiting for the WAL flush.)"""
        async with self.db.transaction() as tx:
            if self.db.dialect == "postgresql":
                await tx.execute("SET LOCAL synchronous_commit = off")
            await self._finish(tx, results)

    async def _finish(self, tx: Conn, results: Sequence[dict[str, Any]]) -> None:
        await tx.executemany(
            "UPDATE webhook_deliveries SET state = $1, next_attempt_ms = $2, last_status = $3, "
            "last_error = $4, history = $5, updated = $6 WHERE id = $7 AND attempts = $8 "
            "AND state = 'pending'",
            [
                (
                    r["state"],
                    r["next_attempt_ms"],
                    r["last_status"],
                    r["last_error"],
                    jsonutil.dumps(r["history"]),
                    r["updated"],
                    r["id"],
                    r["attempts"],
                )
                for r in results
            ],
        )

    async def page(
        self, project_id: str, webhook_id: str, limit: int, before: str | None
    ) -> list[dict[str, Any]]:
        rows = await self.db.fetchall(
            f"SELECT {_COLUMNS} FROM webhook_deliveries WHERE project_id = $1 "
            "AND webhook_id = $2 AND ($3 = '' OR id < $3) ORDER BY id DESC LIMIT $4",
            project_id,
            webhook_id,
            before or "",
            limit,
        )
        return [decode(r) for r in rows]

    async def get(self, project_id: str, delivery_id: str) -> dict[str, Any] | None:
        row = await self.db.fetchone(
            f"SELECT {_COLUMNS} FROM webhook_deliveries WHERE id = $1 AND project_id = $2",
            delivery_id,
            project_id,
        )
        return decode(row) if row else None

    async def pending(self, webhook_id: str) -> int:
        row = await self.db.fetchone(
            "SELECT COUNT(*) AS n FROM webhook_deliveries WHERE webhook_id = $1 "
            "AND state = 'pending'",
            webhook_id,
        )
        return int(row["n"]) if row else 0

    async def requeue(self, project_id: str, delivery_id: str, now_ms: int, now: str) -> bool:
        """Redeliver: a finished delivery is due again now (same message id)."""
        changed = await self.db.execute(
            "UPDATE webhook_deliveries SET state = 'pending', next_attempt_ms = $1, "
            "created_ms = $1, updated = $2 WHERE id = $3 AND project_id = $4 "
            "AND state <> 'pending'",
            now_ms,
            now,
            delivery_id,
            project_id,
        )
        return changed == 1
