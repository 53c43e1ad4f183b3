"""Projects and their API keys. Keys are stored as SHA-256 digests (they are 256-bit
random tokens, so a fast hash is the right tool); only a short prefix is kept readable."""

from __future__ import annotations

import hashlib
import secrets
from typing import Any

from junction import ids
from junction.store.db import Database


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


class ProjectStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def ensure_project(self, name: str) -> str:
        row = await self.db.fetchone("SELECT id FROM projects WHERE name = $1", name)
        if row:
            return str(row["id"])
        await self.db.execute(
            "INSERT INTO projects (id, name, created) VALUES ($1, $2, $3) "
            "ON CONFLICT (name) DO NOTHING",
            "prj_" + secrets.token_hex(8),
            name,
            ids.now_iso(),
        )
        row = await self.db.fetchone("SELECT id FROM projects WHERE name = $1", name)
        assert row is not None
        return str(row["id"])

    async def project_name(self, project_id: str) -> str | None:
        row = await self.db.fetchone("SELECT name FROM projects WHERE id = $1", project_id)
        return str(row["name"]) if row else None

    async def create_key(
        self, project_id: str, name: str | None = None, key: str | None = None
    ) -> tuple[str, str]:
        """Store a key (a new random one unless given); return ``(key_id, key)``."""
        key = key or ids.api_key()
        key_id = "key_" + secrets.token_hex(6)
        await self.db.execute(
            "INSERT INTO api_keys (id, project_id, key_hash, prefix, name, created) "
            "VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (key_hash) DO NOTHING",
            key_id,
            project_id,
            hash_key(key),
            key[:7],
            name,
            ids.now_iso(),
        )
        return key_id, key

    async def has_key(self, key: str) -> bool:
        row = await self.db.fetchone("SELECT 1 FROM api_keys WHERE key_hash = $1", hash_key(key))
        return row is not None

    async def count_keys(self) -> int:
        row = await self.db.fetchone("SELECT COUNT(*) AS n FROM api_keys WHERE revoked IS NULL")
        return int(row["n"]) if row else 0

    async def project_for_key(self, key: str) -> str | None:
        row = await self.db.fetchone(
            "SELECT project_id FROM api_keys WHERE key_hash = $1 AND revoked IS NULL",
            hash_key(key),
        )
        return str(row["project_id"]) if row else None

    async def key_for(self, key: str) -> tuple[str, str] | None:
        """``(project_id, key_id)`` of a valid key."""
        row = await self.db.fetchone(
            "SELECT project_id, id FROM api_keys WHERE key_hash = $1 AND revoked IS NULL",
            hash_key(key),
        )
        return (str(row["project_id"]), str(row["id"])) if row else None

    async def list_keys(self, project_id: str) -> list[dict[str, Any]]:
        rows = await self.db.fetchall(
            "SELECT id, prefix, name, created, revoked FROM api_keys WHERE project_id = $1 "
            "ORDER BY created",
            project_id,
        )
        return [dict(r) for r in rows]

    async def revoke_key(self, project_id: str, key_id: str) -> bool:
        changed = await self.db.execute(
            "UPDATE api_keys SET revoked = $1 WHERE id = $2 AND project_id = $3 "
            "AND revoked IS NULL",
            ids.now_iso(),
            key_id,
            project_id,
        )
        return changed == 1
