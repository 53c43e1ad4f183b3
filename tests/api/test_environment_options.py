"""An environment's ``system_instruction`` and ``custom_config`` through the official SDK:
the instruction reaches every run in the environment, layered after the agent's and the
request's; ``custom_config`` sets the sandbox's limits, and anything else is a 400 at
create time that writes nothing."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import Any

import pytest
from google import genai
from google.genai import _interactions_errors as gerr

from junction.config import load_settings
from junction.runtime.env_options import MAX_INSTRUCTION_CHARS, inherited_config, limits_of
from junction.sandbox.types import Limits
from junction.testing.fake_gemini import FakeGemini
from junction.testing.fake_openai import FakeOpenAI
from junction.testing.fakeserver import Reply
from junction.testing.server import JunctionThread
from tests.api.hardening_support import new_project, project_rows
from tests.conftest import API_KEY, REQUIRE_SANDBOX, SECRET_KEY, Junction, traversable

CONFIG = {"type": "antigravity", "model": "openai/agent-model"}
SLEEP = "import time; time.sleep(4); print('woke')"


def _system(fake: FakeOpenAI, index: int = 0) -> list[str]:
    messages = fake.requests[index].body["messages"]
    assert messages[0]["role"] == "system"
    assert [m["role"] for m in messages[1:]].count("system") == 0
    return str(messages[0]["content"]).split("\n\n")


def test_system_instruction_reaches_every_run_in_the_environment(
    envs: genai.Client, junction: Junction, openai_fake: FakeOpenAI
) -> None:
    env = envs.environments.create(
        system_instruction="Environment layer: report sizes in metres.",
        sources=[{"type": "inline", "target": "AGENTS.md", "content": "Workspace layer."}],
    )
    fetched = envs.environments.get(env.id)
    assert fetched.model_extra["system_instruction"].startswith("Environment layer")
    client = junction.client()
    agent_id = f"layered-{secrets.token_hex(3)}"
    client.agents.create(
        id=agent_id,
        base_agent="junction-general",
        system_instruction="Agent layer.",
        base_environment=env.id,
        agent_config=CONFIG,
    )
    openai_fake.enqueue(Reply(text="agent"), Reply(text="model"), Reply(text="named"))
    by_agent = client.interactions.create(
        agent=agent_id, input="go", system_instruction="Request layer."
    )
    assert by_agent.status == "completed", by_agent.errors
    assert by_agent.environment_id != env.id  # a copy of the base, with its instruction
    parts = _system(openai_fake, 0)
    assert parts[0].startswith("You are Junction's general agent.")
    assert parts[-4:] == [
        "Agent layer.",
        "Request layer.",
        "Environment layer: report sizes in metres.",
        "Instructions from AGENTS.md in the workspace:\nWorkspace layer.",
    ]
    by_model = client.interactions.create(
        model="openai/plain", input="go", environment=env.id, system_instruction="Request."
    )
    assert by_model.status == "completed", by_model.errors
    assert _system(openai_fake, 1) == ["Request.", "Environment layer: report sizes in metres."]
    by_agent_named = client.interactions.create(
        agent="junction-general", agent_config=CONFIG, input="go", environment=env.id
    )
    assert by_agent_named.environment_id == env.id
    assert _system(openai_fake, 2)[-2:] == [
        "Environment layer: report sizes in metres.",
        "Instructions from AGENTS.md in the workspace:\nWorkspace layer.",
    ]


def test_custom_config_sets_the_sandbox_limits(
    envs: genai.Client, junction: Junction, openai_fake: FakeOpenAI
) -> None:
    env = envs.environments.create(custom_config={"wall_seconds": 1, "max_processes": 64})
    assert envs.environments.get(env.id).custom_config == {"wall_seconds": 1, "max_processes": 64}
    copy = envs.environments.create(from_environment=env.id)
    assert envs.environments.get(copy.id).custom_config == {"wall_seconds": 1, "max_processes": 64}
    openai_fake.enqueue(
        Reply(text="", tool_calls=[("code_execution", {"code": SLEEP})]), Reply(text="slow")
    )
    done = junction.client().interactions.create(
        model="openai/m", input="sleep", tools=[{"type": "code_execution"}], environment=copy.id
    )
    assert done.status == "completed", done.errors
    result = next(s for s in done.steps if s.type == "code_execution_result")
    assert "timed out after 1 s" in result.result and "woke" not in result.result


def test_bad_environment_options_are_refused_and_write_nothing(
    junction: Junction, openai_fake: FakeOpenAI
) -> None:
    key, project_id = new_project(junction, f"envopts-{secrets.token_hex(3)}")
    client = junction.client(api_key=key)
    ceiling = Limits().memory_bytes
    bad = [
        ({"custom_config": {"colour": "blue"}}, r"colour is not supported: .*wall_seconds, cpu"),
        ({"custom_config": {"memory_bytes": ceiling * 2}}, f"at most {ceiling}"),
        ({"custom_config": {"max_processes": 2.5}}, "positive whole number"),
        ({"system_instruction": "x" * (MAX_INSTRUCTION_CHARS + 1)}, "more than the"),
    ]
    for body, message in bad:
        with pytest.raises(gerr.BadRequestError, match=message) as raised:
            client.environments.create(**body)
        assert raised.value.status_code == 400
    with pytest.raises(gerr.BadRequestError, match=r"custom_config\.colour is not supported"):
        client.interactions.create(
            model="openai/m",
            input="x",
            environment={"type": "remote", "custom_config": {"colour": "blue"}},
        )
    with pytest.raises(gerr.BadRequestError, match=r"cannot change an existing one"):
        client.interactions.create(
            model="openai/m",
            input="x",
            environment={"environment_id": "env_x", "custom_config": {"wall_seconds": 1}},
        )
    assert not any(project_rows(junction, project_id).values())
    assert openai_fake.requests == []


def test_a_copy_takes_only_the_valid_limits_of_an_unchecked_origin() -> None:
    # Environments created before custom_config was checked may hold anything.
    legacy = {"colour": "blue", "wall_seconds": 5, "cpu_seconds": "x", "memory_bytes": -1}
    assert inherited_config(legacy) == {"wall_seconds": 5}
    assert inherited_config({"colour": "blue"}) is None
    assert inherited_config("text") is None
    assert limits_of({"wall_seconds": 5, "max_files": 10.0}) == Limits(wall_seconds=5, max_files=10)


@pytest.fixture(scope="module")
def gemini(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Junction, FakeGemini]]:
    """A server whose Gemini models go to the fake Gemini API (SQLite is enough here)."""
    fake = FakeGemini().start()
    tmp = tmp_path_factory.mktemp("gemini")
    traversable(tmp)
    url = f"sqlite:///{tmp / 'junction.db'}"
    env = {
        "JUNCTION_API_KEY": API_KEY,
        "JUNCTION_SECRET_KEY": SECRET_KEY,
        "GEMINI_API_KEY": "fake-gemini-key",
        "GEMINI_BASE_URL": fake.url,
    }
    settings = load_settings(
        env=env,
        config_file=None,
        overrides={"database_url": url, "data_dir": tmp, "access_log": False},
    )
    thread = JunctionThread(settings).start()
    server = Junction(thread, "sqlite", url, API_KEY)
    yield server, fake
    for client in server.clients.values():
        client.close()
    thread.stop()
    fake.stop()


def _include_thoughts(body: dict[str, Any]) -> object:
    # google-genai writes this field of thinkingConfig in snake case; the API takes both.
    thinking = body["generationConfig"]["thinkingConfig"]
    return thinking.get("includeThoughts", thinking.get("include_thoughts"))


def test_gemini_request_carries_each_instruction_and_thinking_field(
    gemini: tuple[Junction, FakeGemini],
) -> None:
    server, fake = gemini
    client = server.client()
    try:
        env = client.environments.create(system_instruction="Environment layer.")
    except gerr.APIError as exc:  # 503: no sandbox here
        if REQUIRE_SANDBOX:
            pytest.fail(f"the sandbox is required (JUNCTION_REQUIRE_SANDBOX=1): {exc}")
        pytest.skip(f"no sandbox on this server: {exc}")
    fake.enqueue(
        Reply(text="Otters are mustelids.", thought="Recall otters."),
        Reply(text="Otters are mustelids.", thought="Recall otters."),
    )
    config = {"type": "deep-research", "model": "gemini-2.5-pro"}
    shown = client.interactions.create(
        agent="deep-research-preview-04-2026",
        input="otters?",
        environment=env.id,
        system_instruction="Request layer.",
        agent_config={**config, "thinking_summaries": "auto"},
    )
    assert shown.status == "completed", shown.errors
    body = fake.requests[0].body
    parts = body["systemInstruction"]["parts"]
    assert len(parts) == 1
    layers = parts[0]["text"].split("\n\n")
    assert layers[0].startswith("You are Junction's research agent.")
    assert layers[-2:] == ["Request layer.", "Environment layer."]
    assert _include_thoughts(body) is True
    assert [s.summary[0].text for s in shown.steps if s.type == "thought"] == ["Recall otters."]
    hidden = client.interactions.create(
        agent="deep-research-preview-04-2026",
        input="otters?",
        environment=env.id,
        agent_config={**config, "thinking_summaries": "none"},
    )
    assert hidden.status == "completed", hidden.errors
    assert _include_thoughts(fake.requests[1].body) is False
    assert (
        fake.requests[1]
        .body["systemInstruction"]["parts"][0]["text"]
        .endswith("\n\nEnvironment layer.")
    )
    assert [s.type for s in hidden.steps] == ["user_input", "model_output"]
