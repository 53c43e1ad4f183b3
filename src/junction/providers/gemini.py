"""The Gemini provider, through the official ``google-genai`` SDK.

The SDK's own retries are switched off (``HttpRetryOptions(attempts=1)``): Junction
retries at the seam (:mod:`junction.providers.retry`). With aiohttp installed the SDK's
async client uses aiohttp (httpx2 otherwise), so both libraries' transport errors are
translated. A 429's wait comes from the ``Retry-After`` header of the error response, or
from the ``google.rpc.RetryInfo`` detail Google puts in the error body.
"""

from __future__ import annotations

import re
import uuid
from base64 import b64encode
from collections.abc import AsyncGenerator, AsyncIterator, Mapping
from typing import Any

import aiohttp
from google import genai
from google.genai import errors as genai_errors
from google.genai import types

from junction import jsonutil
from junction.errors import ProviderError, ProviderUnavailable
from junction.providers import gemini_media, gemini_transcribe, options
from junction.providers.base import (
    Finish,
    ModelRequest,
    Provider,
    ProviderEvent,
    TextDelta,
    ThoughtDelta,
    ThoughtSignature,
    TokenLogprobs,
    ToolCallDelta,
    ToolCallEnd,
    ToolCallStart,
    Usage,
    register,
)
from junction.providers.gemini_messages import arguments_json, build_config, to_contents
from junction.providers.http import error_for_status

try:  # the SDK's fallback transport when aiohttp is missing
    import httpx2

    _HTTPX_ERRORS: tuple[type[Exception], ...] = (httpx2.TransportError,)
except ImportError:  # pragma: no cover
    _HTTPX_ERRORS = ()
_TRANSPORT_ERRORS: tuple[type[Exception], ...] = (aiohttp.ClientError, TimeoutError, *_HTTPX_ERRORS)

DEFAULT_API_VERSION = "v1beta"

_FINISH = {
    "STOP": "stop",
    "MAX_TOKENS": "length",
    "SAFETY": "content_filter",
    "RECITATION": "content_filter",
    "BLOCKLIST": "content_filter",
    "PROHIBITED_CONTENT": "content_filter",
    "SPII": "content_filter",
    "IMAGE_SAFETY": "content_filter",
    "IMAGE_PROHIBITED_CONTENT": "content_filter",
    "MODEL_ARMOR": "content_filter",
}
_DELAY = re.compile(r"^\s*(\d+(?:\.\d*)?)s\s*$")


def retry_info_delay(details: Any) -> float | None:
    """Seconds from a ``google.rpc.RetryInfo`` in an error body (``"retryDelay": "25s"``)."""
    error = details.get("error", details) if isinstance(details, dict) else None
    for item in (error or {}).get("details") or ():
        if isinstance(item, dict) and str(item.get("@type", "")).endswith("google.rpc.RetryInfo"):
            match = _DELAY.match(str(item.get("retryDelay", "")))
            if match:
                return float(match.group(1))
    return None


def translate_error(exc: genai_errors.APIError, who: str) -> ProviderError:
    """Map an SDK error to Junction's provider errors (status, message, retry hint)."""
    headers = getattr(getattr(exc, "response", None), "headers", None)
    if not isinstance(headers, Mapping):
        headers = {}
    body = jsonutil.dumps(exc.details) if exc.details is not None else str(exc.message or "")
    error = error_for_status(int(exc.code or 500), body, headers, who)
    if error.retry_after is None and error.retryable:
        error.retry_after = retry_info_delay(exc.details)
    return error


def finish_reason(reason: types.FinishReason | str | None, called: bool) -> str:
    if called:
        return "tool_calls"
    if reason is None:
        return "other"
    name = reason.value if isinstance(reason, types.FinishReason) else str(reason)
    return _FINISH.get(name, "other")


class _Translator:
    """Turns GenerateContentResponse chunks into provider events."""

    def __init__(self, request: ModelRequest | None = None) -> None:
        self.request = request
        self.usage: Usage | None = None
        self.reason: types.FinishReason | None = None
        self.called = False
        self.blocked = False
        self.logprobs_seen = False
        self.speech = gemini_media.SpeechChunks(request.output.audio if request else None)

    def chunk(self, response: types.GenerateContentResponse) -> list[ProviderEvent]:
        events: list[ProviderEvent] = []
        meta = response.usage_metadata
        if meta is not None:
            self.usage = Usage(
                input_tokens=meta.prompt_token_count or 0,
                output_tokens=meta.candidates_token_count or 0,
                thought_tokens=meta.thoughts_token_count or 0,
                cached_tokens=meta.cached_content_token_count or 0,
            )
        feedback = response.prompt_feedback
        if feedback is not None and feedback.block_reason is not None:
            self.blocked = True
        if not response.candidates:
            return events
        candidate = response.candidates[0]
        if candidate.finish_reason is not None:
            self.reason = candidate.finish_reason
        top = candidate.logprobs_result.top_candidates if candidate.logprobs_result else None
        if top and not self.logprobs_seen and top[0].candidates:
            self.logprobs_seen = True
            events.append(
                TokenLogprobs(
                    {
                        c.token: float(c.log_probability)
                        for c in top[0].candidates
                        if c.token is not None and c.log_probability is not None
                    }
                )
            )
        content = candidate.content
        for part in (content.parts if content is not None else None) or ():
            signature = (
                ThoughtSignature(b64encode(part.thought_signature).decode("ascii"))
                if part.thought_signature
                else None
            )
            if part.thought:
                # The delta opens the thought step; the signature then closes it.
                if part.text:
                    events.append(ThoughtDelta(part.text))
                if signature:
                    events.append(signature)
                continue
            if signature:
                events.append(signature)
            if part.function_call is not None:
                call = part.function_call
                self.called = True
                args = dict(call.args or {})
                events.append(
                    ToolCallStart(call.id or f"call_{uuid.uuid4().hex[:24]}", call.name or "")
                )
                events.append(ToolCallDelta(arguments_json(args)))
                events.append(ToolCallEnd(args))
            elif part.inline_data is not None:
                if gemini_media.is_pcm(part.inline_data):
                    chunk = self.speech.add(part.inline_data)  # streamed speech
                    if chunk is not None:
                        events.append(chunk)
                else:
                    media = gemini_media.media_delta(part.inline_data)
                    if media is not None:
                        events.append(media)
            elif part.text:
                events.append(TextDelta(part.text))
        return events

    def finish(self) -> list[ProviderEvent]:
        events: list[ProviderEvent] = []
        clip = self.speech.clip()
        if clip is not None:
            events.append(clip)
        if self.usage is not None:
            events.append(self.usage)
        if self.blocked and self.reason is None:
            return [*events, Finish("content_filter")]
        return [*events, Finish(finish_reason(self.reason, self.called))]


@register("gemini")
class GeminiProvider(Provider):
    input_modalities = frozenset({"image", "audio", "video", "document"})
    native_structured_output = True
    native_validated_calls = True

    _client: genai.Client | None = None

    def missing_settings(self) -> str | None:
        if not self.config.api_key:
            return "set GEMINI_API_KEY (or GOOGLE_API_KEY)"
        return None

    @property
    def who(self) -> str:
        return f"provider '{self.name}' (gemini)"

    def client(self) -> genai.Client:
        if self._client is None:
            options = self.config.options
            self._client = genai.Client(
                vertexai=False,
                api_key=self.config.api_key,
                http_options=types.HttpOptions(
                    base_url=self.config.base_url or None,
                    api_version=str(options.get("api_version", DEFAULT_API_VERSION)),
                    timeout=int(self.settings.provider_timeout * 1000),
                    retry_options=types.HttpRetryOptions(attempts=1),
                ),
            )
        return self._client

    def check(self, request: ModelRequest) -> None:
        realtime = self.realtime(request.model)
        if realtime is not None:
            realtime.check(request)
            return
        super().check(request)

    def check_output(self, request: ModelRequest) -> None:
        realtime = self.realtime(request.model)
        if realtime is not None:
            realtime.check_output(request)
            return
        gemini_media.check(request, f"{self.name}/{request.model}")

    def check_transcription(self, request: ModelRequest) -> None:
        """Every Gemini model that answers in text hears audio and can transcribe it
        (:mod:`junction.providers.gemini_transcribe`)."""

    def check_options(self, request: ModelRequest) -> None:
        """Gemini takes service tiers (not ``deferred``), safety settings (without
        ``method``, which only Vertex AI has) and cached contents natively."""
        gen, model_id = request.generation, f"{self.name}/{request.model}"
        options.check_tier(
            gen.get("service_tier"),
            model_id,
            options.GEMINI_TIERS,
            "the Gemini API has no deferred tier through generateContent (use flex)",
        )
        for index, setting in enumerate(gen.get("safety_settings") or ()):
            if setting.get("method"):
                raise options.refuse(
                    f"safety_settings[{index}].method",
                    model_id,
                    "cannot take it: the Gemini Developer API blocks by probability only "
                    "(method is a Vertex AI setting); remove it",
                )

    async def stream(self, request: ModelRequest) -> AsyncIterator[ProviderEvent]:
        realtime = self.realtime(request.model)
        if realtime is not None:  # Gemini Live (junction.realtime.gemini)
            async for event in realtime.stream(request):
                yield event
            return
        generated = self._generate(request)
        events: AsyncIterator[ProviderEvent] = generated
        spec = request.transcription
        if spec is not None and gemini_transcribe.schema(spec) is not None:
            events = gemini_transcribe.annotated(generated, spec, request.stream, self.who)
        try:
            async for event in events:
                yield event
        finally:
            await generated.aclose()

    async def _generate(self, request: ModelRequest) -> AsyncGenerator[ProviderEvent, None]:
        contents = to_contents(request.steps)
        config = build_config(
            system_instruction=request.system_instruction,
            tools=request.tools,
            tool_choice=request.tool_choice,
            generation=request.generation,
            response_schema=request.response_schema,
        )
        gemini_media.apply(config, request)
        if request.transcription is not None:
            gemini_transcribe.apply(config, contents, request.transcription)
        style = gemini_media.style_prefix(request)
        if style and contents and contents[-1].role == "user" and contents[-1].parts:
            contents[-1].parts.insert(0, types.Part(text=f"{style}\n"))
        models = self.client().aio.models
        translator = _Translator(request)
        try:
            if request.stream:
                chunks = await models.generate_content_stream(
                    model=request.model, contents=contents, config=config
                )
                try:
                    async for chunk in chunks:
                        for event in translator.chunk(chunk):
                            yield event
                finally:
                    closer = getattr(chunks, "aclose", None)
                    if closer is not None:
                        await closer()
            else:
                response = await models.generate_content(
                    model=request.model, contents=contents, config=config
                )
                for event in translator.chunk(response):
                    yield event
        except genai_errors.APIError as exc:
            raise translate_error(exc, self.who) from exc
        except _TRANSPORT_ERRORS as exc:
            raise ProviderUnavailable(f"{self.who} could not be reached: {exc!r}") from exc
        except genai_errors.UnknownApiResponseError as exc:
            raise ProviderUnavailable(f"{self.who} sent a broken response: {exc}") from exc
        for event in translator.finish():
            yield event

    async def aclose(self) -> None:
        if self._client is not None:
            client, self._client = self._client, None
            await client.aio.aclose()
