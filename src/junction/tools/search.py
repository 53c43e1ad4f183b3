"""``google_search``: web search through a pluggable backend.

Junction does not call Google: the ``google_search`` tool of a request is served by the
search backend the server is configured with (``[search]`` in the config file, or
``JUNCTION_SEARCH_BACKEND`` / ``JUNCTION_SEARCH_URL`` / ``JUNCTION_SEARCH_API_KEY``):

* ``searxng`` — a SearXNG instance (``url`` required; its ``search.formats`` must
  include ``json``);
* ``brave`` — the Brave Search API (``api_key`` required);
* ``tavily`` — the Tavily search API (``api_key`` required).

Optional keys: ``count`` (results per query, default 5, at most 20), ``timeout``
(seconds, default 15), and for SearXNG ``language``, ``categories``, ``safesearch``.

The model sees one function, ``google_search(queries)``; the call is recorded as a
``google_search_call`` step and its hits as a ``google_search_result`` step whose
``result`` has one entry per query: ``{query, results: [{title, url, snippet}]}`` (or
``{query, error}``). A request that declares ``google_search`` on a server without a
backend is refused with a 400 naming the setting.
"""

from __future__ import annotations

import abc
import asyncio
import html
import re
from collections.abc import Callable, Mapping
from typing import Any, ClassVar, TypedDict, TypeVar

import aiohttp

from junction import jsonutil
from junction.errors import BadRequest
from junction.tools.base import ServerTool, ToolContext, ToolResult, ToolServices, register_tool

MAX_QUERIES = 5
DEFAULT_COUNT = 5
MAX_COUNT = 20

DESCRIPTION = (
    "Search the web. Give one or more search queries (up to "
    f"{MAX_QUERIES}); for each you get the top results as title, URL and snippet. Use "
    "it for recent events and facts you are not sure of; to read a result in full, "
    "fetch its URL with url_context when that tool is available."
)

NOT_CONFIGURED = (
    "the google_search tool needs a web search backend, and this server has none: set "
    '[search] backend = "searxng" (with url), "brave" or "tavily" (with api_key) in the '
    "config file, or JUNCTION_SEARCH_BACKEND (and JUNCTION_SEARCH_URL / "
    "JUNCTION_SEARCH_API_KEY)"
)

_TAGS = re.compile(r"<[^>]+>")


class SearchHit(TypedDict):
    title: str
    url: str
    snippet: str


class SearchError(Exception):
    """The backend failed; the message is for the model (and the client) to read."""


def _plain(value: Any) -> str:
    """Backend snippets may carry highlighting markup (``<strong>``) and entities."""
    return html.unescape(_TAGS.sub("", str(value or ""))).strip()


class SearchBackend(abc.ABC):
    """A web search service. Subclasses register under the name used in ``[search]``."""

    name: ClassVar[str]
    default_url: ClassVar[str | None] = None
    needs_api_key: ClassVar[bool] = False

    def __init__(self, config: Mapping[str, Any]) -> None:
        self.config = config
        url = config.get("url") or self.default_url
        if not url:
            raise ValueError(f"search backend '{self.name}' needs a url ([search] url)")
        self.url = str(url).rstrip("/")
        self.api_key: str | None = config.get("api_key")
        if self.needs_api_key and not self.api_key:
            raise ValueError(
                f"search backend '{self.name}' needs an api_key ([search] api_key or "
                "JUNCTION_SEARCH_API_KEY)"
            )
        self.timeout = float(config.get("timeout", 15))
        self._session: aiohttp.ClientSession | None = None

    @abc.abstractmethod
    async def search(self, query: str, count: int) -> list[SearchHit]:
        """Up to ``count`` hits for ``query``; :class:`SearchError` when the backend
        fails."""

    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self.timeout),
                cookie_jar=aiohttp.DummyCookieJar(),
                headers={"Accept": "application/json", "User-Agent": "Junction/1.0"},
            )
        return self._session

    async def _json(self, method: str, url: str, **kwargs: Any) -> Any:
        """Send a request and decode its JSON answer; failures become SearchError."""
        try:
            async with self.session().request(method, url, **kwargs) as resp:
                body = await resp.read()
                if resp.status >= 400:
                    raise SearchError(self._http_error(resp.status, body))
                try:
                    return jsonutil.loads(body)
                except ValueError:
                    raise SearchError(
                        f"the {self.name} search backend did not answer with JSON"
                    ) from None
        except TimeoutError:
            raise SearchError(
                f"the {self.name} search backend did not answer in {self.timeout:g} s"
            ) from None
        except aiohttp.ClientError as exc:
            raise SearchError(f"the {self.name} search backend is unreachable: {exc}") from None

    def _http_error(self, status: int, body: bytes) -> str:
        detail = body.decode("utf-8", "replace").strip()
        try:
            data = jsonutil.loads(body)
            if isinstance(data, dict):
                err = data.get("error", data.get("detail", data))
                detail = str(err.get("message", err) if isinstance(err, dict) else err)
        except ValueError:
            pass
        return f"the {self.name} search backend answered HTTP {status}: {_plain(detail)[:300]}"

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


_BACKENDS: dict[str, type[SearchBackend]] = {}
B = TypeVar("B", bound=type[SearchBackend])


def register_backend(name: str) -> Callable[[B], B]:
    def decorate(cls: B) -> B:
        cls.name = name
        _BACKENDS[name] = cls
        return cls

    return decorate


def backend_names() -> list[str]:
    return sorted(_BACKENDS)


def make_backend(config: Mapping[str, Any]) -> SearchBackend | None:
    """The backend ``config`` (the ``[search]`` settings) names, or ``None`` when it
    names none. A misconfigured backend is a start-up error."""
    name = str(config.get("backend") or "").strip().lower()
    if not name or name == "none":
        return None
    cls = _BACKENDS.get(name)
    if cls is None:
        raise ValueError(f"unknown search backend '{name}' (known: {', '.join(backend_names())})")
    return cls(config)


@register_backend("searxng")
class SearxngBackend(SearchBackend):
    async def search(self, query: str, count: int) -> list[SearchHit]:
        params = {"q": query, "format": "json"}
        for key in ("language", "categories", "safesearch"):
            if self.config.get(key) is not None:
                params[key] = str(self.config[key])
        try:
            data = await self._json("GET", f"{self.url}/search", params=params)
        except SearchError as exc:
            if "HTTP 403" in str(exc):
                raise SearchError(
                    f"{exc} (is 'json' in the SearXNG instance's search.formats?)"
                ) from None
            raise
        hits = [
            SearchHit(
                title=_plain(r.get("title")), url=str(r["url"]), snippet=_plain(r.get("content"))
            )
            for r in (data.get("results") or [] if isinstance(data, dict) else [])
            if isinstance(r, dict) and r.get("url")
        ]
        return hits[:count]


@register_backend("brave")
class BraveBackend(SearchBackend):
    default_url = "https://api.search.brave.com"
    needs_api_key = True

    async def search(self, query: str, count: int) -> list[SearchHit]:
        data = await self._json(
            "GET",
            f"{self.url}/res/v1/web/search",
            params={"q": query, "count": str(count)},
            headers={"X-Subscription-Token": self.api_key or ""},
        )
        web = data.get("web") if isinstance(data, dict) else None
        results = web.get("results") if isinstance(web, dict) else None
        hits = [
            SearchHit(
                title=_plain(r.get("title")),
                url=str(r["url"]),
                snippet=_plain(r.get("description")),
            )
            for r in results or []
            if isinstance(r, dict) and r.get("url")
        ]
        return hits[:count]


@register_backend("tavily")
class TavilyBackend(SearchBackend):
    default_url = "https://api.tavily.com"
    needs_api_key = True

    async def search(self, query: str, count: int) -> list[SearchHit]:
        data = await self._json(
            "POST",
            f"{self.url}/search",
            json={
                "api_key": self.api_key,
                "query": query,
                "max_results": count,
                "search_depth": str(self.config.get("search_depth", "basic")),
            },
            headers={"Authorization": f"Bearer {self.api_key}"},
        )
        results = data.get("results") if isinstance(data, dict) else None
        hits = [
            SearchHit(
                title=_plain(r.get("title")), url=str(r["url"]), snippet=_plain(r.get("content"))
            )
            for r in results or []
            if isinstance(r, dict) and r.get("url")
        ]
        return hits[:count]


def configure(services: ToolServices) -> None:
    backend = make_backend(services.settings.search)
    if backend is not None:
        services.extras["search_backend"] = backend


@register_tool("google_search")
class GoogleSearchTool(ServerTool):
    def __init__(self, declaration: dict[str, Any], services: ToolServices) -> None:
        super().__init__(declaration, services)
        backend = services.extras.get("search_backend")
        if not isinstance(backend, SearchBackend):
            raise BadRequest(NOT_CONFIGURED)
        self.backend = backend
        types = declaration.get("search_types")
        if types is not None and (not isinstance(types, list) or set(types) - {"web_search"}):
            raise BadRequest(
                "google_search.search_types: this server's search backend supports only "
                "'web_search'"
            )
        count = int(services.settings.search.get("count", DEFAULT_COUNT))
        self.count = max(1, min(MAX_COUNT, count))

    def functions(self) -> list[dict[str, Any]]:
        return [
            {
                "type": "function",
                "name": "google_search",
                "description": DESCRIPTION,
                "parameters": {
                    "type": "object",
                    "properties": {
                        "queries": {
                            "type": "array",
                            "items": {"type": "string"},
                            "maxItems": MAX_QUERIES,
                            "description": "Web search queries.",
                        }
                    },
                    "required": ["queries"],
                },
            }
        ]

    def call_step(self, call_id: str, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
        step = super().call_step(call_id, name, arguments)
        step["search_type"] = "web_search"
        return step

    async def run(self, call: dict[str, Any], ctx: ToolContext) -> ToolResult:
        raw = (call.get("arguments") or {}).get("queries")
        if isinstance(raw, str):
            raw = [raw]
        queries = (
            [str(q).strip() for q in raw or [] if str(q).strip()] if isinstance(raw, list) else []
        )
        if not queries:
            return ToolResult("google_search needs 'queries': a list of search queries", True)
        items = await asyncio.gather(*(self._one(q) for q in queries[:MAX_QUERIES]))
        items.extend(
            {"query": q, "error": f"not searched: at most {MAX_QUERIES} queries per call"}
            for q in queries[MAX_QUERIES:]
        )
        return ToolResult(items, is_error=all("error" in item for item in items))

    async def _one(self, query: str) -> dict[str, Any]:
        try:
            hits = await self.backend.search(query, self.count)
        except SearchError as exc:
            return {"query": query, "error": str(exc)}
        return {"query": query, "results": [dict(h) for h in hits]}
