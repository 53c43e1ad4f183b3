"""OpenAI Realtime (``wss://api.openai.com/v1/realtime?model=…``) as a realtime backend.

One WebSocket per model call: ``session.update`` (instructions, tools, output modality,
24 kHz PCM in and out, no server VAD: Junction says when the input ends), the
conversation as ``conversation.item.create`` items (earlier answers by their transcript),
this turn's audio through ``input_audio_buffer.append`` + ``commit``, then
``response.create``. The answer: ``response.output_audio.delta`` (``response.audio.delta``
before the GA names) → audio pieces, ``response.output_audio_transcript.delta`` → text,
``response.function_call_arguments.done`` → a function call, ``response.done`` → usage
and the end.

Options (``[providers.NAME]``): ``realtime_url`` (default: the ``base_url`` with ``ws(s)``
and ``/realtime``), ``realtime_models``, ``realtime_allow_private``.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote

import pybase64

from junction import ids, jsonutil
from junction.errors import BadRequest, ProviderRejected, ProviderUnavailable
from junction.providers.base import (
    Finish,
    ModelRequest,
    ProviderEvent,
    TextDelta,
    ToolCallEnd,
    ToolCallStart,
    Usage,
)
from junction.realtime import audio
from junction.realtime.base import (
    RealtimeBackend,
    current_input,
    function_output,
    register,
    spoken_history,
)
from junction.realtime.connection import RealtimeSocket, connect

OFFICIAL = "https://api.openai.com/v1"
VOICES = "alloy ash ballad coral echo sage shimmer verse marin cedar".split()
_AUDIO_DELTA = ("response.output_audio.delta", "response.audio.delta")
_AUDIO_DONE = ("response.output_audio.done", "response.audio.done")
_TRANSCRIPT = ("response.output_audio_transcript.delta", "response.audio_transcript.delta")
_TEXT = ("response.output_text.delta", "response.text.delta")
_CHOICE = {"auto": "auto", "any": "required", "validated": "required", "none": "none"}


def items_of(steps: list[dict[str, Any]], rate: int) -> list[dict[str, Any]]:
    """The conversation as Realtime conversation items."""
    items: list[dict[str, Any]] = []
    for step in spoken_history(steps):
        kind = step.get("type")
        if kind == "user_input":
            content = []
            for item in step.get("content") or ():
                if item.get("type") == "text":
                    content.append({"type": "input_text", "text": item.get("text", "")})
                elif item.get("type") == "audio" and item.get("data"):
                    pcm, source = audio.pcm_of(item)
                    encoded = pybase64.b64encode_as_string(audio.resample(pcm, source, rate))
                    content.append({"type": "input_audio", "audio": encoded})
            if content:
                items.append({"type": "message", "role": "user", "content": content})
        elif kind == "model_output":
            text = "".join(i.get("text", "") for i in step.get("content") or ())
            content = [{"type": "output_text", "text": text}]
            items.append({"type": "message", "role": "assistant", "content": content})
        elif kind == "function_call":
            arguments = jsonutil.dumps(step.get("arguments") or {})
            call = {"call_id": step.get("id"), "name": step.get("name"), "arguments": arguments}
            items.append({"type": "function_call", **call})
        elif kind == "function_result":
            output = function_output(step.get("result"))
            items.append(
                {"type": "function_call_output", "call_id": step.get("call_id"), "output": output}
            )
    return items


@register("openai")
class OpenAIRealtime(RealtimeBackend):
    models = re.compile(r"^gpt-[\w.-]*realtime")
    input_rate = audio.OUTPUT_RATE

    def url(self, model: str) -> str:
        base = str(self.config.options.get("realtime_url") or "")
        if not base:
            http = (self.config.base_url or OFFICIAL).rstrip("/")
            base = "ws" + http.removeprefix("http") + "/realtime"
        return f"{base}{'&' if '?' in base else '?'}model={quote(model, safe='')}"

    def headers(self) -> dict[str, str]:
        out = {str(k): str(v) for k, v in (self.config.options.get("headers") or {}).items()}
        if self.config.api_key:
            out["Authorization"] = f"Bearer {self.config.api_key}"
        return out

    def check_output(self, request: ModelRequest) -> None:
        super().check_output(request)
        voices = request.output.voices
        voice = str(voices[0].get("voice") or "") if voices else ""
        if voice and voice.lower() not in VOICES:
            raise BadRequest(
                f"generation_config.speech_config[0].voice: model "
                f"'{self.config.name}/{request.model}' has no voice '{voice}' "
                f"(voices: {', '.join(VOICES)})"
            )

    def session(self, request: ModelRequest) -> dict[str, Any]:
        spoken = "audio" in request.output.modalities
        pcm = {"type": "audio/pcm", "rate": audio.OUTPUT_RATE}
        output: dict[str, Any] = {"format": pcm}
        voices = request.output.voices
        if voices and voices[0].get("voice"):
            output["voice"] = str(voices[0]["voice"]).lower()
        session: dict[str, Any] = {
            "type": "realtime",
            "output_modalities": ["audio"] if spoken else ["text"],
            "audio": {"input": {"format": pcm, "turn_detection": None}, "output": output},
        }
        if request.system_instruction:
            session["instructions"] = request.system_instruction
        tools = [
            {
                "type": "function",
                "name": t["name"],
                "description": t.get("description") or "",
                "parameters": t.get("parameters") or {"type": "object", "properties": {}},
            }
            for t in request.tools
            if t.get("type") == "function"
        ]
        if tools:
            session["tools"] = tools
            choice = request.tool_choice
            if isinstance(choice, str) and choice in _CHOICE:
                session["tool_choice"] = _CHOICE[choice]
        if request.generation.get("max_output_tokens"):
            session["max_output_tokens"] = int(request.generation["max_output_tokens"])
        return session

    async def stream(self, request: ModelRequest) -> AsyncIterator[ProviderEvent]:
        rate = self.input_rate or audio.OUTPUT_RATE
        head, pcm, source = current_input(request.steps)
        async with connect(
            self.url(request.model), self.headers(), self.policy, self.who, self.timeout
        ) as ws:
            await ws.send({"type": "session.update", "session": self.session(request)})
            for item in items_of(head, rate):
                await ws.send({"type": "conversation.item.create", "item": item})
            if pcm:
                for piece in audio.chunks(audio.resample(b"".join(pcm), source, rate)):
                    encoded = pybase64.b64encode_as_string(piece)
                    await ws.send({"type": "input_audio_buffer.append", "audio": encoded})
                await ws.send({"type": "input_audio_buffer.commit"})
            await ws.send({"type": "response.create"})
            async for event in self._answer(ws, request):
                yield event

    async def _answer(
        self, ws: RealtimeSocket, request: ModelRequest
    ) -> AsyncIterator[ProviderEvent]:
        clip = audio.SpeechClip()
        wants_text = "text" in request.output.modalities
        calls = 0
        while True:
            event = await ws.receive()
            kind = event.get("type")
            if kind in _AUDIO_DELTA:
                chunk = clip.add(str(event.get("delta") or ""))
                if chunk is not None:
                    yield chunk
            elif kind in _TRANSCRIPT or kind in _TEXT:
                if (wants_text or kind in _TEXT) and event.get("delta"):
                    yield TextDelta(str(event["delta"]))
            elif kind in _AUDIO_DONE:
                media = clip.take(request.output.audio)
                if media is not None:
                    yield media
            elif kind == "response.function_call_arguments.done":
                media = clip.take(request.output.audio)
                if media is not None:
                    yield media
                calls += 1
                call_id = str(event.get("call_id") or ids.call_id())
                yield ToolCallStart(call_id, str(event.get("name") or ""))
                yield ToolCallEnd(_arguments(event.get("arguments")))
            elif kind == "response.done":
                media = clip.take(request.output.audio)
                if media is not None:
                    yield media
                response = event.get("response") or {}
                yield usage_of(response.get("usage") or {})
                yield Finish(self._finish(response, calls))
                return
            elif kind == "error":
                error = event.get("error") or {}
                message = f"{self.who} failed: {error.get('message') or error}"
                if error.get("type") == "invalid_request_error":
                    raise ProviderRejected(message, status=400)
                raise ProviderUnavailable(message)

    def _finish(self, response: dict[str, Any], calls: int) -> str:
        status = response.get("status")
        details = response.get("status_details") or {}
        if status == "failed":
            error = details.get("error") or {}
            raise ProviderUnavailable(f"{self.who} failed: {error.get('message') or details}")
        if status == "incomplete":
            reason = details.get("reason")
            return "length" if reason == "max_output_tokens" else "content_filter"
        if status == "cancelled":
            return "other"
        return "tool_calls" if calls else "stop"


def _arguments(raw: Any) -> dict[str, Any]:
    try:
        value = jsonutil.loads(raw) if isinstance(raw, str) and raw.strip() else {}
    except ValueError:
        value = None
    return value if isinstance(value, dict) else {"_raw": raw}


def usage_of(usage: dict[str, Any]) -> Usage:
    details = usage.get("input_token_details") or {}
    return Usage(
        input_tokens=int(usage.get("input_tokens") or 0),
        output_tokens=int(usage.get("output_tokens") or 0),
        cached_tokens=int(details.get("cached_tokens") or 0),
    )
