"""Context management for long runs.

When a model call's input (as the provider reported it) nears the model's context
window, the older tool calls and results of the run are compacted: summarised by the
model (together with the previous summary), or truncated if summarising fails. The
compaction is recorded as a ``context_compaction`` step (the ids it covers, the method,
the summary); from then on the model sees only the latest summary in place of those
calls and results (:func:`junction.tools.lowering.lower_all`), so its context stays
bounded however long the run. A
provider that still refuses a prompt as too long triggers one aggressive compaction
and a retry. So a run of any number of steps never fails for context overflow.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from junction import jsonutil
from junction.errors import ProviderError
from junction.providers.base import ModelRequest, TextDelta
from junction.providers.retry import stream_with_retries
from junction.tools.lowering import compacted_ids

if TYPE_CHECKING:
    from junction.runtime.runner import Run

log = logging.getLogger("junction.compaction")

KEEP_RECENT = 2
PER_RESULT_CHARS = 8_000
TRUNCATED_CHARS = 400
MAX_SUMMARY_CHARS = 8_000
PROMPT = (
    "You are compacting an agent's working memory. Summarise the tool results below so the "
    "agent can continue its task: keep every fact, number, file name, URL and error it may "
    "need; drop everything else. Answer with the summary only."
)


def is_context_overflow(exc: ProviderError) -> bool:
    text = exc.message.lower()
    return any(
        k in text
        for k in (
            "context length",
            "context_length",
            "too long",
            "maximum context",
            "prompt is too long",
            "token limit",
        )
    )


def _render(step: dict[str, Any]) -> str:
    result = step.get("result")
    text = result if isinstance(result, str) else jsonutil.dumps(result)
    return text[:PER_RESULT_CHARS]


def _arguments(call: dict[str, Any] | None) -> str:
    return jsonutil.dumps((call or {}).get("arguments"))[:500]


async def _summarise(run: Run, text: str) -> str:
    spec = run.spec
    request = ModelRequest(
        model=spec.model,
        steps=[{"type": "user_input", "content": [{"type": "text", "text": text}]}],
        system_instruction=PROMPT,
        stream=False,
    )
    parts: list[str] = []
    async for event in stream_with_retries(
        spec.provider, request, attempts=2, base_delay=0.2, max_delay=2.0
    ):
        if isinstance(event, TextDelta):
            parts.append(event.text)
    summary = "".join(parts).strip()
    if not summary:
        raise ProviderError("the model returned an empty summary")
    return summary[:MAX_SUMMARY_CHARS]


async def compact(run: Run, *, aggressive: bool = False) -> bool:
    """Compact the run's older tool results; return whether anything was compacted."""
    journal = run.journal
    done = compacted_ids(run.spec.history + journal.steps)
    results = [
        s
        for s in journal.steps
        if s["type"].endswith("_result") and s.get("call_id") and s["call_id"] not in done
    ]
    targets = results if aggressive else results[:-KEEP_RECENT]
    if not targets:
        return False
    budget = max(4_000, run.context_window * 2)  # characters the summariser may read
    earlier = next(
        (
            s["summary"]
            for s in reversed(run.spec.history + journal.steps)
            if s["type"] == "context_compaction"
        ),
        "",
    )
    calls = {s.get("id"): s for s in journal.steps if s["type"].endswith("_call")}
    text = "\n\n".join(
        f"[{s['type']} {s['call_id']} for {_arguments(calls.get(s['call_id']))}]\n{_render(s)}"
        for s in targets
    )[:budget]
    if earlier:
        text = f"[summary of even earlier results]\n{earlier}\n\n{text}"
    try:
        summary, method = await _summarise(run, text), "summary"
    except ProviderError as exc:
        log.info("summarising for %s failed (%s); truncating instead", run.record_id, exc)
        summary = (earlier + "\n\n" if earlier else "") + "\n\n".join(
            f"[{s['type']} {s['call_id']}] {_render(s)[:TRUNCATED_CHARS]}…" for s in targets
        )
        summary = summary[-MAX_SUMMARY_CHARS:]
        method = "truncation"
    step = {
        "type": "context_compaction",
        "compacted": [s["call_id"] for s in targets],
        "method": method,
        "summary": summary,
    }
    index = journal.next_index
    journal.event(
        {"event_type": "step.start", "index": index, "step": {"type": "context_compaction"}}
    )
    journal.event(
        {
            "event_type": "step.delta",
            "index": index,
            "delta": {k: v for k, v in step.items() if k != "type"}
            | {"type": "context_compaction"},
        }
    )
    journal.add_step(step)
    journal.event({"event_type": "step.stop", "index": index})
    await journal.persist()
    log.info("compacted %d tool results of %s (%s)", len(targets), run.record_id, method)
    return True
