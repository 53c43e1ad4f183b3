"""The webhooks API (REFERENCE 9.3) over the webhook rows: create, get, list, update,
delete, ping, rotate the signing secret, and Junction's delivery log and redelivery.

Signing secrets are encrypted at rest with the credentials' Fernet key and shown in full
only in the responses of create and rotate; afterwards only ``signing_secrets`` with
truncated values and expiry times.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography.fernet import Fernet, InvalidToken

from junction import ids, jsonutil
from junction.config import WebhookSettings
from junction.errors import BadRequest, Conflict, NotFound, Unavailable
from junction.notify import events, outbox, signing
from junction.notify.destinations import Destinations
from junction.paging import page
from junction.store.db import Database
from junction.store.deliveries import DeliveryRows, OutboxMessage
from junction.store.webhooks import WebhookRows

_EVENT = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$")
MAX_EVENTS = 50
MAX_NAME = 256
MAX_URIS = 10
MAX_METADATA_BYTES = 4096
MUTABLE = ("name", "uri", "subscribed_events", "state")
GRACE = timedelta(hours=24)


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _parse(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


def live_secrets(secrets_: list[dict[str, Any]], now: datetime) -> list[dict[str, Any]]:
    return [s for s in secrets_ if not s.get("expire_time") or _parse(s["expire_time"]) > now]


class WebhookService:
    def __init__(
        self, db: Database, settings: WebhookSettings, fernet: Fernet | None, dest: Destinations
    ) -> None:
        self.db = db
        self.settings = settings
        self.rows = WebhookRows(db)
        self.deliveries = DeliveryRows(db)
        self.destinations = dest
        self._fernet = fernet

    # -- secrets --------------------------------------------------------------------------
    def _cipher(self) -> Fernet:
        if self._fernet is None:
            raise Unavailable(
                "webhooks need an encryption key for their signing secrets: set "
                "JUNCTION_SECRET_KEY (a Fernet key) on every Junction process"
            )
        return self._fernet

    def seal(self, secrets_: list[dict[str, Any]]) -> str:
        return self._cipher().encrypt(jsonutil.dumpb(secrets_)).decode()

    def unseal(self, sealed: str) -> list[dict[str, Any]]:
        try:
            value: list[dict[str, Any]] = jsonutil.loads(self._cipher().decrypt(sealed.encode()))
        except InvalidToken:
            raise Unavailable(
                "a webhook's signing secret cannot be decrypted with this key"
            ) from None
        return value

    @staticmethod
    def _info(secrets_: list[dict[str, Any]]) -> list[dict[str, Any]]:
        out = []
        for item in secrets_:
            entry = {"truncated_secret": signing.truncated(item["secret"])}
            if item.get("expire_time"):
                entry["expire_time"] = item["expire_time"]
            out.append(entry)
        return out

    # -- wire -----------------------------------------------------------------------------
    @staticmethod
    def to_wire(row: dict[str, Any]) -> dict[str, Any]:
        now = datetime.now(UTC)
        body: dict[str, Any] = {
            "id": row["id"],
            "uri": row["uri"],
            "subscribed_events": row["events"],
            "state": row["state"],
            "create_time": row["created"],
            "update_time": row["updated"],
            "signing_secrets": live_secrets(row["secret_info"], now),
        }
        if row.get("name") is not None:
            body["name"] = row["name"]
        return body

    # -- validation -----------------------------------------------------------------------
    @staticmethod
    def _events(value: Any) -> list[str]:
        if not isinstance(value, list) or not value:
            raise BadRequest(
                "'subscribed_events' must be a non-empty list of event names, e.g. "
                '["interaction.completed", "interaction.failed"]'
            )
        if len(value) > MAX_EVENTS:
            raise BadRequest(f"'subscribed_events' may name at most {MAX_EVENTS} events")
        for item in value:
            if not isinstance(item, str) or not _EVENT.match(item):
                raise BadRequest(
                    f"'subscribed_events' has {item!r}: event names look like "
                    f"'interaction.completed' (known: {', '.join(events.KNOWN_EVENTS)})"
                )
        return list(dict.fromkeys(value))

    @staticmethod
    def _name(value: Any) -> str | None:
        if value is None:
            return None
        if not isinstance(value, str) or len(value) > MAX_NAME:
            raise BadRequest(f"'name' must be a string of at most {MAX_NAME} characters")
        return value

    @staticmethod
    def _state(value: Any) -> str:
        if value not in ("enabled", "disabled"):
            raise BadRequest("'state' can be set to 'enabled' or 'disabled'")
        return str(value)

    async def check_request_config(self, config: Any) -> None:
        """Validate an interaction request's ``webhook_config`` (before anything is
        written): every URI passes the destination policy; metadata stays small."""
        if config is None:
            return
        if not isinstance(config, dict):
            raise BadRequest("'webhook_config' must be an object {uris, user_metadata}")
        unknown = set(config) - {"uris", "user_metadata"}
        if unknown:
            raise BadRequest(f"'webhook_config' has unknown fields: {', '.join(sorted(unknown))}")
        uris = config.get("uris")
        if uris is not None:
            if not isinstance(uris, list) or len(uris) > MAX_URIS:
                raise BadRequest(f"'webhook_config.uris' must be a list of at most {MAX_URIS} URLs")
            for index, uri in enumerate(uris):
                await self.destinations.check(uri, f"webhook_config.uris[{index}]")
            if uris and self._fernet is None:
                raise Unavailable(
                    "webhook_config.uris needs a signing key: set JUNCTION_SECRET_KEY on every "
                    "Junction process"
                )
        metadata = config.get("user_metadata")
        if metadata is not None:
            if not isinstance(metadata, dict):
                raise BadRequest("'webhook_config.user_metadata' must be an object")
            if len(jsonutil.dumpb(metadata)) > MAX_METADATA_BYTES:
                raise BadRequest(
                    f"'webhook_config.user_metadata' is larger than {MAX_METADATA_BYTES} bytes"
                )

    # -- API ------------------------------------------------------------------------------
    async def create(self, project_id: str, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise BadRequest("the request body must be a JSON object")
        if "uri" not in body:
            raise BadRequest("'uri' is required: the https URL deliveries are POSTed to")
        uri = await self.destinations.check(body.get("uri"))
        subscribed = self._events(body.get("subscribed_events"))
        name = self._name(body.get("name"))
        state = self._state(body["state"]) if body.get("state") is not None else "enabled"
        secret = signing.new_secret()
        secrets_ = [{"secret": secret, "expire_time": None}]
        now = ids.now_iso()
        row = {
            "id": ids.sortable_id("wh_"),
            "project_id": project_id,
            "name": name,
            "uri": uri,
            "events": subscribed,
            "state": state,
            "secrets": self.seal(secrets_),
            "secret_info": self._info(secrets_),
            "failures": 0,
            "created": now,
            "updated": now,
        }
        async with self.db.transaction() as tx:
            if await self.rows.count(tx, project_id) >= self.settings.max_per_project:
                raise BadRequest(
                    f"this project has {self.settings.max_per_project} webhooks, the limit "
                    "(JUNCTION_WEBHOOK_MAX_PER_PROJECT): delete one first"
                )
            await self.rows.insert(tx, row)
        return {**self.to_wire(row), "new_signing_secret": secret}

    async def get(self, project_id: str, webhook_id: str) -> dict[str, Any]:
        row = await self.rows.get(project_id, webhook_id)
        if row is None:
            raise NotFound(f"webhook '{webhook_id}' not found")
        return row

    async def update(
        self, project_id: str, webhook_id: str, body: Any, mask: list[str] | None
    ) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise BadRequest("the request body must be a JSON object")
        fields = mask if mask is not None else [k for k in MUTABLE if k in body]
        bad = [f for f in fields if f not in MUTABLE]
        if bad:
            raise BadRequest(
                f"update_mask names fields that cannot be changed: {', '.join(bad)} "
                f"(changeable: {', '.join(MUTABLE)})"
            )
        if not fields:
            raise BadRequest(f"nothing to update: send any of {', '.join(MUTABLE)}")
        row = await self.get(project_id, webhook_id)
        if "uri" in fields:
            row["uri"] = await self.destinations.check(body.get("uri"))
        if "subscribed_events" in fields:
            row["events"] = self._events(body.get("subscribed_events"))
        if "name" in fields:
            row["name"] = self._name(body.get("name"))
        if "state" in fields:
            state = self._state(body.get("state"))
            if state != row["state"]:
                row["failures"] = 0
            row["state"] = state
        row["updated"] = ids.now_iso()
        if not await self.rows.update(project_id, row):
            raise NotFound(f"webhook '{webhook_id}' not found")
        return self.to_wire(row)

    async def delete(self, project_id: str, webhook_id: str) -> None:
        if not await self.rows.delete(project_id, webhook_id):
            raise NotFound(f"webhook '{webhook_id}' not found")

    async def rotate(self, project_id: str, webhook_id: str, body: Any) -> dict[str, Any]:
        behavior = (body or {}).get("revocation_behavior") if isinstance(body, dict) else None
        behavior = behavior or "revoke_previous_secrets_after_h24"
        if behavior not in (
            "revoke_previous_secrets_after_h24",
            "revoke_previous_secrets_immediately",
        ):
            raise BadRequest(
                "'revocation_behavior' must be revoke_previous_secrets_after_h24 or "
                "revoke_previous_secrets_immediately"
            )
        row = await self.get(project_id, webhook_id)
        now = datetime.now(UTC)
        previous = live_secrets(self.unseal(row["secrets"]), now)
        if behavior == "revoke_previous_secrets_immediately":
            previous = []
        else:
            expiry = _iso(now + GRACE)
            for item in previous:
                if not item.get("expire_time") or _parse(item["expire_time"]) > now + GRACE:
                    item["expire_time"] = expiry
        secret = signing.new_secret()
        secrets_ = [{"secret": secret, "expire_time": None}, *previous]
        row["secrets"] = self.seal(secrets_)
        row["secret_info"] = self._info(secrets_)
        row["updated"] = ids.now_iso()
        if not await self.rows.update(project_id, row):
            raise NotFound(f"webhook '{webhook_id}' not found")
        return {"secret": secret}

    async def _check_pending(self, webhook_id: str) -> None:
        if await self.deliveries.pending(webhook_id) >= self.settings.max_pending:
            raise Conflict(
                f"webhook '{webhook_id}' has {self.settings.max_pending} deliveries pending "
                "(JUNCTION_WEBHOOK_MAX_PENDING): wait for them to be delivered or given up"
            )

    async def ping(self, project_id: str, webhook_id: str) -> dict[str, Any]:
        row = await self.get(project_id, webhook_id)
        await self._check_pending(webhook_id)
        message = OutboxMessage(
            message_id=outbox.message_id(),
            project_id=project_id,
            event_type=events.PING,
            body=events.body(events.PING, {"id": webhook_id, "object": "webhook"}),
        )
        async with self.db.transaction() as tx:
            await tx.execute(
                "INSERT INTO webhook_deliveries (id, message_id, project_id, webhook_id, "
                "event_type, payload, state, attempts, next_attempt_ms, created_ms, created, "
                "updated) VALUES ($1, $2, $3, $4, $5, $6, 'pending', 0, $7, $7, $8, $8)",
                f"{message.message_id}:{row['id']}",
                message.message_id,
                project_id,
                row["id"],
                message.event_type,
                message.payload,
                outbox.now_ms(),
                ids.now_iso(),
            )
        outbox.wake(self.db)
        return {}

    @staticmethod
    def delivery_wire(row: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": row["id"],
            "webhook_id": row["webhook_id"],
            "message_id": row["message_id"],
            "event_type": row["event_type"],
            "state": row["state"],
            "attempts": row["history"],
            "attempt_count": len(row["history"]),
            "create_time": row["created"],
            "update_time": row["updated"],
        }
        if row["last_status"] is not None:
            out["last_status_code"] = row["last_status"]
        if row["last_error"]:
            out["last_error"] = row["last_error"]
        if row["state"] == "pending":
            due = datetime.fromtimestamp(row["next_attempt_ms"] / 1000, UTC)
            out["next_attempt_time"] = _iso(due)
        return out

    async def list_deliveries(
        self, project_id: str, webhook_id: str, size: int, token: str | None
    ) -> dict[str, Any]:
        await self.get(project_id, webhook_id)
        rows = await self.deliveries.page(project_id, webhook_id, size + 1, token)
        return page(rows, size, "deliveries", wire=self.delivery_wire)

    async def redeliver(self, project_id: str, webhook_id: str, delivery_id: str) -> dict[str, Any]:
        row = await self.deliveries.get(project_id, delivery_id)
        if row is None or row["webhook_id"] != webhook_id:
            raise NotFound(f"delivery '{delivery_id}' of webhook '{webhook_id}' not found")
        if row["state"] == "pending":
            raise Conflict(f"delivery '{delivery_id}' is still pending: it will be retried")
        await self._check_pending(webhook_id)
        await self.deliveries.requeue(project_id, delivery_id, outbox.now_ms(), ids.now_iso())
        outbox.wake(self.db)
        fresh = await self.deliveries.get(project_id, delivery_id)
        assert fresh is not None
        return self.delivery_wire(fresh)
