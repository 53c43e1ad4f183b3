"""Webhook delivery limits, on SQLite and PostgreSQL, against a server with small limits:
pending deliveries per webhook (``JUNCTION_WEBHOOK_MAX_PENDING``: further events are
dropped, ``:ping`` and redeliver answer 409), the attempt timeout
(``JUNCTION_WEBHOOK_TIMEOUT_SECONDS``: recorded as an error, retried) and the response
bytes read (``JUNCTION_WEBHOOK_MAX_RESPONSE_BYTES``: a receiver answering an endless body
is still acknowledged)."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from typing import Any

import pytest
from google import genai

from junction.notify import outbox
from junction.testing.fake_openai import FakeOpenAI
from junction.testing.webhook_receiver import WebhookReceiver
from tests.conftest import Junction
from tests.notify.conftest import FAST, rest, wait_for, webhook_server

MAX_PENDING = 2
TIMEOUT_SECONDS = 2
LIMITED = {
    **FAST,
    "JUNCTION_WEBHOOK_MAX_PENDING": str(MAX_PENDING),
    "JUNCTION_WEBHOOK_TIMEOUT_SECONDS": str(TIMEOUT_SECONDS),
    "JUNCTION_WEBHOOK_MAX_RESPONSE_BYTES": "1024",
    # pending deliveries stay pending for the whole test; nothing is disabled
    "JUNCTION_WEBHOOK_RETRY_WINDOW_SECONDS": "600",
    "JUNCTION_WEBHOOK_DISABLE_AFTER_FAILURES": "0",
}


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def limited(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    fake_openai: FakeOpenAI,
) -> Iterator[Junction]:
    # its own database (as every webhook server): deliveries its long retry window keeps
    # pending stay out of the other webhook servers' outboxes
    previous = outbox.max_pending()  # a per-process limit: restored for other servers
    try:
        yield from webhook_server(request, tmp_path_factory, fake_openai, LIMITED)
    finally:
        outbox.configure(max_pending=previous)


def _project(junction: Junction) -> tuple[Junction, genai.Client]:
    """A fresh project (its own webhooks only) and an SDK client for it."""
    name = f"hook-limits-{secrets.token_hex(3)}"
    made = junction.cli("keys", "create", "--project", name)
    assert made.returncode == 0, made.stderr
    key = made.stdout.split()[1]
    scoped = Junction(junction.thread, junction.backend, junction.database_url, key)
    return scoped, scoped.client()


def _log(junction: Junction, hook_id: str) -> list[dict[str, Any]]:
    response = rest(junction, "GET", f"/webhooks/{hook_id}/deliveries")
    assert response.status_code == 200, response.text
    deliveries: list[dict[str, Any]] = response.json()["deliveries"]
    return deliveries


def _ids_received(receiver: WebhookReceiver, path: str) -> list[str]:
    return [json.loads(d.body)["data"]["id"] for d in receiver.received(path, ok=True)]


def test_events_beyond_max_pending_are_dropped_and_ping_and_redeliver_answer_409(
    limited: Junction, receiver: WebhookReceiver
) -> None:
    junction, client = _project(limited)
    uri, path = receiver.fresh()
    hook = client.webhooks.create(uri=uri, subscribed_events=["interaction.completed"])
    assert hook.id
    first = client.interactions.create(model="offline/echo", input="delivered")
    wait_for(lambda: _ids_received(receiver, path) == [first.id], what="the first delivery")
    done = wait_for(
        lambda: [d for d in _log(junction, hook.id) if d["state"] == "delivered"],
        what="the first delivery logged as delivered",
    )

    receiver.script[path] = [503] * 10_000  # from now on nothing is acknowledged
    kept = [client.interactions.create(model="offline/echo", input=f"kept {i}") for i in (1, 2)]
    dropped = client.interactions.create(model="offline/echo", input="dropped")
    assert dropped.status == "completed"  # the interaction itself is unaffected
    log = _log(junction, hook.id)
    assert len(log) == 1 + MAX_PENDING
    assert sorted(d["state"] for d in log) == ["delivered", "pending", "pending"]

    ping = rest(junction, "POST", f"/webhooks/{hook.id}:ping")
    assert ping.status_code == 409, ping.text
    assert "JUNCTION_WEBHOOK_MAX_PENDING" in ping.json()["error"]["message"]
    again = rest(junction, "POST", f"/webhooks/{hook.id}/deliveries/{done[0]['id']}:redeliver")
    assert again.status_code == 409, again.text
    assert "JUNCTION_WEBHOOK_MAX_PENDING" in again.json()["error"]["message"]
    # nothing was queued by the refusals
    after = _log(junction, hook.id)
    assert len(after) == 1 + MAX_PENDING
    assert next(d for d in after if d["id"] == done[0]["id"])["state"] == "delivered"

    receiver.script[path] = []  # acknowledge again: the pending ones go through
    wait_for(lambda: len(_ids_received(receiver, path)) == 3, what="the kept deliveries")
    assert sorted(_ids_received(receiver, path)) == sorted([first.id, *(k.id for k in kept)])
    wait_for(
        lambda: all(d["state"] == "delivered" for d in _log(junction, hook.id)),
        what="every logged delivery delivered",
    )
    assert dropped.id not in _ids_received(receiver, path)
    # room again: ping is accepted now
    assert rest(junction, "POST", f"/webhooks/{hook.id}:ping").status_code == 200


def test_an_attempt_past_the_timeout_is_recorded_and_retried(
    limited: Junction, receiver: WebhookReceiver
) -> None:
    junction, client = _project(limited)
    uri, path = receiver.fresh()
    hook = client.webhooks.create(uri=uri, subscribed_events=["interaction.completed"])
    assert hook.id
    receiver.delays[path] = 600.0  # stalls far past the timeout
    done = client.interactions.create(model="offline/echo", input="stalled")

    def timed_out() -> list[dict[str, Any]]:
        return [
            d
            for d in _log(junction, hook.id)
            if any("timed out" in a.get("error", "") for a in d["attempts"])
        ]

    (stalled,) = wait_for(timed_out, what="an attempt recorded as timed out")
    attempt = next(a for a in stalled["attempts"] if "error" in a)
    assert attempt["error"] == f"timed out after {TIMEOUT_SECONDS} s"
    assert "status_code" not in attempt
    assert stalled["state"] == "pending" and stalled["next_attempt_time"]
    receiver.wait(2, path)  # the retry reached the receiver

    receiver.delays[path] = 0.0  # answers at once now (releases stalled requests too)
    (delivered,) = wait_for(
        lambda: [d for d in _log(junction, hook.id) if d["state"] == "delivered"],
        what="the retried delivery acknowledged",
    )
    assert delivered["attempt_count"] >= 2 and delivered["last_status_code"] == 200
    assert json.loads(receiver.received(path)[0].body)["data"]["id"] == done.id


def test_an_endless_response_body_is_not_read_and_the_delivery_acknowledged(
    limited: Junction, receiver: WebhookReceiver
) -> None:
    junction, client = _project(limited)
    uri, path = receiver.fresh()
    receiver.endless.add(path)  # 200, then a body that never ends
    hook = client.webhooks.create(uri=uri, subscribed_events=["interaction.completed"])
    assert hook.id
    client.interactions.create(model="offline/echo", input="chatty receiver")
    # reading the whole body could never finish: an acknowledgement shows the read stopped
    (delivered,) = wait_for(
        lambda: [d for d in _log(junction, hook.id) if d["state"] == "delivered"],
        what="the delivery acknowledged",
    )
    assert delivered["last_status_code"] == 200 and "last_error" not in delivered
    last = delivered["attempts"][-1]
    assert last["status_code"] == 200 and "error" not in last
    # and Junction hung up on the endless body instead of draining it
    wait_for(lambda: path in receiver.cut, what="the endless answer cut off")
