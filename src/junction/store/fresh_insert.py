"""PostgreSQL: new interactions that start a conversation, many in ONE statement.

The create of a background, streaming or idempotent interaction writes its chain, its
row, its input steps and its first events before it answers. As a transaction that is
six round trips (BEGIN, four inserts, COMMIT) during which the connection sits idle in
transaction waiting on the client; as one statement of data-modifying CTEs it is one
round trip, atomic, and commits on its own. And the creates of one process that arrive
while its previous insert commits are group-committed (:mod:`junction.store.group_commit`):
the statement takes them all, one commit (one WAL flush) for the lot, each create
returning once it committed. A unique violation (the same Idempotency-Key won a race)
fails the batch, whose creates are then written one by one: only the create that lost
the race raises :class:`UniqueViolation`, as the transaction did.
SQLite keeps the transaction: its statements are in-process calls, not round trips.
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

from junction import jsonutil
from junction.store.db import Database
from junction.store.group_commit import GroupCommit, columns
from junction.store.interactions import _COLUMNS, row_values
from junction.store.records import InteractionRecord

#: the interaction columns' types, in ``_COLUMNS`` order (for unnest)
_TYPES = (
    "text text text text text text text bigint bigint text text text text int int text "
    "text bigint bigint int text text text text"
).split()

_SQL = (
    "WITH r AS (SELECT * FROM unnest("
    + ", ".join(f"${i + 1}::{t}[]" for i, t in enumerate(_TYPES))
    + f") AS r({_COLUMNS})), "
    "c AS (INSERT INTO chains (id, project_id, head_interaction_id, created) "
    "SELECT chain_id, project_id, id, created FROM r), "
    f"i AS (INSERT INTO interactions ({_COLUMNS}) SELECT {_COLUMNS} FROM r), "
    "s AS (INSERT INTO steps (chain_id, seq, interaction_id, project_id, type, data) "
    "SELECT r.chain_id, x.seq, x.id, r.project_id, x.type, x.data "
    "FROM unnest($25::text[], $26::bigint[], $27::text[], $28::text[]) "
    "AS x(id, seq, type, data) JOIN r ON r.id = x.id) "
    "INSERT INTO events (interaction_id, seq, data) SELECT y.id, y.seq, y.data "
    "FROM unnest($29::text[], $30::bigint[], $31::text[]) AS y(id, seq, data)"
)


@dataclass
class FreshRow:
    """``record`` (its ``chain_id`` a new chain it heads), its steps and events."""

    record: InteractionRecord
    steps: Sequence[tuple[int, dict[str, Any]]]
    events: Sequence[tuple[int, str]]


async def _insert_many(db: Database, rows: Sequence[FreshRow]) -> list[None]:
    steps = [
        (row.record.id, seq, step["type"], jsonutil.dumps(step))
        for row in rows
        for seq, step in row.steps
    ]
    events = [(row.record.id, seq, data) for row in rows for seq, data in row.events]
    await db.execute(
        _SQL,
        *columns([row_values(row.record) for row in rows], len(_TYPES)),
        *columns(steps, 4),
        *columns(events, 3),
    )
    return [None] * len(rows)


_committers: weakref.WeakKeyDictionary[Database, GroupCommit[FreshRow, None]] = (
    weakref.WeakKeyDictionary()
)


async def insert_fresh(
    db: Database,
    record: InteractionRecord,
    steps: Sequence[tuple[int, dict[str, Any]]],
    events: Sequence[tuple[int, str]],
) -> None:
    """Insert ``record`` (its ``chain_id`` a new chain it heads), ``steps`` and
    ``events``, with this process's other pending creates; returns once committed."""
    assert db.dialect == "postgresql", "SQLite writes a new interaction in a transaction"
    committer = _committers.get(db)
    if committer is None:
        committer = _committers[db] = GroupCommit(partial(_insert_many, db))
    await committer.write(FreshRow(record, steps, events))
