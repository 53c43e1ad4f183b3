"""Credentials: write-only secrets a project stores for tools, MCP servers and the
sandbox egress proxy (REFERENCE 9.1).

Secrets are encrypted at rest with Fernet (AES-128-CBC + HMAC-SHA256) under the key from
``JUNCTION_SECRET_KEY`` (or, for the embedded database only, a key file generated in the
data directory). They are never returned by the API, never logged and never placed in
model context: callers get request headers to send (:meth:`headers_for`), and OAuth2
access tokens are obtained from the stored refresh token and cached until they expire.
"""

from __future__ import annotations

import asyncio
import os
import re
import time
from pathlib import Path
from typing import Any

import aiohttp
from cryptography.fernet import Fernet, InvalidToken

from junction import jsonutil
from junction.config import Settings
from junction.errors import BadRequest, Conflict, NotFound, Unavailable
from junction.ids import now_iso
from junction.store.credentials import CredentialRows
from junction.store.db import Database, UniqueViolation

_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
# type -> (required secret fields, required settings, optional settings)
KINDS: dict[str, tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]] = {
    "bearer_token": (("token",), (), ("header_name", "prefix")),
    "environment_variable": (("value",), ("injection_location",), ("trusted_domains",)),
    "oauth2": (("client_secret", "refresh_token"), ("client_id", "token_url"), ("scopes",)),
}


# settings that are strings, and settings that are lists of strings (or one string)
_STRING_META = ("header_name", "prefix", "client_id", "token_url")
_LIST_META = ("trusted_domains", "scopes", "injection_location")


def _check_meta_types(meta: dict[str, Any]) -> None:
    for key in _STRING_META:
        if key in meta and not isinstance(meta[key], str):
            raise BadRequest(f"'{key}' must be a string")
    for key in _LIST_META:
        value = meta.get(key)
        if value is None or (isinstance(value, str) and key == "injection_location"):
            continue
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise BadRequest(f"'{key}' must be a list of strings")


def load_key(settings: Settings) -> bytes | None:
    if settings.secret_key:
        return settings.secret_key.encode()
    if not settings.resolved_database_url.startswith("sqlite:"):
        return None  # shared databases need one key for every process: set it explicitly
    path = Path(settings.data_dir) / "secret.key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(Fernet.generate_key())
    return path.read_bytes().strip()


class CredentialService:
    def __init__(self, db: Database, settings: Settings) -> None:
        self.rows = CredentialRows(db)
        self.settings = settings
        key = load_key(settings)
        self._fernet = Fernet(key) if key else None
        self._tokens: dict[tuple[str, str], tuple[str, float]] = {}
        self._locks: dict[tuple[str, str], asyncio.Lock] = {}
        self._http: aiohttp.ClientSession | None = None

    # -- encryption -----------------------------------------------------------------------
    def _cipher(self) -> Fernet:
        if self._fernet is None:
            raise Unavailable(
                "credentials need an encryption key: set JUNCTION_SECRET_KEY (a Fernet key, "
                "e.g. from `python -c 'from cryptography.fernet import Fernet; "
                "print(Fernet.generate_key().decode())'`) on every Junction process"
            )
        return self._fernet

    def _seal(self, secret: dict[str, Any]) -> str:
        return self._cipher().encrypt(jsonutil.dumpb(secret)).decode()

    def _open(self, sealed: str) -> dict[str, Any]:
        try:
            value: dict[str, Any] = jsonutil.loads(self._cipher().decrypt(sealed.encode()))
        except InvalidToken:
            raise Unavailable("a stored credential cannot be decrypted with this key") from None
        return value

    # -- API --------------------------------------------------------------------------------
    @staticmethod
    def to_wire(row: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": row["id"],
            "type": row["type"],
            "status": row["status"],
            "create_time": row["created"],
            "update_time": row["updated"],
        }

    def _split(
        self, kind: str, body: dict[str, Any], *, partial: bool
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        secrets_, required, optional = KINDS[kind]
        secret = {k: body[k] for k in secrets_ if body.get(k) not in (None, "")}
        meta = {k: body[k] for k in (*required, *optional) if body.get(k) is not None}
        if not partial:
            missing = [k for k in (*secrets_, *required) if k not in secret and k not in meta]
            if missing:
                raise BadRequest(f"a {kind} credential needs: {', '.join(missing)}")
        for key, value in secret.items():
            if not isinstance(value, str):
                raise BadRequest(f"'{key}' must be a string")
        _check_meta_types(meta)
        return secret, meta

    async def create(self, project_id: str, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise BadRequest("the request body must be a JSON object")
        kind, cred_id = body.get("type"), body.get("id")
        if not isinstance(kind, str) or kind not in KINDS:
            raise BadRequest(f"'type' must be one of: {', '.join(KINDS)}")
        if not isinstance(cred_id, str) or not _ID.match(cred_id):
            raise BadRequest("'id' must be 1-63 lowercase letters, digits, '_' or '-'")
        secret, meta = self._split(kind, body, partial=False)
        sealed = self._seal(secret)
        try:
            await self.rows.insert(project_id, cred_id, kind, sealed, meta, now_iso())
        except UniqueViolation:
            raise Conflict(f"credential '{cred_id}' already exists") from None
        row = await self.rows.get(project_id, cred_id)
        assert row is not None
        return self.to_wire(row)

    async def get(self, project_id: str, cred_id: str) -> dict[str, Any]:
        row = await self.rows.get(project_id, cred_id)
        if row is None:
            raise NotFound(f"credential '{cred_id}' not found")
        return row

    async def update(
        self, project_id: str, cred_id: str, body: Any, mask: list[str] | None
    ) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise BadRequest("the request body must be a JSON object")
        row = await self.get(project_id, cred_id)
        if body.get("type", row["type"]) != row["type"]:
            raise BadRequest(f"credential '{cred_id}' is a {row['type']}; its type cannot change")
        fields = {k: v for k, v in body.items() if k not in ("type", "id")}
        if mask:
            unknown = [
                m
                for m in mask
                if m not in {*KINDS[row["type"]][0], *KINDS[row["type"]][1], *KINDS[row["type"]][2]}
            ]
            if unknown:
                raise BadRequest(
                    f"update_mask names fields a {row['type']} does not have: " + ", ".join(unknown)
                )
            fields = {k: v for k, v in fields.items() if k in mask}
        secret_changes, meta_changes = self._split(row["type"], fields, partial=True)
        secret = {**self._open(row["secret"]), **secret_changes}
        meta = {**row["meta"], **meta_changes}
        await self.rows.update(project_id, cred_id, self._seal(secret), meta, now_iso())
        self._tokens.pop((project_id, cred_id), None)
        return self.to_wire(await self.get(project_id, cred_id))

    async def delete(self, project_id: str, cred_id: str) -> None:
        if not await self.rows.delete(project_id, cred_id):
            raise NotFound(f"credential '{cred_id}' not found")
        self._tokens.pop((project_id, cred_id), None)

    # -- use --------------------------------------------------------------------------------
    async def secret(
        self, project_id: str, cred_id: str
    ) -> tuple[str, dict[str, Any], dict[str, Any]]:
        """``(type, secret fields, settings)`` for Junction's own use (never for output)."""
        row = await self.rows.get(project_id, cred_id)
        if row is None or row["status"] != "active":
            raise BadRequest(f"credential '{cred_id}' does not exist in this project")
        return row["type"], self._open(row["secret"]), row["meta"]

    async def headers_for(self, project_id: str, cred_id: str) -> dict[str, str]:
        kind, secret, meta = await self.secret(project_id, cred_id)
        if kind == "bearer_token":
            prefix = meta.get("prefix", "Bearer")
            value = f"{prefix} {secret['token']}" if prefix else secret["token"]
            return {meta.get("header_name") or "Authorization": value}
        if kind == "oauth2":
            return {"Authorization": f"Bearer {await self._access_token(project_id, cred_id)}"}
        raise BadRequest(f"credential '{cred_id}' is an environment_variable, not a header")

    async def refresh(self, project_id: str, cred_id: str) -> dict[str, str]:
        """Headers after forcing a new OAuth2 access token (e.g. after a 401)."""
        self._tokens.pop((project_id, cred_id), None)
        return await self.headers_for(project_id, cred_id)

    async def _access_token(self, project_id: str, cred_id: str) -> str:
        key = (project_id, cred_id)
        cached = self._tokens.get(key)
        if cached and cached[1] > time.monotonic():
            return cached[0]
        async with self._locks.setdefault(key, asyncio.Lock()):
            cached = self._tokens.get(key)
            if cached and cached[1] > time.monotonic():
                return cached[0]
            _, secret, meta = await self.secret(project_id, cred_id)
            form = {
                "grant_type": "refresh_token",
                "refresh_token": secret["refresh_token"],
                "client_id": meta["client_id"],
                "client_secret": secret["client_secret"],
            }
            if meta.get("scopes"):
                form["scope"] = " ".join(meta["scopes"])
            if self._http is None or self._http.closed:
                self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=20))
            try:
                async with self._http.post(meta["token_url"], data=form) as response:
                    body = await response.json(content_type=None)
                    if response.status >= 400 or "access_token" not in body:
                        raise BadRequest(
                            f"the token endpoint of credential '{cred_id}' refused the refresh "
                            f"(HTTP {response.status}, {body.get('error', 'no access_token')})"
                        )
            except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
                raise BadRequest(
                    f"the token endpoint of credential '{cred_id}' could not be reached: {exc}"
                ) from None
            token = str(body["access_token"])
            lifetime = float(body.get("expires_in") or 3600)
            self._tokens[key] = (token, time.monotonic() + max(0.0, lifetime - 30))
            if body.get("refresh_token") and body["refresh_token"] != secret["refresh_token"]:
                secret["refresh_token"] = body["refresh_token"]  # rotated by the server
                row = await self.rows.get(project_id, cred_id)
                if row is not None:
                    await self.rows.update(
                        project_id, cred_id, self._seal(secret), row["meta"], now_iso()
                    )
            return token

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.close()
