"""Context management: long runs compact older tool results instead of overflowing."""

from __future__ import annotations

from typing import Any

from google import genai

from junction.testing.fake_openai import FakeOpenAI
from junction.testing.fakeserver import Reply
from tests.conftest import Junction

BIG = "print('x' * 3000)"


def _summariser(body: Any) -> Reply | None:
    messages = body.get("messages") or [] if isinstance(body, dict) else []
    if messages and str(messages[0].get("content", "")).startswith("You are compacting"):
        return Reply(text="SUMMARY: each run printed 3000 x characters.")
    return None


def _compactions(done: Any) -> list[dict[str, Any]]:
    """context_compaction is Junction's own step type: the SDK keeps it as a raw dict."""
    return [
        s.raw
        for s in done.steps
        if getattr(s, "is_unknown", False) and s.raw.get("type") == "context_compaction"
    ]


def test_long_agent_run_compacts_instead_of_overflowing(
    envs: genai.Client, junction: Junction, openai_fake: FakeOpenAI
) -> None:
    openai_fake.context_limit = 4000  # tokens (4 bytes each) the fake model accepts
    openai_fake.responder = _summariser
    steps = 14
    openai_fake.enqueue(
        *[Reply(text="", tool_calls=[("code_execution", {"code": BIG})]) for _ in range(steps)],
        Reply(text="All done."),
    )
    done = junction.client().interactions.create(
        agent="junction-general",
        input="print a lot, many times",
        agent_config={"type": "antigravity", "model": "openai/small-window"},
    )
    assert done.status == "completed", done.errors
    assert openai_fake.overflows == 0  # never sent a prompt past the window
    compactions = _compactions(done)
    assert compactions, "expected at least one compaction"
    first = compactions[0]
    assert first["method"] == "summary" and first["summary"].startswith("SUMMARY")
    results = [s for s in done.steps if s.type == "code_execution_result"]
    assert len(results) == steps  # the steps themselves are all kept
    assert set(first["compacted"]) <= {r.call_id for r in results}
    last_prompt = openai_fake.requests[-1].body["messages"]
    assert any("SUMMARY" in str(m.get("content")) for m in last_prompt)


def test_truncation_when_summarising_fails(
    envs: genai.Client, junction: Junction, openai_fake: FakeOpenAI
) -> None:
    openai_fake.context_limit = 4000
    openai_fake.responder = lambda body: (
        Reply(status=500) if _summariser(body) is not None else None
    )
    openai_fake.enqueue(
        *[Reply(text="", tool_calls=[("code_execution", {"code": BIG})]) for _ in range(8)],
        Reply(text="ok"),
    )
    done = junction.client().interactions.create(
        agent="junction-general",
        input="go",
        agent_config={"type": "antigravity", "model": "openai/small-window"},
    )
    assert done.status == "completed", done.errors
    methods = {c["method"] for c in _compactions(done)}
    assert methods == {"truncation"}
    assert openai_fake.overflows == 0
