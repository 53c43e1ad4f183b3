"""Fair claiming of background runs between projects.

Interactions are the job queue (a row is *waiting* when it is queued, or running on a
lapsed lease; *running* while its lease is live). A worker does not take the oldest
waiting row of the whole table — one project's flood would then delay every other
project's runs by the whole flood. It takes the project with the fewest running runs
per unit of its weight (``[project_weights]``, default 1; ties: the project whose oldest
waiting run is oldest), skips projects at their ``max_running`` cap, and claims that
project's oldest waiting run. So a project's first run is claimed at the next free
worker slot, however long another project's queue is, and a project never holds more
than its cap of runs at once.

The projects with work are found by a skip scan over the ``interactions_queue`` partial
index (one index probe per active project, whatever the queue's length); each project's
running count reads only its live-leased rows. The same SQL runs on SQLite and
PostgreSQL. On PostgreSQL a worker claims all its free slots in one statement
(:func:`claim_plan`, :data:`CLAIM_MANY`), which counts each project's running runs
again. With a cap, claims take turns (:data:`CLAIM_TURN`, a transaction-level advisory
lock): each claim statement's snapshot then holds the previous claim's runs, so workers
claiming at the same instant never take a project past its cap.
"""

from __future__ import annotations

import heapq
from collections.abc import Mapping
from dataclasses import dataclass

from junction.store.db import Conn

ACTIVE = "status IN ('queued', 'in_progress')"

#: ``{by_queue}``: SQLite's planner walks ``interactions_by_status`` instead of the small
#: partial ``interactions_queue`` (even with statistics), reading every finished row of
#: the projects before the first active one: 4.6 ms at 50,000 rows on every claim, on
#: the event loop. ``INDEXED BY`` (SQLite only) holds it to the queue: 0.04 ms.
_PROJECTS_TEMPLATE = f"""
WITH RECURSIVE active(project_id) AS (
    SELECT (SELECT project_id FROM interactions {{by_queue}} WHERE {ACTIVE}
            ORDER BY project_id LIMIT 1)
    UNION ALL
    SELECT (SELECT i.project_id FROM interactions i {{by_queue}}
            WHERE i.{ACTIVE} AND i.project_id > a.project_id
            ORDER BY i.project_id LIMIT 1)
    FROM active a WHERE a.project_id IS NOT NULL
)
SELECT a.project_id,
    (SELECT p.name FROM projects p WHERE p.id = a.project_id) AS name,
    (SELECT COUNT(*) FROM interactions r
     WHERE r.project_id = a.project_id AND r.{ACTIVE} AND r.lease_expires >= $1) AS running,
    (SELECT w.id FROM interactions w
     WHERE w.project_id = a.project_id AND w.{ACTIVE} AND w.lease_expires < $1
     ORDER BY w.lease_expires, w.id LIMIT 1) AS first_waiting,
    (SELECT COUNT(*) FROM (SELECT 1 FROM interactions q
     WHERE q.project_id = a.project_id AND q.{ACTIVE} AND q.lease_expires < $1
     LIMIT $2) b) AS waiting
FROM active a WHERE a.project_id IS NOT NULL
"""
_PROJECTS = _PROJECTS_TEMPLATE.format(by_queue="")
_PROJECTS_SQLITE = _PROJECTS_TEMPLATE.format(by_queue="INDEXED BY interactions_queue")


def _projects(conn: Conn) -> str:
    return _PROJECTS_SQLITE if conn.in_process else _PROJECTS


#: the oldest waiting run of one project ($1: now in ms, $2: the project)
PICK = (
    f"SELECT id FROM interactions WHERE project_id = $2 AND {ACTIVE} "
    "AND lease_expires < $1 ORDER BY lease_expires, id LIMIT 1"
)

#: PostgreSQL: the turn of one claim (released at its commit); the key is arbitrary and
#: fixed, shared by every Junction process on the database
CLAIM_TURN = "SELECT pg_advisory_xact_lock(7306394001)"

#: what a claim sets: $1 owner, $2 lease end (ms), $3 now (the fencing token is bumped, so
#: a previous owner can no longer write)
CLAIM_SET = (
    "UPDATE interactions SET status = 'in_progress', lease_owner = $1, lease_expires = $2, "
    "fence = fence + 1, attempts = attempts + 1, updated = $3 "
)

#: PostgreSQL: claim a plan's runs (:func:`claim_plan`) in one statement. $1 owner,
#: $2 lease end (ms), $3 now, $4 now (ms), $5 projects, $6 how many of each, $7 the cap
#: of running runs (0: none; counted again here, so only claims running at the same
#: instant can overshoot it); returns the runs with their steps and last event id
CLAIM_MANY = (
    CLAIM_SET
    + "WHERE id IN (SELECT w.id FROM unnest($5::text[], $6::bigint[]) AS p(project_id, n) "
    "CROSS JOIN LATERAL (SELECT id FROM interactions "
    f"WHERE project_id = p.project_id AND {ACTIVE} AND lease_expires < $4 "
    "ORDER BY lease_expires, id LIMIT CASE WHEN $7::bigint > 0 THEN LEAST(p.n, "
    "GREATEST(0, $7::bigint - (SELECT COUNT(*) FROM interactions r "
    f"WHERE r.project_id = p.project_id AND r.{ACTIVE} AND r.lease_expires >= $4))) "
    "ELSE p.n END FOR UPDATE SKIP LOCKED) w) "
    "RETURNING {columns}, "
    "(SELECT COALESCE(MAX(seq), 0) FROM events "
    " WHERE events.interaction_id = interactions.id) AS max_event, "
    "(SELECT string_agg(data, ',' ORDER BY seq) FROM steps "
    " WHERE steps.interaction_id = interactions.id "
    " AND steps.chain_id = interactions.chain_id) AS steps_json"
)


@dataclass(frozen=True)
class ProjectLoad:
    running: int
    waiting: int


async def projects_in_turn(
    conn: Conn, now_ms: int, max_running: int, weights: Mapping[str, float] | None = None
) -> tuple[list[str], bool]:
    """Projects with a waiting run and room under ``max_running`` (0: no cap), in the
    order workers should serve them: fewest running runs per unit of weight (``weights``
    by project name, default 1) first, then the oldest waiting run. Also: whether a
    project at its cap has runs waiting."""
    rows = await conn.fetchall(_projects(conn), now_ms, 1)
    waiting = [r for r in rows if r["first_waiting"] is not None]
    weights = weights or {}
    ready = [
        (
            int(r["running"]) / weights.get(str(r["name"]), 1.0),
            str(r["first_waiting"]),
            str(r["project_id"]),
        )
        for r in waiting
        if not max_running or r["running"] < max_running
    ]
    ready.sort()
    return [project for _, _, project in ready], len(ready) < len(waiting)


async def claim_plan(
    conn: Conn,
    now_ms: int,
    slots: int,
    max_running: int,
    weights: Mapping[str, float] | None = None,
) -> tuple[list[tuple[str, int]], bool]:
    """How many waiting runs of which projects ``slots`` free worker slots take, as the
    same number of one-at-a-time claims would (:func:`projects_in_turn` before each):
    each slot to the project with the fewest running runs per unit of weight counting
    the slots already given (ties: the oldest waiting run), none beyond a project's
    waiting runs or its cap. In the order first given; also: whether a project at its
    cap has runs waiting."""
    rows = await conn.fetchall(_projects(conn), now_ms, slots)
    weights = weights or {}
    heap: list[tuple[float, str, str, int, int, float]] = []
    capped = False
    for r in rows:
        if r["first_waiting"] is None:
            continue
        running, weight = int(r["running"]), weights.get(str(r["name"]), 1.0)
        if max_running and running >= max_running:
            capped = True
            continue
        entry = (running / weight, str(r["first_waiting"]), str(r["project_id"]))
        heap.append((*entry, running, int(r["waiting"]), weight))
    heapq.heapify(heap)
    given: dict[str, int] = {}
    while heap and slots > 0:
        _, first, project_id, running, waiting, weight = heapq.heappop(heap)
        given[project_id] = given.get(project_id, 0) + 1
        slots, running, waiting = slots - 1, running + 1, waiting - 1
        if max_running and running >= max_running:
            capped = capped or waiting > 0
        elif waiting > 0:
            heapq.heappush(heap, (running / weight, first, project_id, running, waiting, weight))
    return list(given.items()), capped


async def project_load(conn: Conn, project_id: str, now_ms: int) -> ProjectLoad:
    """How many of a project's runs are running now and how many are waiting."""
    row = await conn.fetchone(
        "SELECT COALESCE(SUM(CASE WHEN lease_expires >= $2 THEN 1 ELSE 0 END), 0) AS running, "
        "COALESCE(SUM(CASE WHEN lease_expires < $2 THEN 1 ELSE 0 END), 0) AS waiting "
        f"FROM interactions WHERE project_id = $1 AND {ACTIVE}",
        project_id,
        now_ms,
    )
    assert row is not None
    return ProjectLoad(int(row["running"]), int(row["waiting"]))
