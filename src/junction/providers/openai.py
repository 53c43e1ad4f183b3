"""The OpenAI Chat Completions dialect: OpenAI itself and the OpenAI-compatible servers
(vLLM, Ollama, llama.cpp, LM Studio, ...).

``POST {base_url}/chat/completions``, streamed as ``chat.completion.chunk`` SSE events
(or one ``chat.completion`` object when not streaming). Request translation lives in
:mod:`junction.providers.openai_messages`.

Options (``[providers.NAME]`` in ``junction.toml``):

``max_tokens_field``  ``"max_tokens"`` for servers that do not know ``max_completion_tokens``
``reasoning``         ``false`` to never send ``reasoning_effort``
``extra_body``        a table merged into every request body
``headers``           a table of extra HTTP headers
``service_tiers``     the processing tiers the server offers (``["flex", "priority"]``),
                      replacing the table for api.openai.com (:mod:`.options`)
``reasoning_summaries``  ``true`` when the server streams the model's reasoning text
                      (``reasoning_content``), so ``thinking_summaries: "auto"`` is accepted
``responses_api``     whether requests asking for thought summaries go to OpenAI's
                      Responses API (:mod:`.openai_responses`); default: only on
                      api.openai.com
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import urlsplit

from junction import ids, jsonutil
from junction.config import ProviderConfig, Settings
from junction.errors import ProviderUnavailable
from junction.providers import (
    openai_media,
    openai_responses,
    openai_speech,
    openai_transcribe,
    options,
)
from junction.providers.base import (
    Finish,
    ModelRequest,
    Provider,
    ProviderEvent,
    TextDelta,
    ThoughtDelta,
    TokenLogprobs,
    ToolCallDelta,
    ToolCallEnd,
    ToolCallStart,
    Usage,
    register,
)
from junction.providers.http import HttpClient, sse_events
from junction.providers.openai_messages import (
    build_body,
    check_items,
    encode_steps,
    system_messages,
)
from junction.providers.prefix_cache import PrefixCache, join

log = logging.getLogger("junction.providers.openai")

OFFICIAL_BASE_URL = "https://api.openai.com/v1"
_FINISH = {
    "stop": "stop",
    "length": "length",
    "tool_calls": "tool_calls",
    "function_call": "tool_calls",
    "content_filter": "content_filter",
}


@register("openai")
class OpenAIProvider(Provider):
    input_modalities = frozenset({"image", "audio", "document"})
    native_structured_output = True

    def __init__(self, config: ProviderConfig, settings: Settings) -> None:
        super().__init__(config, settings)
        self.base_url = (config.base_url or OFFICIAL_BASE_URL).rstrip("/")
        self.url = f"{self.base_url}/chat/completions"
        self.http = HttpClient(f"provider '{config.name}'", settings.provider_timeout)
        headers = {str(k): str(v) for k, v in (config.options.get("headers") or {}).items()}
        if config.api_key:
            headers["Authorization"] = f"Bearer {config.api_key}"
        self.headers = headers
        self.prefixes = PrefixCache()

    @property
    def official(self) -> bool:
        """Whether this is api.openai.com itself (not an OpenAI-compatible server)."""
        return urlsplit(self.base_url).hostname == "api.openai.com"

    def missing_settings(self) -> str | None:
        if not self.config.api_key and self.official:
            return "set OPENAI_API_KEY (or OPENAI_BASE_URL for a local OpenAI-compatible server)"
        return None

    def _chat_audio(self, request: ModelRequest) -> bool:
        """Speech asked of a Chat Completions audio model (text and audio in one answer)."""
        return "audio" in request.output.modalities and "text" in self.output_modalities(
            request.model
        )

    def check(self, request: ModelRequest) -> None:
        realtime = self.realtime(request.model)
        if realtime is not None:
            realtime.check(request)
            return
        super().check(request)
        if not self.transcribes(request.model):
            check_items(request.steps[request.history_len :])

    def check_output(self, request: ModelRequest) -> None:
        realtime = self.realtime(request.model)
        if realtime is not None:
            realtime.check_output(request)
            return
        who = f"{self.name}/{request.model}"
        openai_media.check(request, who, self._chat_audio(request))

    def transcribes(self, model: str) -> bool:
        return openai_transcribe.is_transcriber(model)

    def check_transcription(self, request: ModelRequest) -> None:
        if not self.transcribes(request.model):
            super().check_transcription(request)
        openai_transcribe.check(request, f"{self.name}/{request.model}")

    def check_options(self, request: ModelRequest) -> None:
        gen, model_id = request.generation, f"{self.name}/{request.model}"
        official = self.official
        options.check_tier(
            gen.get("service_tier"),
            model_id,
            options.openai_tiers(request.model, self.config.options, official),
            "choose a model that offers it (or list the server's tiers in the provider's "
            "service_tiers option)",
        )
        options.check_safety(gen.get("safety_settings"), model_id, "OpenAI chat")
        options.check_no_cache(gen.get("cached_content"), model_id)
        if openai_responses.wanted(request, self.config.options, official):
            openai_responses.check(request, model_id)
        elif gen.get("thinking_summaries") == "auto" and not self.config.options.get(
            "reasoning_summaries"
        ):
            raise options.refuse(
                "generation_config.thinking_summaries",
                model_id,
                "cannot return thought summaries: this OpenAI-compatible server speaks "
                "Chat Completions, which has no reasoning summaries; remove the field or "
                "set it to 'none'. If the server streams its reasoning "
                "(reasoning_content), set reasoning_summaries = true in the provider's "
                "configuration; if it speaks OpenAI's Responses API, responses_api = true",
            )

    async def stream(self, request: ModelRequest) -> AsyncIterator[ProviderEvent]:
        realtime = self.realtime(request.model)
        if realtime is not None:  # OpenAI Realtime (junction.realtime.openai)
            async for event in realtime.stream(request):
                yield event
            return
        if request.transcription is not None:
            async for event in openai_transcribe.transcribe(self, request):
                yield event
            return
        if self._chat_audio(request):
            async for event in self._speak_in_chat(request):
                yield event
            return
        if request.output.media:
            async for event in openai_media.generate(self, request):
                yield event
            return
        if openai_responses.wanted(request, self.config.options, self.official):
            payload = openai_responses.build_body(request, self.config.options)
            url = f"{self.base_url}/responses"
            async for event in openai_responses.stream(self.http, url, self.headers, payload):
                yield event
            return
        body = self.encode(request)
        parser = ChunkParser(self.name)
        async with self.http.post(self.url, body, self.headers) as response:
            if response.content_type == "text/event-stream":
                done = False
                async for _name, data in sse_events(response):
                    if data.strip() == "[DONE]":
                        done = True
                        break
                    for event in parser.feed(parser.decode(data)):
                        yield event
                if not done and parser.finish_reason is None:
                    raise ProviderUnavailable(
                        f"provider '{self.name}' ended the stream before the answer was complete"
                    )
            else:
                for event in parser.feed(completion_as_chunk(parser.decode(await response.read()))):
                    yield event
        for event in parser.finish():
            yield event

    async def _speak_in_chat(self, request: ModelRequest) -> AsyncIterator[ProviderEvent]:
        """One non-streamed Chat Completions call with ``modalities: [text, audio]``: the
        answer's transcript as text (when text was asked for), then its audio."""
        options = openai_speech.chat_audio_options(request, f"{self.name}/{request.model}")
        body = build_body(replace(request, stream=False), self.config.options)
        body["modalities"] = ["text", "audio"]
        body["audio"] = options
        parser = ChunkParser(self.name)
        async with self.http.post(self.url, body, self.headers) as response:
            data = parser.decode(await response.read())
        choices = data.get("choices") if isinstance(data, dict) else None
        first: Any = choices[0] if isinstance(choices, list) and choices else {}
        message: Any = first.get("message") if isinstance(first, dict) else None
        message = message if isinstance(message, dict) else {}
        audio = message.get("audio")
        events = parser.feed(completion_as_chunk(data))
        if "text" in request.output.modalities:
            for event in events:
                yield event
            if isinstance(audio, dict) and audio.get("transcript") and not message.get("content"):
                yield TextDelta(str(audio["transcript"]))
        if not isinstance(audio, dict) or not audio.get("data"):
            raise ProviderUnavailable(f"provider '{self.name}' answered without audio")
        yield openai_speech.chat_audio_media(str(audio["data"]), options["format"])
        for event in parser.finish():
            yield event

    def encode(self, request: ModelRequest) -> bytes:
        """The request body, with the conversation's already-encoded history reused."""
        body = jsonutil.dumpb(build_body(request, self.config.options, with_messages=False))
        messages = join(
            jsonutil.dumpb(system_messages(request))[1:-1],
            self.prefixes.encode(request, encode_steps),
        )
        return body.replace(b'"messages":[]', b'"messages":[' + messages + b"]", 1)

    async def aclose(self) -> None:
        await self.http.aclose()


def completion_as_chunk(data: Any) -> Any:
    """Recast a ``chat.completion`` object as one chunk, so one parser handles both."""
    if not isinstance(data, dict) or "error" in data or data.get("object") == "error":
        return data
    choices = []
    for choice in data.get("choices") or ():
        message = dict(choice.get("message") or {})
        calls = message.get("tool_calls") or []
        message["tool_calls"] = [
            {**call, "index": index} for index, call in enumerate(calls) if isinstance(call, dict)
        ]
        choices.append(
            {
                "index": choice.get("index", 0),
                "delta": message,
                "finish_reason": choice.get("finish_reason"),
                "logprobs": choice.get("logprobs"),
            }
        )
    return {"choices": choices, "usage": data.get("usage")}


@dataclass
class _Call:
    id: str | None = None
    name: str = ""
    args: list[str] = field(default_factory=list)
    started: bool = False


class ChunkParser:
    """Turns ``chat.completion.chunk`` objects into provider events. Tool-call deltas are
    keyed by ``index``; a call is closed when the next one starts or at the end, so calls
    never interleave."""

    def __init__(self, who: str) -> None:
        self.who = who
        self.calls: dict[int, _Call] = {}
        self.active: int | None = None
        self.finish_reason: str | None = None
        self.usage: dict[str, Any] | None = None
        self.logprobs_seen = False

    def _logprobs(self, data: Any) -> list[ProviderEvent]:
        """The top log-probabilities of the first answer token, once."""
        content = data.get("content") if isinstance(data, dict) else None
        if not content or not isinstance(content[0], dict):
            return []
        self.logprobs_seen = True
        top = content[0].get("top_logprobs") or [content[0]]
        return [
            TokenLogprobs(
                {
                    str(t["token"]): float(t["logprob"])
                    for t in top
                    if isinstance(t, dict) and "token" in t and "logprob" in t
                }
            )
        ]

    def decode(self, data: str | bytes) -> Any:
        try:
            return jsonutil.loads(data)
        except ValueError:
            text = data if isinstance(data, str) else data.decode("utf-8", "replace")
            raise ProviderUnavailable(
                f"provider '{self.who}' sent a response that is not JSON: {text[:200]!r}"
            ) from None

    def feed(self, chunk: Any) -> list[ProviderEvent]:
        if not isinstance(chunk, dict):
            raise ProviderUnavailable(f"provider '{self.who}' sent an unexpected chunk: {chunk!r}")
        error = chunk.get("error")
        if error is not None or chunk.get("object") == "error":
            detail = error.get("message", error) if isinstance(error, dict) else error
            raise ProviderUnavailable(
                f"provider '{self.who}' failed mid-answer: {detail or chunk.get('message')}"
            )
        if isinstance(chunk.get("usage"), dict):
            self.usage = chunk["usage"]
        events: list[ProviderEvent] = []
        for choice in chunk.get("choices") or ():
            if not isinstance(choice, dict) or choice.get("index", 0) != 0:
                continue
            delta = choice.get("delta") or {}
            if not self.logprobs_seen:
                events.extend(self._logprobs(choice.get("logprobs")))
            reasoning = delta.get("reasoning_content") or delta.get("reasoning")
            if isinstance(reasoning, str) and reasoning:
                events.extend(self._close())
                events.append(ThoughtDelta(reasoning))
            for key in ("content", "refusal"):
                text = delta.get(key)
                if isinstance(text, str) and text:
                    events.extend(self._close())
                    events.append(TextDelta(text))
            for call in delta.get("tool_calls") or ():
                if isinstance(call, dict):
                    events.extend(self._tool_delta(call))
            if choice.get("finish_reason"):
                self.finish_reason = str(choice["finish_reason"])
        return events

    def _tool_delta(self, delta: dict[str, Any]) -> list[ProviderEvent]:
        index = delta.get("index")
        if not isinstance(index, int):  # some servers omit the index: a new id is a new call
            current = self.calls.get(self.active) if self.active is not None else None
            if self.active is None or (
                delta.get("id") and current and current.id and delta["id"] != current.id
            ):
                index = max(self.calls, default=-1) + 1
            else:
                index = self.active
        events: list[ProviderEvent] = []
        if index != self.active:
            if index in self.calls:
                log.warning("provider %s sent a fragment of a closed tool call", self.who)
                return events
            events.extend(self._close())
            self.calls[index] = _Call()
            self.active = index
        call = self.calls[index]
        function = delta.get("function") or {}
        if delta.get("id") and not call.id:
            call.id = str(delta["id"])
        if function.get("name") and not call.name:
            call.name = str(function["name"])
        fragment = function.get("arguments")
        if fragment is not None and not isinstance(fragment, str):
            fragment = jsonutil.dumps(fragment)
        if fragment:
            call.args.append(fragment)
        if not call.started and call.name:
            events.extend(self._start(call))
        elif call.started and fragment:
            events.append(ToolCallDelta(fragment))
        return events

    @staticmethod
    def _start(call: _Call) -> list[ProviderEvent]:
        call.started = True
        call.id = call.id or ids.call_id()
        events: list[ProviderEvent] = [ToolCallStart(id=call.id, name=call.name)]
        if call.args:
            events.append(ToolCallDelta("".join(call.args)))
        return events

    def _close(self) -> list[ProviderEvent]:
        if self.active is None:
            return []
        call = self.calls[self.active]
        self.active = None
        events = [] if call.started else self._start(call)
        raw = "".join(call.args)
        arguments: Any
        try:
            arguments = jsonutil.loads(raw) if raw.strip() else {}
        except ValueError:
            arguments = None
        if not isinstance(arguments, dict):
            arguments = {"_raw": raw}
        events.append(ToolCallEnd(arguments))
        return events

    def finish(self) -> list[ProviderEvent]:
        events = self._close()
        if self.usage is not None:
            events.append(usage_of(self.usage))
        reason = _FINISH.get(self.finish_reason or "stop", "other")
        if self.calls and reason == "stop":
            reason = "tool_calls"
        events.append(Finish(reason))
        return events


def usage_of(usage: dict[str, Any]) -> Usage:
    completion = usage.get("completion_tokens_details") or {}
    prompt = usage.get("prompt_tokens_details") or {}
    return Usage(
        input_tokens=int(usage.get("prompt_tokens") or 0),
        output_tokens=int(usage.get("completion_tokens") or 0),
        thought_tokens=int(completion.get("reasoning_tokens") or 0),
        cached_tokens=int(prompt.get("cached_tokens") or 0),
    )
