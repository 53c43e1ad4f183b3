"""The Agents API (REFERENCE 7) through the official SDK."""

from __future__ import annotations

import secrets

import pytest
from google.genai import _interactions_errors as gerr

from tests.conftest import Junction


def _id(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(3)}"


def test_create_get_list_delete(junction: Junction) -> None:
    client = junction.client()
    agent_id = _id("sentinel")
    created = client.agents.create(
        id=agent_id,
        description="watches customers",
        system_instruction="Be vigilant.",
        base_agent="antigravity-preview-05-2026",
        tools=[{"type": "code_execution"}, {"type": "url_context"}],
        agent_config={"type": "antigravity", "model": "offline/echo"},
    )
    assert created.id == agent_id
    fetched = client.agents.get(agent_id)
    assert fetched.system_instruction == "Be vigilant."
    assert fetched.base_agent == "antigravity-preview-05-2026"
    assert [t.type for t in fetched.tools] == ["code_execution", "url_context"]
    listed = client.agents.list(page_size=1000)
    assert agent_id in [a.id for a in listed.agents]
    client.agents.delete(agent_id)
    with pytest.raises(gerr.NotFoundError):
        client.agents.get(agent_id)


def test_builtins_and_google_aliases_are_readable(junction: Junction) -> None:
    client = junction.client()
    general = client.agents.get("antigravity-preview-05-2026")
    assert "workspace" in general.system_instruction
    research = client.agents.get("deep-research-preview-04-2026")
    assert "cit" in research.system_instruction
    with pytest.raises(gerr.BadRequestError):
        client.agents.delete("junction-general")


def test_paging(junction: Junction) -> None:
    key = junction.cli("keys", "create", "--project", _id("agents")).stdout.split()[1]
    client = junction.client(api_key=key)
    made = sorted(
        client.agents.create(id=_id("a"), base_agent="junction-general").id for _ in range(5)
    )
    seen: list[str] = []
    token = None
    while True:
        page = (
            client.agents.list(page_size=2, page_token=token)
            if token
            else client.agents.list(page_size=2)
        )
        seen += [a.id for a in page.agents or []]
        token = page.next_page_token
        if not token:
            break
    assert seen == made


@pytest.mark.parametrize(
    ("body", "error", "needle"),
    [
        ({"id": "Bad Name"}, gerr.BadRequestError, "'id'"),
        ({"id": "ok-1", "base_agent": "nobody"}, gerr.BadRequestError, "nobody"),
        ({"id": "ok-2", "tools": [{"type": "computer_use"}]}, gerr.BadRequestError, "computer_use"),
        ({"id": "junction-general"}, gerr.ConflictError, "built-in"),
    ],
)
def test_bad_agents(
    junction: Junction, body: dict[str, object], error: type[Exception], needle: str
) -> None:
    with pytest.raises(error, match=needle):
        junction.client().agents.create(**body)  # type: ignore[arg-type]


def test_duplicate_and_cross_project(junction: Junction) -> None:
    client = junction.client()
    agent_id = _id("dup")
    client.agents.create(id=agent_id)
    with pytest.raises(gerr.ConflictError):
        client.agents.create(id=agent_id)
    other_key = junction.cli("keys", "create", "--project", _id("other")).stdout.split()[1]
    other = junction.client(api_key=other_key)
    with pytest.raises(gerr.NotFoundError):
        other.agents.get(agent_id)
    with pytest.raises(gerr.BadRequestError):
        other.agents.create(id=_id("child"), base_agent=agent_id)
