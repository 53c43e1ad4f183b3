"""Numbered SQL migrations (``migrations/NNNN_name.sql``), applied in order, once each,
inside one transaction per file. ``schema_migrations`` records what has run."""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources

from junction.ids import now_iso
from junction.store.db import Database

_NAME = re.compile(r"^(\d{4})_(\w+)\.sql$")


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str

    def statements(self, dialect: str) -> list[str]:
        sql = self.sql.replace("{{without_rowid}}", " WITHOUT ROWID" if dialect == "sqlite" else "")
        body = "\n".join(line for line in sql.splitlines() if not line.lstrip().startswith("--"))
        return [part.strip() for part in body.split(";") if part.strip()]


def available() -> list[Migration]:
    found = []
    for entry in resources.files("junction.store.migrations").iterdir():
        match = _NAME.match(entry.name)
        if match:
            found.append(Migration(int(match[1]), match[2], entry.read_text()))
    return sorted(found, key=lambda m: m.version)


async def migrate(db: Database) -> list[int]:
    """Apply every pending migration; return the versions applied now. Safe to run from
    several processes at once: on PostgreSQL everything happens under an advisory lock,
    on SQLite each file runs in an immediate (write-locked) transaction."""
    applied: list[int] = []
    async with db.transaction() as tx:
        if db.dialect == "postgresql":
            await tx.execute("SELECT pg_advisory_xact_lock(7212001)")
        await tx.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations "
            "(version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied TEXT NOT NULL)"
        )
    for migration in available():
        async with db.transaction() as tx:
            if db.dialect == "postgresql":
                await tx.execute("SELECT pg_advisory_xact_lock(7212001)")
            # Re-checked inside the transaction: concurrent starters apply each file once.
            done = await tx.fetchone(
                "SELECT 1 FROM schema_migrations WHERE version = $1", migration.version
            )
            if done:
                continue
            for statement in migration.statements(db.dialect):
                await tx.execute(statement)
            await tx.execute(
                "INSERT INTO schema_migrations (version, name, applied) VALUES ($1, $2, $3)",
                migration.version,
                migration.name,
                now_iso(),
            )
            applied.append(migration.version)
    return applied
