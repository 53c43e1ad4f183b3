"""The Anthropic Messages API dialect (``POST {base_url}/v1/messages``), streaming
(server-sent events) or not. Request translation is in
:mod:`junction.providers.anthropic_messages`.

Options (``[providers.NAME]`` in ``junction.toml``): ``max_tokens`` (default 4096, used
when the request sets no ``max_output_tokens``; Anthropic requires one) and
``anthropic_version`` (default ``2023-06-01``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp

from junction import jsonutil
from junction.config import ProviderConfig, Settings
from junction.errors import (
    ProviderError,
    ProviderRateLimited,
    ProviderRejected,
    ProviderUnavailable,
)
from junction.providers import options
from junction.providers.anthropic_messages import (
    REDACTED_PREFIX,
    build_body,
    check_documents,
    finish_of,
    forces_call,
    message_events,
    thinking_budget,
    usage_of,
)
from junction.providers.base import (
    Finish,
    ModelRequest,
    Provider,
    ProviderEvent,
    TextDelta,
    ThoughtDelta,
    ThoughtSignature,
    ToolCallDelta,
    ToolCallEnd,
    ToolCallStart,
    register,
)
from junction.providers.http import HttpClient, sse_events

DEFAULT_BASE_URL = "https://api.anthropic.com"
API_VERSION = "2023-06-01"
# Error types of an in-stream ``error`` event that a retry cannot fix.
_REJECTED = {
    "invalid_request_error",
    "authentication_error",
    "permission_error",
    "not_found_error",
    "billing_error",
    "request_too_large",
}


@register("anthropic")
class AnthropicProvider(Provider):
    input_modalities = frozenset({"image", "document"})
    native_structured_output = False

    def __init__(self, config: ProviderConfig, settings: Settings) -> None:
        super().__init__(config, settings)
        base = (config.base_url or DEFAULT_BASE_URL).rstrip("/")
        self.url = base.removesuffix("/v1") + "/v1/messages"
        self._http = HttpClient(f"Anthropic ({config.name})", settings.provider_timeout)
        self._headers = {
            "x-api-key": config.api_key or "",
            "anthropic-version": str(config.options.get("anthropic_version", API_VERSION)),
            "Accept": "application/json",
        }
        self._max_tokens = int(config.options.get("max_tokens", 4096))

    def missing_settings(self) -> str | None:
        return None if self.config.api_key else "set ANTHROPIC_API_KEY"

    def check(self, request: ModelRequest) -> None:
        super().check(request)
        media = request.history_modalities & {"image", "document"}
        check_documents(request.steps if media else request.steps[request.history_len :])

    def check_options(self, request: ModelRequest) -> None:
        gen, model_id = request.generation, f"{self.name}/{request.model}"
        options.check_tier(
            gen.get("service_tier"),
            model_id,
            frozenset(options.ANTHROPIC_TIER_VALUES),
            "Anthropic's flex-like Batch API is not wired into Junction; use 'standard' or "
            "'priority' (Priority Tier capacity where your organisation has it)",
        )
        options.check_safety(gen.get("safety_settings"), model_id, "Anthropic")
        options.check_no_cache(gen.get("cached_content"), model_id)
        if gen.get("seed") is not None:
            raise options.refuse(
                "generation_config.seed",
                model_id,
                "cannot take it: Anthropic's Messages API has no seeded sampling; remove it",
            )
        if thinking_budget(gen) and forces_call(request.tools, request.tool_choice):
            field = "thinking_level" if gen.get("thinking_level") else "thinking_summaries"
            raise options.refuse(
                f"generation_config.{field}",
                model_id,
                "cannot think while generation_config.tool_choice forces a tool call "
                "(Anthropic refuses extended thinking with a forced tool choice); drop one "
                "of them, or use tool_choice 'auto' or 'validated'",
            )

    async def aclose(self) -> None:
        await self._http.aclose()

    def body(self, request: ModelRequest) -> dict[str, Any]:
        """The request body sent for ``request`` (public for tests and debugging)."""
        body = build_body(request, default_max_tokens=self._max_tokens)
        if request.stream:
            body["stream"] = True
        return body

    async def stream(self, request: ModelRequest) -> AsyncIterator[ProviderEvent]:
        body = self.body(request)
        async with self._http.post(self.url, body, self._headers) as response:
            if not request.stream:
                try:
                    message = jsonutil.loads(await response.read())
                except ValueError as exc:
                    raise ProviderUnavailable(f"{self._http.who} sent invalid JSON") from exc
                for event in message_events(message):
                    yield event
                return
            async for event in self._events(response):
                yield event

    async def _events(self, response: aiohttp.ClientResponse) -> AsyncIterator[ProviderEvent]:
        who = self._http.who
        usage: dict[str, Any] = {}
        finish: Finish | None = None
        blocks: dict[int, str] = {}  # index -> block type
        tool_json: list[str] = []
        async for name, data in sse_events(response):
            try:
                event = jsonutil.loads(data)
            except ValueError:
                raise ProviderUnavailable(f"{who} sent an unreadable stream event") from None
            kind = event.get("type", name)
            if kind == "content_block_delta":
                delta = event["delta"]
                dtype = delta.get("type")
                if dtype == "text_delta":
                    if delta["text"]:
                        yield TextDelta(delta["text"])
                elif dtype == "thinking_delta":
                    if delta["thinking"]:
                        yield ThoughtDelta(delta["thinking"])
                elif dtype == "signature_delta":
                    yield ThoughtSignature(delta["signature"])
                elif dtype == "input_json_delta":
                    if delta["partial_json"]:
                        tool_json.append(delta["partial_json"])
                        yield ToolCallDelta(delta["partial_json"])
            elif kind == "content_block_start":
                block = event["content_block"]
                btype = blocks[event["index"]] = block.get("type", "")
                if btype == "tool_use":
                    tool_json = []
                    yield ToolCallStart(id=block["id"], name=block["name"])
                elif btype == "text" and block.get("text"):
                    yield TextDelta(block["text"])
                elif btype == "thinking" and block.get("thinking"):
                    yield ThoughtDelta(block["thinking"])
                elif btype == "redacted_thinking":
                    yield ThoughtSignature(REDACTED_PREFIX + block.get("data", ""))
            elif kind == "content_block_stop":
                if blocks.pop(event["index"], None) == "tool_use":
                    yield ToolCallEnd(_arguments("".join(tool_json), who))
            elif kind == "message_start":
                usage.update(_present((event.get("message") or {}).get("usage")))
            elif kind == "message_delta":
                usage.update(_present(event.get("usage")))
                finish = finish_of((event.get("delta") or {}).get("stop_reason"))
            elif kind == "message_stop":
                yield usage_of(usage)
                yield finish or Finish("stop")
                return
            elif kind == "error":
                raise stream_error(event.get("error") or {}, who)
        raise ProviderUnavailable(f"{who} ended the stream before message_stop")


def _present(values: dict[str, Any] | None) -> dict[str, Any]:
    return {k: v for k, v in (values or {}).items() if v is not None}


def _arguments(raw: str, who: str) -> dict[str, Any]:
    if not raw.strip():
        return {}
    try:
        value = jsonutil.loads(raw)
    except ValueError:
        raise ProviderUnavailable(f"{who} sent tool arguments that are not JSON") from None
    if not isinstance(value, dict):
        raise ProviderUnavailable(f"{who} sent tool arguments that are not a JSON object")
    return value


def stream_error(error: dict[str, Any], who: str) -> ProviderError:
    """An in-stream ``error`` event as a :class:`ProviderError`."""
    kind = str(error.get("type") or "api_error")
    message = f"{who} failed mid-stream ({kind}): {error.get('message') or 'no detail'}"
    if kind == "rate_limit_error":
        return ProviderRateLimited(message, status=429)
    if kind in _REJECTED:
        return ProviderRejected(message, status=400)
    return ProviderUnavailable(message, status=529 if kind == "overloaded_error" else 500)
