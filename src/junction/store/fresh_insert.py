"""PostgreSQL: a new interaction that starts a conversation, in ONE statement.

The create of a background, streaming or idempotent interaction writes its chain, its
row, its input steps and its first events before it answers. As a transaction that is
six round trips (BEGIN, four inserts, COMMIT) during which the connection sits idle in
transaction waiting on the client; as one statement of data-modifying CTEs it is one
round trip, atomic, and commits on its own. A unique violation (the same
Idempotency-Key won a race) raises :class:`UniqueViolation` as the transaction did.
SQLite keeps the transaction: its statements are in-process calls, not round trips.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from junction import jsonutil
from junction.store.db import Database
from junction.store.interactions import _COLUMNS, row_values
from junction.store.records import InteractionRecord

_SQL = (
    "WITH c AS (INSERT INTO chains (id, project_id, head_interaction_id, created) "
    "VALUES ($7, $2, $1, $21)), "
    f"i AS (INSERT INTO interactions ({_COLUMNS}) VALUES "
    "($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, "
    "$19, $20, $21, $22, $23, $24)), "
    "s AS (INSERT INTO steps (chain_id, seq, interaction_id, project_id, type, data) "
    "SELECT $7, x.seq, $1, $2, x.type, x.data "
    "FROM unnest($25::bigint[], $26::text[], $27::text[]) AS x(seq, type, data)) "
    "INSERT INTO events (interaction_id, seq, data) SELECT $1, y.seq, y.data "
    "FROM unnest($28::bigint[], $29::text[]) AS y(seq, data)"
)


async def insert_fresh(
    db: Database,
    record: InteractionRecord,
    steps: Sequence[tuple[int, dict[str, Any]]],
    events: Sequence[tuple[int, str]],
) -> None:
    """Insert ``record`` (its ``chain_id`` a new chain it heads), ``steps`` and
    ``events``."""
    assert db.dialect == "postgresql", "SQLite writes a new interaction in a transaction"
    await db.execute(
        _SQL,
        *row_values(record),
        [seq for seq, _ in steps],
        [step["type"] for _, step in steps],
        [jsonutil.dumps(step) for _, step in steps],
        [seq for seq, _ in events],
        [data for _, data in events],
    )
