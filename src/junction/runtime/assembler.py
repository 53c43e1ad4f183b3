"""Turns a provider's event stream into steps and SSE events.

Steps never interleave: a thought, a model_output or a function_call is open until the
next kind of output begins. Each step is announced with ``step.start``, grows through
``step.delta`` events and ends with ``step.stop``, when it is added to the journal.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pybase64

from junction.providers.base import (
    AudioChunk,
    ProviderEvent,
    TextAnnotations,
    TextDelta,
    ThoughtDelta,
    ThoughtSignature,
    ToolCallDelta,
    ToolCallEnd,
    ToolCallStart,
)
from junction.runtime.call_check import HeldCall, arguments_json
from junction.runtime.journal import Journal
from junction.tools.base import ServerTool


class StepAssembler:
    def __init__(
        self,
        journal: Journal,
        *,
        live_text: bool = True,
        server_tools: Mapping[str, ServerTool] | None = None,
        hold_calls: bool = False,
    ) -> None:
        self.journal = journal
        #: function names that belong to server-side tools (typed call steps)
        self.server_tools = server_tools or {}
        self._server_call: tuple[ServerTool, str, str] | None = None
        # When False (structured output), text is held back until it has been validated.
        self.live_text = live_text
        self.open: dict[str, Any] | None = None
        self.index = -1
        self.text_parts: list[str] = []
        #: annotations of the current text run (byte offsets into it)
        self.annotations: list[dict[str, Any]] = []
        #: content items of the open model_output before the current text run
        self.items: list[dict[str, Any]] = []
        self.produced: list[dict[str, Any]] = []
        # When True (tool choice "validated"), calls are held until they are validated.
        self.hold_calls = hold_calls
        self.held_calls: list[HeldCall] = []
        self._holding: HeldCall | None = None

    def _start(self, step: dict[str, Any], shell: dict[str, Any], *, announce: bool = True) -> None:
        self.close()
        self.open = step
        self.index = self.journal.next_index
        if announce:
            self.journal.event({"event_type": "step.start", "index": self.index, "step": shell})

    def _delta(self, delta: dict[str, Any], *, live: bool = True, stored: bool = True) -> None:
        self.journal.event(
            {"event_type": "step.delta", "index": self.index, "delta": delta},
            live=live,
            stored=stored,
        )

    def feed(self, event: ProviderEvent) -> None:
        if self.hold_calls and isinstance(event, ToolCallStart | ToolCallDelta | ToolCallEnd):
            self._hold(event)
        elif isinstance(event, TextDelta):
            if not event.text:
                return
            if self.open is None or self.open["type"] != "model_output":
                self.text_parts = []
                self.annotations = []
                self.items = []
                self._start(
                    {"type": "model_output", "content": []},
                    {"type": "model_output", "content": []},
                    announce=self.live_text,
                )
            self.text_parts.append(event.text)
            if self.live_text:
                self._delta({"type": "text", "text": event.text})
        elif isinstance(event, TextAnnotations):
            if self.open is None or self.open["type"] != "model_output" or not self.text_parts:
                return
            self.annotations.extend(event.annotations)
            if self.live_text:
                self._delta({"type": "text_annotation_delta", "annotations": event.annotations})
        elif isinstance(event, ThoughtDelta | ThoughtSignature):
            # A signed thought is complete: more thought text or a second signature
            # (e.g. back-to-back redacted thoughts) starts a new thought step.
            if self.open is None or self.open["type"] != "thought" or self.open.get("signature"):
                self._start({"type": "thought"}, {"type": "thought"})
            assert self.open is not None
            if isinstance(event, ThoughtDelta):
                if event.text:
                    summary = self.open.setdefault("summary", [{"type": "text", "text": ""}])
                    summary[0]["text"] += event.text
                    self._delta(
                        {"type": "thought_summary", "content": {"type": "text", "text": event.text}}
                    )
            else:
                self.open["signature"] = event.signature
                self._delta({"type": "thought_signature", "signature": event.signature})
        elif isinstance(event, ToolCallStart):
            tool = self.server_tools.get(event.name)
            if tool is not None:
                shell = tool.call_step(event.id, event.name, {})
                self._start(dict(shell), shell)
                self._server_call = (tool, event.id, event.name)
            else:
                self._server_call = None
                self._start(
                    {"type": "function_call", "id": event.id, "name": event.name, "arguments": {}},
                    {"type": "function_call", "id": event.id, "name": event.name, "arguments": {}},
                )
        elif isinstance(event, ToolCallDelta):
            if self.open is not None and self.open["type"] == "function_call":
                self._delta({"type": "arguments_delta", "arguments": event.arguments})
        elif isinstance(event, ToolCallEnd):
            if self.open is None:
                return
            if self.open["type"] == "function_call":
                self.open["arguments"] = event.arguments
                self.close()
            elif self._server_call is not None:
                tool, call_id, name = self._server_call
                step = tool.call_step(call_id, name, event.arguments)
                self.open.clear()
                self.open.update(step)
                delta = {k: v for k, v in step.items() if k not in ("id",)}
                self._delta(delta)
                self._server_call = None
                self.close()

    def _hold(self, event: ToolCallStart | ToolCallDelta | ToolCallEnd) -> None:
        if isinstance(event, ToolCallStart):
            self.close()
            self._holding = HeldCall(event.id, event.name, {})
        elif isinstance(event, ToolCallEnd) and self._holding is not None:
            self._holding.arguments = event.arguments
            self.held_calls.append(self._holding)
            self._holding = None

    def release_calls(self) -> None:
        """Publish the held calls (validated) as steps, as if they had just arrived."""
        self.hold_calls = False
        for call in self.held_calls:
            self.feed(ToolCallStart(call.id, call.name))
            self.feed(ToolCallDelta(arguments_json(call)))
            self.feed(ToolCallEnd(call.arguments))
        self.held_calls = []
        self.close()

    def _open_output(self) -> None:
        if self.open is None or self.open["type"] != "model_output":
            self.text_parts = []
            self.annotations = []
            self.items = []
            self._start(
                {"type": "model_output", "content": []}, {"type": "model_output", "content": []}
            )

    def feed_media_chunk(self, delta: dict[str, Any]) -> None:
        """A chunk of a media item that streams in: a live delta of its type (the
        stored log gets the whole item from :meth:`feed_media`)."""
        self._open_output()
        self._delta(delta, stored=False)

    def feed_audio_chunk(self, chunk: AudioChunk) -> None:
        """A piece of speech from a realtime API as it streams: a live ``audio`` delta
        (16-bit little-endian mono PCM, ``audio/l16``); the whole clip follows as one
        streamed media item."""
        self.feed_media_chunk(
            {
                "type": "audio",
                "data": pybase64.b64encode_as_string(chunk.data),
                "mime_type": "audio/l16",
                "sample_rate": chunk.sample_rate,
                "channels": 1,
            }
        )

    def feed_media(self, item: dict[str, Any], *, streamed: bool = False) -> None:
        """A generated image or audio item (``data`` or a ``junction-media:`` uri): part
        of the open model_output step, announced as one delta of its type (to the stored
        log only when live followers had it in chunks)."""
        self._open_output()
        self._flush_text()
        self.items.append(item)
        self._delta(item, live=not streamed)

    def _text_item(self) -> dict[str, Any] | None:
        text = "".join(self.text_parts)
        item: dict[str, Any] | None = {"type": "text", "text": text} if text else None
        if item is not None and self.annotations:
            item["annotations"] = self.annotations
        self.annotations = []
        return item

    def _flush_text(self) -> None:
        item = self._text_item()
        if item is not None:
            self.items.append(item)
        self.text_parts = []

    def close(self) -> None:
        step = self.open
        if step is None:
            return
        self.open = None
        if step["type"] == "model_output":
            media = any(i["type"] != "text" for i in self.items)
            if media:
                self._flush_text()
                step["content"] = self.items
                self.items = []
                self.journal.add_step(step)
                self.produced.append(step)
                self.journal.event({"event_type": "step.stop", "index": self.index})
                return
            item = self._text_item()
            step["content"] = [item] if item is not None else []
            if not self.live_text:
                return  # held back; see take_text()
        self.journal.add_step(step)
        self.produced.append(step)
        self.journal.event({"event_type": "step.stop", "index": self.index})

    def held_text(self) -> str | None:
        """The model_output text that was held back (structured output), if any."""
        return "".join(self.text_parts) if not self.live_text and self.text_parts else None

    def emit_text_step(self, text: str) -> None:
        """Publish a validated answer as one model_output step (start, delta, stop)."""
        index = self.journal.next_index
        self.journal.event(
            {
                "event_type": "step.start",
                "index": index,
                "step": {"type": "model_output", "content": []},
            }
        )
        self.journal.event(
            {"event_type": "step.delta", "index": index, "delta": {"type": "text", "text": text}}
        )
        step = {"type": "model_output", "content": [{"type": "text", "text": text}]}
        self.journal.add_step(step)
        self.produced.append(step)
        self.journal.event({"event_type": "step.stop", "index": index})
