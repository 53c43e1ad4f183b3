"""Automatic continuation: single-use tokens handed out when a synchronous HTTP hop ends
before its run does, and the hop interactions (whose steps are a range of the run's).

A token expires ``ttl`` seconds after it was issued; the retention pass deletes expired
tokens (used or not: a used one is kept until then so that reuse is answered "already
used"), and hop rows go with their interaction (:mod:`junction.store.retention`)."""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass

from junction import ids
from junction.store.db import Conn, Database
from junction.store.projects import hash_key


@dataclass(frozen=True)
class ContinuationToken:
    issuer_id: str
    run_id: str
    #: the run's own steps delivered by the hops so far, and the last event delivered
    delivered: int
    event_seq: int
    used: bool
    #: when the token expires (Unix ms)
    expires_ms: int = 0

    @property
    def expired(self) -> bool:
        return self.expires_ms <= time.time() * 1000


class ContinuationStore:
    def __init__(self, db: Database, ttl: float = 3600.0) -> None:
        self.db = db
        self.ttl = ttl

    async def issue(
        self,
        project_id: str,
        issuer_id: str,
        run_id: str,
        delivered: int,
        event_seq: int,
        conn: Conn | None = None,
    ) -> str:
        token = "ct_" + secrets.token_urlsafe(24)
        await (conn or self.db).execute(
            "INSERT INTO continuation_tokens (token_hash, project_id, issuer_id, run_id, "
            "delivered, event_seq, used, created, expires_ms) "
            "VALUES ($1, $2, $3, $4, $5, $6, 0, $7, $8)",
            hash_key(token),
            project_id,
            issuer_id,
            run_id,
            delivered,
            event_seq,
            ids.now_iso(),
            int((time.time() + self.ttl) * 1000),
        )
        return token

    async def find(self, project_id: str, token: str) -> ContinuationToken | None:
        row = await self.db.fetchone(
            "SELECT issuer_id, run_id, delivered, event_seq, used, expires_ms "
            "FROM continuation_tokens "
            "WHERE token_hash = $1 AND project_id = $2",
            hash_key(token),
            project_id,
        )
        if row is None:
            return None
        return ContinuationToken(
            row["issuer_id"],
            row["run_id"],
            int(row["delivered"]),
            int(row["event_seq"]),
            bool(row["used"]),
            int(row["expires_ms"]),
        )

    async def consume(self, project_id: str, token: str) -> bool:
        """Mark the token used; False when another request used it first."""
        changed = await self.db.execute(
            "UPDATE continuation_tokens SET used = 1 WHERE token_hash = $1 AND project_id = $2 "
            "AND used = 0 AND expires_ms > $3",
            hash_key(token),
            project_id,
            int(time.time() * 1000),
        )
        return changed == 1

    async def add_hop(self, tx: Conn, project_id: str, hop_id: str, run_id: str) -> None:
        await tx.execute(
            "INSERT INTO continuation_hops (interaction_id, project_id, run_id) "
            "VALUES ($1, $2, $3)",
            hop_id,
            project_id,
            run_id,
        )

    async def run_of(self, project_id: str, interaction_id: str) -> str | None:
        """The run a hop interaction belongs to (None: not a hop)."""
        row = await self.db.fetchone(
            "SELECT run_id FROM continuation_hops WHERE interaction_id = $1 AND project_id = $2",
            interaction_id,
            project_id,
        )
        return str(row["run_id"]) if row else None

    async def hops_of(self, project_id: str, run_id: str) -> int:
        """How many hops the run has had (its first interaction not counted)."""
        row = await self.db.fetchone(
            "SELECT COUNT(*) AS n FROM continuation_hops WHERE project_id = $1 AND run_id = $2",
            project_id,
            run_id,
        )
        return int(row["n"]) if row else 0
