"""Fixtures for the server-side tools: a local web site to fetch, a fake search service
speaking SearXNG, Brave and Tavily, and a dedicated Junction server configured with
them (private addresses allowed, search backend set) so the shared ``junction`` servers
keep their default, locked-down configuration."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from aiohttp import web

from junction.config import load_settings
from junction.testing.fake_openai import FakeOpenAI
from junction.testing.fakeserver import FakeProviderServer
from junction.testing.server import JunctionThread
from tests.conftest import API_KEY, Junction, traversable

ARTICLE = """<!doctype html>
<html><head><title>Why cats sleep | Cat Facts</title>
<style>body { color: red } .secret-style {}</style>
<script>var secretScript = "tracking";</script></head>
<body>
<nav><a href="/">Home</a> <a href="/about">About us</a></nav>
<div class="sidebar-popular"><h3>Popular posts</h3><a href="/x">Dogs</a></div>
<main><article>
<h1>Why cats sleep</h1>
<p>Cats sleep twelve to sixteen hours a day because they are crepuscular hunters.</p>
<h2>Energy</h2>
<p>Hunting takes energy, so resting matters. Read <a href="/study">the study</a>.</p>
<ul><li>Kittens sleep more</li><li>Old cats too</li></ul>
</article></main>
<footer>Copyright 2026 Cat Facts</footer>
<script>track()</script>
</body></html>"""

PAYWALLED = """<html><head><title>Premium</title>
<script type="application/ld+json">{"@type": "NewsArticle", "isAccessibleForFree": false}
</script></head><body><p>The first paragraph is free to read.</p></body></html>"""


class Site(FakeProviderServer):
    """Pages for the fetcher: HTML, text, JSON, binary, large, slow, redirects."""

    def routes(self, app: web.Application) -> None:
        @web.middleware
        async def record(request: web.Request, handler: Any) -> web.StreamResponse:
            await self.recorded(request)
            response: web.StreamResponse = await handler(request)
            return response

        app.middlewares.append(record)
        app.router.add_get("/article", self.html(ARTICLE))
        app.router.add_get("/paywalled", self.html(PAYWALLED))
        app.router.add_get("/plain", self.plain)
        app.router.add_get("/data.json", self.json)
        app.router.add_get("/doc.pdf", self.pdf)
        app.router.add_get("/latin1", self.latin1)
        app.router.add_get("/untyped-text", self.untyped(b"just some words\n"))
        app.router.add_get("/untyped-binary", self.untyped(b"\x89PNG\r\n\x1a\n\x00\x00\x00"))
        app.router.add_get("/big", self.big)
        app.router.add_get("/long-text", self.long_text)
        app.router.add_get("/slow", self.slow)
        app.router.add_get("/redirect", self.redirect)
        app.router.add_get("/loop", self.loop)
        app.router.add_get("/status/{code}", self.status)

    @staticmethod
    def html(body: str) -> Any:
        async def handler(request: web.Request) -> web.Response:
            return web.Response(text=body, content_type="text/html")

        return handler

    @staticmethod
    def untyped(body: bytes) -> Any:
        async def handler(request: web.Request) -> web.Response:
            response = web.Response(body=body)
            response.headers.pop("Content-Type", None)
            return response

        return handler

    async def plain(self, request: web.Request) -> web.Response:
        return web.Response(text="line one\n  indented line two\n", content_type="text/plain")

    async def json(self, request: web.Request) -> web.Response:
        return web.json_response({"answer": 42, "items": ["a", "b"]})

    async def pdf(self, request: web.Request) -> web.Response:
        return web.Response(body=b"%PDF-1.7\n" + b"\x00" * 100, content_type="application/pdf")

    async def latin1(self, request: web.Request) -> web.Response:
        return web.Response(
            body="<p>Caf\u00e9 cr\u00e8me</p>".encode("latin-1"),
            headers={"Content-Type": "text/html; charset=iso-8859-1"},
        )

    async def big(self, request: web.Request) -> web.StreamResponse:
        """2 MB of text, streamed: the reader must stop at its limit."""
        response = web.StreamResponse(headers={"Content-Type": "text/plain"})
        await response.prepare(request)
        chunk = b"0123456789abcdef" * 4096  # 64 kB
        try:
            for _ in range(32):
                await response.write(chunk)
        except (ConnectionResetError, RuntimeError):
            pass
        return response

    async def long_text(self, request: web.Request) -> web.Response:
        return web.Response(text="word " * 10_000, content_type="text/plain")

    async def slow(self, request: web.Request) -> web.Response:
        await asyncio.sleep(5)
        return web.Response(text="too late", content_type="text/plain")

    async def redirect(self, request: web.Request) -> web.Response:
        raise web.HTTPFound(request.query["to"])

    async def loop(self, request: web.Request) -> web.Response:
        raise web.HTTPFound("/loop")

    async def status(self, request: web.Request) -> web.Response:
        return web.Response(status=int(request.match_info["code"]), text="nope")


class FakeSearch(FakeProviderServer):
    """SearXNG (``/search``), Brave (``/res/v1/web/search``) and Tavily (``/search``,
    POST) answering from ``hits``; a query containing ``fail`` gets an HTTP 500."""

    HITS = (
        {"title": "Cats <b>sleep</b> a lot", "url": "https://cats.example/sleep"},
        {"title": "Feline rest", "url": "https://vets.example/rest"},
        {"title": "Nap science", "url": "https://science.example/naps"},
    )

    def __init__(self) -> None:
        super().__init__()
        self.hits = [dict(h) for h in self.HITS]

    def reset_attributes(self) -> dict[str, Any]:
        return {"hits": [dict(h) for h in self.HITS]}

    def routes(self, app: web.Application) -> None:
        app.router.add_get("/search", self.searxng)
        app.router.add_post("/search", self.tavily)
        app.router.add_get("/res/v1/web/search", self.brave)

    def _failing(self, query: str) -> web.Response | None:
        if "fail" in query:
            return web.json_response({"error": {"message": "engine exploded"}}, status=500)
        if "forbidden" in query:
            return web.Response(status=403, text="Forbidden")
        return None

    async def searxng(self, request: web.Request) -> web.Response:
        await self.recorded(request)
        query = request.query.get("q", "")
        failed = self._failing(query)
        if failed is not None:
            return failed
        results = [
            {
                "url": h["url"],
                "title": h["title"],
                "content": f"About {query}: {h['title']} &amp; more",
                "engine": "fake",
                "score": 1.0,
            }
            for h in self.hits
        ]
        return web.json_response(
            {
                "query": query,
                "number_of_results": len(results),
                "results": results,
                "answers": [],
                "corrections": [],
                "infoboxes": [],
                "suggestions": [f"{query} facts"],
                "unresponsive_engines": [],
            }
        )

    async def brave(self, request: web.Request) -> web.Response:
        await self.recorded(request)
        query = request.query.get("q", "")
        failed = self._failing(query)
        if failed is not None:
            return failed
        results = [
            {"title": h["title"], "url": h["url"], "description": f"<strong>{query}</strong> x"}
            for h in self.hits
        ]
        return web.json_response({"type": "search", "web": {"type": "search", "results": results}})

    async def tavily(self, request: web.Request) -> web.Response:
        body = await self.recorded(request)
        query = body.get("query", "") if isinstance(body, dict) else ""
        failed = self._failing(query)
        if failed is not None:
            return failed
        results = [
            {"title": h["title"], "url": h["url"], "content": f"{query} info", "score": 0.9}
            for h in self.hits
        ]
        return web.json_response({"query": query, "results": results, "response_time": 0.1})


@pytest.fixture(scope="session")
def site() -> Iterator[Site]:
    server = Site().start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def search_service() -> Iterator[FakeSearch]:
    server = FakeSearch().start()
    yield server
    server.stop()


@pytest.fixture
def fake_search(search_service: FakeSearch) -> FakeSearch:
    search_service.reset()
    return search_service


@pytest.fixture(scope="session")
def tools_junction(
    fake_openai: FakeOpenAI,
    search_service: FakeSearch,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Junction]:
    """A Junction server (SQLite) that may fetch loopback pages and searches through the
    fake SearXNG: the configuration an operator would write for an intranet."""
    tmp = tmp_path_factory.mktemp("tools")
    traversable(tmp)  # the sandbox user must reach the workspaces (code_execution)
    config = tmp / "junction.toml"
    config.write_text(
        f"""
[server]
url_fetch_allow_private = true
max_model_calls = 2000

[models."openai/long-run"]
context_window = 6000

[search]
backend = "searxng"
url = "{search_service.url}"
count = 2
"""
    )
    settings = load_settings(
        env={
            "JUNCTION_API_KEY": API_KEY,
            "OPENAI_BASE_URL": fake_openai.url + "/v1",
            "OPENAI_API_KEY": "sk-fake",
        },
        config_file=config,
        overrides={
            "database_url": f"sqlite:///{tmp / 'junction.db'}",
            "data_dir": tmp,
            "access_log": False,
        },
    )
    assert settings.url_fetch_allow_private and settings.search["backend"] == "searxng"
    thread = JunctionThread(settings).start()
    yield Junction(thread, "sqlite", settings.resolved_database_url, API_KEY)
    thread.stop()
