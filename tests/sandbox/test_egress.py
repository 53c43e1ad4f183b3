"""The egress proxy on its own (a host socket, no sandbox): rules, addresses, framing."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import ssl
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from junction.sandbox import EgressRule, Limits, NetworkPolicy
from junction.sandbox.egress import EgressProxy, address_allowed
from junction.sandbox.tls import InterceptionCA
from tests.sandbox.conftest import EchoServer, UpstreamCA


def test_rule_matching_and_validation() -> None:
    policy = NetworkPolicy(
        (EgressRule("*"), EgressRule("*.example.com"), EgressRule("api.example.com"))
    )
    assert policy.rule_for("api.example.com") is policy.allow[2]
    assert policy.rule_for("x.example.com") is policy.allow[1]
    assert policy.rule_for("example.com") is policy.allow[0]  # the apex is not *.example.com
    assert not EgressRule("*.example.com").matches("evil-example.com")
    assert EgressRule("Example.COM.").domain == "example.com"
    for bad in ("", "exa mple.com", "a/b", "*.*.com", "http://x"):
        with pytest.raises(ValueError):
            EgressRule(bad)
    with pytest.raises(ValueError):
        EgressRule("x.com", headers={"X-A": "1\r\nX-B: 2"})
    with pytest.raises(ValueError, match="specific domain"):
        EgressRule("*", credential_id="token")
    for bad_limit in ({"cpu_seconds": 0}, {"memory_bytes": -1}, {"wall_seconds": True}):
        with pytest.raises(ValueError):
            Limits(**bad_limit)


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("8.8.8.8", True), ("2606:4700::1111", True), ("127.0.0.1", False),
        ("10.1.2.3", False), ("172.16.0.1", False), ("192.168.1.1", False),
        ("169.254.169.254", False), ("100.64.0.1", False), ("::1", False),
        ("fe80::1", False), ("fc00::1", False), ("::ffff:127.0.0.1", False),
        ("224.0.0.1", False), ("0.0.0.0", False), ("240.0.0.1", False),
    ],
)  # fmt: skip
def test_address_policy(address: str, public: bool) -> None:
    ip = ipaddress.ip_address(address)
    assert address_allowed(ip, allow_private=False) is public
    always_refused = ip.is_unspecified or ip.is_multicast
    assert address_allowed(ip, allow_private=True) is not always_refused


async def _proxy(proxy: EgressProxy, policy: NetworkPolicy) -> AsyncIterator[int]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    sock.setblocking(False)
    server = await proxy.serve(sock, policy)
    yield sock.getsockname()[1]
    server.close()


async def _ask(port: int, raw: bytes) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(raw)
    data = await asyncio.wait_for(reader.read(), 10)
    writer.close()
    return data


async def _credential(credential_id: str, host: str) -> tuple[str, str]:
    raise KeyError(credential_id)


async def _known_credential(credential_id: str, host: str) -> tuple[str, str]:
    return "Authorization", "Bearer not-for-cleartext"


async def test_plain_http_bodies_and_refusals(echo_server: EchoServer) -> None:
    proxy = EgressProxy(allow_private=True, resolve_credential=_credential)
    async for port in _proxy(proxy, NetworkPolicy((EgressRule("127.0.0.2"),))):
        url = echo_server.url
        chunked = (
            f"POST {url}/c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
            "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\n\r\n"
        )
        answer = await _ask(port, chunked.encode())
        assert b'"body": "hello world"' in answer and b'"path": "/c"' in answer
        sized = f"PUT {url}/s HTTP/1.1\r\nContent-Length: 3\r\n\r\nabcGET / HTTP/1.1\r\n\r\n"
        assert b'"body": "abc"' in await _ask(port, sized.encode())
        assert [h.get("Host") for h in echo_server.seen] == [f"127.0.0.2:{echo_server.port}"] * 2
        assert (await _ask(port, b"GET https://127.0.0.2/ HTTP/1.1\r\n\r\n")).startswith(
            b"HTTP/1.1 400"
        )
        assert (await _ask(port, b"\x16\x03\x01garbage\r\n\r\n")).startswith(b"HTTP/1.1 400")
    with_credential = NetworkPolicy((EgressRule("127.0.0.2", credential_id="gone"),))
    async for port in _proxy(proxy, with_credential):
        answer = await _ask(port, f"GET {echo_server.url}/ HTTP/1.1\r\n\r\n".encode())
        assert answer.startswith(b"HTTP/1.1 502") and b"credential 'gone' is unavailable" in answer
    assert len(echo_server.seen) == 2  # nothing went upstream without its credential
    public = NetworkPolicy((EgressRule("8.8.8.8", credential_id="test"),))
    resolving = EgressProxy(resolve_credential=_known_credential)
    async for port in _proxy(resolving, public):
        answer = await _ask(port, b"GET http://8.8.8.8/ HTTP/1.1\r\n\r\n")
        assert answer.startswith(b"HTTP/1.1 403") and b"in clear text" in answer


async def test_interception_verifies_the_real_server(
    tmp_path: Path, upstream_ca: UpstreamCA, tls_echo_server: EchoServer
) -> None:
    rule = EgressRule("127.0.0.2", headers={"X-A": "1"})
    ca = InterceptionCA(tmp_path)
    untrusting = EgressProxy(allow_private=True, ca=ca)  # does not trust the upstream CA
    target = f"CONNECT 127.0.0.2:{tls_echo_server.port} HTTP/1.1\r\n\r\n".encode()
    async for port in _proxy(untrusting, NetworkPolicy((rule,))):
        answer = await _ask(port, target)
        assert answer.startswith(b"HTTP/1.1 502") and b"TLS to '127.0.0.2' failed" in answer
    no_ca = EgressProxy(allow_private=True)
    async for port in _proxy(no_ca, NetworkPolicy((rule,))):
        assert (await _ask(port, target)).startswith(b"HTTP/1.1 403")  # never sent bare
    trusting = EgressProxy(
        allow_private=True,
        ca=ca,
        upstream_tls=ssl.create_default_context(cafile=upstream_ca.ca_file),
    )
    async for port in _proxy(trusting, NetworkPolicy((rule,))):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(target)
        assert (await reader.readuntil(b"\r\n\r\n")).startswith(b"HTTP/1.1 200")
        client = ssl.create_default_context(cadata=ca.cert_pem.decode())
        await writer.start_tls(client, server_hostname="127.0.0.2")
        writer.write(b"GET /in HTTP/1.1\r\nHost: 127.0.0.2\r\n\r\n")
        body = await asyncio.wait_for(reader.read(), 10)
        writer.close()
        assert b'"path": "/in"' in body and b'"X-A": "1"' in body
