"""A 1,000-step agent run: compaction keeps every prompt inside the model's window."""

from __future__ import annotations

from typing import Any

from junction.testing.fake_openai import FakeOpenAI
from junction.testing.fakeserver import Reply
from tests.conftest import Junction
from tests.tools.conftest import Site

STEPS = 1000


def test_a_thousand_step_run_never_overflows(
    tools_junction: Junction, openai_fake: FakeOpenAI, site: Site
) -> None:
    page = f"{site.url}/article"
    openai_fake.context_limit = 6000  # tokens (the configured window of openai/long-run)
    issued = {"calls": 0, "summaries": 0}

    def script(body: Any) -> Reply | None:
        messages = body.get("messages") or []
        if str(messages[0].get("content", "")).startswith("You are compacting"):
            issued["summaries"] += 1
            return Reply(text=f"SUMMARY {issued['summaries']}: cats sleep a lot.")
        if issued["calls"] >= STEPS:
            return Reply(text="Finished after many steps.")
        issued["calls"] += 1
        return Reply(text="", tool_calls=[("url_context", {"urls": [page]})])

    openai_fake.responder = script
    done = tools_junction.client().interactions.create(
        agent="junction-general",
        input="fetch the page again and again",
        agent_config={"type": "antigravity", "model": "openai/long-run", "max_steps": STEPS + 10},
    )
    assert done.status == "completed", done.errors
    assert openai_fake.overflows == 0  # no prompt ever went past the window
    results = [s for s in done.steps if s.type == "url_context_result"]
    assert len(results) == STEPS
    compactions = [s.raw for s in done.steps if getattr(s, "is_unknown", False)]
    assert len(compactions) == issued["summaries"] >= 10
    assert done.output_text == "Finished after many steps."
    last = openai_fake.requests[-1].body["messages"]
    # what the model sees stays bounded: the latest summary plus recent steps
    assert sum(1 for m in last if m["role"] == "tool") < 100
    assert sum("[Context compacted]" in str(m.get("content")) for m in last) == 1
