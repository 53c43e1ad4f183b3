"""What a synchronous create writes on SQLite, statement by statement (SQLite's own trace
of the server's connection): one transaction holding the interaction, its steps and
events and the run's usage; no webhook fan-out for a project without webhooks; and a
project that has one gets its delivery in that same transaction."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from junction.config import WebhookSettings
from junction.testing.fake_openai import FakeOpenAI
from tests.conftest import Junction, _start


@pytest.fixture(scope="module")
def server(fake_openai: FakeOpenAI, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Junction]:
    tmp: Path = tmp_path_factory.mktemp("statements")
    url = f"sqlite:///{tmp / 'junction.db'}"
    # webhooks to loopback allowed: the test's webhook points at a closed local port
    hooks = WebhookSettings(allow_private=True, allow_http=True, retry_base_seconds=60)
    junction = _start(url, fake_openai, "sqlite", tmp, webhooks=hooks)
    yield junction
    junction.thread.stop()


def traced_create(junction: Junction) -> tuple[str, list[str]]:
    """One synchronous create; the statements of the transaction that wrote it."""
    client = junction.client()
    client.interactions.create(model="openai/gpt-x", input="warm up")
    raw = junction.thread.app.state.system.db._conn.raw
    seen: list[str] = []
    raw.set_trace_callback(seen.append)
    try:
        created = client.interactions.create(model="openai/gpt-x", input="hello")
    finally:
        raw.set_trace_callback(None)
    start = next(i for i, s in enumerate(seen) if s.startswith("INSERT INTO interactions"))
    begin = max(i for i, s in enumerate(seen[:start]) if s == "BEGIN IMMEDIATE")
    end = start + seen[start:].index("COMMIT")
    return created.id, seen[begin : end + 1]


def test_a_create_is_one_transaction_with_its_usage_and_no_fanout(server: Junction) -> None:
    _, statements = traced_create(server)
    heads = [" ".join(s.split()[:3]) for s in statements]
    assert heads.count("INSERT INTO project_usage") == 1
    assert heads.count("INSERT INTO usage_daily") == 1
    assert "INSERT INTO webhook_deliveries" not in heads
    assert heads.count("BEGIN IMMEDIATE") == 1


def test_a_project_with_a_webhook_gets_its_delivery_in_that_transaction(
    server: Junction,
) -> None:
    server.client().webhooks.create(
        uri="http://127.0.0.1:9/hook", subscribed_events=["interaction.completed"]
    )
    interaction_id, statements = traced_create(server)
    heads = [" ".join(s.split()[:3]) for s in statements]
    assert "INSERT INTO webhook_deliveries" in heads
    db = server.thread.app.state.system.db._conn.raw
    rows = db.execute(
        "SELECT payload FROM webhook_deliveries WHERE event_type = 'interaction.completed'"
    ).fetchall()
    assert any(interaction_id in row[0] for row in rows)
