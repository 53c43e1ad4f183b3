"""Deliveries end to end, on SQLite and PostgreSQL: interactions end, a receiver on
loopback gets signed events and verifies every one with the `standardwebhooks` package
(static webhooks) or PyJWT against Junction's JWKS (dynamic webhooks)."""

from __future__ import annotations

import base64
import hashlib
import json
import time
from typing import Any

import httpx2 as httpx
import jwt
import pytest
from google import genai
from standardwebhooks import Webhook, WebhookVerificationError

from junction.testing.fake_openai import FakeOpenAI
from junction.testing.fakeserver import Reply
from junction.testing.webhook_receiver import Delivery, WebhookReceiver
from tests.conftest import SECRET_KEY, Junction
from tests.notify.conftest import rest, wait_for

ALL = [
    "interaction.completed",
    "interaction.failed",
    "interaction.requires_action",
    "interaction.cancelled",
]
WEATHER = {"type": "function", "name": "get_weather", "parameters": {"type": "object"}}


def verified(delivery: Delivery, secret: str) -> dict[str, Any]:
    payload: dict[str, Any] = Webhook(secret).verify(delivery.body, delivery.headers)
    return payload


def make_hook(
    client: genai.Client, receiver: WebhookReceiver, events: list[str] = ALL
) -> tuple[str, str, str]:
    uri, path = receiver.fresh()
    created = client.webhooks.create(uri=uri, subscribed_events=events)
    assert created.id and created.new_signing_secret
    return created.id, created.new_signing_secret, path


def test_each_ending_raises_its_event_signed_and_verifiable(
    hclient: genai.Client, receiver: WebhookReceiver
) -> None:
    _, secret, path = make_hook(hclient, receiver)
    done = hclient.interactions.create(model="offline/echo", input="hi", background=True)
    asks = hclient.interactions.create(
        model="offline/echo", input="/call get_weather {}", tools=[WEATHER], background=True
    )
    fails = hclient.interactions.create(model="offline/echo", input="/error 400", background=True)
    slow = hclient.interactions.create(model="offline/echo", input="/sleep 30", background=True)
    hclient.interactions.cancel(slow.id)
    got = receiver.wait(4, path)
    events = {}
    for delivery in got:
        payload = verified(delivery, secret)
        assert payload["version"] == "v1" and payload["timestamp"].endswith("Z")
        assert delivery.headers["webhook-id"].startswith("msg_")
        assert abs(int(delivery.headers["webhook-timestamp"]) - time.time()) < 60
        events[payload["data"]["id"]] = payload
    assert events[done.id]["type"] == "interaction.completed"
    assert events[done.id]["data"] == {
        "id": done.id,
        "object": "interaction",
        "status": "completed",
    }
    assert events[asks.id]["type"] == "interaction.requires_action"
    assert events[asks.id]["data"]["status"] == "requires_action"
    assert events[fails.id]["type"] == "interaction.failed"
    assert events[fails.id]["data"]["status"] == "failed"
    assert events[fails.id]["data"]["error_code"]
    assert events[slow.id]["type"] == "interaction.cancelled"
    # the event matches what the API reports
    for interaction_id, payload in events.items():
        assert hclient.interactions.get(interaction_id).status == payload["data"]["status"]
    assert len({d.headers["webhook-id"] for d in got}) == 4


def test_junction_statuses_map_onto_googles_events(
    hclient: genai.Client, receiver: WebhookReceiver, openai_fake: FakeOpenAI
) -> None:
    _, secret, path = make_hook(hclient, receiver)
    openai_fake.enqueue(Reply(text="cut sho", finish="length"))
    cut = hclient.interactions.create(model="openai/small", input="x", background=True)
    (delivery,) = receiver.wait(1, path)
    payload = verified(delivery, secret)
    assert hclient.interactions.get(cut.id).status == "incomplete"
    assert payload["type"] == "interaction.completed"
    assert payload["data"] == {"id": cut.id, "object": "interaction", "status": "incomplete"}


def test_only_subscribed_events_are_sent_and_synchronous_calls_count_too(
    hclient: genai.Client, receiver: WebhookReceiver
) -> None:
    _, secret, failed_path = make_hook(hclient, receiver, ["interaction.failed"])
    _, _, completed_path = make_hook(hclient, receiver, ["interaction.completed"])
    ok = hclient.interactions.create(model="offline/echo", input="sync call")
    assert ok.status == "completed"
    bad = hclient.interactions.create(model="offline/echo", input="/error 400", background=True)
    (failure,) = receiver.wait(1, failed_path)
    assert verified(failure, secret)["data"]["id"] == bad.id
    receiver.wait(1, completed_path)
    time.sleep(0.5)  # anything else sent alongside the failure would have arrived by now
    ids = [json.loads(d.body)["data"]["id"] for d in receiver.received(completed_path)]
    assert ids == [ok.id]


def test_rotation_signs_with_both_secrets_then_only_the_new_one(
    hclient: genai.Client, receiver: WebhookReceiver
) -> None:
    hook_id, old, path = make_hook(hclient, receiver, ["interaction.completed"])
    rotated = hclient.webhooks.rotate_signing_secret(
        hook_id, revocation_behavior="revoke_previous_secrets_after_h24"
    )
    new = rotated.secret
    assert new and new != old and new.startswith("whsec_")
    shown = hclient.webhooks.get(hook_id).signing_secrets or []
    assert len(shown) == 2 and shown[0].expire_time is None and shown[1].expire_time is not None
    hclient.interactions.create(model="offline/echo", input="after rotation", background=True)
    (during,) = receiver.wait(1, path)
    assert len(during.headers["webhook-signature"].split(" ")) == 2
    verified(during, old)
    verified(during, new)

    latest = hclient.webhooks.rotate_signing_secret(
        hook_id, revocation_behavior="revoke_previous_secrets_immediately"
    ).secret
    assert latest
    assert len(hclient.webhooks.get(hook_id).signing_secrets or []) == 1
    hclient.interactions.create(model="offline/echo", input="revoked", background=True)
    after = receiver.wait(2, path)[1]
    assert len(after.headers["webhook-signature"].split(" ")) == 1
    verified(after, latest)
    for stale in (old, new):
        with pytest.raises(WebhookVerificationError):
            verified(after, stale)


def test_receiver_down_then_up_gets_the_message_with_the_same_id(
    hooks: Junction, hclient: genai.Client
) -> None:
    down = WebhookReceiver().start()
    port = down.port
    uri, path = down.fresh()
    created = hclient.webhooks.create(uri=uri, subscribed_events=["interaction.completed"])
    secret = created.new_signing_secret
    assert secret
    down.script[path] = [503, 500]
    ended = hclient.interactions.create(model="offline/echo", input="x", background=True)
    refused = down.wait(2, path)
    down.stop()  # now nothing listens: connection refused
    log = wait_for(
        lambda: [
            d
            for d in rest(hooks, "GET", f"/webhooks/{created.id}/deliveries").json()["deliveries"]
            if d["attempt_count"] >= 3
        ],
        what="a refused attempt",
    )[0]
    assert log["state"] == "pending" and "next_attempt_time" in log
    assert [a.get("status_code") for a in log["attempts"][:2]] == [503, 500]
    assert "status_code" not in log["attempts"][2] and log["attempts"][2]["error"]
    up = WebhookReceiver()
    up.script[path] = []
    up.start(port)
    try:
        (delivered,) = up.wait(1, path)
        payload = verified(delivered, secret)
        assert payload["data"]["id"] == ended.id
        ids = {d.headers["webhook-id"] for d in [*refused, delivered]}
        assert ids == {log["message_id"]}
        final = wait_for(
            lambda: [
                d
                for d in rest(hooks, "GET", f"/webhooks/{created.id}/deliveries").json()[
                    "deliveries"
                ]
                if d["state"] == "delivered"
            ],
            what="the delivery log to show it delivered",
        )[0]
        assert final["last_status_code"] == 200 and "next_attempt_time" not in final
    finally:
        up.stop()


def test_failing_endpoint_is_given_up_then_disabled(
    hooks: Junction, hclient: genai.Client, receiver: WebhookReceiver
) -> None:
    hook_id, _, path = make_hook(hclient, receiver, ["interaction.completed"])
    receiver.script[path] = [500] * 1000
    for _ in range(2):  # JUNCTION_WEBHOOK_DISABLE_AFTER_FAILURES=2 in this server
        hclient.interactions.create(model="offline/echo", input="x", background=True)
    wait_for(
        lambda: hclient.webhooks.get(hook_id).state == "disabled_due_to_failed_deliveries",
        timeout=40,
        what="auto-disable",
    )
    log = rest(hooks, "GET", f"/webhooks/{hook_id}/deliveries").json()["deliveries"]
    assert [d["state"] for d in log] == ["failed", "failed"]
    assert all(a["status_code"] == 500 for d in log for a in d["attempts"])
    assert all(d["attempt_count"] >= 3 for d in log)
    # a disabled webhook gets nothing new
    seen = len(receiver.received(path))
    hclient.interactions.create(model="offline/echo", input="x")
    hclient.webhooks.ping(hook_id)  # a ping still goes out: it tests the endpoint
    receiver.wait(seen + 1, path)
    time.sleep(0.5)
    assert [json.loads(d.body)["type"] for d in receiver.received(path)[seen:]] == ["webhook.ping"]
    assert len(rest(hooks, "GET", f"/webhooks/{hook_id}/deliveries").json()["deliveries"]) == 3
    # re-enabled, it gets events again
    receiver.script[path] = []
    assert hclient.webhooks.update(hook_id, state="enabled", update_mask="state").state == "enabled"
    again = hclient.interactions.create(model="offline/echo", input="x", background=True)
    delivered = receiver.wait(1, path, ok=True)
    assert json.loads(delivered[-1].body)["data"]["id"] in (again.id, hook_id)


def test_redirects_are_not_followed(
    hooks: Junction, hclient: genai.Client, receiver: WebhookReceiver
) -> None:
    _, _, path = make_hook(hclient, receiver, ["interaction.completed"])
    receiver.script[path] = [302]
    hclient.interactions.create(model="offline/echo", input="x", background=True)
    got = receiver.wait(2, path)  # the 302, then the retry to the same URL
    assert [d.status for d in got[:2]] == [302, 200]
    assert receiver.received("/elsewhere") == []
    assert got[0].headers["webhook-id"] == got[1].headers["webhook-id"]


def test_ping_log_and_redeliver(
    hooks: Junction, hclient: genai.Client, receiver: WebhookReceiver
) -> None:
    hook_id, secret, path = make_hook(hclient, receiver, ["interaction.completed"])
    assert hclient.webhooks.ping(hook_id) is not None
    (ping,) = receiver.wait(1, path)
    payload = verified(ping, secret)
    assert payload["type"] == "webhook.ping" and payload["data"]["id"] == hook_id
    log = wait_for(
        lambda: [
            d
            for d in rest(hooks, "GET", f"/webhooks/{hook_id}/deliveries").json()["deliveries"]
            if d["state"] == "delivered"
        ],
        what="the ping in the log",
    )[0]
    assert log["attempts"][0]["status_code"] == 200
    again = rest(hooks, "POST", f"/webhooks/{hook_id}/deliveries/{log['id']}:redeliver")
    assert again.status_code == 200, again.text
    second = receiver.wait(2, path)[1]
    assert second.headers["webhook-id"] == ping.headers["webhook-id"]
    verified(second, secret)
    missing = rest(hooks, "POST", f"/webhooks/{hook_id}/deliveries/nope:redeliver")
    assert missing.status_code == 404


def _jwks_client(hooks: Junction) -> jwt.PyJWKClient:
    return jwt.PyJWKClient(f"{hooks.url}/.well-known/jwks.json", cache_keys=False, lifespan=1)


def verify_jwt(hooks: Junction, delivery: Delivery, audience: str) -> dict[str, Any]:
    token = delivery.headers["webhook-signature"]
    key = _jwks_client(hooks).get_signing_key_from_jwt(token).key
    claims: dict[str, Any] = jwt.decode(
        token, key, algorithms=["RS256"], audience=audience, issuer="junction"
    )
    digest = base64.urlsafe_b64encode(hashlib.sha256(delivery.body).digest()).rstrip(b"=")
    assert claims["body_sha256"] == digest.decode()
    assert claims["webhook_id"] == delivery.headers["webhook-id"]
    return claims


def test_dynamic_webhooks_replace_static_ones_and_are_signed_with_jwt(
    hooks: Junction, hclient: genai.Client, receiver: WebhookReceiver
) -> None:
    _, _, static_path = make_hook(hclient, receiver, ["interaction.completed"])
    one, one_path = receiver.fresh("dyn")
    two, two_path = receiver.fresh("dyn")
    metadata = {"tenant": "acme", "job": 7}
    ended = hclient.interactions.create(
        model="offline/echo",
        input="x",
        background=True,
        webhook_config={"uris": [one, two], "user_metadata": metadata},
    )
    for uri, path in ((one, one_path), (two, two_path)):
        (delivery,) = receiver.wait(1, path)
        verify_jwt(hooks, delivery, uri)
        payload = json.loads(delivery.body)
        assert payload["type"] == "interaction.completed"
        assert payload["data"]["id"] == ended.id
        assert payload["data"]["user_metadata"] == metadata
        with pytest.raises(jwt.InvalidAudienceError):
            key = _jwks_client(hooks).get_signing_key_from_jwt(
                delivery.headers["webhook-signature"]
            )
            jwt.decode(
                delivery.headers["webhook-signature"],
                key.key,
                algorithms=["RS256"],
                audience="https://attacker.example/hook",
            )
    # the project's static webhook did not hear about this interaction
    later = hclient.interactions.create(model="offline/echo", input="y", background=True)
    static_ids = [json.loads(d.body)["data"]["id"] for d in receiver.wait(1, static_path)]
    time.sleep(0.3)
    static_ids = [json.loads(d.body)["data"]["id"] for d in receiver.received(static_path)]
    assert later.id in static_ids and ended.id not in static_ids


def test_signing_key_rotation_from_the_cli(
    hooks: Junction,
    hclient: genai.Client,
    receiver: WebhookReceiver,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    before = {k["kid"] for k in httpx.get(hooks.url + "/.well-known/jwks.json").json()["keys"]}
    monkeypatch.delenv("JUNCTION_SECRET_KEY", raising=False)
    wrong = hooks.cli(
        "webhook-keys", "rotate", "--data-dir", str(hooks.thread.settings.data_dir / "x")
    )
    assert wrong.returncode == 1 and "JUNCTION_SECRET_KEY" in wrong.stderr
    monkeypatch.setenv("JUNCTION_SECRET_KEY", SECRET_KEY)
    rotated = hooks.cli("webhook-keys", "rotate")
    assert rotated.returncode == 0, rotated.stderr
    listing = hooks.cli("webhook-keys", "list").stdout.splitlines()
    new_kid = next(line.split("\t")[0] for line in listing if "\tactive\t" in line)
    assert new_kid not in before
    time.sleep(5.5)  # processes reload their keys every 5 s
    uri, path = receiver.fresh("dyn")
    hclient.interactions.create(
        model="offline/echo", input="x", background=True, webhook_config={"uris": [uri]}
    )
    (delivery,) = receiver.wait(1, path)
    assert jwt.get_unverified_header(delivery.headers["webhook-signature"])["kid"] == new_kid
    verify_jwt(hooks, delivery, uri)
    after = {k["kid"] for k in httpx.get(hooks.url + "/.well-known/jwks.json").json()["keys"]}
    assert before | {new_kid} == after  # retired keys still verify older deliveries
