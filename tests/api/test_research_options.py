"""The research agent's options (the SDK's ``DeepResearchAgentConfig``) through the
official SDK: each takes effect, or is refused with a 400 at create time that writes
nothing."""

from __future__ import annotations

import base64
import io
import secrets
from collections.abc import Iterator
from pathlib import Path

import httpx2 as httpx
import pytest
from google import genai
from google.genai import _interactions_errors as gerr
from PIL import Image

from junction.testing.fake_openai import FakeOpenAI
from junction.testing.fakeserver import Reply
from tests.api.hardening_support import new_project, project_rows
from tests.conftest import REQUIRE_SANDBOX, Junction, _start

AGENT = "deep-research-preview-04-2026"
CONFIG = {"type": "deep-research", "model": "openai/research-model"}
CHART = """
import matplotlib
matplotlib.use('Agg')
import matplotlib.pyplot as plt
import os
os.makedirs('charts', exist_ok=True)
plt.figure(figsize=(4, 3))
plt.bar(['sea', 'river'], [3, 5], color=['tab:blue', 'tab:green'])
plt.title('Otters')
plt.savefig('charts/otters.png', dpi=50)
open('charts/fake.png', 'w').write('not a png')
print('saved')
"""


@pytest.fixture(scope="module")
def refusing(junction: Junction) -> tuple[str, str]:
    """A project of its own for the refusals, which must leave it empty: key, id."""
    return new_project(junction, f"research-{secrets.token_hex(3)}")


def test_thinking_summaries_auto_and_none(junction: Junction, openai_fake: FakeOpenAI) -> None:
    client = junction.client()
    openai_fake.enqueue(
        Reply(text="Otters are mustelids.", thought="I should check what otters are."),
        Reply(text="Otters are mustelids.", thought="I should check what otters are."),
    )
    # the model is served by an OpenAI-compatible server that streams its reasoning
    reasoner = {**CONFIG, "model": "myvllm/research-model"}
    shown = client.interactions.create(
        agent=AGENT, input="otters?", agent_config={**reasoner, "thinking_summaries": "auto"}
    )
    assert shown.status == "completed", shown.errors
    thoughts = [s for s in shown.steps if s.type == "thought"]
    assert len(thoughts) == 1
    assert thoughts[0].summary[0].text == "I should check what otters are."
    hidden = client.interactions.create(
        agent=AGENT, input="otters?", agent_config={**reasoner, "thinking_summaries": "none"}
    )
    assert hidden.status == "completed", hidden.errors
    assert [s.type for s in hidden.steps] == ["user_input", "model_output"]
    assert hidden.output_text == "Otters are mustelids."


BAD = [
    ({"thinking_summaries": "loud"}, "agent_config.thinking_summaries must be one of"),
    ({"visualization": "always"}, "agent_config.visualization must be one of"),
    ({"enable_bigquery_tool": True}, "agent_config.enable_bigquery_tool: no BigQuery tool"),
    ({"type": "antigravity"}, "agent_config.type 'antigravity' configures a general agent"),
]


def test_bad_research_options_are_refused_and_write_nothing(
    junction: Junction, refusing: tuple[str, str], openai_fake: FakeOpenAI
) -> None:
    key, project_id = refusing
    client = junction.client(api_key=key)
    for extra, message in BAD:
        with pytest.raises(gerr.BadRequestError, match=message) as raised:
            client.interactions.create(
                agent=AGENT, input="otters?", agent_config={**CONFIG, **extra}
            )
        assert raised.value.status_code == 400
    # The SDK turns "yes" into true before sending; a raw request keeps it.
    raw = httpx.post(
        f"{junction.url}/v1beta/interactions",
        json={
            "agent": AGENT,
            "input": "x",
            "agent_config": {**CONFIG, "enable_bigquery_tool": "yes"},
        },
        headers={"x-goog-api-key": key},
    )
    assert raw.status_code == 400
    assert "agent_config.enable_bigquery_tool must be true or false" in raw.text
    assert not any(project_rows(junction, project_id).values())
    assert openai_fake.requests == []


def test_research_options_on_a_general_agent_are_refused(
    junction: Junction, refusing: tuple[str, str], openai_fake: FakeOpenAI
) -> None:
    key, project_id = refusing
    client = junction.client(api_key=key)
    with pytest.raises(gerr.BadRequestError, match=r"agent_config\.visualization configures the"):
        client.interactions.create(
            agent="junction-general",
            input="x",
            agent_config={"type": "dynamic", "model": "openai/m", "visualization": "auto"},
        )
    with pytest.raises(gerr.BadRequestError, match="type 'deep-research' configures a research"):
        client.interactions.create(
            agent="antigravity-preview-05-2026", input="x", agent_config=CONFIG
        )
    with pytest.raises(gerr.BadRequestError, match=r"agent_config\.thinking_summaries configures"):
        client.agents.create(  # refused when the agent is defined, not only when run
            id="plain-general",
            base_agent="junction-general",
            agent_config={"type": "antigravity", "thinking_summaries": "auto"},
        )
    assert not any(project_rows(junction, project_id).values())
    assert openai_fake.requests == []


def test_bigquery_tool_is_the_configured_mcp_server(
    junction: Junction, openai_fake: FakeOpenAI
) -> None:
    client = junction.client()
    agent_id = f"bq-research-{secrets.token_hex(3)}"
    client.agents.create(
        id=agent_id,
        base_agent=AGENT,
        tools=[{"type": "mcp_server", "name": "bigquery", "url": "https://bq.example/mcp"}],
        agent_config={"type": "antigravity", "model": "openai/research-model"},
    )
    openai_fake.enqueue(Reply(text="No tables needed."))
    done = client.interactions.create(
        agent=agent_id, input="q?", agent_config={**CONFIG, "enable_bigquery_tool": False}
    )
    assert done.status == "completed", done.errors
    tools = openai_fake.requests[0].body["tools"]
    assert [t["function"]["name"] for t in tools] == ["url_context"]  # no BigQuery server


@pytest.fixture(scope="module")
def sandboxless(
    fake_openai: FakeOpenAI, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Junction]:
    tmp: Path = tmp_path_factory.mktemp("sandboxless")
    server = _start(
        f"sqlite:///{tmp / 'junction.db'}",
        fake_openai,
        "sqlite",
        tmp,
        sandbox_backend="no-such-backend",
    )
    yield server
    for client in server.clients.values():
        client.close()  # no keep-alive connection for the server to wait on
    server.thread.stop()


def test_visualization_without_a_sandbox_is_refused(
    sandboxless: Junction, openai_fake: FakeOpenAI
) -> None:
    client = sandboxless.client()
    with pytest.raises(gerr.BadRequestError, match="visualization 'auto' draws charts") as raised:
        client.interactions.create(
            agent=AGENT, input="otters?", agent_config={**CONFIG, "visualization": "auto"}
        )
    assert "unknown sandbox backend 'no-such-backend'" in str(raised.value)
    listed = httpx.get(
        f"{sandboxless.url}/v1beta/interactions",
        headers={"x-goog-api-key": sandboxless.api_key},
        timeout=30,
    )
    assert listed.status_code == 200 and listed.json()["interactions"] == []
    assert openai_fake.requests == []


def test_visualization_attaches_the_charts_as_png_images(
    envs: genai.Client, junction: Junction, openai_fake: FakeOpenAI
) -> None:
    openai_fake.enqueue(
        Reply(text="", tool_calls=[("code_execution", {"code": CHART})]),
        Reply(text="Otters live in rivers more than at sea (charts/otters.png)."),
    )
    client = junction.client()
    events = list(
        client.interactions.create(
            agent=AGENT,
            input="where do otters live?",
            agent_config={**CONFIG, "visualization": "auto"},
            stream=True,
        )
    )
    done = client.interactions.get(events[0].interaction.id)
    assert done.status == "completed", done.errors
    result = next(s for s in done.steps if s.type == "code_execution_result")
    stderr = (result.model_extra or {}).get("stderr", "")
    if "No module named 'matplotlib'" in stderr:
        reason = "the sandbox has no matplotlib (scripts/install-system-deps.sh installs it)"
        if REQUIRE_SANDBOX:
            pytest.fail(reason)
        pytest.skip(reason)
    first = openai_fake.requests[0].body
    assert "code_execution" in {t["function"]["name"] for t in first["tools"]}
    assert "matplotlib" in first["messages"][0]["content"]
    assert [s.type for s in done.steps][-2:] == ["model_output", "model_output"]
    assert done.steps[-2].content[0].text.startswith("Otters live in rivers")
    assert done.output_text == done.steps[-2].content[0].text  # the SDK's helpers see both
    assert done.output_image is not None and done.output_image.mime_type == "image/png"
    images = done.steps[-1].content
    assert [i.type for i in images] == ["image"]  # charts/fake.png is no PNG: left out
    assert images[0].mime_type == "image/png"
    streamed = [e.delta for e in events if e.event_type == "step.delta" and e.delta.type == "image"]
    assert len(streamed) == 1 and streamed[0].data == images[0].data  # streamed as it is kept
    picture = Image.open(io.BytesIO(base64.b64decode(images[0].data)))
    picture.load()
    assert picture.format == "PNG" and picture.size == (200, 150)
