"""HTTP plumbing shared by the providers that speak a vendor's REST dialect directly:
one pooled aiohttp session per provider, error translation at the seam, and an SSE
reader. (aiohttp rather than httpx: its C parser keeps per-request overhead low.)"""

from __future__ import annotations

import contextlib
import email.utils
import time
from collections.abc import AsyncIterator, Iterator, Mapping
from typing import Any

import aiohttp

from junction import jsonutil
from junction.errors import (
    ProviderError,
    ProviderRateLimited,
    ProviderRejected,
    ProviderUnavailable,
)


def parse_retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds to wait from ``retry-after-ms`` or ``Retry-After`` (seconds or HTTP date)."""
    raw_ms = headers.get("retry-after-ms")
    if raw_ms:
        with contextlib.suppress(ValueError):
            return max(0.0, float(raw_ms) / 1000)
    raw = headers.get("Retry-After") or headers.get("retry-after")
    if not raw:
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        parsed = email.utils.parsedate_to_datetime(raw) if raw else None
        return max(0.0, parsed.timestamp() - time.time()) if parsed else None


def error_for_status(status: int, body: str, headers: Mapping[str, str], who: str) -> ProviderError:
    detail = body.strip()
    with contextlib.suppress(ValueError, TypeError):
        data = jsonutil.loads(body)
        err = data.get("error", data) if isinstance(data, dict) else data
        if isinstance(err, dict):
            detail = str(err.get("message") or err)
    detail = detail[:500]
    message = f"{who} answered HTTP {status}: {detail}"
    if status == 429:
        return ProviderRateLimited(message, status=status, retry_after=parse_retry_after(headers))
    if status >= 500 or status in (408, 409):
        return ProviderUnavailable(message, status=status, retry_after=parse_retry_after(headers))
    return ProviderRejected(message, status=status)


class HttpClient:
    """A lazily created aiohttp session with a generous connection pool."""

    def __init__(self, who: str, timeout: float) -> None:
        self.who = who
        self._timeout = aiohttp.ClientTimeout(total=timeout, sock_connect=10)
        self._session: aiohttp.ClientSession | None = None

    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                timeout=self._timeout,
                connector=aiohttp.TCPConnector(limit=256, ttl_dns_cache=300),
                json_serialize=jsonutil.dumps,
            )
        return self._session

    @contextlib.asynccontextmanager
    async def post(
        self, url: str, body: Any, headers: Mapping[str, str]
    ) -> AsyncIterator[aiohttp.ClientResponse]:
        """POST JSON (an object, or bytes already encoded); raise a translated
        :class:`ProviderError` on failure statuses."""
        data = body if isinstance(body, bytes) else jsonutil.dumpb(body)
        try:
            async with self.session().post(
                url,
                data=data,
                headers={**headers, "Content-Type": "application/json"},
            ) as response:
                if response.status >= 400:
                    text = await response.text(errors="replace")
                    raise error_for_status(response.status, text, response.headers, self.who)
                yield response
        except (TimeoutError, aiohttp.ClientConnectionError) as exc:
            raise ProviderUnavailable(f"{self.who} could not be reached: {exc!r}") from exc
        except aiohttp.ClientPayloadError as exc:
            raise ProviderUnavailable(f"{self.who} sent a broken response: {exc}") from exc

    @contextlib.asynccontextmanager
    async def post_form(
        self, url: str, form: aiohttp.FormData, headers: Mapping[str, str]
    ) -> AsyncIterator[aiohttp.ClientResponse]:
        """POST a multipart form (file uploads), with the same error translation."""
        try:
            async with self.session().post(url, data=form, headers=dict(headers)) as response:
                if response.status >= 400:
                    text = await response.text(errors="replace")
                    raise error_for_status(response.status, text, response.headers, self.who)
                yield response
        except (TimeoutError, aiohttp.ClientConnectionError) as exc:
            raise ProviderUnavailable(f"{self.who} could not be reached: {exc!r}") from exc
        except aiohttp.ClientPayloadError as exc:
            raise ProviderUnavailable(f"{self.who} sent a broken response: {exc}") from exc

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()


async def sse_events(response: aiohttp.ClientResponse) -> AsyncIterator[tuple[str, str]]:
    """Yield ``(event_name, data)`` pairs from a text/event-stream body."""
    parser = SseParser()
    async for chunk in response.content.iter_any():
        for event in parser.feed(chunk):
            yield event
    for event in parser.feed(b"\n\n"):
        yield event


class SseParser:
    """Incremental Server-Sent Events parser (WHATWG rules, ``data`` lines joined by \\n)."""

    def __init__(self) -> None:
        # (a bytearray grows in place: a megabyte line, e.g. an image in one event,
        # arriving in many reads is not copied once per read)
        self._buffer = bytearray()
        self._scanned = 0
        self._event = ""
        self._data: list[str] = []

    def feed(self, chunk: bytes) -> Iterator[tuple[str, str]]:
        self._buffer += chunk
        while True:
            cut = self._buffer.find(b"\n", self._scanned)
            if cut < 0:
                self._scanned = len(self._buffer)
                return
            line = self._buffer[:cut].rstrip(b"\r").decode("utf-8", errors="replace")
            del self._buffer[: cut + 1]
            self._scanned = 0
            if not line:
                if self._data:
                    yield self._event or "message", "\n".join(self._data)
                self._event, self._data = "", []
                continue
            if line.startswith(":"):
                continue
            name, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if name == "data":
                self._data.append(value)
            elif name == "event":
                self._event = value
