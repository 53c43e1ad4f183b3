"""Webhook rows and signing keys, scoped by project. Secrets arrive here encrypted."""

from __future__ import annotations

from typing import Any

from junction import jsonutil
from junction.store.db import Conn, Database, Row

_COLUMNS = (
    "id, project_id, name, uri, events, state, secrets, secret_info, failures, created, updated"
)


def encode_events(events: list[str]) -> str:
    """``",a,b,"``: one LIKE pattern finds a subscriber without parsing JSON in SQL."""
    return "," + ",".join(events) + ","


def decode(row: Row) -> dict[str, Any]:
    out = dict(row)
    out["events"] = [e for e in row["events"].split(",") if e]
    out["secret_info"] = jsonutil.loads(row["secret_info"])
    return out


class WebhookRows:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def insert(self, tx: Conn, row: dict[str, Any]) -> None:
        await tx.execute(
            f"INSERT INTO webhooks ({_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 0, $9, $9)",
            row["id"],
            row["project_id"],
            row["name"],
            row["uri"],
            encode_events(row["events"]),
            row["state"],
            row["secrets"],
            jsonutil.dumps(row["secret_info"]),
            row["created"],
        )

    async def count(self, tx: Conn, project_id: str) -> int:
        found = await tx.fetchone(
            "SELECT COUNT(*) AS n FROM webhooks WHERE project_id = $1", project_id
        )
        return int(found["n"]) if found else 0

    async def get(self, project_id: str, webhook_id: str) -> dict[str, Any] | None:
        row = await self.db.fetchone(
            f"SELECT {_COLUMNS} FROM webhooks WHERE id = $1 AND project_id = $2",
            webhook_id,
            project_id,
        )
        return decode(row) if row else None

    async def get_many(self, ids: list[str]) -> list[dict[str, Any]]:
        """The webhooks a batch of deliveries goes to (dispatcher; no project filter:
        the ids come from delivery rows of the same project)."""
        if not ids:
            return []
        marks = ", ".join(f"${i + 1}" for i in range(len(ids)))
        rows = await self.db.fetchall(
            f"SELECT {_COLUMNS} FROM webhooks WHERE id IN ({marks})", *ids
        )
        return [decode(r) for r in rows]

    async def page(self, project_id: str, limit: int, after: str | None) -> list[dict[str, Any]]:
        rows = await self.db.fetchall(
            f"SELECT {_COLUMNS} FROM webhooks WHERE project_id = $1 AND id > $2 "
            "ORDER BY id LIMIT $3",
            project_id,
            after or "",
            limit,
        )
        return [decode(r) for r in rows]

    async def update(self, project_id: str, row: dict[str, Any]) -> bool:
        """Write the mutable fields of ``row`` (a changed ``state`` also clears the
        failure count: re-enabling gives the endpoint a fresh start)."""
        changed = await self.db.execute(
            "UPDATE webhooks SET name = $1, uri = $2, events = $3, state = $4, secrets = $5, "
            "secret_info = $6, failures = $7, updated = $8 WHERE id = $9 AND project_id = $10",
            row["name"],
            row["uri"],
            encode_events(row["events"]),
            row["state"],
            row["secrets"],
            jsonutil.dumps(row["secret_info"]),
            row["failures"],
            row["updated"],
            row["id"],
            project_id,
        )
        return changed == 1

    async def delete(self, project_id: str, webhook_id: str) -> bool:
        async with self.db.transaction() as tx:
            changed = await tx.execute(
                "DELETE FROM webhooks WHERE id = $1 AND project_id = $2", webhook_id, project_id
            )
            if changed:
                await tx.execute(
                    "DELETE FROM webhook_deliveries WHERE webhook_id = $1 AND project_id = $2",
                    webhook_id,
                    project_id,
                )
        return changed == 1

    async def record_result(
        self, webhook_id: str, *, ok: bool, disable_after: int, now: str
    ) -> None:
        """A message to this webhook was delivered (reset the failure count) or given up
        on (count it; at ``disable_after`` the webhook is disabled)."""
        if ok:
            await self.db.execute(
                "UPDATE webhooks SET failures = 0 WHERE id = $1 AND failures <> 0", webhook_id
            )
            return
        await self.db.execute(
            "UPDATE webhooks SET failures = failures + 1, updated = $2, state = CASE "
            "WHEN failures + 1 >= $3 AND state = 'enabled' "
            "THEN 'disabled_due_to_failed_deliveries' ELSE state END WHERE id = $1",
            webhook_id,
            now,
            disable_after,
        )


class SigningKeyRows:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def all(self) -> list[dict[str, Any]]:
        rows = await self.db.fetchall(
            "SELECT kid, private_key, public_jwk, state, created FROM webhook_signing_keys "
            "ORDER BY created DESC, kid DESC"
        )
        return [dict(r) for r in rows]

    async def add(self, kid: str, private_key: str, public_jwk: str, now: str) -> None:
        async with self.db.transaction() as tx:
            await tx.execute(
                "UPDATE webhook_signing_keys SET state = 'retired' WHERE state = 'active'"
            )
            await tx.execute(
                "INSERT INTO webhook_signing_keys (kid, private_key, public_jwk, state, created) "
                "VALUES ($1, $2, $3, 'active', $4)",
                kid,
                private_key,
                public_jwk,
                now,
            )

    async def delete_retired(self) -> int:
        return await self.db.execute("DELETE FROM webhook_signing_keys WHERE state = 'retired'")
