"""Agent interactions through the official SDK: built-in and custom agents running in
their environments, with budgets, limits, skills and AGENTS.md."""

from __future__ import annotations

import secrets
import time

import httpx2 as httpx
import pytest
from google import genai
from google.genai import _interactions_errors as gerr

from junction.testing.fake_openai import FakeOpenAI
from junction.testing.fakeserver import Reply
from tests.conftest import Junction

CONFIG = {"type": "antigravity", "model": "openai/agent-model"}
CSV = "open('out.csv','w').write('a,b\\n1,2\\n'); print('saved')"


def _wait(client: genai.Client, interaction_id: str, timeout: float = 30) -> object:
    deadline = time.monotonic() + timeout
    while True:
        got = client.interactions.get(interaction_id)
        if got.status not in ("in_progress", "queued"):
            return got
        assert time.monotonic() < deadline, got.status
        time.sleep(0.1)


def test_google_agent_alias_writes_a_file_the_client_downloads(
    envs: genai.Client, junction: Junction, openai_fake: FakeOpenAI
) -> None:
    openai_fake.enqueue(
        Reply(text="", tool_calls=[("code_execution", {"code": CSV})]),
        Reply(text="Done: out.csv"),
    )
    client = junction.client()
    started = client.interactions.create(
        agent="antigravity-preview-05-2026",
        agent_config=CONFIG,
        input="make out.csv",
        background=True,
    )
    assert started.status in ("in_progress", "queued")
    done = _wait(client, started.id)
    assert done.status == "completed", done.errors
    assert done.agent == "antigravity-preview-05-2026"
    assert [s.type for s in done.steps] == [
        "user_input",
        "code_execution_call",
        "code_execution_result",
        "model_output",
    ]
    assert done.output_text == "Done: out.csv"
    csv = client.environments.files.download(environment=done.environment_id, path="out.csv")
    assert csv == b"a,b\n1,2\n"
    first = openai_fake.requests[0].body
    assert first["model"] == "agent-model"
    assert "general agent" in first["messages"][0]["content"]
    assert {t["function"]["name"] for t in first["tools"]} >= {"code_execution", "url_context"}


def test_budget_exceeded_keeps_the_partial_work(
    envs: genai.Client, junction: Junction, openai_fake: FakeOpenAI
) -> None:
    openai_fake.default = Reply(text="", tool_calls=[("code_execution", {"code": "print(1)"})])
    client = junction.client()
    done = client.interactions.create(
        agent="junction-general",
        input="loop",
        agent_config={**CONFIG, "max_total_tokens": "30"},
    )
    assert done.status == "budget_exceeded"
    assert done.errors[0].code == "budget_exceeded"
    assert done.usage.total_tokens >= 30
    assert [s.type for s in done.steps].count("code_execution_result") == 1  # kept


def test_step_limit_ends_the_run_incomplete(
    envs: genai.Client, junction: Junction, openai_fake: FakeOpenAI
) -> None:
    openai_fake.default = Reply(text="", tool_calls=[("code_execution", {"code": "print(2)"})])
    done = junction.client().interactions.create(
        agent="junction-general",
        input="loop",
        agent_config={**CONFIG, "max_steps": 3},
    )
    assert done.status == "incomplete"
    assert "3 model calls" in done.errors[0].message
    assert len(openai_fake.requests) == 3


def test_custom_agent_with_base_environment_skills_and_agents_md(
    envs: genai.Client, junction: Junction, openai_fake: FakeOpenAI
) -> None:
    skill = (
        "---\nname: csv-report\ndescription: Turn numbers into a CSV report\n---\n"
        "SECRET-BODY: detailed steps the model reads only when it needs them\n"
    )
    base = envs.environments.create(
        sources=[
            {"type": "inline", "target": "AGENTS.md", "content": "Always answer in French."},
            {"type": "inline", "target": "skills/csv/SKILL.md", "content": skill},
        ]
    )
    client = junction.client()
    agent_id = f"reporter-{secrets.token_hex(3)}"
    client.agents.create(
        id=agent_id,
        base_agent="antigravity-preview-05-2026",
        system_instruction="You write reports.",
        base_environment=base.id,
        agent_config=CONFIG,
    )
    openai_fake.enqueue(
        Reply(
            text="",
            tool_calls=[("code_execution", {"code": "open('mine','w')", "language": "python"})],
        ),
        Reply(text="Fini."),
    )
    done = client.interactions.create(agent=agent_id, input="report please")
    assert done.status == "completed", done.errors
    system = openai_fake.requests[0].body["messages"][0]["content"]
    assert system.index("general agent") < system.index("You write reports.")
    assert "Always answer in French." in system
    assert "csv-report: Turn numbers into a CSV report" in system
    assert "SECRET-BODY" not in system  # offered by description, loaded on demand
    assert done.environment_id != base.id  # a copy: runs do not trample the base
    listing = client.environments.files.list(environment=base.id, path="")
    assert "mine" not in [f.name for f in listing.files]
    run_files = client.environments.files.list(environment=done.environment_id, path="")
    assert "mine" in [f.name for f in run_files.files]


def test_background_agent_stream_resume_and_cancel(
    envs: genai.Client, junction: Junction, openai_fake: FakeOpenAI
) -> None:
    openai_fake.enqueue(Reply(text=" ".join(["thinking"] * 200), chunk_delay=0.05))
    client = junction.client()
    started = client.interactions.create(
        agent="junction-general", agent_config=CONFIG, input="long task", background=True
    )
    events = []
    for event in client.interactions.get(started.id, stream=True):
        events.append(event)
        if len(events) == 8:
            break
    resumed = client.interactions.get(started.id, stream=True, last_event_id=events[3].event_id)
    first = next(iter(resumed))
    assert int(first.event_id) == int(events[3].event_id) + 1
    cancelled = client.interactions.cancel(started.id)
    assert cancelled.status == "cancelled"
    assert client.interactions.get(started.id).status == "cancelled"


def test_unknown_agent_is_404(junction: Junction) -> None:
    import httpx2 as httpx

    response = httpx.post(
        f"{junction.url}/v1beta/interactions",
        json={"agent": "no-such-agent", "input": "x"},
        headers={"x-goog-api-key": junction.api_key},
    )
    assert response.status_code == 404
    assert "no-such-agent" in response.json()["error"]["message"]


def test_research_agent_cites_sources_with_url_citations(
    junction: Junction, openai_fake: FakeOpenAI
) -> None:
    report = (
        "Otters hold hands while sleeping [https://example.org/otters]. "
        "They use tools — rocks — to crack shells [https://example.net/tools]."
    )
    openai_fake.enqueue(Reply(text=report))
    done = junction.client().interactions.create(
        agent="deep-research-preview-04-2026",
        input="otters?",
        agent_config={"type": "deep-research", "model": "openai/research-model"},
    )
    assert done.status == "completed", done.errors
    text = done.steps[-1].content[0]
    cites = text.annotations
    assert [c.url for c in cites] == ["https://example.org/otters", "https://example.net/tools"]
    raw = report.encode()
    first = raw[cites[0].start_index : cites[0].end_index].decode()
    assert first == "Otters hold hands while sleeping [https://example.org/otters]"
    second = raw[cites[1].start_index : cites[1].end_index].decode()
    assert second.startswith("They use tools") and second.endswith("[https://example.net/tools]")
    assert "cit" in openai_fake.requests[0].body["messages"][0]["content"]


def test_collaborative_planning_waits_for_confirmation(
    junction: Junction, openai_fake: FakeOpenAI
) -> None:
    config = {
        "type": "deep-research",
        "model": "openai/research-model",
        "collaborative_planning": True,
    }
    openai_fake.enqueue(
        Reply(text="Plan: 1. search otters 2. read sources. OK?"),
        Reply(text="Report: otters are great [https://example.org/o]."),
    )
    client = junction.client()
    plan = client.interactions.create(
        agent="deep-research-preview-04-2026", input="otters?", agent_config=config
    )
    assert plan.status == "requires_action"
    assert plan.output_text.startswith("Plan:")
    first = openai_fake.requests[0].body
    assert (
        "tools" not in first and "ONLY with your research plan" in first["messages"][0]["content"]
    )
    report = client.interactions.create(
        agent="deep-research-preview-04-2026",
        input="Looks good, go ahead.",
        agent_config=config,
        previous_interaction_id=plan.id,
    )
    assert report.status == "completed"
    assert report.steps[-1].content[0].annotations[0].url == "https://example.org/o"
    second = openai_fake.requests[1].body["messages"]
    assert [m["role"] for m in second[1:]] == ["user", "assistant", "user"]


def test_agent_base_chain_longer_than_16_is_refused(
    envs: genai.Client, junction: Junction, openai_fake: FakeOpenAI
) -> None:
    from junction.agents.service import MAX_DEPTH

    assert MAX_DEPTH == 16  # the documented limit
    made = junction.cli("keys", "create", "--project", f"chain-{secrets.token_hex(3)}")
    assert made.returncode == 0, made.stderr
    key = made.stdout.split()[1]
    client = junction.client(api_key=key)
    chain: list[str] = []
    for depth in range(1, MAX_DEPTH + 2):
        agent_id = f"level-{depth}"
        client.agents.create(
            id=agent_id,
            base_agent=chain[-1] if chain else "junction-general",
            system_instruction=f"Instruction of level {depth}.",
            agent_config=CONFIG if not chain else None,
        )
        chain.append(agent_id)

    def listed() -> list[object]:
        reply = httpx.get(
            f"{junction.url}/v1beta/interactions", headers={"x-goog-api-key": key}, timeout=30
        )
        assert reply.status_code == 200, reply.text
        return list(reply.json()["interactions"])

    with pytest.raises(gerr.BadRequestError, match=f"extends more than {MAX_DEPTH} agents"):
        client.interactions.create(agent=chain[-1], input="too deep")
    assert listed() == []  # nothing written
    assert openai_fake.requests == []

    openai_fake.enqueue(Reply(text="deep enough"))
    done = client.interactions.create(agent=chain[MAX_DEPTH - 1], input="just right")
    assert done.status == "completed", done.errors
    system = openai_fake.requests[0].body["messages"][0]["content"]
    positions = [system.index(f"Instruction of level {d}.") for d in range(1, MAX_DEPTH + 1)]
    assert positions == sorted(positions)  # every level, base first
    assert f"Instruction of level {MAX_DEPTH + 1}." not in system
    assert len(listed()) == 1
