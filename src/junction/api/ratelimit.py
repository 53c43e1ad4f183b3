"""Requests per second per API key: a token bucket per key, in this process.

Each key may make ``rate`` requests per second on average and ``burst`` at once. A
request over it is refused with ``429`` and ``Retry-After`` (seconds until a token is
back), which the SDK honours when it retries. Several API processes each keep their own
buckets, so a cluster of N processes admits up to N times the rate.
"""

from __future__ import annotations

import time

from junction.errors import TooManyRequests


class KeyRateLimiter:
    def __init__(self, rate: float, burst: int, *, max_keys: int = 100_000) -> None:
        self.rate = rate
        self.burst = max(1, burst)
        self.max_keys = max_keys
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, at)

    def check(self, key: str) -> None:
        """Take one token for ``key`` or raise :class:`TooManyRequests`."""
        if self.rate <= 0:
            return
        now = time.monotonic()
        tokens, at = self._buckets.get(key, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - at) * self.rate)
        if tokens < 1.0:
            self._buckets[key] = (tokens, now)
            wait = (1.0 - tokens) / self.rate
            raise TooManyRequests(
                f"too many requests with this API key: at most {self.rate:g} per second "
                f"(burst {self.burst}); retry after {wait:.1f} s",
                retry_after=wait,
            )
        if len(self._buckets) >= self.max_keys and key not in self._buckets:
            self._buckets.clear()  # only ever full under a flood of distinct valid keys
        self._buckets[key] = (tokens - 1.0, now)
