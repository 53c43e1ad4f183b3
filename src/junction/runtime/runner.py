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
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from junction import ids
from junction.config import Settings
from junction.errors import ApiError, ProviderError, ProviderRejected
from junction.media import by_uri
from junction.media.service import MediaService
from junction.observe import genai_spans
from junction.observe import tracing as otel
from junction.observe.logs import INTERACTION
from junction.observe.telemetry import Telemetry
from junction.providers.base import (
    AudioChunk,
    Finish,
    MediaChunk,
    MediaDelta,
    ModelRequest,
    OutputSpec,
    Provider,
    ThoughtDelta,
    TokenLogprobs,
    TranscriptionSpec,
    Usage,
)
from junction.providers.retry import stream_with_retries
from junction.runtime import call_check, structured
from junction.runtime.assembler import StepAssembler
from junction.runtime.budget import ProjectBudget
from junction.runtime.compaction import compact, is_context_overflow
from junction.runtime.journal import Journal, LostOwnership
from junction.runtime.media_steps import MediaStream, media_item, preview_item, with_media
from junction.runtime.tool_steps import ToolSteps
from junction.runtime.usage import UsageMeter, count_usage
from junction.store.usage import UsageDelta
from junction.tools.base import ServerTool, ToolContext
from junction.tools.lowering import lower_all

log = logging.getLogger("junction.runner")

#: seconds between writes of streamed events during a model call (cross-process followers)
FLUSH_INTERVAL = 0.2
FIRST_FLUSH = 0.02


@dataclass
class RunSpec:
    """Everything the loop needs, resolved and validated before the run starts."""

    provider: Provider
    model: str
    history: list[dict[str, Any]]  # steps of earlier turns
    history_modalities: frozenset[str] = frozenset()
    history_key: tuple[str, int] | None = None
    history_media: frozenset[str] = frozenset()  # digests of the media the history shows
    system_instruction: str | None = None
    tools: list[dict[str, Any]] = field(default_factory=list)
    tool_choice: str | dict[str, Any] | None = None
    generation: dict[str, Any] = field(default_factory=dict)
    response_schema: dict[str, Any] | None = None
    stream: bool = True
    #: the request's server-side tools; ``server_tools`` maps the function names they
    #: show the model to them once they are prepared (at the start of the run)
    server_tool_list: list[ServerTool] = field(default_factory=list)
    server_tools: dict[str, ServerTool] = field(default_factory=dict)
    #: agent_config.max_total_tokens: the run ends budget_exceeded past it
    max_total_tokens: int | None = None
    #: the model id as requested (context windows are configured per model id)
    model_id: str = ""
    #: annotate the final answer's text (the research agent's citations)
    annotate: Callable[[str, list[dict[str, Any]]], list[dict[str, Any]]] | None = None
    #: rewrite a validated structured answer before it is published (interaction id
    #: given): the code-mender agent adds the patch it computes from the workspace
    finalize: Callable[[str, str], Awaitable[str]] | None = None
    #: end the run requires_action after the first answer (collaborative planning)
    plan_only: bool = False
    #: after the final answer, before the run completes (the research agent's charts)
    after_answer: Callable[[Run, StepAssembler], Awaitable[None]] | None = None
    #: tighter per-run limits than the server's (agent_config.max_steps / max_seconds)
    max_model_calls: float | None = None
    max_seconds: float | None = None
    #: the output asked for (modalities, image and audio options, voices)
    output: OutputSpec = field(default_factory=OutputSpec)
    #: image, audio and document items by uri, fetched at create time (uri → data, mime_type)
    fetched: dict[str, dict[str, str]] = field(default_factory=dict)
    #: transcribe the latest input's audio (transcription_config, or a transcription model)
    transcription: TranscriptionSpec | None = None


class Run(ToolSteps):
    def __init__(self, spec: RunSpec, journal: Journal, settings: Settings) -> None:
        self.spec = spec
        self.journal = journal
        self.settings = settings
        self.usage = UsageMeter(journal.record.usage)
        self.cancel_event = asyncio.Event()
        self._call: asyncio.Future[Any] | None = None
        #: seconds spent waiting on the model provider (for Server-Timing)
        self.provider_seconds = 0.0
        #: seconds spent inside server-side tools, and the model calls made
        self.tool_seconds = 0.0
        #: called once the run has ended (whatever the outcome)
        self.on_done: Callable[[Run], None] | None = None
        #: set when the run must stop without writing (lease lost, or handed over)
        self.abandoned = False
        # The first streamed events are written FIRST_FLUSH after the start (a fast run
        # is written once, at its end), then every FLUSH_INTERVAL.
        self._last_flush = time.monotonic() - FLUSH_INTERVAL + FIRST_FLUSH
        #: the input tokens of the latest model call, as the provider reported them
        self.last_input_tokens = 0
        #: the project's daily budget (set by the service); tokens already counted in it
        self.budget: ProjectBudget | None = None
        self._recorded_tokens = 0
        #: input, output, thought, cached tokens and cost already added to the rollups
        self._recorded: tuple[int, int, int, int, float] = (0, 0, 0, 0, 0.0)
        self._counted = False
        #: metrics and tracing (set by the service; None or empty when off)
        self.telemetry: Telemetry | None = None
        self._tracing: otel.Tracing | None = None
        self._last_usage: Usage | None = None
        self._tool_token: object = None
        self._borrowed_span = False
        self.started = time.monotonic()
        self.model_calls = 0
        #: where generated media goes (None: kept inline, e.g. store=false)
        self.media: MediaService | None = None
        self._retained = False  # this run references the media its history shows
        record = journal.record
        self.tool_context = ToolContext(record.project_id, record.id, record.environment_id)
        #: thinking_summaries "none": thought text is dropped on every dialect
        self._summaries = spec.generation.get("thinking_summaries") != "none"

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
            steps=spec.history + lower_all(self.journal.steps + extra),
            system_instruction=system,
            tools=spec.tools,
            tool_choice=spec.tool_choice,
            generation=spec.generation,
            response_schema=schema,
            stream=spec.stream,
            history_len=len(spec.history),
            history_modalities=spec.history_modalities,
            history_key=spec.history_key,
            output=spec.output,
            transcription=spec.transcription,
        )

    async def _call_model(self, request: ModelRequest, assembler: StepAssembler) -> Finish:
        finish = Finish("stop")
        last_usage: Usage | None = None
        streamed = MediaStream(
            self.media, self.journal, self.usage, assembler, forward=self.spec.stream
        )
        try:
            async for event in stream_with_retries(
                self.spec.provider,
                request,
                attempts=self.settings.provider_max_attempts,
                base_delay=self.settings.provider_backoff_base,
                max_delay=self.settings.provider_backoff_max,
                on_error=self._provider_failed if self.telemetry is not None else None,
            ):
                if isinstance(event, Usage):
                    last_usage = event
                elif isinstance(event, Finish):
                    finish = event
                elif isinstance(event, MediaChunk):
                    await streamed.chunk(event)
                    await self._flush_if_due()
                elif isinstance(event, MediaDelta) and event.preview:
                    assembler.feed_media_chunk(preview_item(event))
                elif isinstance(event, MediaDelta):
                    assembler.feed_media(
                        await media_item(self.media, self.journal, self.usage, event),
                        streamed=event.streamed,
                    )
                    await self._flush_if_due()
                elif isinstance(event, AudioChunk):
                    assembler.feed_audio_chunk(event)
                    await self._flush_if_due()
                elif isinstance(event, TokenLogprobs) or (
                    isinstance(event, ThoughtDelta) and not self._summaries
                ):
                    continue
                else:
                    assembler.feed(event)
                    await self._flush_if_due()
        finally:
            await streamed.abort()  # an item the call left unfinished
            self._last_usage = last_usage
            if last_usage is not None:
                self.usage.add(last_usage)
                self.last_input_tokens = last_usage.input_tokens
        return finish

    async def _flush_if_due(self) -> None:
        """Let live followers here send what was streamed; make it visible to other
        processes while a long call runs (written every FLUSH_INTERVAL)."""
        journal = self.journal
        await journal.let_followers_send()
        now = time.monotonic()
        if journal.store and not journal.insert_hook and now - self._last_flush >= FLUSH_INTERVAL:
            self._last_flush = now
            await journal.persist()

    async def _model_pass(self, assembler: StepAssembler, extra: list[dict[str, Any]]) -> Finish:
        request = self._request(extra)
        if self.media is not None:
            self._retained = await with_media(
                self.media, self.journal, request, self._retained, self.spec.history_media
            )
        if self.spec.fetched:
            request.steps = by_uri.inline(request.steps, self.spec.fetched)
        started = time.perf_counter()
        tracing = self._tracing
        span = (
            genai_spans.model_span(
                tracing,
                provider_kind=self.spec.provider.kind,
                provider_name=self.spec.provider.name,
                model=self.spec.model,
                system_instruction=request.system_instruction,
                messages=request.steps,
            )
            if tracing is not None
            else None
        )
        finish: Finish | None = None
        if span is not None and tracing is not None:
            # The call's task starts in the model span's context (its retry events).
            token = tracing.activate(span)
            call = asyncio.ensure_future(self._call_model(request, assembler))
            tracing.leave(token)
        else:
            call = asyncio.ensure_future(self._call_model(request, assembler))
        self._call = call
        try:
            finish = await call
            return finish
        except BaseException as exc:
            if span is not None and tracing is not None:
                tracing.fail(span, getattr(exc, "message", None) or repr(exc), type(exc).__name__)
            raise
        finally:
            elapsed = time.perf_counter() - started
            self.provider_seconds += elapsed
            self._call = None
            assembler.close()
            metrics = self.telemetry.metrics if self.telemetry is not None else None
            if metrics is not None:
                metrics.child(
                    metrics.model_calls,
                    self.spec.provider.name,
                    metrics.label("model", self.spec.model_id),
                ).observe(elapsed)
            if span is not None and tracing is not None:
                genai_spans.end_model_span(
                    tracing,
                    span,
                    self._last_usage,
                    finish.reason if finish is not None else None,
                    assembler.produced,
                )

    def _provider_failed(self, exc: ProviderError, retried: bool) -> None:
        metrics = self.telemetry.metrics if self.telemetry is not None else None
        if metrics is not None:
            name = self.spec.provider.name
            metrics.provider_errors.labels(name, str(exc.status or "none")).inc()
            if retried:
                metrics.provider_retries.labels(name).inc()
        if self._tracing is not None:
            self._tracing.event(
                "provider_error",
                {"error.type": str(exc.status or "none"), "junction.retried": retried},
            )

    async def execute(self) -> None:
        """Run to a final status. Never raises for model or tool failures."""
        journal = self.journal
        INTERACTION.set(journal.record.id)  # this task's log lines name the interaction
        telemetry = self.telemetry
        span: Any = None
        token: object = None
        if telemetry is not None:
            if telemetry.metrics is not None:
                telemetry.metrics.runs_active.inc()
            if telemetry.tracing is not None:
                span, token = self._start_run_span(telemetry.tracing)
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
            if telemetry is not None:
                self._observe_end(telemetry, span, token)
            if self.on_done is not None:
                self.on_done(self)

    def _start_run_span(self, tracing: otel.Tracing) -> tuple[Any, object]:
        self._tracing = tracing
        otel.CURRENT.set(tracing)
        record, spec = self.journal.record, self.spec
        span, token, self._borrowed_span = genai_spans.run_span(
            tracing,
            interaction_id=record.id,
            agent=record.agent,
            background=record.background,
            attempts=record.attempts,
            trace_context=record.trace_context,
            model=spec.model,
            provider_kind=spec.provider.kind,
            provider_name=spec.provider.name,
        )
        return span, token

    def _observe_end(self, telemetry: Telemetry, span: Any, token: object) -> None:
        record = self.journal.record
        metrics = telemetry.metrics
        if metrics is not None:
            metrics.runs_active.dec()
            if not self.abandoned:
                metrics.child(
                    metrics.runs,
                    record.status,
                    self.spec.provider.name,
                    metrics.label("model", self.spec.model_id),
                    metrics.label("agent", record.agent),
                ).inc()
        tracing = telemetry.tracing
        if span is not None and tracing is not None:
            genai_spans.end_run_span(
                tracing,
                span,
                token,
                self._borrowed_span,
                status=record.status,
                errors=record.errors,
                input_tokens=self.usage.input,
                output_tokens=self.usage.output + self.usage.thought,
            )

    @property
    def context_window(self) -> int:
        windows = self.settings.context_windows
        return windows.get(self.spec.model_id) or self.settings.default_context_window

    def _near_window(self) -> bool:
        return self.last_input_tokens >= self.context_window * self.settings.compaction_threshold

    def _annotate(self, assembler: StepAssembler) -> None:
        if self.spec.annotate is None:
            return
        steps = self.spec.history + self.journal.steps
        for step in assembler.produced:
            for item in step.get("content") or []:
                if step["type"] == "model_output" and item.get("type") == "text":
                    found = self.spec.annotate(item["text"], steps)
                    if found:
                        item["annotations"] = found

    def _tokens(self) -> int:
        return self.usage.input + self.usage.output + self.usage.thought

    async def _over_budget(self) -> bool:
        """The run's own budget (agent_config.max_total_tokens), then the project's."""
        budget = self.spec.max_total_tokens
        used = self._tokens()
        reason = None
        if budget is not None and used >= budget:
            reason = (
                f"the run used {used} tokens of its budget of {budget} "
                "(agent_config.max_total_tokens); the work so far is kept"
            )
        elif self.budget is not None:
            reason = await self.budget.exceeded(
                self.journal.record.project_id,
                used - self._recorded_tokens,
                self.usage.cost_total - self._recorded[4],
            )
        if reason is None:
            return False
        await self._end("budget_exceeded", [{"code": "budget_exceeded", "message": reason}])
        return True

    async def _over_limits(self) -> bool:
        """End the run ``incomplete`` when it has used its model calls or its time."""
        settings, spec = self.settings, self.spec
        calls = min(settings.max_model_calls, spec.max_model_calls or settings.max_model_calls)
        seconds = min(settings.max_run_seconds, spec.max_seconds or settings.max_run_seconds)
        reason = None
        if self.model_calls >= calls:
            reason = f"the run reached its limit of {calls:g} model calls"
        elif time.monotonic() - self.started > seconds:
            reason = f"the run reached its time limit of {seconds:g} s"
        if reason is None:
            return False
        await self._end("incomplete", [{"code": "limit_reached", "message": reason}])
        return True

    async def _end(self, status: str, errors: list[dict[str, Any]] | None = None) -> None:
        journal = self.journal
        journal.record.usage = self.usage.to_wire()
        delta = self._usage_delta()
        # the usage rides in the end's write where it can, else is recorded first
        usage = await self.budget.at_end(journal, delta) if self.budget is not None else None
        if self.telemetry is not None and self.telemetry.metrics is not None:
            count_usage(self.telemetry.metrics, self.spec.provider.name, delta, self.usage)
        try:
            # the usage is settled once the end's write is over (written with it, or alone)
            await journal.end(status, errors, after=usage.settle if usage else None)
        except LostOwnership:
            log.info("interaction %s was finished elsewhere", self.record_id)

    def _usage_delta(self) -> UsageDelta:
        """What this run adds to the project's rollups since it last recorded."""
        u = self.usage
        now = (u.input, u.output, u.thought, u.cached, u.cost_total)
        before = self._recorded
        first, self._counted = not self._counted, True
        self._recorded = now
        self._recorded_tokens = self._tokens()
        record = self.journal.record
        return UsageDelta(
            project_id=record.project_id,
            day=ids.today(),
            api_key_id=record.api_key_id or "",
            model=self.spec.model_id or record.model or "",
            interactions=1 if first else 0,
            input_tokens=now[0] - before[0],
            output_tokens=now[1] - before[1],
            thought_tokens=now[2] - before[2],
            cached_tokens=now[3] - before[3],
            cost=now[4] - before[4],
        )

    async def _loop(self) -> None:
        await self._prepare_tools()
        schema = self.spec.response_schema
        repairs_left = call_repairs_left = self.settings.structured_output_retries
        validate_calls = call_check.wanted(self.spec.tool_choice) and not (
            self.spec.provider.native_validated_calls
        )
        extra: list[dict[str, Any]] = []
        overflow_retried = False
        await self._run_server_tools()  # calls left unanswered by an interrupted run
        steps = self.journal.steps
        if steps and steps[-1]["type"] == "function_call":
            # Resumed after the model's calls were written: the client must answer them.
            await self._end("requires_action")
            return
        while True:
            if self.cancel_event.is_set():
                raise asyncio.CancelledError
            if await self._over_limits() or (self.budget is not None and await self._over_budget()):
                return
            if self._near_window():
                await compact(self)
            assembler = StepAssembler(
                self.journal,
                live_text=schema is None,
                server_tools=self.spec.server_tools,
                hold_calls=validate_calls,
            )
            try:
                finish = await self._model_pass(assembler, extra)
            except ProviderRejected as exc:
                # Too long after all (no usage reported yet, or one huge result): compact
                # hard and try once more; a second refusal fails the run as usual.
                if not is_context_overflow(exc) or overflow_retried:
                    raise
                overflow_retried = True
                if not await compact(self, aggressive=True):
                    raise
                continue
            overflow_retried = False
            if self.cancel_event.is_set():
                raise asyncio.CancelledError
            self.model_calls += 1
            if assembler.held_calls:
                bad = call_check.problems(assembler.held_calls, self.spec.tools)
                if not bad:
                    assembler.release_calls()
                elif call_repairs_left > 0:
                    call_repairs_left -= 1
                    log.info("function calls of %s invalid; asking again", self.record_id)
                    extra = call_check.repair_steps(assembler.held_calls, bad)
                    await self.journal.persist()
                    continue
                else:
                    attempts = self.settings.structured_output_retries + 1
                    await self._end(
                        "failed", [call_check.failure(bad, assembler.held_calls, attempts)]
                    )
                    return
            more = any(
                s["type"] != "function_call" and s["type"].endswith("_call")
                for s in assembler.produced
            )
            if more and await self._over_budget():
                return
            await self._run_server_tools()
            if any(s["type"] == "function_call" for s in assembler.produced):
                await self._end("requires_action")
                return
            if more:
                await self.journal.persist()
                extra = []
                continue
            if schema is not None:
                text = assembler.held_text() or ""
                clean, problem = structured.validate(text, schema)
                if problem is None:
                    if self.spec.finalize is not None:
                        clean = await self.spec.finalize(clean, self.record_id)
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
            self._annotate(assembler)
            if self.spec.after_answer is not None:
                await self.spec.after_answer(self, assembler)
            if self.spec.plan_only:
                await self._end("requires_action")
                return
            await self._end("incomplete" if finish.reason == "length" else "completed")
            return
