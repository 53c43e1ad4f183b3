"""Server-tool steps of a run: each server-tool call the model made runs here, in order,
as a ``*_result`` step streamed like any other (start, deltas the tool emits, stop), with
its span, metrics and usage; and the request's server tools are prepared (their function
declarations added to what the model sees) when the run starts. Mixed into
:class:`junction.runtime.runner.Run`, whose state it uses."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING, Any

from junction.errors import BadRequest
from junction.observe import genai_spans
from junction.observe import tracing as otel
from junction.observe.telemetry import Telemetry
from junction.runtime.journal import Journal
from junction.runtime.usage import UsageMeter
from junction.tools.base import ServerTool, ToolContext, ToolResult

if TYPE_CHECKING:
    from junction.runtime.runner import RunSpec

log = logging.getLogger("junction.runner")


class ToolSteps:
    """The tool half of a run (the state below is the run's)."""

    spec: RunSpec
    journal: Journal
    usage: UsageMeter
    cancel_event: asyncio.Event
    tool_context: ToolContext
    telemetry: Telemetry | None
    tool_seconds: float
    _call: asyncio.Future[Any] | None
    _tracing: otel.Tracing | None
    _tool_token: object

    @property
    def record_id(self) -> str:
        return self.journal.record.id

    async def _run_server_tools(self) -> None:
        """Execute every server-tool call step that has no result yet, in order."""
        answered = {s.get("call_id") for s in self.journal.steps if s["type"].endswith("_result")}
        pending = [
            s
            for s in self.journal.steps
            if s["type"].endswith("_call")
            and s["type"] != "function_call"
            and s["id"] not in answered
        ]
        for call in pending:
            await self._run_tool(call)

    async def _run_tool(self, call: dict[str, Any]) -> None:
        journal = self.journal
        tool = self._tool_for(call)
        index = journal.next_index
        result_type = call["type"].removesuffix("_call") + "_result"
        journal.event(
            {
                "event_type": "step.start",
                "index": index,
                "step": {"type": result_type, "call_id": call["id"]},
            }
        )
        streamed = False

        def emit(delta: dict[str, Any]) -> None:
            nonlocal streamed
            streamed = True
            journal.event({"event_type": "step.delta", "index": index, "delta": delta})

        if tool is None:
            outcome = ToolResult(f"no tool handles {call['type']} in this request", True)
        else:
            self.tool_context.emit = emit
            tool_started = time.perf_counter()
            tracing = self._tracing
            span = None
            if tracing is not None:
                span = genai_spans.tool_span(tracing, call)
                # current while the tool runs (its sandbox commands nest under it)
                self._tool_token = tracing.activate(span)
            self._call = asyncio.ensure_future(tool.run(call, self.tool_context))
            outcome = ToolResult("cancelled", True)
            try:
                outcome = await self._call
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a tool's failure is the model's to see
                log.info("tool %s failed on %s: %r", call["type"], self.record_id, exc)
                outcome = ToolResult(f"the tool failed: {getattr(exc, 'message', exc)}", True)
            finally:
                if self.telemetry is not None:
                    self._tool_done(call, outcome, span)
                self.tool_seconds += time.perf_counter() - tool_started
                self._call = None
                self.tool_context.emit = None
                # an environment made on demand is the interaction's, even if cancelled
                journal.record.environment_id = self.tool_context.environment_id
            self.usage.tool_calls[call["type"].removesuffix("_call")] += 1
            self.usage.sandbox_seconds += outcome.sandbox_seconds
        if tool is not None:
            step = tool.result_step(call, outcome)
        else:
            step = {
                "type": result_type,
                "call_id": call["id"],
                "result": outcome.result,
                "is_error": True,
            }
        final = {k: v for k, v in step.items() if k != "call_id"}
        if streamed:
            final.pop("result", None)
        journal.event({"event_type": "step.delta", "index": index, "delta": final})
        journal.add_step(step)
        journal.event({"event_type": "step.stop", "index": index})
        if self.cancel_event.is_set():
            raise asyncio.CancelledError

    def _tool_done(self, call: dict[str, Any], outcome: ToolResult, span: Any) -> None:
        assert self.telemetry is not None
        metrics, tracing = self.telemetry.metrics, self.telemetry.tracing
        if metrics is not None:
            metrics.tool_calls.labels(
                call["type"].removesuffix("_call"), "error" if outcome.is_error else "ok"
            ).inc()
        if span is not None and tracing is not None:
            if outcome.is_error:
                tracing.fail(span, str(outcome.result)[:200], "tool_error")
            tracing.contents(span, "gen_ai.tool.call.result", outcome.result)
            span.end()
            tracing.leave(self._tool_token)

    def _tool_for(self, call: dict[str, Any]) -> ServerTool | None:
        tools: list[ServerTool] = list(self.spec.server_tools.values())
        return next((t for t in tools if t.call_type == call["type"] and t.owns(call)), None)

    async def _prepare_tools(self) -> None:
        spec = self.spec
        if spec.server_tools or not spec.server_tool_list:
            return
        taken = {t["name"] for t in spec.tools}
        for tool in spec.server_tool_list:
            await tool.prepare(self.tool_context)
            for fn in tool.functions():
                if fn["name"] in taken:
                    raise BadRequest(f"two tools offer a function named '{fn['name']}'")
                taken.add(fn["name"])
                spec.server_tools[fn["name"]] = tool
                spec.tools = [*spec.tools, fn]
