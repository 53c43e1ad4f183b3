"""The RS256 keys that sign dynamic-webhook deliveries: generated at first start,
stored with the private half encrypted (the credentials' Fernet key), rotated with
``junction webhook-keys rotate``. Retired keys stay in the JWKS document until
``junction webhook-keys prune``, so deliveries signed just before a rotation verify."""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from cryptography.fernet import Fernet, InvalidToken

from junction.ids import now_iso
from junction.notify import signing
from junction.store.db import Database
from junction.store.webhooks import SigningKeyRows

log = logging.getLogger("junction.webhooks")

RELOAD_SECONDS = 5.0


class SigningKeys:
    def __init__(self, db: Database, fernet: Fernet | None) -> None:
        self.rows = SigningKeyRows(db)
        self._fernet = fernet
        self._active: tuple[str, str] | None = None
        self._jwks: dict[str, Any] | None = None
        self._loaded = 0.0

    async def ensure(self) -> None:
        """Generate the first key if there is none (and an encryption key exists)."""
        if self._fernet is not None and not await self.rows.all():
            await self.rotate()

    async def rotate(self) -> str:
        if self._fernet is None:
            raise RuntimeError("webhook signing keys need JUNCTION_SECRET_KEY")
        rows = await self.rows.all()
        if rows and not any(self._open(r["private_key"]) for r in rows):
            raise RuntimeError(
                "the stored webhook signing keys were encrypted with another key: run this "
                "with the JUNCTION_SECRET_KEY (or data directory) of the servers"
            )
        kid, pem, public = signing.new_rsa_key()
        sealed = self._fernet.encrypt(pem.encode()).decode()
        await self.rows.add(kid, sealed, public, now_iso())
        self._loaded = 0.0
        return kid

    async def _load(self) -> None:
        if time.monotonic() - self._loaded < RELOAD_SECONDS and self._jwks is not None:
            return
        rows = await self.rows.all()
        self._jwks = {"keys": [json.loads(r["public_jwk"]) for r in rows]}
        # the active key signs; if it cannot be opened here, the newest key that can
        for row in sorted(rows, key=lambda r: r["state"] != "active"):
            pem = self._open(row["private_key"])
            if pem is not None:
                self._active = (row["kid"], pem)
                break
            log.error("webhook signing key %s cannot be decrypted with this key", row["kid"])
        self._loaded = time.monotonic()

    def _open(self, sealed: str) -> str | None:
        if self._fernet is None:
            return None
        try:
            return self._fernet.decrypt(sealed.encode()).decode()
        except InvalidToken:
            return None

    async def jwks(self) -> dict[str, Any]:
        await self._load()
        assert self._jwks is not None
        return self._jwks

    async def active(self) -> tuple[str, str] | None:
        """(kid, private PEM) of the signing key, ``None`` when there is none."""
        await self._load()
        return self._active
