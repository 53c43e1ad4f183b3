"""Leases on deployment-wide duties: at most one holder per duty at a time, taken over when
the holder stops renewing. One statement per claim, the same on SQLite and PostgreSQL."""

from __future__ import annotations

import os
import secrets
import socket
import time

from junction.store.db import Database

#: taken when free, expired, or already ours; nothing is returned when someone else holds it
_CLAIM = (
    "INSERT INTO duties (name, holder, until_ms) VALUES ($1, $2, $3) "
    "ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, until_ms = excluded.until_ms "
    "WHERE duties.holder = excluded.holder OR duties.until_ms < $4 RETURNING holder"
)


def process_holder() -> str:
    """A name for this process, unique across hosts and restarts."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"


class Duties:
    def __init__(self, db: Database, holder: str | None = None) -> None:
        self.db = db
        self.holder = holder or process_holder()

    async def claim(self, name: str, seconds: float, now_ms: int | None = None) -> bool:
        """Hold ``name`` for ``seconds`` from now; False while another live holder has it."""
        now = int(time.time() * 1000) if now_ms is None else now_ms
        async with self.db.transaction() as conn:
            row = await conn.fetchone(_CLAIM, name, self.holder, now + int(seconds * 1000), now)
        return row is not None

    async def release(self, name: str) -> None:
        async with self.db.transaction() as conn:
            await conn.execute(
                "DELETE FROM duties WHERE name = $1 AND holder = $2", name, self.holder
            )
