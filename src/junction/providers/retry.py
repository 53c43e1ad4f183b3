"""Retries at the provider seam: 429/5xx/connection errors are retried with exponential
backoff and jitter, honouring the provider's Retry-After, but only while nothing has
been yielded yet (a half-streamed answer is never silently replayed)."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import AsyncIterator, Callable

from junction.errors import ProviderError
from junction.providers.base import ModelRequest, Provider, ProviderEvent

log = logging.getLogger("junction.providers")


async def stream_with_retries(
    provider: Provider,
    request: ModelRequest,
    *,
    attempts: int,
    base_delay: float,
    max_delay: float,
    on_error: Callable[[ProviderError, bool], None] | None = None,
) -> AsyncIterator[ProviderEvent]:
    """``on_error(exc, retried)`` hears of every failed attempt (metrics, tracing)."""
    attempt = 0
    while True:
        attempt += 1
        started = False
        try:
            async for event in provider.stream(request):
                started = True
                yield event
            return
        except ProviderError as exc:
            final = started or not exc.retryable or attempt >= attempts
            if on_error is not None:
                on_error(exc, not final)
            if final:
                raise
            delay = min(max_delay, base_delay * 2 ** (attempt - 1)) * (1 - random.random() * 0.25)
            if exc.retry_after is not None:
                delay = min(max(exc.retry_after, 0.0), 60.0)
            log.warning(
                "provider %s failed (attempt %d/%d), retrying in %.2fs: %s",
                provider.name,
                attempt,
                attempts,
                delay,
                exc.message,
            )
            await asyncio.sleep(delay)
