"""Webhook deliveries survive kill -9 of the process sending them (a `junction worker`
or a `junction serve` with workers): after a restart the message is delivered, with the
same webhook-id as the attempt the dead process had under way."""

from __future__ import annotations

import pytest
from standardwebhooks import Webhook

from junction.testing.webhook_receiver import WebhookReceiver
from tests.cluster.conftest import Cluster
from tests.conftest import SECRET_KEY


@pytest.fixture
def fast_webhooks(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {
        "JUNCTION_SECRET_KEY": SECRET_KEY,
        "JUNCTION_WEBHOOK_ALLOW_PRIVATE": "1",
        "JUNCTION_WEBHOOK_ALLOW_HTTP": "1",
        "JUNCTION_WEBHOOK_TIMEOUT_SECONDS": "1",  # an attempt's lease: 1 s + 5 s margin
        "JUNCTION_WEBHOOK_RETRY_BASE_SECONDS": "0.2",
    }.items():
        monkeypatch.setenv(name, value)


@pytest.mark.parametrize("sender", ["worker", "serve"])
def test_kill9_of_the_sender_loses_no_delivery(
    cluster: Cluster, fast_webhooks: None, sender: str
) -> None:
    with WebhookReceiver() as receiver:
        api = cluster.api() if sender == "worker" else cluster.api(workers=4)
        doomed = cluster.worker() if sender == "worker" else api
        client = cluster.client(api)
        uri, path = receiver.fresh()
        hook = client.webhooks.create(uri=uri, subscribed_events=["interaction.completed"])
        assert hook.new_signing_secret
        receiver.delays[path] = 120  # the receiver hangs: the attempt is under way
        ended = client.interactions.create(model="offline/echo", input="x", background=True)
        (first,) = receiver.wait(1, path)
        doomed.kill9()
        receiver.delays[path] = 0
        if sender == "worker":
            cluster.worker()
        else:
            client = cluster.client(cluster.api(workers=4))
        delivered = receiver.wait(2, path, timeout=60)[1]  # sent again after the restart
        payload = Webhook(hook.new_signing_secret).verify(delivered.body, delivered.headers)
        assert payload["data"]["id"] == ended.id
        assert delivered.headers["webhook-id"] == first.headers["webhook-id"]
        assert client.interactions.get(ended.id).status == "completed"


def test_cancelling_a_queued_interaction_is_delivered_by_a_worker(
    cluster: Cluster, fast_webhooks: None
) -> None:
    """No process runs background work when the queued interaction is cancelled (the
    event is written with the cancellation, by the API process); a worker started later
    delivers it."""
    with WebhookReceiver() as receiver:
        api = cluster.api()
        client = cluster.client(api)
        uri, path = receiver.fresh()
        hook = client.webhooks.create(uri=uri, subscribed_events=["interaction.cancelled"])
        assert hook.new_signing_secret
        queued = client.interactions.create(model="offline/echo", input="x", background=True)
        assert queued.status == "queued"
        assert client.interactions.cancel(queued.id).status == "cancelled"
        assert receiver.received(path) == []
        cluster.worker()
        (delivered,) = receiver.wait(1, path, timeout=60)
        payload = Webhook(hook.new_signing_secret).verify(delivered.body, delivered.headers)
        assert payload["type"] == "interaction.cancelled"
        assert payload["data"]["id"] == queued.id
