"""API keys → projects. The SDK sends ``x-goog-api-key``; ``Authorization: Bearer`` is
accepted too. Verified keys are cached for a few seconds, so revocation takes effect
within ``ttl`` on every replica."""

from __future__ import annotations

import time

from starlette.requests import Request

from junction.api.ratelimit import KeyRateLimiter
from junction.errors import Unauthenticated
from junction.store.projects import ProjectStore


class Authenticator:
    def __init__(
        self, projects: ProjectStore, ttl: float = 5.0, limiter: KeyRateLimiter | None = None
    ) -> None:
        self.projects = projects
        self.ttl = ttl
        self.limiter = limiter
        self._cache: dict[str, tuple[str, str, float]] = {}

    @staticmethod
    def key_from(request: Request) -> str | None:
        key = request.headers.get("x-goog-api-key")
        if key:
            return key.strip()
        auth = request.headers.get("authorization")
        if auth and auth[:7].lower() == "bearer ":
            return auth[7:].strip() or None
        return None

    async def project_for(self, request: Request) -> str:
        key = self.key_from(request)
        if not key:
            raise Unauthenticated(
                "missing API key: send it in the x-goog-api-key header "
                "(or Authorization: Bearer <key>)"
            )
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
