"""MCP client plumbing for the ``mcp_server`` tool (:mod:`junction.tools.mcp`).

* Connections go through the official ``mcp`` SDK: streamable HTTP or SSE transport,
  a :class:`~mcp.ClientSession` that runs ``initialize`` and then one operation. A
  connection lives for one operation (one tool listing, one tool call) and is entered
  and left in the same task, which is what the SDK's anyio task groups require.
* Headers (the declaration's plus a credential's) are set by an ``httpx2.Auth`` flow,
  which also renews a credential once when the server answers HTTP 401 and resends
  the request with the new headers.
* Tool listings are kept in a process-wide :class:`ToolListCache`.
* Tool results are converted to Interactions content items by :func:`to_result`.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
import urllib.request
from collections import OrderedDict
from collections.abc import AsyncGenerator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import anyio
import httpx2
from mcp import ClientSession, MCPError, types
from mcp.client.sse import sse_client
from mcp.client.streamable_http import streamable_http_client

T = TypeVar("T")

#: seconds allowed for connecting, ``initialize`` and listing every tool of a server
LIST_TIMEOUT = 30.0
#: seconds allowed for one tool call, connection included
CALL_TIMEOUT = 300.0
#: seconds allowed to open a TCP (and TLS) connection
CONNECT_TIMEOUT = 10.0
#: a server offering more tools than this is cut off (pagination guard)
MAX_TOOLS = 1000

CLIENT_INFO = types.Implementation(name="junction", version="0.1.0")


class CredentialProvider(Protocol):
    """What the ``credential`` extension needs from the credentials store
    (``services.extras["credentials"]``). Both return the HTTP headers to send to ``url``
    and refuse a ``url`` outside the credential's trusted domains."""

    async def headers_for(
        self, project_id: str, credential_id: str, url: str
    ) -> dict[str, str]: ...

    async def refresh(self, project_id: str, credential_id: str, url: str) -> dict[str, str]: ...


class McpFailure(Exception):
    """A connection, HTTP or protocol failure, described for a person. ``kind`` is
    ``auth`` (the server refused the headers), ``unreachable`` or ``error``."""

    def __init__(self, message: str, kind: str = "error") -> None:
        super().__init__(message)
        self.message = message
        self.kind = kind


class _Borrowed(httpx2.AsyncBaseTransport):
    """The shared pool, lent to one connection's client, which must not close it."""

    def __init__(self, pool: httpx2.AsyncBaseTransport) -> None:
        self._pool = pool

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        return await self._pool.handle_async_request(request)

    async def aclose(self) -> None:
        pass


class HttpPool:
    """Keep-alive HTTP connections shared by every MCP connection of the process
    (``services.extras["mcp_http"]``): a client of its own per MCP connection would pay
    for a new TLS context and new TCP connections each time (see docs/mcp.md). Where
    proxy environment variables are set, each connection gets a client of its own,
    which honours them (a shared transport would bypass them)."""

    def __init__(self) -> None:
        self._transport: httpx2.AsyncHTTPTransport | None = None
        self.env_proxies = bool(urllib.request.getproxies())

    def client(
        self,
        *,
        auth: httpx2.Auth | None = None,
        timeout: httpx2.Timeout | None = None,
        headers: dict[str, str] | None = None,
    ) -> httpx2.AsyncClient:
        if self.env_proxies:
            return httpx2.AsyncClient(auth=auth, timeout=timeout, headers=headers)
        if self._transport is None:
            self._transport = httpx2.AsyncHTTPTransport()
        return httpx2.AsyncClient(
            transport=_Borrowed(self._transport), auth=auth, timeout=timeout, headers=headers
        )

    async def aclose(self) -> None:
        if self._transport is not None:
            transport, self._transport = self._transport, None
            await transport.aclose()


@dataclass(frozen=True)
class Endpoint:
    server_name: str
    url: str
    transport: str  # "streamable_http" | "sse"
    headers: dict[str, str]
    project_id: str
    credential: str | None = None
    credentials: CredentialProvider | None = None
    pool: HttpPool | None = None


@dataclass(frozen=True)
class ToolInfo:
    name: str
    description: str | None
    input_schema: dict[str, Any]


class _HeaderAuth(httpx2.Auth):
    """Sets the endpoint's headers on every request; on HTTP 401, renews the credential
    once (for the whole connection) and resends. Remembers the last HTTP error status
    so failures can be described."""

    def __init__(
        self, headers: dict[str, str], refresh: Callable[[], Awaitable[dict[str, str]]] | None
    ) -> None:
        self.headers = headers
        self._refresh = refresh
        self._lock = anyio.Lock()
        self.refreshed = False
        self.refresh_error: str | None = None
        self.status: int | None = None

    async def async_auth_flow(
        self, request: httpx2.Request
    ) -> AsyncGenerator[httpx2.Request, httpx2.Response]:
        sent = self.headers
        request.headers.update(sent)
        response = yield request
        # (not for the courtesy DELETE that ends a session: a failure there is harmless)
        if response.status_code == 401 and self._refresh is not None and request.method != "DELETE":
            async with self._lock:
                if self.headers is sent and not self.refreshed:
                    self.refreshed = True
                    try:
                        self.headers = {**self.headers, **await self._refresh()}
                    except Exception as exc:
                        self.refresh_error = str(exc) or repr(exc)
            if self.headers is not sent:
                request.headers.update(self.headers)
                response = yield request
        if response.status_code >= 400 and response.status_code != 405:
            # 405: a server without the optional GET stream; not a failure
            self.status = response.status_code


def _leaf(exc: BaseException) -> BaseException:
    """The first real error inside the SDK's (nested) exception groups."""
    while isinstance(exc, BaseExceptionGroup):
        inner = [e for e in exc.exceptions if not isinstance(e, asyncio.CancelledError)]
        exc = (inner or list(exc.exceptions))[0]
    return exc


def _describe(ep: Endpoint, auth: _HeaderAuth, exc: BaseException, timeout: float) -> McpFailure:
    leaf = _leaf(exc)
    server = f"the MCP server '{ep.server_name}'"
    if auth.refresh_error is not None:
        return McpFailure(
            f"{server} answered HTTP 401 and renewing credential '{ep.credential}' failed: "
            f"{auth.refresh_error}",
            "auth",
        )
    status = auth.status
    if isinstance(leaf, httpx2.HTTPStatusError):
        status = leaf.response.status_code
    if status in (401, 403) and isinstance(leaf, MCPError | httpx2.HTTPStatusError):
        what = f"credential '{ep.credential}'" if ep.credential else "'headers'"
        renewed = " (even after renewing the credential)" if auth.refreshed else ""
        return McpFailure(
            f"{server} answered HTTP {status}{renewed}: check the {what} of the mcp_server tool",
            "auth",
        )
    if status is not None and isinstance(leaf, MCPError | httpx2.HTTPStatusError):
        return McpFailure(f"{server} at {ep.url} answered HTTP {status}")
    if isinstance(leaf, httpx2.ConnectError | OSError):
        return McpFailure(f"could not connect to {server} at {ep.url}: {leaf}", "unreachable")
    if isinstance(leaf, httpx2.TimeoutException | TimeoutError):
        return McpFailure(f"{server} did not answer within {timeout:g} s", "unreachable")
    if isinstance(leaf, MCPError):
        return McpFailure(f"{server} returned an error: {leaf.message}")
    return McpFailure(f"{server} failed: {type(leaf).__name__}: {leaf}")


async def _headers(ep: Endpoint) -> dict[str, str]:
    if ep.credential is None:
        return dict(ep.headers)
    if ep.credentials is None:
        raise McpFailure(f"credential '{ep.credential}' cannot be used: no credentials store")
    try:
        extra = await ep.credentials.headers_for(ep.project_id, ep.credential, ep.url)
    except Exception as exc:
        raise McpFailure(
            f"credential '{ep.credential}' of the MCP server '{ep.server_name}' could not be "
            f"read: {exc}",
            "auth",
        ) from exc
    return {**ep.headers, **extra}


def _auth(ep: Endpoint, headers: dict[str, str]) -> _HeaderAuth:
    store, credential = ep.credentials, ep.credential
    if store is None or credential is None:
        return _HeaderAuth(headers, None)

    async def refresh() -> dict[str, str]:
        return await store.refresh(ep.project_id, credential, ep.url)

    return _HeaderAuth(headers, refresh)


async def with_session(
    ep: Endpoint, operation: Callable[[ClientSession], Awaitable[T]], timeout: float
) -> T:
    """Connect, ``initialize``, run ``operation`` and disconnect, all in this task.
    Every failure is raised as :class:`McpFailure`."""
    auth = _auth(ep, await _headers(ep))
    pool = ep.pool or HttpPool()
    try:
        with anyio.fail_after(timeout):
            if ep.transport == "sse":

                def factory(
                    headers: dict[str, str] | None = None,
                    timeout: httpx2.Timeout | None = None,
                    auth: httpx2.Auth | None = None,
                ) -> httpx2.AsyncClient:
                    return pool.client(auth=auth, timeout=timeout, headers=headers)

                transport = sse_client(
                    ep.url,
                    timeout=CONNECT_TIMEOUT,
                    sse_read_timeout=timeout,
                    auth=auth,
                    httpx_client_factory=factory,
                )
                async with transport as (read, write):
                    return await _run(read, write, operation, timeout)
            http_timeout = httpx2.Timeout(timeout, connect=CONNECT_TIMEOUT)
            async with (
                pool.client(auth=auth, timeout=http_timeout) as http,
                streamable_http_client(ep.url, http_client=http) as (read, write),
            ):
                return await _run(read, write, operation, timeout)
    except McpFailure:
        raise
    except Exception as exc:
        raise _describe(ep, auth, exc, timeout) from exc
    finally:
        if ep.pool is None:
            await pool.aclose()


async def _run(
    read: Any, write: Any, operation: Callable[[ClientSession], Awaitable[T]], timeout: float
) -> T:
    async with ClientSession(
        read, write, read_timeout_seconds=timeout, client_info=CLIENT_INFO
    ) as session:
        await session.initialize()
        return await operation(session)


async def list_tools(ep: Endpoint) -> list[ToolInfo]:
    async def operation(session: ClientSession) -> list[ToolInfo]:
        tools: list[ToolInfo] = []
        cursor: str | None = None
        while True:
            params = types.PaginatedRequestParams(cursor=cursor) if cursor else None
            page = await session.list_tools(params=params)
            tools.extend(ToolInfo(t.name, t.description, t.input_schema) for t in page.tools)
            cursor = page.next_cursor
            if not cursor or len(tools) >= MAX_TOOLS:
                return tools[:MAX_TOOLS]

    return await with_session(ep, operation, LIST_TIMEOUT)


async def call_tool(ep: Endpoint, name: str, arguments: dict[str, Any]) -> types.CallToolResult:
    async def operation(session: ClientSession) -> types.CallToolResult:
        # A plain tools/call request: ClientSession.call_tool would list the tools again
        # on every fresh connection (to validate structured output), defeating the cache.
        request = types.CallToolRequest(
            params=types.CallToolRequestParams(name=name, arguments=arguments)
        )
        return await session.send_request(request, types.CallToolResult)

    return await with_session(ep, operation, CALL_TIMEOUT)


def _resource_item(resource: Any) -> dict[str, Any]:
    mime = getattr(resource, "mime_type", None) or ""
    text = getattr(resource, "text", None)
    if text is not None:
        return {"type": "text", "text": text}
    kind = next((k for k in ("image", "audio", "video") if mime.startswith(k + "/")), "document")
    item = {"type": kind, "data": getattr(resource, "blob", "")}
    if mime:
        item["mime_type"] = mime
    return item


def to_item(block: Any) -> dict[str, Any]:
    """One MCP content block as an Interactions content item."""
    if isinstance(block, types.TextContent):
        return {"type": "text", "text": block.text}
    if isinstance(block, types.ImageContent | types.AudioContent):
        return {"type": block.type, "data": block.data, "mime_type": block.mime_type}
    if isinstance(block, types.EmbeddedResource):
        return _resource_item(block.resource)
    if isinstance(block, types.ResourceLink):
        return {"type": "text", "text": f"resource {block.name}: {block.uri}"}
    return {"type": "text", "text": json.dumps(block.model_dump(mode="json", by_alias=True))}


def to_result(result: types.CallToolResult) -> tuple[Any, bool]:
    """``(result, is_error)`` for an ``mcp_server_tool_result`` step. Structured content
    is kept as the object when the rest of the result is text (which, per the MCP spec,
    repeats it); otherwise the result is the list of content items."""
    items = [to_item(block) for block in result.content]
    structured = result.structured_content
    if structured is not None and all(i["type"] == "text" for i in items):
        return structured, result.is_error
    return items, result.is_error


CacheKey = tuple[str, str, str, str, str]


def cache_key(ep: Endpoint) -> CacheKey:
    digest = hashlib.sha256(json.dumps(sorted(ep.headers.items())).encode()).hexdigest()
    return (ep.project_id, ep.url, ep.transport, digest, ep.credential or "")


class ToolListCache:
    """Tool listings per (project, url, transport, headers hash, credential), used for
    ``ttl`` seconds after they were read; at most ``max_entries`` are kept (the least
    recently used go first). Concurrent misses on one key list the server once."""

    def __init__(self, ttl: float = 300.0, max_entries: int = 1024) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        self.loads = 0
        self._entries: OrderedDict[CacheKey, tuple[float, list[ToolInfo]]] = OrderedDict()
        self._locks: dict[CacheKey, asyncio.Lock] = {}

    def _fresh(self, key: CacheKey) -> list[ToolInfo] | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry[0] + self.ttl <= time.monotonic():
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        return entry[1]

    async def get(
        self,
        key: CacheKey,
        load: Callable[[], Awaitable[list[ToolInfo]]],
        *,
        refresh: bool = False,
    ) -> tuple[list[ToolInfo], bool]:
        """``(tools, cached)``; ``refresh`` ignores a cached listing."""
        if not refresh and (hit := self._fresh(key)) is not None:
            return hit, True
        lock = self._locks.setdefault(key, asyncio.Lock())
        try:
            async with lock:
                if not refresh and (hit := self._fresh(key)) is not None:
                    return hit, True
                tools = await load()
                self.loads += 1
                self._entries[key] = (time.monotonic(), tools)
                self._entries.move_to_end(key)
                while len(self._entries) > self.max_entries:
                    self._entries.popitem(last=False)
                return tools, False
        finally:
            if not lock.locked():
                self._locks.pop(key, None)

    def clear(self) -> None:
        self._entries.clear()
