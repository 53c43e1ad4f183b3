"""Interaction auth tokens: short-lived keys bound to one interaction of one project.
Only the SHA-256 digest of a token is stored (tokens are 256-bit random values)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from junction import ids
from junction.store.db import Database
from junction.store.projects import hash_key

#: the prefix the SDK puts before a token in ``api_key`` (and the API returns)
TOKEN_PREFIX = "auth_tokens/"


@dataclass(frozen=True)
class AuthToken:
    project_id: str
    interaction_id: str
    expires_ms: int


class AuthTokenStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def create(
        self, project_id: str, interaction_id: str, expires_ms: int, now_ms: int
    ) -> str:
        """A new token (without its prefix); expired tokens of the interaction go first."""
        token = secrets.token_hex(32)
        async with self.db.transaction() as tx:
            await tx.execute(
                "DELETE FROM interaction_auth_tokens WHERE project_id = $1 "
                "AND interaction_id = $2 AND expires_ms <= $3",
                project_id,
                interaction_id,
                now_ms,
            )
            await tx.execute(
                "INSERT INTO interaction_auth_tokens "
                "(token_hash, project_id, interaction_id, expires_ms, created) "
                "VALUES ($1, $2, $3, $4, $5)",
                hash_key(token),
                project_id,
                interaction_id,
                expires_ms,
                ids.now_iso(),
            )
        return token

    async def count(self, project_id: str, interaction_id: str, now_ms: int) -> int:
        row = await self.db.fetchone(
            "SELECT COUNT(*) AS n FROM interaction_auth_tokens WHERE project_id = $1 "
            "AND interaction_id = $2 AND expires_ms > $3",
            project_id,
            interaction_id,
            now_ms,
        )
        return int(row["n"]) if row else 0

    async def lookup(self, token: str) -> AuthToken | None:
        row = await self.db.fetchone(
            "SELECT project_id, interaction_id, expires_ms FROM interaction_auth_tokens "
            "WHERE token_hash = $1",
            hash_key(token),
        )
        if row is None:
            return None
        return AuthToken(row["project_id"], row["interaction_id"], int(row["expires_ms"]))

    async def delete(self, project_id: str, interaction_id: str, token: str) -> bool:
        changed = await self.db.execute(
            "DELETE FROM interaction_auth_tokens WHERE token_hash = $1 AND project_id = $2 "
            "AND interaction_id = $3",
            hash_key(token),
            project_id,
            interaction_id,
        )
        return changed == 1

    async def delete_for(self, project_id: str, interaction_id: str) -> None:
        """Drop every token of an interaction (it was deleted)."""
        await self.db.execute(
            "DELETE FROM interaction_auth_tokens WHERE project_id = $1 AND interaction_id = $2",
            project_id,
            interaction_id,
        )
