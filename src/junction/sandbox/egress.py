"""The egress proxy: the only way out of a sandbox that has a network policy.

It runs in Junction's process (asyncio) and listens inside each sandbox's otherwise
empty network namespace (see :mod:`junction.sandbox.netns`); inside, ``HTTP_PROXY`` and
``HTTPS_PROXY`` point at it. Per connection it:

* accepts ``CONNECT host:port`` (HTTPS and any TLS) and absolute-form plain HTTP
  requests (``GET http://host/path``); anything else gets 400;
* matches ``host`` against the sandbox's allowlist (:class:`~junction.sandbox.types.
  NetworkPolicy`) — no match, 403;
* resolves the name itself (the sandbox has no DNS) and keeps only public addresses:
  private, loopback, link-local, multicast, reserved and unspecified ones are refused
  (403) unless ``allow_private`` is set server-wide; it then connects to the checked IP,
  so a name cannot be re-resolved to something else in between (no DNS rebinding);
* for plain HTTP (credentials only to private addresses: a sandbox must not be able to
  make the proxy send a secret across the internet in clear text), and for HTTPS to
  hosts whose rule injects something: sends the
  request in origin form with ``Host`` from the URL (or the CONNECT target) and
  ``Connection: close``, drops hop-by-hop and ``Proxy-*`` headers, and sets the rule's
  ``headers`` and its credential header (from ``resolve_credential``). One request per
  connection, with the body framed exactly (Content-Length or chunked; both → 400), so
  nothing can be smuggled past the checks. The secret never enters the sandbox. HTTPS
  is intercepted for this with a per-backend CA the sandboxes trust (see
  :mod:`junction.sandbox.tls`); without a CA configured, such CONNECTs are refused
  rather than silently sent without their credential;
* every other CONNECT is a blind tunnel, end to end encrypted.

Resources are bounded per sandbox: at most ``max_connections`` connections at once
(more get 503 and are closed), a request head must arrive within ``head_timeout``
seconds (slow-header clients are closed) and a connection idle for ``idle_timeout``
seconds is closed. Addresses are checked by the same policy as the ``url_context``
fetcher (:class:`junction.addresses.AddressPolicy`).
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import socket
import ssl
from functools import partial
from urllib.parse import urlsplit

from junction.addresses import AddressPolicy, IPAddress
from junction.logsafe import printable
from junction.sandbox.base import CredentialResolver
from junction.sandbox.tls import InterceptionCA
from junction.sandbox.types import EgressRule, NetworkPolicy

log = logging.getLogger("junction.sandbox.egress")

HOP_BY_HOP = {
    "connection", "proxy-connection", "keep-alive", "proxy-authorization",
    "proxy-authenticate", "te", "trailer", "upgrade", "host",
}  # fmt: skip
MAX_HEAD = 64 * 1024
MAX_CONNECTIONS = 64
HEAD_TIMEOUT = 10.0


class Refused(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def refusal(ip: IPAddress, allow_private: bool) -> str | None:
    """Why the proxy refuses ``ip`` (the url_context fetcher's check), or ``None``."""
    if ip.is_unspecified or ip.is_multicast:
        return "unspecified" if ip.is_unspecified else "multicast"
    return AddressPolicy(allow_private).problem(ip)


def address_allowed(ip: IPAddress, allow_private: bool) -> bool:
    return refusal(ip, allow_private) is None


class EgressProxy:
    def __init__(
        self,
        *,
        allow_private: bool = False,
        resolve_credential: CredentialResolver | None = None,
        ca: InterceptionCA | None = None,
        upstream_tls: ssl.SSLContext | None = None,
        connect_timeout: float = 10.0,
        idle_timeout: float = 300.0,
        head_timeout: float = HEAD_TIMEOUT,
        max_connections: int = MAX_CONNECTIONS,
    ) -> None:
        self.allow_private = allow_private
        self.resolve_credential = resolve_credential
        self.ca = ca
        self.upstream_tls = upstream_tls or ssl.create_default_context()
        self.connect_timeout = connect_timeout
        self.idle_timeout = idle_timeout
        self.head_timeout = head_timeout
        self.max_connections = max_connections

    async def serve(self, sock: socket.socket, policy: NetworkPolicy) -> asyncio.Server:
        """Serve ``policy`` on an already listening socket; close the server to stop.
        The connection cap counts this server's (this sandbox's) connections only."""
        handler = partial(self._handle, policy, [0])
        return await asyncio.start_server(handler, sock=sock, limit=MAX_HEAD)

    async def _handle(
        self,
        policy: NetworkPolicy,
        open_count: list[int],
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> None:
        open_count[0] += 1
        try:
            if open_count[0] > self.max_connections:
                raise Refused(
                    503,
                    f"this sandbox has {self.max_connections} connections open through the "
                    "proxy already: close some first",
                )
            parts, headers = await _read_head(reader, self.head_timeout)
            if parts[0] == "CONNECT":
                await self._tunnel(policy, parts[1], reader, writer)
            else:
                await self._forward(policy, parts[0], parts[1], headers, reader, writer)
        except Refused as exc:
            log.info("egress refused (%s): %s", exc.status, printable(exc.message))
            with contextlib.suppress(Exception):
                body = f"junction egress proxy: {exc.message}\n".encode()
                writer.write(
                    f"HTTP/1.1 {exc.status} {_REASONS.get(exc.status, 'Error')}\r\n"
                    f"Content-Type: text/plain\r\nContent-Length: {len(body)}\r\n"
                    "Connection: close\r\n\r\n".encode()
                    + body
                )
                await writer.drain()
                # a lingering close: what the client already sent is read (for at most
                # a second), so the reply is not lost to a connection reset
                if writer.can_write_eof():
                    writer.write_eof()
                await asyncio.wait_for(reader.read(MAX_HEAD), 1.0)
        except (ConnectionError, asyncio.IncompleteReadError, TimeoutError):
            pass
        finally:
            open_count[0] -= 1
            writer.close()

    async def _open(
        self,
        policy: NetworkPolicy,
        host: str,
        port: int,
        *,
        tls: bool = False,
        clear_secret: bool = False,
    ) -> tuple[EgressRule, asyncio.StreamReader, asyncio.StreamWriter]:
        rule = _rule(policy, host)
        if not 0 < port < 65536:
            raise Refused(400, f"invalid port {port}")
        try:
            addresses: list[IPAddress] = [ipaddress.ip_address(host)]
        except ValueError:
            try:
                infos = await asyncio.get_running_loop().getaddrinfo(
                    host, port, type=socket.SOCK_STREAM
                )
            except OSError as exc:
                raise Refused(502, f"cannot resolve '{host}': {exc}") from None
            addresses = list(dict.fromkeys(ipaddress.ip_address(i[4][0]) for i in infos))
        problems = {ip: refusal(ip, self.allow_private) for ip in addresses}
        allowed = [ip for ip, problem in problems.items() if problem is None]
        if not allowed:
            reasons = ", ".join(f"{ip} ({problem})" for ip, problem in problems.items())
            raise Refused(
                403,
                f"'{host}' resolves to {reasons}: private, loopback, link-local, reserved "
                "addresses and this host's own are not reachable from sandboxes",
            )
        if clear_secret and any(ip.is_global for ip in allowed):
            raise Refused(
                403,
                f"refusing to send a credential in clear text to the public address of "
                f"'{host}'; use https://",
            )
        last: Exception | None = None
        for ip in allowed:
            try:
                reader, writer = await asyncio.wait_for(
                    asyncio.open_connection(
                        str(ip),
                        port,
                        ssl=self.upstream_tls if tls else None,
                        server_hostname=host if tls else None,
                    ),
                    self.connect_timeout,
                )
                return rule, reader, writer
            except ssl.SSLError as exc:
                raise Refused(502, f"TLS to '{host}' failed: {exc.reason}") from None
            except (OSError, TimeoutError) as exc:
                last = exc
        raise Refused(502, f"cannot connect to '{host}' port {port}: {last}")

    async def _tunnel(
        self,
        policy: NetworkPolicy,
        target: str,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> None:
        host, sep, port = target.rpartition(":")
        if not sep or not port.isdigit():
            raise Refused(400, f"CONNECT target {target!r} is not host:port")
        host = host.strip("[]").lower().rstrip(".")
        rule = _rule(policy, host)
        if not (rule.headers or rule.credential_id):
            _, up_reader, up_writer = await self._open(policy, host, int(port))
            writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
            await self._relay_both(reader, writer, up_reader, up_writer)
            return
        if self.ca is None:
            raise Refused(403, f"'{host}' needs header injection, which HTTPS cannot get here")
        inject = await self._injection(rule, host)
        context = await asyncio.to_thread(self.ca.server_context, host)
        _, up_reader, up_writer = await self._open(policy, host, int(port), tls=True)
        try:
            # No await between the 200 and start_tls (which pauses reading at once): the
            # client's ClientHello must reach the TLS layer, not the plain StreamReader.
            writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
            await writer.start_tls(context)
            parts, headers = await _read_head(reader, self.head_timeout)
            if not parts[1].startswith("/") or parts[0] == "CONNECT":
                raise Refused(400, "expected an origin-form request inside the tunnel")
            netloc = host if port == "443" else f"{host}:{port}"
            if ":" in host:
                netloc = f"[{host}]" if port == "443" else f"[{host}]:{port}"
            await self._exchange(
                inject, parts[0], parts[1], netloc, headers, reader, writer, up_reader, up_writer
            )
        finally:
            up_writer.close()

    async def _forward(
        self,
        policy: NetworkPolicy,
        method: str,
        target: str,
        headers: list[tuple[str, str]],
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> None:
        url = urlsplit(target)
        if url.scheme != "http" or not url.hostname:
            raise Refused(400, "only absolute http:// URLs and CONNECT are proxied")
        _check_framing(headers)
        try:
            port = url.port or 80
        except ValueError:
            raise Refused(400, "invalid port in URL") from None
        rule = _rule(policy, url.hostname)
        inject = await self._injection(rule, url.hostname.lower().rstrip("."))
        _, up_reader, up_writer = await self._open(
            policy, url.hostname, port, clear_secret=rule.credential_id is not None
        )
        path = url.path or "/"
        if url.query:
            path += "?" + url.query
        try:
            netloc = url.netloc.rpartition("@")[2]
            await self._exchange(
                inject, method, path, netloc, headers, reader, writer, up_reader, up_writer
            )
        finally:
            up_writer.close()

    async def _exchange(
        self,
        inject: dict[str, str],
        method: str,
        path: str,
        netloc: str,
        headers: list[tuple[str, str]],
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        up_reader: asyncio.StreamReader,
        up_writer: asyncio.StreamWriter,
    ) -> None:
        """Send one request upstream with the rule's headers; relay the response."""
        _check_framing(headers)
        out = [(n, v) for n, v in headers if n.lower() not in HOP_BY_HOP]
        lowered = {n.lower() for n in inject}
        out = [(n, v) for n, v in out if n.lower() not in lowered] + list(inject.items())
        request = [f"{method} {path} HTTP/1.1", f"Host: {netloc}"]
        request += [f"{n}: {v}" for n, v in out] + ["Connection: close", "", ""]
        up_writer.write("\r\n".join(request).encode("latin-1"))
        body = asyncio.create_task(self._send_body(headers, reader, up_writer))
        try:
            await self._pipe(up_reader, writer)
        finally:
            body.cancel()
            body.add_done_callback(_consume)

    async def _injection(self, rule: EgressRule, host: str) -> dict[str, str]:
        """The headers to set for ``rule`` (resolved before anything is sent upstream)."""
        inject = dict(rule.headers)
        if rule.credential_id is not None:
            name, value = await self._credential(rule.credential_id, host)
            inject[name] = value
        return inject

    async def _credential(self, credential_id: str, host: str) -> tuple[str, str]:
        """The credential's header for a request to ``host``; the resolver refuses a
        host outside the credential's ``trusted_domains`` (:class:`PermissionError`)."""
        if self.resolve_credential is None:
            raise Refused(502, f"credential '{credential_id}' cannot be resolved here")
        try:
            name, value = await self.resolve_credential(credential_id, host)
        except PermissionError as exc:
            raise Refused(403, str(exc)) from None
        except Exception:
            raise Refused(502, f"credential '{credential_id}' is unavailable") from None
        if any(c in name + value for c in "\r\n\x00"):
            raise Refused(502, f"credential '{credential_id}' is not a valid header")
        return name, value

    async def _send_body(
        self,
        headers: list[tuple[str, str]],
        reader: asyncio.StreamReader,
        up: asyncio.StreamWriter,
    ) -> None:
        values = {n.lower(): v for n, v in headers}
        if "transfer-encoding" in values:
            while True:  # relay chunked framing verbatim, stop after the last chunk
                size_line = await reader.readuntil(b"\r\n")
                up.write(size_line)
                size = int(size_line.split(b";")[0].strip(), 16)
                if size == 0:
                    while (trailer := await reader.readuntil(b"\r\n")) != b"\r\n":
                        up.write(trailer)
                    up.write(b"\r\n")
                    break
                up.write(await reader.readexactly(size + 2))
                await up.drain()
        elif "content-length" in values:
            remaining = int(values["content-length"])
            while remaining > 0:
                chunk = await reader.read(min(remaining, 65536))
                if not chunk:
                    break
                up.write(chunk)
                remaining -= len(chunk)
                await up.drain()
        await up.drain()

    async def _pipe(self, src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
        while True:
            data = await asyncio.wait_for(src.read(65536), self.idle_timeout)
            if not data:
                break
            dst.write(data)
            await dst.drain()
        with contextlib.suppress(OSError):
            if dst.can_write_eof():
                dst.write_eof()

    async def _relay_both(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        up_reader: asyncio.StreamReader,
        up_writer: asyncio.StreamWriter,
    ) -> None:
        tasks = [
            asyncio.create_task(self._pipe(reader, up_writer)),
            asyncio.create_task(self._pipe(up_reader, writer)),
        ]
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
        finally:
            for task in tasks:
                task.cancel()
                task.add_done_callback(_consume)
            up_writer.close()


def _consume(task: asyncio.Task[None]) -> None:
    if not task.cancelled():
        task.exception()  # mark retrieved: a reset connection is not worth a warning


_REASONS = {400: "Bad Request", 403: "Forbidden", 502: "Bad Gateway", 503: "Service Unavailable"}


def _rule(policy: NetworkPolicy, host: str) -> EgressRule:
    rule = policy.rule_for(host.strip("[]").lower().rstrip("."))
    if rule is None:
        raise Refused(403, f"host '{host}' is not on this sandbox's egress allowlist")
    return rule


async def _read_head(
    reader: asyncio.StreamReader, timeout: float
) -> tuple[list[str], list[tuple[str, str]]]:
    """Read a request head: ([method, target, version], [(name, value), …])."""
    try:
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout)
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError):
        raise Refused(400, "incomplete or oversized request head") from None
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
        raise Refused(400, "malformed request line")
    headers = []
    for line in lines[1:]:
        if line:
            name, sep, value = line.partition(":")
            if not sep or not name or name != name.strip():
                raise Refused(400, "malformed header line")
            headers.append((name, value.strip()))
    return parts, headers


def _check_framing(headers: list[tuple[str, str]]) -> None:
    values = {name.lower(): value for name, value in headers}
    if "transfer-encoding" in values and "content-length" in values:
        raise Refused(400, "both Content-Length and Transfer-Encoding")
    if not values.get("content-length", "0").isdigit():
        raise Refused(400, "invalid Content-Length")
    if values.get("transfer-encoding", "chunked").lower() != "chunked":
        raise Refused(400, "only chunked Transfer-Encoding is supported")
