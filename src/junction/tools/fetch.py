"""An SSRF-safe web page fetcher for ``url_context`` (and, through
:meth:`UrlFetcher.fetch_bytes`, for image, audio and document input by uri).

The model chooses the URLs, so every fetch is treated as hostile:

* only ``http`` and ``https``, no credentials in the URL;
* the host is resolved by Junction itself and refused if *any* of its addresses is not
  a public unicast address (private, loopback, link-local, multicast, reserved,
  unspecified, shared/CGNAT, documentation ranges — including IPv4 addresses embedded
  in IPv6 as IPv4-mapped/compatible, 6to4, Teredo or NAT64 addresses — and this host's
  own addresses; the one check of :mod:`junction.addresses`), unless the server allows
  private addresses (``url_fetch_allow_private``);
* the connection goes to exactly the addresses that were vetted: the check runs inside
  the connector's resolver, so DNS rebinding cannot swap in another address between
  the check and the connect; numeric hosts, which bypass the resolver, are vetted
  before the request (and legacy numeric forms such as ``2130706433`` are refused);
* redirects are followed by hand (at most 5), each hop checked again;
* at most 5 MB of body is read, and all hops together must finish in 15 s;
* no cookies are kept and no proxy settings from the environment are used.

HTML is turned into readable text (:mod:`junction.tools.htmltext`); other ``text/*``
types, JSON and XML are returned as they are; anything else (PDF, images, archives) is
reported as an unsupported content type. The text is cut at 20,000 characters with a
note saying so.
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import ipaddress
import logging
import re
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from yarl import URL

from junction.addresses import (
    AddressPolicy,
    IPAddress,
    IPNetwork,
    UnsafeAddress,
    address_problem,
    numeric_host,
)
from junction.tools import htmltext

log = logging.getLogger("junction.tools.fetch")

__all__ = [
    "AddressPolicy",
    "FetchRefused",
    "FetchResult",
    "IPAddress",
    "IPNetwork",
    "UnsafeAddress",
    "UrlFetcher",
    "VettingResolver",
    "address_problem",
    "numeric_host",
]

#: resolves a host name to IP address strings (tests inject one)
Lookup = Callable[[str, int], Awaitable[list[str]]]

MAX_BYTES = 5 * 1024 * 1024
MAX_CHARS = 20_000
TIMEOUT = 15.0
MAX_REDIRECTS = 5
USER_AGENT = "Mozilla/5.0 (compatible; Junction-url-context/1.0)"
ACCEPT = (
    "text/html,application/xhtml+xml,text/plain;q=0.9,application/json;q=0.9,text/*;q=0.8,*/*;q=0.1"
)

_REDIRECTS = frozenset({301, 302, 303, 307, 308})
#: "no idea": many servers send text files (.md, .rst …) like this
_UNTYPED = frozenset({"application/octet-stream", "binary/octet-stream", "application/unknown"})
_HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})
_TEXT_TYPES = frozenset(
    {
        "application/json",
        "application/ld+json",
        "application/xml",
        "application/javascript",
        "application/ecmascript",
        "application/x-javascript",
        "application/x-ndjson",
        "application/yaml",
        "application/x-yaml",
        "application/toml",
        "application/x-sh",
        "application/sql",
        "application/graphql",
    }
)
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.I)
_PAYWALLED = re.compile(r""""isAccessibleForFree"\s*:\s*"?(false|False|FALSE)\b""")


async def system_lookup(host: str, port: int) -> list[str]:
    infos = await asyncio.get_running_loop().getaddrinfo(
        host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
    )
    return [str(info[4][0]) for info in infos]


class VettingResolver(AbstractResolver):
    """An aiohttp resolver that refuses hosts with any address the policy refuses and
    hands the connector only the addresses it checked."""

    def __init__(self, lookup: Lookup, policy: AddressPolicy) -> None:
        self.lookup = lookup
        self.policy = policy

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        addresses = list(dict.fromkeys(await self.lookup(host, port)))
        if not addresses:
            raise OSError(f"{host} has no address")
        results: list[ResolveResult] = []
        for text in addresses:
            ip = ipaddress.ip_address(text.split("%", 1)[0])
            problem = self.policy.problem(ip)
            if problem is not None:
                raise UnsafeAddress(
                    f"{host} resolves to {ip}, which is not a public address ({problem})"
                )
            results.append(
                ResolveResult(
                    hostname=host,
                    host=text,
                    port=port,
                    family=socket.AF_INET6 if ip.version == 6 else socket.AF_INET,
                    proto=0,
                    flags=socket.AI_NUMERICHOST | socket.AI_NUMERICSERV,
                )
            )
        return results

    async def close(self) -> None:
        pass


@dataclass
class FetchResult:
    url: str
    #: success | error | paywall | unsafe (the statuses of url_context_result)
    status: str
    final_url: str | None = None
    title: str | None = None
    text: str | None = None
    content_type: str | None = None
    error: str | None = None
    truncated: bool = False

    def item(self) -> dict[str, Any]:
        """The result entry: ``{url, status}`` plus what was read or what went wrong."""
        out: dict[str, Any] = {"url": self.url, "status": self.status}
        if self.final_url and self.final_url != self.url:
            out["final_url"] = self.final_url
        for key in ("title", "content_type", "text", "error"):
            value = getattr(self, key)
            if value is not None:
                out[key] = value
        if self.truncated:
            out["truncated"] = True
        return out


class _Refused(Exception):
    def __init__(self, status: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class FetchRefused(Exception):
    """A media fetch that cannot be used; ``str()`` says why."""


class UrlFetcher:
    """Fetches pages for url_context; one per process, its session created on first use."""

    def __init__(
        self,
        *,
        allow_private: bool = False,
        allow_networks: Sequence[str] = (),
        max_bytes: int = MAX_BYTES,
        max_chars: int = MAX_CHARS,
        timeout: float = TIMEOUT,
        max_redirects: int = MAX_REDIRECTS,
        max_concurrent: int = 16,
        lookup: Lookup | None = None,
    ) -> None:
        self.policy = AddressPolicy(
            allow_private, tuple(ipaddress.ip_network(n, strict=False) for n in allow_networks)
        )
        self.max_bytes = max_bytes
        self.max_chars = max_chars
        self.timeout = timeout
        self.max_redirects = max_redirects
        self.lookup: Lookup = lookup or system_lookup
        self._max_concurrent = max_concurrent
        self._limit: asyncio.Semaphore | None = None
        self._session: aiohttp.ClientSession | None = None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(
                resolver=VettingResolver(self.lookup, self.policy),
                use_dns_cache=False,
                limit=64,
                limit_per_host=8,
            )
            self._session = aiohttp.ClientSession(
                connector=connector,
                cookie_jar=aiohttp.DummyCookieJar(),
                trust_env=False,
                timeout=aiohttp.ClientTimeout(total=None, sock_connect=self.timeout),
                headers={"User-Agent": USER_AGENT, "Accept": ACCEPT},
            )
        return self._session

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def fetch(self, url: str) -> FetchResult:
        """Fetch ``url``; never raises for anything the page or the network does."""
        if self._limit is None:
            self._limit = asyncio.Semaphore(self._max_concurrent)
        async with self._limit:
            try:
                async with asyncio.timeout(self.timeout):
                    return await self._fetch(url)
            except _Refused as exc:
                return FetchResult(url, exc.status, error=exc.message)
            except TimeoutError:
                return FetchResult(url, "error", error=f"timed out after {self.timeout:g} s")
            except aiohttp.ClientError as exc:
                unsafe = _unsafe_cause(exc)
                if unsafe is not None:
                    return FetchResult(url, "unsafe", error=str(unsafe))
                return FetchResult(url, "error", error=_describe(exc))
            except UnsafeAddress as exc:
                return FetchResult(url, "unsafe", error=str(exc))
            except OSError as exc:
                return FetchResult(url, "error", error=_describe(exc))
            except Exception as exc:  # a page must never crash the run
                log.warning("fetching %s failed: %r", url, exc)
                return FetchResult(url, "error", error=f"the page could not be read: {exc!r}")

    async def fetch_bytes(self, raw: str, max_bytes: int) -> tuple[bytes, str]:
        """The body and MIME type (``""`` when the server sent none or an untyped one)
        of ``raw``, under the same address policy, redirect and time limits as
        :meth:`fetch`; :class:`FetchRefused` saying why it cannot be used (unreachable,
        not a public address, an HTTP error, larger than ``max_bytes``)."""
        if self._limit is None:
            self._limit = asyncio.Semaphore(self._max_concurrent)
        async with self._limit:
            try:
                async with asyncio.timeout(self.timeout):
                    return await self._fetch_bytes(raw, max_bytes)
            except _Refused as exc:
                raise FetchRefused(exc.message) from None
            except TimeoutError:
                raise FetchRefused(f"timed out after {self.timeout:g} s") from None
            except aiohttp.ClientError as exc:
                unsafe = _unsafe_cause(exc)
                raise FetchRefused(str(unsafe) if unsafe else _describe(exc)) from None
            except OSError as exc:  # UnsafeAddress included
                raise FetchRefused(str(exc) or _describe(exc)) from None

    @contextlib.asynccontextmanager
    async def _final_response(
        self, raw: str, headers: dict[str, str] | None = None
    ) -> AsyncIterator[tuple[URL, aiohttp.ClientResponse]]:
        """The response at the end of ``raw``'s redirects (each hop's address checked
        first, at most ``max_redirects``), with the URL it came from."""
        try:
            url = URL(raw.strip())
        except (ValueError, TypeError) as exc:
            raise _Refused("error", f"not a valid URL: {exc}") from None
        session = self._client()
        for _hop in range(self.max_redirects + 1):
            self._check(url)
            async with session.get(url, allow_redirects=False, headers=headers) as resp:
                if resp.status in _REDIRECTS:
                    location = resp.headers.get("Location")
                    if not location:
                        raise _Refused("error", f"HTTP {resp.status} without a Location")
                    url = url.join(URL(location))
                    continue
                yield url, resp
                return
        raise _Refused("error", f"more than {self.max_redirects} redirects")

    async def _fetch_bytes(self, raw: str, max_bytes: int) -> tuple[bytes, str]:
        async with self._final_response(raw, {"Accept": "*/*"}) as (_url, resp):
            if resp.status >= 400:
                reason = f"HTTP {resp.status} {resp.reason or ''}".strip()
                raise _Refused("error", f"the source answered {reason}")
            too_large = f"larger than the {max_bytes:,} bytes allowed"
            if resp.content_length is not None and resp.content_length > max_bytes:
                raise _Refused("error", f"{resp.content_length:,} bytes, {too_large}")
            chunks: list[bytes] = []
            size = 0
            async for chunk in resp.content.iter_chunked(64 * 1024):
                size += len(chunk)
                if size > max_bytes:
                    resp.close()
                    raise _Refused("error", too_large)
                chunks.append(chunk)
            mime = resp.content_type.lower() if "Content-Type" in resp.headers else ""
            return b"".join(chunks), "" if mime in _UNTYPED else mime

    def _check(self, url: URL) -> None:
        if not url.scheme:
            raise _Refused("error", "not an absolute http(s) URL")
        if url.scheme not in ("http", "https"):
            raise _Refused("unsafe", f"only http and https URLs are fetched, not '{url.scheme}:'")
        if not url.host:
            raise _Refused("error", "the URL has no host")
        if url.user is not None or url.password is not None:
            raise _Refused("unsafe", "URLs with credentials are not fetched")
        try:
            ip = numeric_host(url.host)
        except UnsafeAddress as exc:
            raise _Refused("unsafe", str(exc)) from None
        problem = self.policy.problem(ip) if ip is not None else None
        if problem is not None:
            raise _Refused("unsafe", f"{ip} is not a public address ({problem})")

    async def _fetch(self, raw: str) -> FetchResult:
        async with self._final_response(raw) as (url, resp):
            return await self._read(raw, url, resp)

    async def _read(self, raw: str, url: URL, resp: aiohttp.ClientResponse) -> FetchResult:
        final = str(url)
        if resp.status == 402:
            return FetchResult(raw, "paywall", final, error="HTTP 402 Payment Required")
        if resp.status >= 400:
            return FetchResult(
                raw, "error", final, error=f"HTTP {resp.status} {resp.reason or ''}".strip()
            )
        mime = resp.content_type.lower() if "Content-Type" in resp.headers else ""
        if mime in _UNTYPED:
            mime = ""  # look at the body
        if mime and not _readable(mime):
            return FetchResult(
                raw,
                "error",
                final,
                content_type=mime,
                error=f"unsupported content type {mime}: only HTML, text and JSON are read",
            )
        body, cut = await self._body(resp)
        if not mime:
            mime = _sniff(body)
            if not mime:
                return FetchResult(
                    raw,
                    "error",
                    final,
                    error="unsupported content type: the body is binary, not text",
                )
        text = _decode(body, resp.charset, html=mime in _HTML_TYPES)
        status = "success"
        title: str | None = None
        if mime in _HTML_TYPES:
            page = await asyncio.to_thread(htmltext.extract, text)
            title = page.title
            if _PAYWALLED.search(text):
                status = "paywall"
            text = page.text or "(the page has no readable text; it may need JavaScript)"
        notes = []
        if cut:
            notes.append(
                f"only the first {self.max_bytes // (1024 * 1024)} MB of the page were read"
            )
        if len(text) > self.max_chars:
            notes.append(f"showing the first {self.max_chars:,} of {len(text):,} characters")
            text = text[: self.max_chars]
        if notes:
            text += "\n\n[truncated: " + "; ".join(notes) + "]"
        return FetchResult(
            raw, status, final, title=title, text=text, content_type=mime, truncated=bool(notes)
        )

    async def _body(self, resp: aiohttp.ClientResponse) -> tuple[bytes, bool]:
        chunks: list[bytes] = []
        size = 0
        async for chunk in resp.content.iter_chunked(64 * 1024):
            chunks.append(chunk)
            size += len(chunk)
            if size > self.max_bytes:
                resp.close()  # stop reading: the rest is never downloaded
                return b"".join(chunks)[: self.max_bytes], True
        return b"".join(chunks), False


def _readable(mime: str) -> bool:
    return (
        mime.startswith("text/")
        or mime in _HTML_TYPES
        or mime in _TEXT_TYPES
        or mime.endswith(("+json", "+xml"))
    )


def _sniff(body: bytes) -> str:
    head = body[:1024]
    if b"\x00" in head:
        return ""
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 4:  # not just a character cut at the 1 kB boundary
            return ""
    lower = head.lstrip().lower()
    if lower.startswith((b"<!doctype html", b"<html")) or b"<body" in lower:
        return "text/html"
    return "text/plain"


def _decode(body: bytes, declared: str | None, *, html: bool) -> str:
    boms = ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"))
    for bom, codec in (*boms, (codecs.BOM_UTF16_BE, "utf-16")):
        if body.startswith(bom):
            return body.decode(codec, errors="replace")
    candidates = [declared]
    if html and not declared:
        match = _META_CHARSET.search(body[:4096])
        if match:
            candidates.append(match.group(1).decode("ascii", "replace"))
    for name in candidates:
        if not name:
            continue
        try:
            codecs.lookup(name)
        except LookupError:
            continue
        return body.decode(name, errors="replace")
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        return body.decode("cp1252", errors="replace")


def _unsafe_cause(exc: BaseException) -> UnsafeAddress | None:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, UnsafeAddress):
            return seen
        os_error = getattr(seen, "os_error", None)
        if isinstance(os_error, UnsafeAddress):
            return os_error
        seen = seen.__cause__ or seen.__context__
    return None


def _describe(exc: BaseException) -> str:
    if isinstance(exc, aiohttp.ClientConnectorDNSError):
        return f"the host could not be resolved: {exc.host}"
    if isinstance(exc, aiohttp.ClientConnectorCertificateError):
        return f"TLS certificate of {exc.host} is not valid"
    if isinstance(exc, aiohttp.ClientConnectorError):
        return f"could not connect to {exc.host}:{exc.port}"
    if isinstance(exc, aiohttp.InvalidURL):
        return f"not a valid URL: {exc}"
    return f"the page could not be read: {exc.__class__.__name__}: {exc}"
