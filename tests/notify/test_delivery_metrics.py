"""Webhook delivery attempts are counted in /metrics by outcome: a receiver that fails
once and then accepts gives one ``retry`` and one ``delivered``."""

from __future__ import annotations

import httpx2 as httpx
from google import genai
from prometheus_client.parser import text_string_to_metric_families

from junction.testing.webhook_receiver import WebhookReceiver
from tests.conftest import Junction
from tests.notify.conftest import METRICS_TOKEN


def attempts(junction: Junction) -> dict[str, float]:
    response = httpx.get(
        f"{junction.url}/metrics", headers={"authorization": f"Bearer {METRICS_TOKEN}"}
    )
    assert response.status_code == 200, response.text
    out: dict[str, float] = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            if sample.name == "junction_webhook_deliveries_total":
                out[sample.labels["outcome"]] = sample.value
    return out


def test_attempts_are_counted_by_outcome(
    hooks: Junction, hclient: genai.Client, receiver: WebhookReceiver
) -> None:
    before = attempts(hooks)
    uri, path = receiver.fresh("metrics")
    hook = hclient.webhooks.create(uri=uri, subscribed_events=["interaction.completed"])
    receiver.script[path] = [503]
    hclient.interactions.create(model="offline/echo", input="count me", background=True)
    got = receiver.wait(1, path, ok=True)
    assert [d.headers["webhook-id"] for d in receiver.received(path)] == [
        got[0].headers["webhook-id"]
    ] * 2
    after = attempts(hooks)
    assert after.get("retry", 0) - before.get("retry", 0) == 1
    assert after.get("delivered", 0) - before.get("delivered", 0) == 1
    hclient.webhooks.delete(hook.id)
