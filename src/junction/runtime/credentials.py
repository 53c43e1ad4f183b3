"""Credentials: write-only secrets a project stores for tools, MCP servers and the
sandbox egress proxy (REFERENCE 9.1).

Every credential is bound to the hosts in its ``trusted_domains`` (the SDK's field of
``environment_variable``; a Junction addition for ``bearer_token`` and ``oauth2``): every
use — an MCP server's request, the egress proxy's injection, an OAuth2 token refresh at
``token_url`` — names its destination and is refused unless the host matches one of them
(``api.example.com`` exactly, ``*.example.com`` any subdomain). A credential without
``trusted_domains`` is sent nowhere. Changing where a credential may go (``token_url``,
``trusted_domains``) needs the secret again, so a leaked API key cannot redirect a
stored secret to its own server.

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
from urllib.parse import urlsplit

import aiohttp
from cryptography.fernet import Fernet, InvalidToken

from junction import jsonutil
from junction.config import Settings
from junction.errors import BadRequest, Conflict, NotFound, Unavailable
from junction.ids import now_iso
from junction.sandbox.types import EgressRule
from junction.store.credentials import CredentialRows
from junction.store.db import Database, UniqueViolation
from junction.tools.fetch import (
    AddressPolicy,
    UnsafeAddress,
    VettingResolver,
    numeric_host,
    system_lookup,
)

_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
# type -> (required secret fields, required settings, optional settings)
KINDS: dict[str, tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]] = {
    "bearer_token": (("token",), (), ("header_name", "prefix", "trusted_domains")),
    "environment_variable": (("value",), ("injection_location",), ("trusted_domains",)),
    "oauth2": (
        ("client_secret", "refresh_token"),
        ("client_id", "token_url"),
        ("scopes", "trusted_domains"),
    ),
}
#: settings that decide where a secret goes: changing one needs the secret again
BINDING_FIELDS = ("token_url", "trusted_domains")
MAX_TRUSTED_DOMAINS = 32


class UntrustedDestination(BadRequest):
    """A credential was about to be sent to a host outside its ``trusted_domains``."""


def _check_domains(value: Any) -> list[str]:
    problem = (
        "'trusted_domains' must be a list of host names ('api.example.com', "
        f"'*.example.com'), at most {MAX_TRUSTED_DOMAINS}"
    )
    if not isinstance(value, list) or len(value) > MAX_TRUSTED_DOMAINS:
        raise BadRequest(problem)
    domains = []
    for item in value:
        if not isinstance(item, str) or item.strip() == "*":
            raise BadRequest(problem)
        try:
            domains.append(EgressRule(item).domain)
        except ValueError:
            raise BadRequest(f"{problem}; '{item}' is not one") from None
    return domains


def trusts(meta: dict[str, Any], host: str) -> bool:
    """Whether a credential with settings ``meta`` may be sent to ``host``."""
    host = host.strip("[]").lower().rstrip(".")
    try:
        numeric = numeric_host(host) is not None
    except UnsafeAddress:
        return False
    domains = meta.get("trusted_domains") or []
    if numeric:  # an IP address matches only itself, never a '*.' pattern
        return any(domain.strip("[]") == host for domain in domains)
    return bool(host) and any(EgressRule(domain).matches(host) for domain in domains)


def _host(url: str) -> str:
    try:
        return (urlsplit(url).hostname or "").lower().rstrip(".")
    except ValueError:
        return ""


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

    def seal(self, data: dict[str, Any]) -> str:
        """``data`` encrypted under the credential key (for other secrets kept at rest)."""
        return self._seal(data)

    def unseal(self, sealed: str) -> dict[str, Any]:
        return self._open(sealed)

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
        if "trusted_domains" in meta:
            meta["trusted_domains"] = _check_domains(meta["trusted_domains"])
        if "token_url" in meta:
            url = meta["token_url"]
            if not isinstance(url, str) or urlsplit(url).scheme not in ("http", "https"):
                raise BadRequest("'token_url' must be an http(s) URL")
            if not _host(url):
                raise BadRequest("'token_url' must name a host")
        return secret, meta

    @staticmethod
    def _check_binding(kind: str, meta: dict[str, Any]) -> None:
        if (
            kind == "oauth2"
            and meta.get("trusted_domains")
            and not trusts(meta, _host(meta["token_url"]))
        ):
            raise BadRequest(
                f"'token_url' host '{_host(meta['token_url'])}' is not in 'trusted_domains': "
                "add it there (the refresh token is sent to it)"
            )

    async def create(self, project_id: str, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise BadRequest("the request body must be a JSON object")
        kind, cred_id = body.get("type"), body.get("id")
        if not isinstance(kind, str) or kind not in KINDS:
            raise BadRequest(f"'type' must be one of: {', '.join(KINDS)}")
        if not isinstance(cred_id, str) or not _ID.match(cred_id):
            raise BadRequest("'id' must be 1-63 lowercase letters, digits, '_' or '-'")
        secret, meta = self._split(kind, body, partial=False)
        self._check_binding(kind, meta)
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
        moved = [
            k for k in BINDING_FIELDS if k in meta_changes and meta_changes[k] != row["meta"].get(k)
        ]
        missing = [k for k in KINDS[row["type"]][0] if k not in secret_changes]
        if moved and missing:
            raise BadRequest(
                f"changing {' and '.join(repr(k) for k in moved)} of credential '{cred_id}' "
                f"needs the secret again: supply {', '.join(repr(k) for k in missing)} in the "
                "same request" + (" (and in update_mask)" if mask else "")
            )
        secret = {**self._open(row["secret"]), **secret_changes}
        meta = {**row["meta"], **meta_changes}
        self._check_binding(row["type"], meta)
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

    def check_destination(self, cred_id: str, meta: dict[str, Any], url: str) -> None:
        """:class:`UntrustedDestination` unless ``url``'s host is a trusted domain."""
        host = _host(url) if "/" in url else url.strip("[]").lower().rstrip(".")
        if trusts(meta, host):
            return
        domains = meta.get("trusted_domains") or []
        raise UntrustedDestination(
            f"credential '{cred_id}' may not be sent to '{host}': "
            + (
                f"its trusted_domains are {', '.join(domains)}"
                if domains
                else "it has no trusted_domains (set them, with the secret, to say where it "
                "may be sent)"
            )
        )

    async def headers_for(self, project_id: str, cred_id: str, url: str) -> dict[str, str]:
        """The headers that carry the credential on a request to ``url`` (a URL or a host),
        which must be one of the credential's trusted domains."""
        kind, secret, meta = await self.secret(project_id, cred_id)
        self.check_destination(cred_id, meta, url)
        if kind == "bearer_token":
            prefix = meta.get("prefix", "Bearer")
            value = f"{prefix} {secret['token']}" if prefix else secret["token"]
            return {meta.get("header_name") or "Authorization": value}
        if kind == "oauth2":
            return {"Authorization": f"Bearer {await self._access_token(project_id, cred_id)}"}
        raise BadRequest(f"credential '{cred_id}' is an environment_variable, not a header")

    async def refresh(self, project_id: str, cred_id: str, url: str) -> dict[str, str]:
        """Headers after forcing a new OAuth2 access token (e.g. after a 401)."""
        self._tokens.pop((project_id, cred_id), None)
        return await self.headers_for(project_id, cred_id, url)

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
            self.check_destination(cred_id, meta, meta["token_url"])
            form = {
                "grant_type": "refresh_token",
                "refresh_token": secret["refresh_token"],
                "client_id": meta["client_id"],
                "client_secret": secret["client_secret"],
            }
            if meta.get("scopes"):
                form["scope"] = " ".join(meta["scopes"])
            if self._http is None or self._http.closed:
                # the url_context fetcher's address check; no proxy from the environment
                policy = self._address_policy()
                self._http = aiohttp.ClientSession(
                    connector=aiohttp.TCPConnector(
                        resolver=VettingResolver(system_lookup, policy), use_dns_cache=False
                    ),
                    timeout=aiohttp.ClientTimeout(total=20),
                    trust_env=False,
                )
            token_host = _host(meta["token_url"])
            try:
                numeric = numeric_host(token_host)
            except UnsafeAddress as exc:
                raise BadRequest(f"credential '{cred_id}': token_url: {exc}") from None
            problem = None if numeric is None else self._address_policy().problem(numeric)
            if problem is not None:
                raise BadRequest(
                    f"credential '{cred_id}': token_url host {numeric} is not a public "
                    f"address ({problem})"
                )
            try:
                async with self._http.post(
                    meta["token_url"], data=form, allow_redirects=False
                ) as response:
                    body = await response.json(content_type=None)
                    if not isinstance(body, dict):
                        body = {}
                    if response.status >= 400 or "access_token" not in body:
                        raise BadRequest(
                            f"the token endpoint of credential '{cred_id}' refused the refresh "
                            f"(HTTP {response.status}, {body.get('error', 'no access_token')})"
                        )
            except (aiohttp.ClientError, TimeoutError, ValueError, OSError) as exc:
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

    def _address_policy(self) -> AddressPolicy:
        return AddressPolicy(
            self.settings.credentials_allow_private or self.settings.url_fetch_allow_private
        )

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.close()
