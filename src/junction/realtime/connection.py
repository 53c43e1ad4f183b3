"""The WebSocket to a realtime API, opened like every other outbound connection: the
host is resolved by Junction and refused when any of its addresses is not allowed
(:mod:`junction.addresses`, through the ``url_context`` fetcher's vetting resolver, so
DNS rebinding cannot swap the address); numeric hosts are vetted before connecting; no
proxy settings from the environment. Failures become :class:`ProviderError` values."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Mapping
from typing import Any

import aiohttp
from yarl import URL

from junction import jsonutil
from junction.addresses import AddressPolicy, UnsafeAddress, numeric_host
from junction.errors import ProviderRejected, ProviderUnavailable
from junction.providers.http import error_for_status
from junction.tools.fetch import VettingResolver, system_lookup

#: the largest message a realtime API may send (audio pieces are far smaller)
MAX_MESSAGE = 16 * 1024 * 1024
#: close codes that refuse the request (unsupported, invalid or too large data, policy):
#: not retried
_REFUSALS = frozenset({1003, 1007, 1008, 1009})


def _unsafe(exc: BaseException) -> UnsafeAddress | None:
    seen: BaseException | None = exc
    for _ in range(6):
        if seen is None:
            return None
        if isinstance(seen, UnsafeAddress):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


def vet(url: URL, policy: AddressPolicy, who: str) -> None:
    """Refuse a URL that is not ws(s), or whose literal address is not allowed."""
    if url.scheme not in ("ws", "wss") or not url.host:
        raise ProviderRejected(f"{who}: the realtime URL must be ws:// or wss://, not {url}")
    try:
        ip = numeric_host(url.host)
    except UnsafeAddress as exc:
        raise ProviderRejected(f"{who}: {exc}") from None
    problem = policy.problem(ip) if ip is not None else None
    if problem is not None:
        raise ProviderRejected(
            f"{who}: {ip} is not a public address ({problem}); set realtime_allow_private "
            "on the provider to reach it"
        )


class RealtimeSocket:
    """JSON messages over one WebSocket."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse, who: str) -> None:
        self.ws = ws
        self.who = who

    async def send(self, message: dict[str, Any]) -> None:
        try:
            await self.ws.send_str(jsonutil.dumps(message))
        except (aiohttp.ClientError, ConnectionError) as exc:
            raise ProviderUnavailable(f"{self.who}: the connection broke: {exc!r}") from exc

    async def receive(self) -> dict[str, Any]:
        try:
            message = await self.ws.receive()
        except TimeoutError as exc:
            raise ProviderUnavailable(f"{self.who}: no answer in time") from exc
        if message.type in (aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY):
            try:
                data = jsonutil.loads(message.data)
            except ValueError:
                data = None
            if not isinstance(data, dict):
                raise ProviderUnavailable(f"{self.who} sent a message that is not a JSON object")
            return data
        code = self.ws.close_code
        reason = f"{self.who} closed the connection mid-answer (code {code}): {message.extra or ''}"
        if code in _REFUSALS:
            raise ProviderRejected(reason.rstrip(": "), status=400)
        raise ProviderUnavailable(reason.rstrip(": "))


@contextlib.asynccontextmanager
async def connect(
    url: str,
    headers: Mapping[str, str],
    policy: AddressPolicy,
    who: str,
    timeout: float,
) -> AsyncIterator[RealtimeSocket]:
    target = URL(url)
    vet(target, policy, who)
    connector = aiohttp.TCPConnector(
        resolver=VettingResolver(system_lookup, policy), use_dns_cache=False
    )
    async with aiohttp.ClientSession(connector=connector, trust_env=False) as session:
        try:
            ws = await session.ws_connect(
                target,
                headers=dict(headers),
                max_msg_size=MAX_MESSAGE,
                timeout=aiohttp.ClientWSTimeout(ws_receive=timeout, ws_close=5),
            )
        except aiohttp.WSServerHandshakeError as exc:
            raise error_for_status(exc.status, exc.message, exc.headers or {}, who) from exc
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            unsafe = _unsafe(exc)
            if unsafe is not None:
                raise ProviderRejected(
                    f"{who}: {unsafe}; set realtime_allow_private on the provider to reach it"
                ) from None
            raise ProviderUnavailable(f"{who} could not be reached: {exc!r}") from exc
        try:
            yield RealtimeSocket(ws, who)
        finally:
            await ws.close()
