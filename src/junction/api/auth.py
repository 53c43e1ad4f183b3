"""API keys → projects. The SDK sends ``x-goog-api-key``; ``Authorization: Bearer`` is
accepted too. Verified keys are cached for a few seconds, so revocation takes effect
within ``ttl`` on every replica.

An interaction auth token (``auth_tokens/…``, docs/interactions.md) authenticates too, but
is bound to one interaction: :meth:`project_for` refuses it (403), and only the routes that
call :meth:`principal` and check :attr:`Principal.interaction_id` accept it."""

from __future__ import annotations

import time
from dataclasses import dataclass

from starlette.requests import HTTPConnection, Request

from junction.api.ratelimit import KeyRateLimiter
from junction.errors import PermissionDenied, Unauthenticated
from junction.store.auth_tokens import TOKEN_PREFIX, AuthTokenStore
from junction.store.projects import ProjectStore


@dataclass(frozen=True)
class Principal:
    project_id: str
    #: set for an interaction auth token: the one interaction it may reach
    interaction_id: str | None = None

    def require(self, interaction_id: str | None) -> None:
        """Refuse a token bound to another interaction (full keys pass)."""
        if self.interaction_id is not None and interaction_id != self.interaction_id:
            raise PermissionDenied(
                "this auth token can only read, stream, continue or connect to interaction "
                f"'{self.interaction_id}'"
            )


class Authenticator:
    def __init__(
        self,
        projects: ProjectStore,
        ttl: float = 5.0,
        limiter: KeyRateLimiter | None = None,
        tokens: AuthTokenStore | None = None,
    ) -> None:
        self.projects = projects
        self.ttl = ttl
        self.limiter = limiter
        self._cache: dict[str, tuple[str, str, float]] = {}
        self.tokens = tokens
        self._token_cache: dict[str, tuple[Principal, float, float]] = {}

    @staticmethod
    def key_from(request: HTTPConnection) -> str | None:
        key = request.headers.get("x-goog-api-key")
        if key:
            return key.strip()
        auth = request.headers.get("authorization")
        if auth and auth[:7].lower() == "bearer ":
            return auth[7:].strip() or None
        return None

    async def project_for(self, request: Request) -> str:
        """The caller's project; an interaction auth token is refused here (403)."""
        principal = await self.principal(request)
        if principal.interaction_id is not None:
            raise PermissionDenied(
                "an interaction auth token cannot be used for "
                f"{request.method} {request.url.path}: it can only read, stream, continue "
                f"or connect to interaction '{principal.interaction_id}'"
            )
        return principal.project_id

    async def principal(self, request: HTTPConnection) -> Principal:
        key = self.key_from(request)
        if not key:
            raise Unauthenticated(
                "missing API key: send it in the x-goog-api-key header "
                "(or Authorization: Bearer <key>)"
            )
        if key.startswith(TOKEN_PREFIX):
            principal = await self._token(key[len(TOKEN_PREFIX) :])
            if self.limiter is not None:
                self.limiter.check(key)
            return principal
        return Principal(await self._project_of_key(key, request))

    async def _token(self, token: str) -> Principal:
        now = time.monotonic()
        wall_ms = int(time.time() * 1000)
        cached = self._token_cache.get(token)
        if cached is not None and cached[1] > now and cached[2] > wall_ms:
            return cached[0]
        found = await self.tokens.lookup(token) if self.tokens is not None and token else None
        if found is None or found.expires_ms <= wall_ms:
            self._token_cache.pop(token, None)
            raise Unauthenticated("invalid, expired or revoked interaction auth token")
        principal = Principal(found.project_id, found.interaction_id)
        if len(self._token_cache) > 10_000:
            self._token_cache.clear()
        self._token_cache[token] = (principal, now + self.ttl, found.expires_ms)
        return principal

    def forget_token(self, token: str) -> None:
        """A revoked token stops working at once in this process."""
        self._token_cache.pop(token, None)

    def forget_tokens_of(self, interaction_id: str) -> None:
        """The tokens of a deleted interaction stop working at once in this process."""
        for token, cached in list(self._token_cache.items()):
            if cached[0].interaction_id == interaction_id:
                del self._token_cache[token]

    async def _project_of_key(self, key: str, request: HTTPConnection) -> str:
        now = time.monotonic()
        cached = self._cache.get(key)
        if cached is not None and cached[2] > now:
            if self.limiter is not None:
                self.limiter.check(key)
            request.state.api_key_id = cached[1]
            return cached[0]
        found = await self.projects.key_for(key)
        if found is None:
            self._cache.pop(key, None)
            raise Unauthenticated("invalid or revoked API key")
        project_id, key_id = found
        if len(self._cache) > 10_000:
            self._cache.clear()
        self._cache[key] = (project_id, key_id, now + self.ttl)
        if self.limiter is not None:
            self.limiter.check(key)
        #: the key's id (never the key): recorded with interactions for per-key usage
        request.state.api_key_id = key_id
        return project_id
