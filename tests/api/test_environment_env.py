"""An interaction's inline environment (REFERENCE 8.2) through the official SDK and the
real sandbox: ``env`` reaches the commands of its runs, ``environment_id`` with other
fields updates that environment, and what cannot be honoured is a 400 that writes
nothing (never silently ignored)."""

from __future__ import annotations

import secrets
from typing import Any

import httpx2 as httpx
import pytest
from google import genai
from google.genai import _interactions_errors as gerr

from junction.testing.fake_openai import FakeOpenAI
from junction.testing.fakeserver import Reply
from tests.api.hardening_support import new_project, project_rows, query
from tests.conftest import Junction

SHOW = (
    "import os, pathlib\n"
    "print('GREETING=' + os.environ.get('GREETING', '-'))\n"
    "print('TOKEN=' + os.environ.get('API_TOKEN', '-'))\n"
    "print('PROXY=' + os.environ.get('HTTPS_PROXY', '-'))\n"
    "print('NOTE=' + (pathlib.Path('note.txt').read_text() if pathlib.Path('note.txt')"
    ".exists() else '-'))\n"
)


def _run(client: genai.Client, fake: FakeOpenAI, environment: Any) -> Any:
    fake.enqueue(
        Reply(text="", tool_calls=[("code_execution", {"code": SHOW, "language": "python"})]),
        Reply(text="done"),
    )
    done = client.interactions.create(
        model="openai/x",
        input="show",
        tools=[{"type": "code_execution"}],
        environment=environment,
    )
    assert done.status == "completed", done.errors
    return done


def _shown(done: Any) -> dict[str, str]:
    result = done.steps[2]
    assert not result.is_error, result.result
    return dict(line.split("=", 1) for line in result.result.strip().splitlines())


def test_env_reaches_code_and_an_update_adds_files_network_and_variables(
    envs: genai.Client, junction: Junction, openai_fake: FakeOpenAI
) -> None:
    client = junction.client()
    secret = f"tok-{secrets.token_hex(8)}"
    first = _run(
        client,
        openai_fake,
        {"type": "remote", "env": {"GREETING": "hello world", "API_TOKEN": {"value": secret}}},
    )
    env_id = first.environment_id
    assert env_id and env_id.startswith("env_")
    assert _shown(first) == {"GREETING": "hello world", "TOKEN": secret, "PROXY": "-", "NOTE": "-"}
    # The values are neither echoed nor stored in plain text (the code printed them).
    echoed = client.interactions.get(first.id).model_dump(mode="json")
    assert secret not in str(echoed["environment"])
    assert secret not in str(first.model_dump(mode="json")["environment"])
    assert echoed["environment"]["env"] == {"GREETING": "[redacted]", "API_TOKEN": "[redacted]"}
    stored = query(junction.database_url, "SELECT * FROM interactions WHERE id = $1", first.id)
    assert stored and secret not in str(stored)
    rows = query(junction.database_url, "SELECT * FROM environments WHERE id = $1", env_id)
    assert rows and secret not in str(rows) and "hello world" not in str(rows)
    assert secret not in str(client.environments.get(env_id).model_dump(mode="json"))

    # environment_id + sources / network / env: that environment is updated, not ignored.
    second = _run(
        client,
        openai_fake,
        {
            "type": "remote",
            "environment_id": env_id,
            "mode": "on_demand",
            "sources": [{"type": "inline", "target": "note.txt", "content": "added"}],
            "network": {"allowlist": [{"domain": "example.com"}]},
            "env": {"GREETING": "changed"},
        },
    )
    assert second.environment_id == env_id
    shown = _shown(second)
    assert shown.pop("PROXY").startswith("http://127.0.0.1:")  # the egress proxy: network on
    assert shown == {"GREETING": "changed", "TOKEN": secret, "NOTE": "added"}
    fetched = client.environments.get(env_id).model_dump(mode="json")
    assert fetched["network"]["allowlist"] == [{"domain": "example.com"}]
    assert [s["target"] for s in fetched["sources"]] == ["note.txt"]
    # Back to no network.
    third = _run(
        client, openai_fake, {"type": "remote", "environment_id": env_id, "network": "disabled"}
    )
    assert _shown(third)["PROXY"] == "-"


BAD: list[tuple[dict[str, Any], str]] = [
    ({"type": "remote", "env": {"PATH": "/evil"}}, "environment.env.PATH"),
    ({"type": "remote", "env": {"https_proxy": "http://x"}}, "environment.env.https_proxy"),
    ({"type": "remote", "env": {"1BAD": "x"}}, "environment.env.1BAD"),
    ({"type": "remote", "env": {"A": {"valu": "x"}}}, "unknown key 'valu'"),
    ({"type": "remote", "env": {"A": 3}}, "environment.env.A"),
    ({"type": "remote", "env": {f"V{i}": "x" for i in range(65)}}, "at most 64"),
    ({"type": "remote", "env": {"BIG": "x" * 40000}}, "at most 32768"),
    ({"type": "remote", "sandbox": "big"}, "environment.sandbox"),
    ({"type": "local"}, "environment.type"),
    ({"type": "remote", "environment_id": "ENV", "mode": "self_hosted"}, "environment.mode"),
    ({"type": "remote", "environment_id": "ENV", "custom_config": {}}, "custom_config"),
    ({"type": "remote", "environment_id": "ENV", "env": {"HOME": "/"}}, "environment.env.HOME"),
    ({"type": "remote", "environment_id": "ENV", "network": 5}, "network"),
]


def test_refusals_name_the_field_and_write_nothing(envs: genai.Client, junction: Junction) -> None:
    key, project = new_project(junction, f"envobj-{secrets.token_hex(3)}")
    client = junction.client(api_key=key)
    env_id = client.environments.create().id
    cred = f"envcred-{secrets.token_hex(3)}"
    client.credentials.create(
        type="environment_variable",
        id=cred,
        value="CRED-SECRET-VALUE",
        injection_location="header",
        trusted_domains=["api.example.com"],
    )
    before = project_rows(junction, project)
    # A stored credential as a variable would bypass its trusted_domains: refused.
    with pytest.raises(gerr.BadRequestError) as refused:
        client.interactions.create(
            model="openai/x",
            input="x",
            environment={"type": "remote", "env": {"TOKEN": {"credential": cred}}},
        )
    assert "environment.env.TOKEN.credential" in str(refused.value)
    assert "trusted_domains" in str(refused.value)
    for environment, expected in BAD:
        body = {
            "model": "openai/x",
            "input": "x",
            "environment": {k: env_id if v == "ENV" else v for k, v in environment.items()},
        }
        reply = httpx.post(
            f"{junction.url}/v1beta/interactions",
            json=body,
            headers={"x-goog-api-key": key},
        )
        assert reply.status_code == 400, (environment, reply.text)
        assert expected in reply.json()["error"]["message"], (expected, reply.text)
    assert project_rows(junction, project) == before
    row = query(
        junction.database_url,
        "SELECT network, sources, env_sealed, mode FROM environments WHERE id = $1",
        env_id,
    )
    assert len(row) == 1 and "disabled" in str(row[0][0])
    assert row[0][1:] == ("[]", None, "on_demand")
