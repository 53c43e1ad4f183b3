"""Trigger execution outcomes reach webhooks: a trigger run now ends, and a receiver on
loopback gets a signed ``trigger.execution.completed`` event (verified with the
`standardwebhooks` package), on SQLite and PostgreSQL."""

from __future__ import annotations

from google import genai
from standardwebhooks import Webhook

from junction.testing.webhook_receiver import WebhookReceiver
from tests.notify.conftest import wait_for
from tests.schedule.conftest import agent_template


def test_a_trigger_execution_outcome_is_delivered_signed(
    hclient: genai.Client, receiver: WebhookReceiver
) -> None:
    uri, path = receiver.fresh("trigger")
    hook = hclient.webhooks.create(
        uri=uri, subscribed_events=["trigger.execution.completed", "trigger.execution.skipped"]
    )
    assert hook.new_signing_secret
    trigger = hclient.triggers.create(
        schedule="0 3 * * *", time_zone="UTC", interaction=agent_template("from a trigger")
    )
    run = hclient.triggers.run(trigger.id)
    assert run.id and run.interaction_id
    (delivery,) = receiver.wait(1, path)
    payload = Webhook(hook.new_signing_secret).verify(delivery.body, delivery.headers)
    assert payload["type"] == "trigger.execution.completed"
    assert payload["data"]["id"] == run.id
    assert payload["data"]["trigger_id"] == trigger.id
    assert payload["data"]["status"] == "completed"
    assert payload["data"]["interaction_id"] == run.interaction_id
    # the event matches what the API reports, and the interaction it names really ended
    listed = wait_for(
        lambda: [
            e
            for e in hclient.triggers.list_executions(trigger.id).trigger_executions or []
            if e.status == "completed"
        ],
        what="the execution to be listed completed",
    )
    assert listed[0].id == run.id
    assert hclient.interactions.get(run.interaction_id).status == "completed"
    hclient.triggers.delete(trigger.id)
    hclient.webhooks.delete(hook.id)
