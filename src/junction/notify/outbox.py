"""Putting events in the outbox, inside the caller's transaction.

Anything that ends in an event calls :func:`enqueue` inside the transaction that
records the outcome, then :func:`wake` after the commit. The delivery rows commit or
roll back with the outcome itself, so an event is never lost and never sent for a change
that did not happen; dispatchers (``notify/dispatcher.py``) send them.

Interactions go through :func:`interaction_message` instead, which the journal writes in
its own persist (on PostgreSQL as part of the run's single progress statement).
"""

from __future__ import annotations

import time
import weakref
from collections.abc import Callable
from typing import Any

from junction import ids
from junction.notify import events
from junction.store.db import Conn, Database
from junction.store.deliveries import OutboxMessage, write_message

#: cross-process wake-up channel (LISTEN/NOTIFY on PostgreSQL)
WEBHOOKS_CHANNEL = "junction_webhooks"
#: at most this many pending deliveries per webhook; further events to it are dropped
#: (JUNCTION_WEBHOOK_MAX_PENDING sets it for the process, see configure)
DEFAULT_MAX_PENDING = 10_000

_limits = {"max_pending": DEFAULT_MAX_PENDING}
_local: weakref.WeakKeyDictionary[Database, list[Callable[[], None]]] = weakref.WeakKeyDictionary()


def configure(*, max_pending: int) -> None:
    """Set the process's limits (called once, when the process opens its services)."""
    _limits["max_pending"] = max_pending


def max_pending() -> int:
    return _limits["max_pending"]


def message_id() -> str:
    return ids.sortable_id("msg_")


def now_ms() -> int:
    return int(time.time() * 1000)


async def enqueue(
    tx: Conn,
    *,
    project_id: str,
    event_type: str,
    data: dict[str, Any],
    uris: list[str] | None = None,
    user_metadata: dict[str, Any] | None = None,
) -> int:
    """Queue ``event_type`` with ``data`` for the project's webhooks subscribed to it (or
    for ``uris``, a per-request destination list) inside the open transaction ``tx``.
    Returns the number of deliveries queued; call :func:`wake` after the commit."""
    message = OutboxMessage(
        message_id=message_id(),
        project_id=project_id,
        event_type=event_type,
        body=events.body(event_type, data),
        uris=uris or (),
        user_metadata=user_metadata,
    )
    return await write_message(tx, message, now_ms(), ids.now_iso(), max_pending())


def wake(db: Database) -> None:
    """After a commit that queued deliveries: wake this process's dispatcher at once and
    (PostgreSQL) every other process's through NOTIFY."""
    for callback in _local.get(db, ()):
        callback()
    db.notify_soon(WEBHOOKS_CHANNEL, "1")


def on_wake(db: Database, callback: Callable[[], None]) -> None:
    _local.setdefault(db, []).append(callback)


def off_wake(db: Database, callback: Callable[[], None]) -> None:
    callbacks = _local.get(db, [])
    if callback in callbacks:
        callbacks.remove(callback)


def interaction_message(
    project_id: str,
    interaction_id: str,
    status: str,
    errors: list[dict[str, Any]] | None,
    config: dict[str, Any],
) -> OutboxMessage | None:
    """The message an interaction reaching ``status`` raises (``None``: no event). A
    request's ``webhook_config.uris`` replace the project's webhooks for it."""
    event_type = events.STATUS_EVENTS.get(status)
    if event_type is None:
        return None
    webhook_config = config.get("webhook_config") or {}
    uris = list(webhook_config.get("uris") or ())
    metadata = webhook_config.get("user_metadata") or None
    errors = list(errors) if errors else None  # as they are now, for a body made later
    return OutboxMessage(
        message_id=message_id(),
        project_id=project_id,
        event_type=event_type,
        body=lambda: events.body(
            event_type, events.interaction_data(interaction_id, status, errors, metadata)
        ),
        uris=uris,
        user_metadata=metadata,
    )
