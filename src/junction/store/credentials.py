"""Credential rows, scoped by project. Secrets arrive here already encrypted."""

from __future__ import annotations

from typing import Any

from junction import jsonutil
from junction.store.db import Database, Row

_COLUMNS = "project_id, id, type, status, secret, meta, created, updated"


def _decode(row: Row) -> dict[str, Any]:
    out = dict(row)
    out["meta"] = jsonutil.loads(row["meta"])
    return out


class CredentialRows:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def insert(
        self, project_id: str, cred_id: str, kind: str, secret: str, meta: dict[str, Any], now: str
    ) -> None:
        await self.db.execute(
            f"INSERT INTO credentials ({_COLUMNS}) VALUES ($1, $2, $3, 'active', $4, $5, $6, $6)",
            project_id,
            cred_id,
            kind,
            secret,
            jsonutil.dumps(meta),
            now,
        )

    async def get(self, project_id: str, cred_id: str) -> dict[str, Any] | None:
        row = await self.db.fetchone(
            f"SELECT {_COLUMNS} FROM credentials WHERE project_id = $1 AND id = $2",
            project_id,
            cred_id,
        )
        return _decode(row) if row else None

    async def page(self, project_id: str, limit: int, after: str | None) -> list[dict[str, Any]]:
        rows = await self.db.fetchall(
            f"SELECT {_COLUMNS} FROM credentials WHERE project_id = $1 AND id > $2 "
            "ORDER BY id LIMIT $3",
            project_id,
            after or "",
            limit,
        )
        return [_decode(r) for r in rows]

    async def update(
        self, project_id: str, cred_id: str, secret: str, meta: dict[str, Any], now: str
    ) -> bool:
        changed = await self.db.execute(
            "UPDATE credentials SET secret = $1, meta = $2, updated = $3 "
            "WHERE project_id = $4 AND id = $5",
            secret,
            jsonutil.dumps(meta),
            now,
            project_id,
            cred_id,
        )
        return changed == 1

    async def delete(self, project_id: str, cred_id: str) -> bool:
        changed = await self.db.execute(
            "DELETE FROM credentials WHERE project_id = $1 AND id = $2", project_id, cred_id
        )
        return changed == 1
