"""A fake OpenAI-compatible server: ``POST /v1/chat/completions`` (and
``/chat/completions``) answering with ``chat.completion`` objects or
``chat.completion.chunk`` SSE streams, as OpenAI, vLLM and Ollama do; OpenAI's
Responses API (``POST /v1/responses``) is in :mod:`.fake_openai_responses`.

Payloads are built as plain dicts and encoded with orjson (the fake also serves the
throughput benchmark). ``cached_tokens`` sets ``usage.prompt_tokens_details.cached_tokens``;
a reply's thought is counted as ``reasoning_tokens`` (one per word).
"""

from __future__ import annotations

import asyncio
import itertools
import re
import time
from base64 import b64encode
from dataclasses import replace
from typing import Any

import orjson
from aiohttp import web

from junction.media import encode
from junction.testing.fake_openai_media import FakeOpenAIMedia
from junction.testing.fake_openai_responses import FakeOpenAIResponses
from junction.testing.fakeserver import FakeProviderServer, Reply

_ERROR_TYPES = {
    400: ("invalid_request_error", "invalid_request"),
    401: ("invalid_request_error", "invalid_api_key"),
    403: ("invalid_request_error", "permission_denied"),
    404: ("invalid_request_error", "model_not_found"),
    429: ("requests", "rate_limit_exceeded"),
}


def split_text(text: str, pieces: int) -> list[str]:
    """``text`` cut into at most ``pieces`` non-empty parts."""
    if not text:
        return []
    size = max(1, -(-len(text) // pieces))
    return [text[i : i + size] for i in range(0, len(text), size)]


def split_words(text: str) -> list[str]:
    """``text`` cut after each run of spaces (joined back, it is ``text`` again)."""
    return re.findall(r"\S+\s*|\s+", text)


class FakeOpenAI(FakeProviderServer):
    def __init__(self) -> None:
        super().__init__()
        self.cached_tokens = 0
        #: when set, prompts are counted (4 bytes a token) and refused past this many tokens
        self.context_limit: int | None = None
        self.overflows = 0
        self._ids = itertools.count(1)
        #: text-to-speech: bytes per streamed piece, seconds between pieces, clip length
        self.speech_chunk = 16 * 1024
        self.speech_pause = 0.0
        self.speech_seconds: float | None = None

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/v1/chat/completions", self.chat_completions)
        app.router.add_post("/chat/completions", self.chat_completions)
        media = FakeOpenAIMedia(self)
        app.router.add_post("/v1/images/generations", media.generations)
        app.router.add_post("/v1/images/edits", media.edits)
        app.router.add_post("/v1/audio/speech", media.speech)
        app.router.add_post("/v1/audio/transcriptions", media.transcriptions)
        app.router.add_post("/v1/responses", FakeOpenAIResponses(self).create)

    async def chat_completions(self, request: web.Request) -> web.StreamResponse:
        body = await self.recorded(request)
        reply = self.next_reply(body)
        if reply.delay:
            await asyncio.sleep(reply.delay)
        if reply.status >= 400:
            kind, code = _ERROR_TYPES.get(reply.status, ("server_error", None))
            return self.error_response(
                reply, {"error": {"message": reply.error_message, "type": kind, "code": code}}
            )
        body = body if isinstance(body, dict) else {}
        if self.context_limit is not None:
            # Like a real server: count the prompt (4 bytes a token) and refuse past the window.
            tokens = len(orjson.dumps(body.get("messages") or [])) // 4
            if tokens > self.context_limit:
                self.overflows += 1
                return web.json_response(
                    {
                        "error": {
                            "message": "This model's maximum context length is "
                            f"{self.context_limit} "
                            f"tokens. However, your messages resulted in {tokens} tokens.",
                            "type": "invalid_request_error",
                            "code": "context_length_exceeded",
                        }
                    },
                    status=400,
                )
            reply = replace(reply, input_tokens=tokens)
        model = str(body.get("model") or "fake-model")
        n = next(self._ids)
        want_logprobs = bool(body.get("logprobs"))
        if body.get("stream"):
            options = body.get("stream_options") or {}
            return await self._stream(request, reply, model, n, bool(options.get("include_usage")))
        completion = self.completion(reply, model, n, want_logprobs)
        if "audio" in (body.get("modalities") or ()):
            self.add_audio(completion, reply, body.get("audio") or {})
        return web.Response(
            body=orjson.dumps(completion),
            content_type="application/json",
        )

    def reset_attributes(self) -> dict[str, Any]:
        return {
            "context_limit": None,
            "overflows": 0,
            "cached_tokens": 0,
            "speech_chunk": 16 * 1024,
            "speech_pause": 0.0,
            "speech_seconds": None,
        }

    # -- payloads ------------------------------------------------------------------------
    def _call_id(self, n: int, index: int) -> str:
        return f"call_{n:06d}{index:02d}"

    def _finish(self, reply: Reply) -> str:
        return "tool_calls" if reply.tool_calls and reply.finish == "stop" else reply.finish

    def usage(self, reply: Reply) -> dict[str, Any]:
        return {
            "prompt_tokens": reply.input_tokens,
            "completion_tokens": reply.output_tokens,
            "total_tokens": reply.input_tokens + reply.output_tokens,
            "prompt_tokens_details": {"cached_tokens": self.cached_tokens, "audio_tokens": 0},
            "completion_tokens_details": {
                "reasoning_tokens": len(reply.thought.split()) if reply.thought else 0,
                "audio_tokens": 0,
                "accepted_prediction_tokens": 0,
                "rejected_prediction_tokens": 0,
            },
        }

    @staticmethod
    def add_audio(completion: dict[str, Any], reply: Reply, options: dict[str, Any]) -> None:
        """Speak the answer (an audio model): ``message.audio`` with a deterministic tone
        in the asked format, the text as its transcript, and no ``content``."""
        fmt = str(options.get("format") or "wav")
        pcm = encode.tone_pcm(str(options.get("voice")), 0.5, 24000)
        data = encode.pcm_to_wav(pcm, 24000) if fmt == "wav" else pcm
        message = completion["choices"][0]["message"]
        message["audio"] = {
            "id": f"audio_{completion['id']}",
            "data": b64encode(data).decode("ascii"),
            "expires_at": int(time.time()) + 3600,
            "transcript": message.get("content") or "",
        }
        message["content"] = None

    def logprobs(self, reply: Reply) -> dict[str, Any] | None:
        """``choices[].logprobs`` for the first token, when asked for and scripted."""
        if reply.logprobs is None:
            return None
        top = [
            {"token": token, "logprob": lp, "bytes": list(token.encode())}
            for token, lp in sorted(reply.logprobs.items(), key=lambda kv: -kv[1])
        ]
        first = top[0] if top else {"token": "", "logprob": 0.0, "bytes": []}
        return {"content": [{**first, "top_logprobs": top}], "refusal": None}

    def completion(
        self, reply: Reply, model: str, n: int, logprobs: bool = False
    ) -> dict[str, Any]:
        message: dict[str, Any] = {
            "role": "assistant",
            "content": reply.text or None,
            "refusal": None,
            "annotations": [],
        }
        if reply.thought:
            message["reasoning_content"] = reply.thought
        if reply.tool_calls:
            message["tool_calls"] = [
                {
                    "id": self._call_id(n, i),
                    "type": "function",
                    "function": {"name": name, "arguments": orjson.dumps(args).decode()},
                }
                for i, (name, args) in enumerate(reply.tool_calls)
            ]
        return {
            "id": f"chatcmpl-fake{n:08d}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "message": message,
                    "logprobs": self.logprobs(reply) if logprobs else None,
                    "finish_reason": self._finish(reply),
                }
            ],
            "usage": self.usage(reply),
            "service_tier": "default",
            "system_fingerprint": "fp_fake",
        }

    def chunks(self, reply: Reply, model: str, n: int, include_usage: bool) -> list[dict[str, Any]]:
        head = {
            "id": f"chatcmpl-fake{n:08d}",
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": model,
            "system_fingerprint": "fp_fake",
        }
        usage_field: dict[str, Any] = {"usage": None} if include_usage else {}

        def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
            return {
                **head,
                "choices": [
                    {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
                ],
                **usage_field,
            }

        out = [chunk({"role": "assistant", "content": "", "refusal": None})]
        if reply.thought:
            out.extend(chunk({"reasoning_content": p}) for p in split_text(reply.thought, 2))
        # A paced reply (chunk_delay) streams word by word, like a real model.
        pieces = split_words(reply.text) if reply.chunk_delay else split_text(reply.text, 3)
        out.extend(chunk({"content": p}) for p in pieces)
        for i, (name, args) in enumerate(reply.tool_calls):
            out.append(
                chunk(
                    {
                        "tool_calls": [
                            {
                                "index": i,
                                "id": self._call_id(n, i),
                                "type": "function",
                                "function": {"name": name, "arguments": ""},
                            }
                        ]
                    }
                )
            )
            encoded = orjson.dumps(args).decode()
            out.extend(
                chunk({"tool_calls": [{"index": i, "function": {"arguments": part}}]})
                for part in split_text(encoded, max(2, min(4, len(encoded))))
            )
        out.append(chunk({}, self._finish(reply)))
        if include_usage:
            out.append({**head, "choices": [], "usage": self.usage(reply)})
        return out

    async def _stream(
        self, request: web.Request, reply: Reply, model: str, n: int, include_usage: bool
    ) -> web.StreamResponse:
        frames = [
            b"data: " + orjson.dumps(c) + b"\n\n"
            for c in self.chunks(reply, model, n, include_usage)
        ]
        frames.append(b"data: [DONE]\n\n")
        response = web.StreamResponse(
            headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
        )
        await response.prepare(request)
        if reply.chunk_delay:
            for frame in frames:
                await response.write(frame)
                await asyncio.sleep(reply.chunk_delay)
        else:
            await response.write(b"".join(frames))
        await response.write_eof()
        return response
