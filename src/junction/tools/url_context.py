"""``url_context``: the model reads web pages.

The model sees one function, ``url_context(urls)``. Junction fetches the pages
concurrently with the SSRF-safe :class:`~junction.tools.fetch.UrlFetcher` and records a
``url_context_result`` step whose ``result`` has one entry per URL: ``{url, status}``
as the API defines it (``success`` | ``error`` | ``paywall`` | ``unsafe``) plus the
page's ``title`` and readable ``text`` (or the ``error``), which is what the model reads
when the step is lowered to a function result.
"""

from __future__ import annotations

import asyncio
from typing import Any

from junction.tools.base import ServerTool, ToolContext, ToolResult, ToolServices, register_tool
from junction.tools.fetch import FetchResult, UrlFetcher

MAX_URLS = 20

DESCRIPTION = (
    "Fetch web pages and read their content. Give the full http(s) URLs (up to "
    f"{MAX_URLS}); they are fetched in parallel. For each URL you get its status "
    "(success, error, paywall or unsafe), the page title and its readable text — HTML "
    "turned into plain Markdown-like text; plain text and JSON as they are — cut at "
    "20,000 characters. PDFs, images and other binary files cannot be read. Addresses "
    "on private networks are refused (status 'unsafe')."
)


def configure(services: ToolServices) -> None:
    services.extras["url_fetcher"] = UrlFetcher(
        allow_private=services.settings.url_fetch_allow_private
    )


@register_tool("url_context")
class UrlContextTool(ServerTool):
    def __init__(self, declaration: dict[str, Any], services: ToolServices) -> None:
        super().__init__(declaration, services)
        self.fetcher: UrlFetcher = services.get("url_fetcher")

    def functions(self) -> list[dict[str, Any]]:
        return [
            {
                "type": "function",
                "name": "url_context",
                "description": DESCRIPTION,
                "parameters": {
                    "type": "object",
                    "properties": {
                        "urls": {
                            "type": "array",
                            "items": {"type": "string"},
                            "maxItems": MAX_URLS,
                            "description": "The absolute http(s) URLs of the pages to read.",
                        }
                    },
                    "required": ["urls"],
                },
            }
        ]

    async def run(self, call: dict[str, Any], ctx: ToolContext) -> ToolResult:
        raw = (call.get("arguments") or {}).get("urls")
        if isinstance(raw, str):
            raw = [raw]
        if not isinstance(raw, list) or not raw:
            return ToolResult("url_context needs 'urls': a list of http(s) URLs", True)
        urls = [str(u) for u in raw]
        fetched = await asyncio.gather(*(self.fetcher.fetch(u) for u in urls[:MAX_URLS]))
        skipped = [
            FetchResult(u, "error", error=f"not fetched: at most {MAX_URLS} URLs per call")
            for u in urls[MAX_URLS:]
        ]
        results = [r.item() for r in [*fetched, *skipped]]
        readable = any(r["status"] in ("success", "paywall") for r in results)
        return ToolResult(results, is_error=not readable)
