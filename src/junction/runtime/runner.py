"""The run loop of one interaction: context → model → steps → persist → repeat.

It ends at a final answer (``completed``, or ``incomplete`` when the model hit its
output limit), at client function calls (``requires_action``), on cancellation
(``cancelled``, partial steps kept) or on an error (``failed``, with the error on the
interaction). Every pass persists before it moves on.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from junction.config import Settings
from junction.errors import ApiError, ProviderError
from junction.providers.base import Finish, ModelRequest, Provider, Usage
from junction.providers.retry import stream_with_retries
from junction.runtime import structured
from junction.runtime.assembler import StepAssembler
from junction.runtime.journal import Journal, LostOwnership
from junction.runtime.usage import UsageMeter

log = logging.getLogger("junction.runner")

#: seconds between writes of streamed events during a model call (cross-process followers)
FLUSH_INTERVAL = 0.2


@dataclass
class RunSpec:
    """Everything the loop needs, resolved and validated before the run starts."""

    provider: Provider
    model: str
    history: list[dict[str, Any]]  # steps of earlier turns
    history_modalities: frozenset[str] = frozenset()
    history_key: tuple[str, int] | None = None
    system_instruction: str | None = None
    tools: list[dict[str, Any]] = field(default_factory=list)
    tool_choice: str | dict[str, Any] | None = None
    generation: dict[str, Any] = field(default_factory=dict)
    response_schema: dict[str, Any] | None = None
    stream: bool = True


class Run:
    def __init__(self, spec: RunSpec, journal: Journal, settings: Settings) -> None:
        self.spec = spec
        self.journal = journal
        self.settings = settings
        self.usage = UsageMeter(journal.record.usage)
        self.cancel_event = asyncio.Event()
        self._call: asyncio.Task[Finish] | None = None
        #: seconds spent waiting on the model provider (for Server-Timing)
        self.provider_seconds = 0.0
        #: called once the run has ended (whatever the outcome)
        self.on_done: Callable[[Run], None] | None = None
        #: set when the run must stop without writing (lease lost, or handed over)
        self.abandoned = False
        self._last_flush = time.monotonic()

    @property
    def record_id(self) -> str:
        return self.journal.record.id

    def cancel(self) -> None:
        self.cancel_event.set()
        if self._call is not None:
            self._call.cancel()

    def _request(self, extra: list[dict[str, Any]]) -> ModelRequest:
        spec = self.spec
        system = spec.system_instruction
        schema = spec.response_schema
        if schema is not None and not spec.provider.native_structured_output:
            system = (system + "\n\n" if system else "") + structured.instruction(schema)
        return ModelRequest(
            model=spec.model,
            steps=spec.history + self.journal.steps + extra,
            system_instruction=system,
            tools=spec.tools,
            tool_choice=spec.tool_choice,
            generation=spec.generation,
            response_schema=schema,
            stream=spec.stream,
            history_len=len(spec.history),
            history_modalities=spec.history_modalities,
            history_key=spec.history_key,
        )

    async def _call_model(self, request: ModelRequest, assembler: StepAssembler) -> Finish:
        finish = Finish("stop")
        last_usage: Usage | None = None
        try:
            async for event in stream_with_retries(
                self.spec.provider,
                request,
                attempts=self.settings.provider_max_attempts,
                base_delay=self.settings.provider_backoff_base,
                max_delay=self.settings.provider_backoff_max,
            ):
                if isinstance(event, Usage):
                    last_usage = event
                elif isinstance(event, Finish):
                    finish = event
                else:
                    assembler.feed(event)
                    await self._flush_if_due()
        finally:
            if last_usage is not None:
                self.usage.add(last_usage)
        return finish

    async def _flush_if_due(self) -> None:
        """Make streamed events visible to other processes while a long call runs."""
        journal = self.journal
        if journal.store is None or journal.insert_hook is not None:
            return
        now = time.monotonic()
        if now - self._last_flush >= FLUSH_INTERVAL:
            self._last_flush = now
            await journal.persist()

    async def _model_pass(self, assembler: StepAssembler, extra: list[dict[str, Any]]) -> Finish:
        request = self._request(extra)
        started = time.perf_counter()
        self._call = asyncio.ensure_future(self._call_model(request, assembler))
        try:
            return await self._call
        finally:
            self.provider_seconds += time.perf_counter() - started
            self._call = None
            assembler.close()

    async def execute(self) -> None:
        """Run to a final status. Never raises for model or tool failures."""
        journal = self.journal
        try:
            await self._loop()
        except asyncio.CancelledError:
            if self.abandoned:
                log.info("run of %s handed over", self.record_id)
                return
            if not self.cancel_event.is_set():
                raise
            await self._end("cancelled")
        except LostOwnership:
            log.info("interaction %s changed under its run; stopping", self.record_id)
        except ProviderError as exc:
            await self._end("failed", [{"code": "provider_error", "message": exc.message}])
        except ApiError as exc:
            await self._end("failed", [{"code": exc.code, "message": exc.message}])
        except Exception as exc:  # a bug: keep the server up, record it on the interaction
            log.exception("run of %s crashed", self.record_id)
            await self._end("failed", [{"code": "internal", "message": f"internal error: {exc!r}"}])
        finally:
            journal.finish_live()
            if self.on_done is not None:
                self.on_done(self)

    async def _end(self, status: str, errors: list[dict[str, Any]] | None = None) -> None:
        journal = self.journal
        journal.record.usage = self.usage.to_wire()
        journal.set_status(status, errors)
        journal.complete_event()
        try:
            await asyncio.shield(journal.persist())
            journal.final_persisted = True
        except LostOwnership:
            log.info("interaction %s was finished elsewhere", self.record_id)

    async def _loop(self) -> None:
        schema = self.spec.response_schema
        repairs_left = self.settings.structured_output_retries
        extra: list[dict[str, Any]] = []
        steps = self.journal.steps
        if steps and steps[-1]["type"] == "function_call":
            # Resumed after the model's calls were written: the client must answer them.
            await self._end("requires_action")
            return
        while True:
            if self.cancel_event.is_set():
                raise asyncio.CancelledError
            assembler = StepAssembler(self.journal, live_text=schema is None)
            finish = await self._model_pass(assembler, extra)
            if self.cancel_event.is_set():
                raise asyncio.CancelledError
            calls = [s for s in assembler.produced if s["type"] == "function_call"]
            if calls:
                await self._end("requires_action")
                return
            if schema is not None:
                text = assembler.held_text() or ""
                clean, problem = structured.validate(text, schema)
                if problem is None:
                    assembler.emit_text_step(clean)
                elif repairs_left > 0:
                    repairs_left -= 1
                    log.info(
                        "structured output of %s invalid (%s); asking again",
                        self.record_id,
                        problem,
                    )
                    extra = [
                        {"type": "model_output", "content": [{"type": "text", "text": text}]},
                        {
                            "type": "user_input",
                            "content": [
                                {"type": "text", "text": structured.repair_prompt(problem)}
                            ],
                        },
                    ]
                    await self.journal.persist()
                    continue
                else:
                    await self._end(
                        "failed",
                        [
                            {
                                "code": "invalid_structured_output",
                                "message": "the answer does not match response_format.schema "
                                f"after {self.settings.structured_output_retries + 1} "
                                f"attempts: {problem}",
                            }
                        ],
                    )
                    return
            await self._end("incomplete" if finish.reason == "length" else "completed")
            return
