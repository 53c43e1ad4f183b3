"""The ``mcp_server`` tool: the tools of a remote MCP server, offered to the model as
functions named ``mcp__<server>__<tool>`` and executed by Junction (docs/mcp.md).

Declaration (REFERENCE 4, plus two Junction extensions)::

    {"type": "mcp_server", "name": "weather", "url": "https://mcp.example.com/mcp",
     "headers": {"X-Api-Key": "…"},                      # sent on every request
     "allowed_tools": [{"mode": "auto", "tools": ["forecast"]}],
     "transport": "sse",                                 # extension; default: see below
     "credential": "cred_…"}                             # extension: a stored credential

The transport is SSE when ``transport`` says ``"sse"`` or, without ``transport``, when
the URL path ends with ``/sse``; otherwise streamable HTTP.

The tool list is read at the start of a run (``prepare``) through a process-wide cache;
every call opens its own MCP connection (see :mod:`junction.tools.mcp_client`).
"""

from __future__ import annotations

import dataclasses
import logging
import re
from typing import Any, cast
from urllib.parse import urlsplit

from junction import jsonutil
from junction.errors import BadRequest, Unavailable
from junction.tools.base import ServerTool, ToolContext, ToolResult, ToolServices, register_tool
from junction.tools.lowering import mcp_function_name
from junction.tools.mcp_client import (
    CredentialProvider,
    Endpoint,
    HttpPool,
    McpFailure,
    ToolInfo,
    ToolListCache,
    cache_key,
    call_tool,
    list_tools,
    to_result,
)

log = logging.getLogger("junction.tools.mcp")

TRANSPORTS = ("streamable_http", "sse")
#: larger tool results are replaced by an error result (they are stored and sent to the model)
MAX_RESULT_BYTES = 4 * 1024 * 1024
MODES = ("auto", "any", "none", "validated")
_SERVER_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")


def configure(services: ToolServices) -> None:
    services.extras.setdefault("mcp_cache", ToolListCache())
    services.extras.setdefault("mcp_http", HttpPool())
    # The SDK's client logs every session id and stream reconnection at INFO: with a
    # connection per call that is noise (Junction logs tool failures itself).
    logging.getLogger("mcp.client").setLevel(logging.WARNING)


def _is_http_url(url: str) -> bool:
    try:
        parts = urlsplit(url)
        return parts.scheme in ("http", "https") and bool(parts.hostname) and parts.port != 0
    except ValueError:  # e.g. a port that is not a number
        return False


def _transport(declared: Any, url: str) -> str:
    if declared is None:
        return "sse" if urlsplit(url).path.rstrip("/").endswith("/sse") else "streamable_http"
    if declared not in TRANSPORTS:
        raise BadRequest(f"mcp_server.transport must be one of: {', '.join(TRANSPORTS)}")
    return str(declared)


def _headers(value: Any) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise BadRequest("mcp_server.headers must be an object of header names to strings")
    for key, item in value.items():
        if not _HEADER_NAME.match(key) or not isinstance(item, str) or "\r" in item or "\n" in item:
            raise BadRequest(f"mcp_server.headers['{key}'] is not a valid HTTP header")
    return dict(value)


def _allowed(value: Any) -> tuple[set[str] | None, set[str]]:
    """(tools offered — None for all —, tools refused) from ``allowed_tools``."""
    if value is None:
        return None, set()
    problem = "mcp_server.allowed_tools must be a list of {mode?, tools: [tool names]}"
    if not isinstance(value, list):
        raise BadRequest(problem)
    allowed: set[str] | None = None
    refused: set[str] = set()
    for entry in value:
        if not isinstance(entry, dict):
            raise BadRequest(problem)
        mode = entry.get("mode") or "auto"
        tools = entry.get("tools") or []
        if mode not in MODES:
            raise BadRequest(f"mcp_server.allowed_tools mode must be one of: {', '.join(MODES)}")
        if not isinstance(tools, list) or not all(isinstance(t, str) and t for t in tools):
            raise BadRequest(problem)
        if mode == "none":
            refused.update(tools)
        else:
            allowed = (allowed or set()) | set(tools)
    return allowed, refused


@register_tool("mcp_server")
class McpServerTool(ServerTool):
    def __init__(self, declaration: dict[str, Any], services: ToolServices) -> None:
        super().__init__(declaration, services)
        name = declaration.get("name")
        if not isinstance(name, str) or not _SERVER_NAME.match(name):
            raise BadRequest(
                "mcp_server.name is required: 1-64 letters, digits, '_' or '-' (it names the "
                "server in the functions the model sees: mcp__<name>__<tool>)"
            )
        url = declaration.get("url")
        if not isinstance(url, str) or not _is_http_url(url):
            raise BadRequest(f"mcp_server '{name}': url is required and must be http(s)")
        credential = declaration.get("credential")
        store: CredentialProvider | None = None
        if credential is not None:
            if not isinstance(credential, str) or not credential:
                raise BadRequest(f"mcp_server '{name}': credential must be a credential id")
            store = services.extras.get("credentials")
            if store is None:
                raise BadRequest(
                    f"mcp_server '{name}' names credential '{credential}' but this server has "
                    "no credentials store"
                )
        self.name = name
        self.allowed, self.refused = _allowed(declaration.get("allowed_tools"))
        self.endpoint = Endpoint(
            server_name=name,
            url=url,
            transport=_transport(declaration.get("transport"), url),
            headers=_headers(declaration.get("headers")),
            project_id="",
            credential=credential,
            credentials=store,
        )
        self._functions: list[dict[str, Any]] = []
        self._by_function: dict[str, str] = {}
        self._offered: set[str] = set()

    @property
    def call_type(self) -> str:
        return "mcp_server_tool_call"

    @property
    def result_type(self) -> str:
        return "mcp_server_tool_result"

    def _endpoint(self, ctx: ToolContext) -> Endpoint:
        pool = self.services.extras.get("mcp_http")
        return dataclasses.replace(self.endpoint, project_id=ctx.project_id, pool=pool)

    async def _tools(self, ep: Endpoint, *, refresh: bool = False) -> tuple[list[ToolInfo], bool]:
        cache = cast(ToolListCache, self.services.extras.setdefault("mcp_cache", ToolListCache()))
        try:
            return await cache.get(cache_key(ep), lambda: list_tools(ep), refresh=refresh)
        except McpFailure as exc:
            message = f"could not list the tools of mcp_server '{self.name}': {exc.message}"
            raise (BadRequest if exc.kind == "auth" else Unavailable)(message) from exc

    async def prepare(self, ctx: ToolContext) -> None:
        """List the server's tools (cached). A server that cannot be listed, or
        ``allowed_tools`` naming tools the server lacks, fails the run."""
        ep = self._endpoint(ctx)
        tools, cached = await self._tools(ep)
        wanted = (self.allowed or set()) | self.refused
        if cached and wanted - {t.name for t in tools}:
            tools, _ = await self._tools(ep, refresh=True)  # the server may have new tools
        unknown = sorted(wanted - {t.name for t in tools})
        if unknown:
            raise BadRequest(
                f"mcp_server '{self.name}': allowed_tools names tools the server does not "
                f"offer: {', '.join(unknown)} (it offers: "
                + (", ".join(sorted(t.name for t in tools)) or "no tools")
                + ")"
            )
        functions: list[dict[str, Any]] = []
        by_function: dict[str, str] = {}
        for tool in tools:
            if not self._offers(tool.name):
                continue
            fn_name = mcp_function_name(self.name, tool.name)
            if fn_name in by_function:
                raise BadRequest(
                    f"mcp_server '{self.name}': tools '{by_function[fn_name]}' and '{tool.name}' "
                    f"both become the function '{fn_name}': use allowed_tools to pick one"
                )
            by_function[fn_name] = tool.name
            fn: dict[str, Any] = {"type": "function", "name": fn_name}
            if tool.description:
                fn["description"] = tool.description
            fn["parameters"] = tool.input_schema
            functions.append(fn)
        self._functions, self._by_function = functions, by_function
        self._offered = set(by_function.values())

    def _offers(self, tool: str) -> bool:
        return tool not in self.refused and (self.allowed is None or tool in self.allowed)

    def functions(self) -> list[dict[str, Any]]:
        return self._functions

    def owns(self, call: dict[str, Any]) -> bool:
        return call.get("server_name") == self.name and call.get("name") in self._offered

    def call_step(self, call_id: str, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
        return {
            "type": "mcp_server_tool_call",
            "id": call_id,
            "name": self._by_function.get(name, name),
            "server_name": self.name,
            "arguments": arguments,
        }

    def result_step(self, call: dict[str, Any], outcome: ToolResult) -> dict[str, Any]:
        step = super().result_step(call, outcome)
        step["name"] = call.get("name", "")
        step["server_name"] = self.name
        return step

    async def run(self, call: dict[str, Any], ctx: ToolContext) -> ToolResult:
        name = str(call.get("name", ""))
        if name not in self._offered:
            return ToolResult(f"mcp_server '{self.name}' offers no tool named '{name}'", True)
        arguments = call.get("arguments")
        try:
            result = await call_tool(
                self._endpoint(ctx), name, arguments if isinstance(arguments, dict) else {}
            )
        except McpFailure as exc:
            log.info("call of %s on %s failed: %s", name, ctx.interaction_id, exc.message)
            return ToolResult(exc.message, True)
        value, is_error = to_result(result)
        size = len(jsonutil.dumpb(value))
        if size > MAX_RESULT_BYTES:
            return ToolResult(
                f"the result of '{name}' is {size} bytes: more than the {MAX_RESULT_BYTES} "
                "bytes Junction keeps for one tool result",
                True,
            )
        return ToolResult(value, is_error)
