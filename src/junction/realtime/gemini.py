"""Gemini Live (the ``BidiGenerateContent`` WebSocket) as a realtime backend.

One WebSocket per model call: ``setup`` (model, instructions, function declarations,
``responseModalities``, the voice, output transcription, and automatic activity
detection off: Junction marks where the input starts and ends), ``setupComplete``, the
conversation as ``clientContent`` turns (earlier answers by their transcript), then this
turn: its audio as ``realtimeInput`` ``activityStart`` / ``audio`` chunks /
``activityEnd``, or the results of the model's function calls as ``toolResponse``. The
answer: ``serverContent.modelTurn.parts[].inlineData`` → audio pieces,
``serverContent.outputTranscription`` (or text parts) → text, ``toolCall`` → function
calls (the call ends there), ``usageMetadata`` → usage, ``turnComplete`` → the end.

Options (``[providers.NAME]``): ``realtime_url`` (default: the ``base_url`` with
``ws(s)`` and the ``BidiGenerateContent`` path of ``api_version``), ``realtime_models``,
``realtime_allow_private``.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import pybase64

from junction import ids
from junction.providers import gemini_media
from junction.providers.base import (
    Finish,
    ModelRequest,
    ProviderEvent,
    TextDelta,
    ToolCallEnd,
    ToolCallStart,
    Usage,
)
from junction.providers.gemini_messages import to_contents
from junction.realtime import audio
from junction.realtime.base import RealtimeBackend, current_input, register, spoken_history
from junction.realtime.connection import RealtimeSocket, connect

OFFICIAL = "https://generativelanguage.googleapis.com"
PATH = "/ws/google.ai.generativelanguage.{version}.GenerativeService.BidiGenerateContent"


def _trailing_results(steps: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[Any]]:
    """Function results that answer the model's last calls: sent as ``toolResponse``."""
    cut = len(steps)
    while cut and steps[cut - 1].get("type") == "function_result":
        cut -= 1
    responses = []
    for step in steps[cut:]:
        result = step.get("result")
        response = result if isinstance(result, dict) else {"result": result}
        responses.append(
            {"id": step.get("call_id"), "name": step.get("name"), "response": response}
        )
    return steps[:cut], responses


@register("gemini")
class GeminiLive(RealtimeBackend):
    models = re.compile(r"^gemini[\w.-]*(-live|native-audio)")

    def url(self) -> str:
        configured = str(self.config.options.get("realtime_url") or "")
        if configured:
            return configured
        base = (self.config.base_url or OFFICIAL).rstrip("/")
        version = str(self.config.options.get("api_version") or "v1beta")
        return "ws" + base.removeprefix("http") + PATH.format(version=version)

    def headers(self) -> dict[str, str]:
        return {"x-goog-api-key": self.config.api_key} if self.config.api_key else {}

    def check_output(self, request: ModelRequest) -> None:
        super().check_output(request)
        gemini_media.check(request, f"{self.config.name}/{request.model}")

    def setup(self, request: ModelRequest) -> dict[str, Any]:
        spoken = "audio" in request.output.modalities
        generation: dict[str, Any] = {"responseModalities": ["AUDIO" if spoken else "TEXT"]}
        for ours, theirs in (
            ("temperature", "temperature"),
            ("top_p", "topP"),
            ("max_output_tokens", "maxOutputTokens"),
        ):
            if request.generation.get(ours) is not None:
                generation[theirs] = request.generation[ours]
        voices = request.output.voices
        if spoken and voices and voices[0].get("voice"):
            wanted = str(voices[0]["voice"])
            name = {v.lower(): v for v in gemini_media.VOICES}.get(wanted.lower(), wanted)
            voice = {"prebuiltVoiceConfig": {"voiceName": name}}
            generation["speechConfig"] = {"voiceConfig": voice}
            if voices[0].get("language"):
                generation["speechConfig"]["languageCode"] = voices[0]["language"]
        setup: dict[str, Any] = {
            "model": f"models/{request.model}",
            "generationConfig": generation,
            "realtimeInputConfig": {"automaticActivityDetection": {"disabled": True}},
        }
        if request.system_instruction:
            setup["systemInstruction"] = {"parts": [{"text": request.system_instruction}]}
        declarations = [
            {
                "name": t["name"],
                "description": t.get("description") or "",
                "parametersJsonSchema": t.get("parameters") or {"type": "object"},
            }
            for t in request.tools
            if t.get("type") == "function"
        ]
        if declarations:
            setup["tools"] = [{"functionDeclarations": declarations}]
        if spoken and "text" in request.output.modalities:
            setup["outputAudioTranscription"] = {}
        return {"setup": setup}

    async def stream(self, request: ModelRequest) -> AsyncIterator[ProviderEvent]:
        head, pcm, rate = current_input(request.steps)
        head, responses = _trailing_results(head)
        turns = [
            c.model_dump(mode="json", by_alias=True, exclude_none=True)
            for c in to_contents(spoken_history(head))
        ]
        async with connect(self.url(), self.headers(), self.policy, self.who, self.timeout) as ws:
            await ws.send(self.setup(request))
            while "setupComplete" not in await ws.receive():
                pass
            if turns:
                done = not pcm and not responses
                await ws.send({"clientContent": {"turns": turns, "turnComplete": done}})
            if responses:
                await ws.send({"toolResponse": {"functionResponses": responses}})
            if pcm:
                await ws.send({"realtimeInput": {"activityStart": {}}})
                mime = f"audio/pcm;rate={rate}"
                for piece in audio.chunks(b"".join(pcm)):
                    blob = {"data": pybase64.b64encode_as_string(piece), "mimeType": mime}
                    await ws.send({"realtimeInput": {"audio": blob}})
                await ws.send({"realtimeInput": {"activityEnd": {}}})
            async for event in self._answer(ws, request):
                yield event

    async def _answer(
        self, ws: RealtimeSocket, request: ModelRequest
    ) -> AsyncIterator[ProviderEvent]:
        clip = audio.SpeechClip()
        wants_text = "text" in request.output.modalities
        usage: Usage | None = None
        while True:
            message = await ws.receive()
            if isinstance(message.get("usageMetadata"), dict):
                usage = usage_of(message["usageMetadata"])
            content = message.get("serverContent")
            if isinstance(content, dict):
                turn = content.get("modelTurn") or {}
                for part in turn.get("parts") or ():
                    blob = part.get("inlineData") if isinstance(part, dict) else None
                    if isinstance(blob, dict) and str(blob.get("mimeType", "")).startswith(
                        "audio/"
                    ):
                        chunk = clip.add(str(blob.get("data") or ""))
                        if chunk is not None:
                            yield chunk
                    elif isinstance(part, dict) and part.get("text") and not part.get("thought"):
                        yield TextDelta(str(part["text"]))
                transcript = content.get("outputTranscription") or {}
                if wants_text and transcript.get("text"):
                    yield TextDelta(str(transcript["text"]))
                if content.get("turnComplete"):
                    media = clip.take(request.output.audio)
                    if media is not None:
                        yield media
                    if usage is not None:
                        yield usage
                    yield Finish("stop")
                    return
            call = message.get("toolCall")
            if isinstance(call, dict):
                media = clip.take(request.output.audio)
                if media is not None:
                    yield media
                for function in call.get("functionCalls") or ():
                    yield ToolCallStart(
                        str(function.get("id") or ids.call_id()), str(function.get("name") or "")
                    )
                    args = function.get("args")
                    yield ToolCallEnd(args if isinstance(args, dict) else {})
                if usage is not None:
                    yield usage
                yield Finish("tool_calls")
                return


def usage_of(meta: dict[str, Any]) -> Usage:
    return Usage(
        input_tokens=int(meta.get("promptTokenCount") or 0),
        output_tokens=int(meta.get("responseTokenCount") or meta.get("candidatesTokenCount") or 0),
        thought_tokens=int(meta.get("thoughtsTokenCount") or 0),
        cached_tokens=int(meta.get("cachedContentTokenCount") or 0),
    )
