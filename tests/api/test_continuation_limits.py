"""Continuation tokens and hop rows have limits and go away: a token expires
(``continuation_token_ttl_seconds``), a run takes at most ``continuation_max_hops`` hops,
the retention pass deletes expired tokens, and hop rows and the tokens they issued go
with their interaction (and with the project's data)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import pytest
from google import genai
from google.genai import _interactions_errors as gerr

from junction.store.projects import hash_key
from junction.testing.fake_openai import FakeOpenAI
from tests.api.hardening_support import new_project, query
from tests.conftest import API_KEY, Junction, _start

SLOW = "/sleep 2.4\n/reply done"


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def limited(
    request: pytest.FixtureRequest,
    fake_openai: FakeOpenAI,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Junction]:
    """Hops end after 0.3 s; tokens live 1 s; a run takes at most 2 hops."""
    tmp = tmp_path_factory.mktemp("cont-limits-" + request.param)
    url = (
        f"sqlite:///{tmp / 'junction.db'}"
        if request.param == "sqlite"
        else request.getfixturevalue("pg_url")
    )
    server = _start(
        url,
        fake_openai,
        request.param,
        tmp,
        continuation_after_seconds=0.3,
        continuation_token_ttl_seconds=1.0,
        continuation_max_hops=2,
        retention_interval_seconds=0,
    )
    yield server
    server.thread.stop()


def _count(server: Junction, table: str, value: str, column: str = "project_id") -> int:
    sql = f"SELECT COUNT(*) FROM {table} WHERE {column} = $1"
    return int(query(server.database_url, sql, value)[0][0])


def _default_project(server: Junction) -> str:
    sql = "SELECT project_id FROM api_keys WHERE key_hash = $1"
    return str(query(server.database_url, sql, hash_key(API_KEY))[0][0])


def _run(server: Junction, coro: object) -> object:
    loop = server.thread.state.loop
    return asyncio.run_coroutine_threadsafe(coro, loop).result(30)  # type: ignore[arg-type]


def _wait_completed(client: genai.Client, interaction_id: str) -> None:
    deadline = time.monotonic() + 10
    while client.interactions.get(interaction_id).status != "completed":
        assert time.monotonic() < deadline
        time.sleep(0.1)


def test_a_run_takes_at_most_max_hops(limited: Junction) -> None:
    project_id = _default_project(limited)
    client = limited.client()
    hop = client.interactions.create(model="offline/echo", input=SLOW, automatic_continuation=False)
    run_id = hop.id
    for _ in range(2):
        assert hop.status == "requires_continuation"
        hop = client.interactions.create(
            model="offline/echo",
            continuation_token=hop.continuation_token,
            previous_interaction_id=hop.id,
            automatic_continuation=False,
        )
    assert hop.status == "requires_continuation"
    interactions = _count(limited, "interactions", project_id)
    with pytest.raises(gerr.BadRequestError) as info:
        client.interactions.create(
            model="offline/echo",
            continuation_token=hop.continuation_token,
            previous_interaction_id=hop.id,
            automatic_continuation=False,
        )
    assert f"the run of interaction '{run_id}' has been continued 2 times" in str(info.value)
    assert "continuation_max_hops" in str(info.value)
    assert _count(limited, "interactions", project_id) == interactions
    # the run goes on by itself, and its first interaction shows it
    assert client.interactions.get(run_id).status == "in_progress"


def test_tokens_expire_and_are_purged_with_their_hops(limited: Junction) -> None:
    project_id = _default_project(limited)
    client = limited.client()
    first = client.interactions.create(
        model="offline/echo", input=SLOW, automatic_continuation=False
    )
    second = client.interactions.create(
        model="offline/echo",
        continuation_token=first.continuation_token,
        previous_interaction_id=first.id,
        automatic_continuation=False,
    )
    assert second.status == "requires_continuation"
    assert _count(limited, "continuation_tokens", first.id, "run_id") == 2
    assert _count(limited, "continuation_hops", first.id, "run_id") == 1
    # hop rows, and the tokens they issued, go with their interaction
    retention = limited.thread.state.services.retention
    _run(limited, retention.rows.delete_interactions(project_id, [second.id]))
    assert _count(limited, "continuation_hops", first.id, "run_id") == 0
    assert _count(limited, "continuation_tokens", first.id, "run_id") == 1  # the first, used
    # an unused token expires
    third = client.interactions.create(
        model="offline/echo", input=SLOW, automatic_continuation=False
    )
    time.sleep(1.1)
    with pytest.raises(gerr.BadRequestError) as info:
        client.interactions.create(
            model="offline/echo",
            continuation_token=third.continuation_token,
            previous_interaction_id=third.id,
            automatic_continuation=False,
        )
    assert "this continuation_token has expired (continuation_token_ttl_seconds)" in str(info.value)
    assert f"GET interaction '{third.id}'" in str(info.value)
    # the retention pass deletes expired tokens (used or not), whatever the policy
    done = _run(limited, retention.purge_project(project_id))
    assert done["continuation_tokens"] >= 2  # type: ignore[index]
    assert _count(limited, "continuation_tokens", first.id, "run_id") == 0
    assert _count(limited, "continuation_tokens", third.id, "run_id") == 0


def test_deleting_project_data_deletes_continuation_rows(limited: Junction) -> None:
    key, project_id = new_project(limited, f"cont-delete-{limited.backend}")
    client = limited.client(key)
    first = client.interactions.create(
        model="offline/echo", input=SLOW, automatic_continuation=False
    )
    client.interactions.create(
        model="offline/echo",
        continuation_token=first.continuation_token,
        previous_interaction_id=first.id,
        automatic_continuation=False,
    )
    _wait_completed(client, first.id)
    assert _count(limited, "continuation_hops", project_id) == 1
    assert _count(limited, "continuation_tokens", project_id) == 2
    retention = limited.thread.state.services.retention
    _run(limited, retention.delete_project_data(project_id))
    assert _count(limited, "continuation_tokens", project_id) == 0
    assert _count(limited, "continuation_hops", project_id) == 0
