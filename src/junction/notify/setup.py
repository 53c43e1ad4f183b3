"""Opening the webhook machinery of one process: the API service, the signing keys
(the first RS256 key is generated here), and — in processes that run background work —
the dispatcher."""

from __future__ import annotations

from dataclasses import dataclass

from cryptography.fernet import Fernet

from junction.config import Settings
from junction.notify import outbox
from junction.notify.destinations import Destinations
from junction.notify.dispatcher import Dispatcher
from junction.notify.keys import SigningKeys
from junction.notify.service import WebhookService
from junction.store.db import Database


@dataclass
class Notify:
    service: WebhookService
    keys: SigningKeys
    dispatcher: Dispatcher | None

    async def close(self) -> None:
        if self.dispatcher is not None:
            await self.dispatcher.stop()


async def open_notify(
    db: Database, settings: Settings, key: bytes | None, *, dispatch: bool
) -> Notify:
    fernet = Fernet(key) if key else None
    outbox.configure(max_pending=settings.webhooks.max_pending)
    destinations = Destinations(settings.webhooks)
    service = WebhookService(db, settings.webhooks, fernet, destinations)
    keys = SigningKeys(db, fernet)
    await keys.ensure()
    dispatcher = Dispatcher(service, keys, destinations) if dispatch else None
    if dispatcher is not None:
        await dispatcher.start()
    return Notify(service, keys, dispatcher)
