"""``env`` values kept inside stored definitions (an agent's ``base_environment``, a
trigger's ``interaction.environment``) are sealed at rest and never echoed, and still
reach the commands of the runs that use them; a trigger template's MCP headers are not
echoed either. Through the official SDK, the real sandbox and both databases."""

from __future__ import annotations

import secrets
import time
from typing import Any

import httpx2 as httpx
import pytest
from google import genai

from junction.testing.fake_openai import FakeOpenAI
from junction.testing.fakeserver import Reply
from tests.api.hardening_support import query
from tests.conftest import Junction

CONFIG = {"type": "antigravity", "model": "openai/agent-model"}
SHOW = "import os\nprint('TOKEN=' + os.environ.get('API_TOKEN', '-'))\n"


def _show_env(fake: FakeOpenAI) -> None:
    fake.enqueue(
        Reply(text="", tool_calls=[("code_execution", {"code": SHOW, "language": "python"})]),
        Reply(text="done"),
    )


def _token_shown(done: Any) -> str:
    results = [s for s in done.steps if getattr(s, "type", "") == "code_execution_result"]
    assert results, done.steps
    assert not results[0].is_error, results[0].result
    return str(results[0].result).strip().removeprefix("TOKEN=")


def _nowhere_in_rows(junction: Junction, secret: str, table: str) -> None:
    rows = query(junction.database_url, f"SELECT * FROM {table}")
    assert rows and secret not in str(rows)


def test_agent_base_environment_env_is_sealed_and_reaches_code(
    envs: genai.Client, junction: Junction, openai_fake: FakeOpenAI
) -> None:
    client = junction.client()
    secret = f"tok-{secrets.token_hex(8)}"
    agent_id = f"sealed-{secrets.token_hex(3)}"
    created = client.agents.create(
        id=agent_id,
        base_environment={"type": "remote", "env": {"API_TOKEN": {"value": secret}}},
        agent_config=CONFIG,
    )
    for shown in (
        created.model_dump(mode="json"),
        client.agents.get(agent_id).model_dump(mode="json"),
        *[a.model_dump(mode="json") for a in client.agents.list().agents or []],
    ):
        assert secret not in str(shown)
        if shown["id"] == agent_id:
            assert shown["base_environment"] == {
                "type": "remote",
                "env": {"API_TOKEN": "[redacted]"},
            }
    _nowhere_in_rows(junction, secret, "agents")

    _show_env(openai_fake)
    done = client.interactions.create(agent=agent_id, input="show")
    assert done.status == "completed", done.errors
    assert _token_shown(done) == secret


@pytest.mark.parametrize(
    ("environment", "says"),
    [
        ({"type": "remote", "env": {"PATH": "/evil"}}, "base_environment.env.PATH"),
        ({"type": "remote", "env": {"A": 3}}, "base_environment.env.A"),
        ({"type": "remote", "env_sealed": "x"}, "unknown key 'env_sealed'"),
    ],
)
def test_bad_agent_base_environment_env_is_a_400_that_writes_nothing(
    junction: Junction, environment: dict[str, Any], says: str
) -> None:
    agent_id = f"bad-{secrets.token_hex(3)}"
    body = {"id": agent_id, "base_environment": environment, "agent_config": CONFIG}
    answer = httpx.post(  # raw: the SDK refuses some of these before sending
        f"{junction.url}/v1beta/agents", json=body, headers={"x-goog-api-key": junction.api_key}
    )
    assert answer.status_code == 400, answer.text
    assert says in answer.json()["error"]["message"]
    assert query(junction.database_url, "SELECT id FROM agents WHERE id = $1", agent_id) == []


def _execution(client: genai.Client, trigger_id: str, timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        found = client.triggers.list_executions(trigger_id).trigger_executions or []
        if found and found[0].status != "in_progress":
            return found[0]
        assert time.monotonic() < deadline, found
        time.sleep(0.1)


def test_trigger_template_env_is_sealed_and_reaches_code(
    envs: genai.Client, junction: Junction, openai_fake: FakeOpenAI
) -> None:
    client = junction.client()
    secret = f"tok-{secrets.token_hex(8)}"
    header = f"Bearer hdr-{secrets.token_hex(8)}"
    template = {
        "agent": "junction-general",
        "agent_config": CONFIG,
        "input": "show",
        "environment": {"type": "remote", "env": {"API_TOKEN": secret}},
    }
    mcp = {"type": "mcp_server", "name": "docs", "url": "https://mcp.example.com/mcp"}
    with_headers = {**template, "tools": [{**mcp, "headers": {"Authorization": header}}]}
    trigger = client.triggers.create(schedule="0 0 1 1 *", time_zone="UTC", interaction=template)
    other = client.triggers.create(schedule="0 0 1 1 *", time_zone="UTC", interaction=with_headers)
    try:
        for shown in (
            trigger.model_dump(mode="json"),
            other.model_dump(mode="json"),
            client.triggers.get(trigger.id).model_dump(mode="json"),
            client.triggers.get(other.id).model_dump(mode="json"),
            *[t.model_dump(mode="json") for t in client.triggers.list().triggers or []],
        ):
            assert secret not in str(shown) and header not in str(shown)
            if shown["id"] in (trigger.id, other.id):
                environment = shown["interaction"]["environment"]
                assert environment == {"type": "remote", "env": {"API_TOKEN": "[redacted]"}}
        shown_other = client.triggers.get(other.id).model_dump(mode="json", exclude_none=True)
        assert shown_other["interaction"]["tools"] == [mcp]
        _nowhere_in_rows(junction, secret, "triggers")

        _show_env(openai_fake)
        client.triggers.run(trigger.id)
        execution = _execution(client, trigger.id)
        assert execution.status == "completed", execution.error
        done = client.interactions.get(execution.interaction_id)
        assert _token_shown(done) == secret
        assert secret not in str(done.model_dump(mode="json").get("environment"))
    finally:
        client.triggers.delete(trigger.id)
        client.triggers.delete(other.id)
