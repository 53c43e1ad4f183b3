"""The egress proxy's bounds (issue 8): the url_context fetcher's address check, a
per-sandbox connection cap, a short request-head timeout, credentials only to the hosts
they trust. A real proxy on a host socket; a real echo server upstream."""

from __future__ import annotations

import asyncio
import ipaddress
import socket

import pytest

from junction import addresses
from junction.sandbox import EgressRule, NetworkPolicy
from junction.sandbox.egress import EgressProxy, address_allowed
from junction.tools.fetch import AddressPolicy
from tests.sandbox.conftest import EchoServer
from tests.sandbox.test_egress import _ask
from tests.sandbox.test_egress import _proxy as _serve

EMBEDDED = [
    "64:ff9b::7f00:1",  # NAT64 of 127.0.0.1
    "64:ff9b::a9fe:a9fe",  # NAT64 of 169.254.169.254 (cloud metadata)
    "64:ff9b:1::a00:1",  # local-use NAT64 of 10.0.0.1
    "2002:7f00:1::1",  # 6to4 of 127.0.0.1
    "2002:c0a8:101::1",  # 6to4 of 192.168.1.1
    "::127.0.0.1",  # IPv4-compatible
    "::ffff:10.0.0.1",  # IPv4-mapped
    "2001:0:4136:e378:8000:63bf:80ff:fffe",  # Teredo, client 127.0.0.1
]


@pytest.mark.parametrize("address", EMBEDDED)
def test_ipv4_embedded_in_ipv6_is_refused(address: str) -> None:
    ip = ipaddress.ip_address(address)
    assert not address_allowed(ip, allow_private=False)
    assert AddressPolicy().problem(ip) is not None


@pytest.mark.parametrize(
    "address",
    [*EMBEDDED, "8.8.8.8", "2606:4700::1111", "127.0.0.1", "10.1.2.3", "169.254.169.254",
     "100.64.0.1", "fe80::1", "fc00::1", "240.0.0.1", "192.0.2.1", "64:ff9b::808:808"],
)  # fmt: skip
def test_the_proxy_and_the_fetcher_agree(address: str) -> None:
    ip = ipaddress.ip_address(address)
    assert address_allowed(ip, allow_private=False) is (AddressPolicy().problem(ip) is None)


def test_the_hosts_own_addresses_are_known() -> None:
    nets = addresses.host_networks()
    assert any(ipaddress.ip_address("127.0.0.1") in n for n in nets if n.version == 4)
    for info in socket.getaddrinfo(socket.gethostname(), None):
        ip = ipaddress.ip_address(str(info[4][0]).split("%")[0])
        assert addresses.is_host_address(ip), ip


async def test_embedded_loopback_is_refused_by_the_proxy(echo_server: EchoServer) -> None:
    proxy = EgressProxy()
    nat64 = "64:ff9b::7f00:2"  # 127.0.0.2, where the echo server listens
    async for port in _serve(proxy, NetworkPolicy((EgressRule("*"),))):
        for target in (f"[{nat64}]", "[2002:7f00:2::]", "[::127.0.0.2]"):
            answer = await _ask(
                port, f"CONNECT {target}:{echo_server.port} HTTP/1.1\r\n\r\n".encode()
            )
            assert answer.startswith(b"HTTP/1.1 403"), answer
            assert b"embedded in IPv6" in answer
    assert echo_server.seen == []


async def test_a_public_address_of_this_host_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A host whose interface carries a public address must not be reachable through
    the proxy (stands in for such a host: this one's addresses are private)."""
    own = (ipaddress.ip_network("203.0.113.7/32"), ipaddress.ip_network("9.9.9.9/32"))
    monkeypatch.setattr(addresses, "host_networks", lambda: own)
    assert AddressPolicy().problem(ipaddress.ip_address("9.9.9.9")) == "an address of this host"
    assert AddressPolicy().problem(ipaddress.ip_address("::ffff:9.9.9.9")) is not None
    proxy = EgressProxy()
    async for port in _serve(proxy, NetworkPolicy((EgressRule("*"),))):
        answer = await _ask(port, b"CONNECT 9.9.9.9:443 HTTP/1.1\r\n\r\n")
        assert answer.startswith(b"HTTP/1.1 403") and b"an address of this host" in answer


async def test_connections_per_sandbox_are_capped(echo_server: EchoServer) -> None:
    proxy = EgressProxy(allow_private=True, max_connections=2, head_timeout=30)
    policy = NetworkPolicy((EgressRule("127.0.0.2"),))
    async for port in _serve(proxy, policy):
        held = [await asyncio.open_connection("127.0.0.1", port) for _ in range(2)]
        for _, writer in held:
            writer.write(b"GET ")  # a head that has not finished: the slot stays taken
            await writer.drain()
        await asyncio.sleep(0)
        refused = await _ask(port, f"GET {echo_server.url}/x HTTP/1.1\r\n\r\n".encode())
        assert refused.startswith(b"HTTP/1.1 503") and b"2 connections open" in refused
        for _, writer in held:
            writer.close()
            await writer.wait_closed()
        answer = b""
        for _ in range(100):  # the proxy notices the closed connections on its next read
            answer = await _ask(port, f"GET {echo_server.url}/y HTTP/1.1\r\n\r\n".encode())
            if not answer.startswith(b"HTTP/1.1 503"):
                break
            await asyncio.sleep(0.05)
        assert b'"path": "/y"' in answer
    async for port in _serve(proxy, policy):  # another sandbox has its own cap
        answer = await _ask(port, f"GET {echo_server.url}/z HTTP/1.1\r\n\r\n".encode())
        assert b'"path": "/z"' in answer


async def test_a_slow_request_head_is_closed() -> None:
    proxy = EgressProxy(allow_private=True, head_timeout=0.5)
    async for port in _serve(proxy, NetworkPolicy((EgressRule("127.0.0.2"),))):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET http://127.0.0.2/ HTTP/1.1\r\nX-Slow: ")  # and nothing more
        answer = await asyncio.wait_for(reader.read(), 10)  # the default was 30 s
        writer.close()
        assert answer.startswith(b"HTTP/1.1 400") and b"incomplete" in answer


async def _untrusted(credential_id: str, host: str) -> tuple[str, str]:
    if host != "api.example.com":
        raise PermissionError(f"credential '{credential_id}' may not be sent to '{host}'")
    return "Authorization", "Bearer secret"


async def test_a_credential_goes_only_where_its_resolver_allows(
    echo_server: EchoServer,
) -> None:
    proxy = EgressProxy(allow_private=True, resolve_credential=_untrusted)
    policy = NetworkPolicy((EgressRule("127.0.0.2", credential_id="c1"),))
    async for port in _serve(proxy, policy):
        answer = await _ask(port, f"GET {echo_server.url}/ HTTP/1.1\r\n\r\n".encode())
        assert answer.startswith(b"HTTP/1.1 403") and b"may not be sent to '127.0.0.2'" in answer
    assert echo_server.seen == []
