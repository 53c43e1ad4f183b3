"""PostgreSQL: the progress writes of many runs, and their usage, in ONE statement.

A run's write (:class:`ProgressWrite`: its state, new steps and events, the static
webhooks' delivery rows its status raises, and — at its end — what it adds to the usage
rollups) is a compare-and-set on the run's status and fencing token. This statement
does that for a whole batch of runs at once: one round trip and one commit (one WAL
flush) for all of them, each run's rows written only if its own compare-and-set holds
(the others are unaffected), the usage rollups summed per project, day, key and model
(:func:`junction.store.usage.merge`: rows locked in key order, and project_usage before
usage_daily, as every other usage write locks them, so none deadlocks with this one).
The same statement with one run is the one-run write.

:func:`write_progress` is how runs write: group-committed per process
(:mod:`junction.store.group_commit`), so the writes that arrive while the previous batch
commits share one statement.
"""

from __future__ import annotations

import contextlib
import time
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

from junction import jsonutil
from junction.ids import now_iso
from junction.store.db import Database
from junction.store.deliveries import OutboxMessage, event_pattern
from junction.store.group_commit import GroupCommit, columns
from junction.store.records import InteractionRecord
from junction.store.usage import UsageDelta, merge, per_day


@dataclass
class ProgressWrite:
    """One run's write: the state of ``record`` (a snapshot), written if its status is
    still ``expect`` and its fence unchanged."""

    record: InteractionRecord
    steps: Sequence[tuple[int, dict[str, Any]]]
    events: Sequence[tuple[int, str]]
    expect: str
    #: the static webhooks' message its status raises (dynamic destinations: not here)
    message: OutboxMessage | None = None
    #: a webhook's cap of pending deliveries (with ``message``)
    max_pending: int = 0
    #: what the run adds to the usage rollups (its end)
    usage: UsageDelta | None = None


@dataclass(frozen=True)
class Outcome:
    """A run's write committed: ``written`` (its compare-and-set held), and how many
    delivery rows its message got."""

    written: bool
    deliveries: int = 0


_SQL = """
WITH v AS (
    SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[],
        $6::text[], $7::text[], $8::text[], $9::bigint[], $10::text[], $11::text[])
    AS v(id, status, usage, errors, last_seq, updated, environment_id, expect, fence,
        chain_id, project_id)
), u AS (
    UPDATE interactions i SET status = v.status, usage = v.usage, errors = v.errors,
        last_seq = v.last_seq, updated = v.updated, environment_id = v.environment_id
    FROM v WHERE i.id = v.id AND i.status = v.expect AND i.fence = v.fence
    RETURNING i.id
), s AS (
    INSERT INTO steps (chain_id, seq, interaction_id, project_id, type, data)
    SELECT v.chain_id, x.seq, x.id, v.project_id, x.type, x.data
    FROM unnest($12::text[], $13::bigint[], $14::text[], $15::text[]) AS x(id, seq, type, data)
    JOIN v ON v.id = x.id WHERE x.id IN (SELECT id FROM u)
), e AS (
    INSERT INTO events (interaction_id, seq, data)
    SELECT y.id, y.seq, y.data FROM unnest($16::text[], $17::bigint[], $18::text[])
    AS y(id, seq, data) WHERE y.id IN (SELECT id FROM u) ON CONFLICT DO NOTHING
), o AS (
    INSERT INTO webhook_deliveries (id, message_id, project_id, webhook_id, event_type,
        payload, state, attempts, next_attempt_ms, created_ms, created, updated)
    SELECT z.msg || ':' || z.webhook_id, z.msg, z.project_id, z.webhook_id, z.evt,
        z.payload, 'pending', 0, $24, $24, $25, $25
    FROM (
        SELECT m.msg, m.evt, m.payload, w.id AS webhook_id, w.project_id,
            ROW_NUMBER() OVER (PARTITION BY w.id ORDER BY m.n) AS k,
            (SELECT COUNT(*) FROM webhook_deliveries d
             WHERE d.webhook_id = w.id AND d.state = 'pending') AS pending
        FROM unnest($19::text[], $20::text[], $21::text[], $22::text[], $23::text[],
            $26::text[]) WITH ORDINALITY AS m(id, msg, evt, payload, pattern, project, n)
        JOIN webhooks w ON w.project_id = m.project AND w.state = 'enabled'
            AND w.events LIKE m.pattern
        WHERE m.id IN (SELECT id FROM u)
    ) z WHERE z.pending + z.k <= $27
    RETURNING message_id
), pu AS (
    INSERT INTO project_usage (project_id, day, tokens, cost)
    SELECT * FROM unnest($28::text[], $29::text[], $30::bigint[], $31::float8[])
    ON CONFLICT (project_id, day) DO UPDATE SET
        tokens = project_usage.tokens + EXCLUDED.tokens,
        cost = project_usage.cost + EXCLUDED.cost
    RETURNING 1
), ud AS (
    INSERT INTO usage_daily (project_id, day, api_key_id, model, interactions,
        input_tokens, output_tokens, thought_tokens, cached_tokens, cost)
    SELECT * FROM unnest($32::text[], $33::text[], $34::text[], $35::text[],
        $36::bigint[], $37::bigint[], $38::bigint[], $39::bigint[], $40::bigint[],
        $41::float8[])
    WHERE (SELECT COUNT(*) FROM pu) >= 0  -- project_usage first, as store/usage.py
    ON CONFLICT (project_id, day, api_key_id, model) DO UPDATE SET
        interactions = usage_daily.interactions + EXCLUDED.interactions,
        input_tokens = usage_daily.input_tokens + EXCLUDED.input_tokens,
        output_tokens = usage_daily.output_tokens + EXCLUDED.output_tokens,
        thought_tokens = usage_daily.thought_tokens + EXCLUDED.thought_tokens,
        cached_tokens = usage_daily.cached_tokens + EXCLUDED.cached_tokens,
        cost = usage_daily.cost + EXCLUDED.cost
)
SELECT (SELECT array_agg(id) FROM u) AS written,
    (SELECT array_agg(message_id) FROM o) AS deliveries
"""


def _json(value: Any) -> str | None:
    return jsonutil.dumps(value) if value else None


def _arguments(
    writes: Sequence[ProgressWrite], usage: Sequence[UsageDelta], now_ms: int, now: str, limit: int
) -> list[Any]:
    runs, steps, events, messages = [], [], [], []
    for w in writes:
        r = w.record
        runs.append(
            (
                *(r.id, r.status, _json(r.usage), _json(r.errors), r.last_seq, r.updated),
                *(r.environment_id, w.expect, r.fence, r.chain_id, r.project_id),
            )
        )
        steps += [(r.id, seq, step["type"], jsonutil.dumps(step)) for seq, step in w.steps]
        events += [(r.id, seq, data) for seq, data in w.events]
        if w.message is not None:
            m = w.message
            assert not m.uris, "dynamic destinations are written in a transaction"
            pattern = event_pattern(m.event_type)
            messages.append((r.id, m.message_id, m.event_type, m.payload, pattern, m.project_id))
    daily = [
        (
            *(d.project_id, d.day, d.api_key_id, d.model, d.interactions, d.input_tokens),
            *(d.output_tokens, d.thought_tokens, d.cached_tokens, d.cost),
        )
        for d in usage
    ]
    m5 = columns(messages, 6)
    return [
        *columns(runs, 11),
        *columns(steps, 4),
        *columns(events, 3),
        *m5[:5],
        now_ms,
        now,
        m5[5],
        limit,
        *columns(per_day(list(usage)), 4),
        *columns(daily, 10),
    ]


async def write_batch(
    db: Database,
    writes: Sequence[ProgressWrite],
    usage: Sequence[UsageDelta],
    *,
    now_ms: int,
    now: str,
    max_pending: int,
) -> list[Outcome]:
    """Write ``writes`` (at most one per run) and ``usage`` (merged: one delta per
    project, day, key and model, in key order) in one statement; one outcome per write.
    ``max_pending``: a webhook's cap of pending deliveries, counted across the batch."""
    assert db.dialect == "postgresql", "SQLite writes a run's progress in a transaction"
    row = await db.fetchone(_SQL, *_arguments(writes, usage, now_ms, now, max_pending))
    assert row is not None
    written = set(row["written"] or ())
    per_message: dict[str, int] = {}
    for message_id in row["deliveries"] or ():
        per_message[message_id] = per_message.get(message_id, 0) + 1
    return [
        Outcome(
            w.record.id in written,
            per_message.get(w.message.message_id, 0) if w.message is not None else 0,
        )
        for w in writes
    ]


_committers: weakref.WeakKeyDictionary[Database, GroupCommit[ProgressWrite, Outcome]] = (
    weakref.WeakKeyDictionary()
)


async def write_progress(db: Database, write: ProgressWrite) -> Outcome:
    """Write ``write`` with this process's other pending run writes; returns once the
    statement holding it has committed."""
    committer = _committers.get(db)
    if committer is None:
        committer = _committers[db] = GroupCommit(partial(_write_many, db))
    return await committer.write(write)


async def _write_many(db: Database, writes: Sequence[ProgressWrite]) -> list[Outcome]:
    usage = merge([w.usage for w in writes if w.usage is not None])
    limits = [w.max_pending for w in writes if w.message is not None]

    async def write(these: Sequence[ProgressWrite]) -> list[Outcome]:
        return await write_batch(
            db,
            these,
            usage,
            now_ms=int(time.time() * 1000),
            now=now_iso(),
            max_pending=min(limits, default=0),
        )

    try:
        return await write(writes)
    except Exception:
        if len(writes) == 1 and usage:
            # The run's own write failed; the tokens it used still count.
            with contextlib.suppress(Exception):
                await write([])
        raise
