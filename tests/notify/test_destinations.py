"""The destination policy at connect time: a host name vetted when the webhook was
created but resolving to a loopback address later (DNS rebinding) is refused by the
dispatcher's own resolver; an operator allowlist lets the same connection through."""

from __future__ import annotations

import aiohttp
import pytest

from junction.config import WebhookSettings
from junction.errors import BadRequest
from junction.notify.destinations import Destinations
from junction.testing.webhook_receiver import WebhookReceiver
from junction.tools.fetch import UnsafeAddress


class Rebinding:
    """Answers a public address first (the create-time check), loopback afterwards."""

    def __init__(self) -> None:
        self.calls = 0

    async def __call__(self, host: str, port: int) -> list[str]:
        self.calls += 1
        return ["93.184.216.34"] if self.calls == 1 else ["127.0.0.1"]


async def test_rebinding_to_loopback_is_refused_at_connect(receiver: WebhookReceiver) -> None:
    lookup = Rebinding()
    dest = Destinations(WebhookSettings(allow_http=True), lookup=lookup)
    uri = f"http://rebind.test:{receiver.port}/rebound"
    assert await dest.check(uri) == uri  # public at create time
    session = dest.session()
    try:
        with pytest.raises(aiohttp.ClientError) as caught:
            await session.post(uri, data=b"{}")
        assert isinstance(caught.value.__cause__, UnsafeAddress) or "127.0.0.1" in str(caught.value)
    finally:
        await session.close()
    assert receiver.received("/rebound") == []


async def test_allowlisted_network_is_reached(receiver: WebhookReceiver) -> None:
    lookup = Rebinding()
    dest = Destinations(
        WebhookSettings(allow_http=True, allow_networks=("127.0.0.0/8",)), lookup=lookup
    )
    uri = f"http://rebind.test:{receiver.port}/allowed"
    await dest.check(uri)
    session = dest.session()
    try:
        async with session.post(uri, data=b"{}") as resp:
            assert resp.status == 200
    finally:
        await session.close()
    assert len(receiver.received("/allowed")) == 1


async def test_create_time_check_resolves_names() -> None:
    async def loopback(host: str, port: int) -> list[str]:
        return ["127.0.0.1"]

    dest = Destinations(WebhookSettings(), lookup=loopback)
    with pytest.raises(BadRequest, match="loopback"):
        await dest.check("https://innocent-looking.example/hook")
    assert dest.numeric_problem("https://10.0.0.1/x") is not None
    assert dest.numeric_problem("https://example.com/x") is None
