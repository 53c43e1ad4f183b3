"""The webhooks API through the official SDK: create / get / list / update / delete /
ping / rotate, secrets shown once, project scoping, bad input, and the destination
policy (SSRF refusals at create time) on a server with the default, strict policy."""

from __future__ import annotations

import base64

import pytest
from google import genai
from google.genai import _interactions_errors as gerr

from junction.testing.webhook_receiver import WebhookReceiver
from tests.conftest import Junction
from tests.notify.conftest import rest

EVENTS = ["interaction.completed", "interaction.failed"]


def test_create_shows_the_secret_once_then_only_truncated(
    hclient: genai.Client, receiver: WebhookReceiver
) -> None:
    uri, _ = receiver.fresh()
    created = hclient.webhooks.create(uri=uri, subscribed_events=EVENTS, name="orders")
    secret = created.new_signing_secret
    assert secret is not None and secret.startswith("whsec_")
    assert len(base64.b64decode(secret.removeprefix("whsec_"))) == 32
    assert created.state == "enabled" and created.uri == uri and created.name == "orders"
    assert created.subscribed_events == EVENTS
    fetched = hclient.webhooks.get(created.id)
    assert fetched.new_signing_secret is None
    assert fetched.signing_secrets is not None and len(fetched.signing_secrets) == 1
    shown = fetched.signing_secrets[0].truncated_secret
    assert shown is not None and shown.endswith(secret[-4:]) and secret not in shown
    raw = rest_get(hclient, created.id)
    assert secret not in raw
    listed = hclient.webhooks.list()
    assert created.id in [w.id for w in listed.webhooks or []]
    assert all(w.new_signing_secret is None for w in listed.webhooks or [])


def rest_get(client: genai.Client, webhook_id: str) -> str:
    fetched = client.webhooks.get(webhook_id)
    return fetched.model_dump_json()


def test_update_with_mask_changes_only_the_named_fields(
    hclient: genai.Client, receiver: WebhookReceiver
) -> None:
    uri, _ = receiver.fresh()
    created = hclient.webhooks.create(uri=uri, subscribed_events=EVENTS, name="a")
    updated = hclient.webhooks.update(
        created.id, name="b", subscribed_events=["interaction.cancelled"], update_mask="name"
    )
    assert updated.name == "b" and updated.subscribed_events == EVENTS
    disabled = hclient.webhooks.update(created.id, state="disabled", update_mask="state")
    assert disabled.state == "disabled"
    again = hclient.webhooks.get(created.id)
    assert again.state == "disabled" and again.name == "b"


def test_list_pages(hooks: Junction, hclient: genai.Client, receiver: WebhookReceiver) -> None:
    other = hooks.cli("keys", "create", "--project", "pager-" + hooks.backend)
    assert other.returncode == 0, other.stderr
    client = hooks.client(other.stdout.split("\t")[1].strip())
    made = [
        client.webhooks.create(uri=receiver.fresh()[0], subscribed_events=EVENTS).id
        for _ in range(3)
    ]
    first = client.webhooks.list(page_size=2)
    assert [w.id for w in first.webhooks or []] == made[:2]
    assert first.next_page_token
    second = client.webhooks.list(page_size=2, page_token=first.next_page_token)
    assert [w.id for w in second.webhooks or []] == made[2:]
    assert not second.next_page_token


def test_delete_then_404(hclient: genai.Client, receiver: WebhookReceiver) -> None:
    created = hclient.webhooks.create(uri=receiver.fresh()[0], subscribed_events=EVENTS)
    hclient.webhooks.delete(created.id)
    with pytest.raises(gerr.NotFoundError):
        hclient.webhooks.get(created.id)
    with pytest.raises(gerr.NotFoundError):
        hclient.webhooks.delete(created.id)


def test_webhooks_are_scoped_to_their_project(
    hooks: Junction, hclient: genai.Client, receiver: WebhookReceiver
) -> None:
    created = hclient.webhooks.create(uri=receiver.fresh()[0], subscribed_events=EVENTS)
    made = hooks.cli("keys", "create", "--project", "stranger-" + hooks.backend)
    assert made.returncode == 0, made.stderr
    stranger = hooks.client(made.stdout.split("\t")[1].strip())
    with pytest.raises(gerr.NotFoundError):
        stranger.webhooks.get(created.id)
    with pytest.raises(gerr.NotFoundError):
        stranger.webhooks.update(created.id, name="mine", update_mask="name")
    with pytest.raises(gerr.NotFoundError):
        stranger.webhooks.rotate_signing_secret(created.id)
    with pytest.raises(gerr.NotFoundError):
        stranger.webhooks.ping(created.id)
    with pytest.raises(gerr.NotFoundError):
        stranger.webhooks.delete(created.id)
    assert created.id not in [w.id for w in stranger.webhooks.list().webhooks or []]
    assert hclient.webhooks.get(created.id).name is None


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"subscribed_events": EVENTS}, "'uri' is required"),
        ({"uri": "{uri}", "subscribed_events": []}, "subscribed_events"),
        ({"uri": "{uri}", "subscribed_events": ["Not An Event"]}, "event names look like"),
        ({"uri": "{uri}", "subscribed_events": EVENTS, "state": "broken"}, "'state'"),
        ({"uri": "ftp://example.com/x", "subscribed_events": EVENTS}, "http"),
        ({"uri": 42, "subscribed_events": EVENTS}, "'uri'"),
    ],
)
def test_bad_create_is_400_and_writes_nothing(
    hooks: Junction, receiver: WebhookReceiver, body: dict[str, object], message: str
) -> None:
    before = rest(hooks, "GET", "/webhooks?page_size=1000").json().get("webhooks", [])
    uri = receiver.fresh()[0]
    sent = {k: (uri if v == "{uri}" else v) for k, v in body.items()}
    got = rest(hooks, "POST", "/webhooks", json=sent)
    assert got.status_code == 400, got.text
    assert message in got.json()["error"]["message"]
    after = rest(hooks, "GET", "/webhooks?page_size=1000").json().get("webhooks", [])
    assert len(after) == len(before)


def test_bad_update_is_400_and_changes_nothing(
    hooks: Junction, hclient: genai.Client, receiver: WebhookReceiver
) -> None:
    created = hclient.webhooks.create(uri=receiver.fresh()[0], subscribed_events=EVENTS, name="x")
    path = f"/webhooks/{created.id}"
    for query, body, message in [
        ("?update_mask=id", {"id": "other"}, "cannot be changed"),
        ("?update_mask=state", {"state": "disabled_due_to_failed_deliveries"}, "'state'"),
        ("?update_mask=uri", {"uri": "not a url"}, "uri"),
        ("", {}, "nothing to update"),
    ]:
        got = rest(hooks, "PATCH", path + query, json=body)
        assert got.status_code == 400, got.text
        assert message in got.json()["error"]["message"]
    again = hclient.webhooks.get(created.id)
    assert (again.name, again.state, again.uri) == ("x", "enabled", created.uri)
    bad = rest(
        hooks,
        "POST",
        f"/webhooks/{created.id}:rotateSigningSecret",
        json={"revocation_behavior": "later"},
    )
    assert bad.status_code == 400
    assert len(hclient.webhooks.get(created.id).signing_secrets or []) == 1


def test_limit_per_project(hooks: Junction, receiver: WebhookReceiver) -> None:
    # the fixture's server keeps the default limit (100); a fresh project fills it
    made = hooks.cli("keys", "create", "--project", "limit-" + hooks.backend)
    client = hooks.client(made.stdout.split("\t")[1].strip())
    for _ in range(100):
        client.webhooks.create(uri=receiver.fresh()[0], subscribed_events=EVENTS)
    with pytest.raises(gerr.BadRequestError, match="JUNCTION_WEBHOOK_MAX_PER_PROJECT"):
        client.webhooks.create(uri=receiver.fresh()[0], subscribed_events=EVENTS)


# -- the default (strict) destination policy: the session server of tests/conftest.py ----
@pytest.mark.parametrize(
    ("uri", "message"),
    [
        ("http://example.com/hook", "https"),
        ("https://127.0.0.1/hook", "loopback"),
        ("https://localhost:8443/hook", "loopback"),
        ("https://10.1.2.3/hook", "private"),
        ("https://192.168.0.10/hook", "private"),
        ("https://169.254.169.254/latest/meta-data", "link-local"),
        ("https://[::1]/hook", "loopback"),
        ("https://[::ffff:127.0.0.1]/hook", "loopback"),
        ("https://2130706433/hook", "numeric spelling"),
        ("https://user:pw@example.com/hook", "credentials"),
    ],
)
def test_unsafe_destinations_are_refused_at_create(
    client: genai.Client, uri: str, message: str
) -> None:
    with pytest.raises(gerr.BadRequestError, match=message):
        client.webhooks.create(uri=uri, subscribed_events=EVENTS)


def test_unsafe_dynamic_destinations_are_refused_before_anything_runs(
    junction: Junction, client: genai.Client
) -> None:
    before = rest(junction, "GET", "/interactions?page_size=1").json()
    for uris in (["https://127.0.0.1/x"], ["http://example.com/x"], "https://example.com"):
        got = rest(
            junction,
            "POST",
            "/interactions",
            json={"model": "offline/echo", "input": "hi", "webhook_config": {"uris": uris}},
        )
        assert got.status_code == 400, got.text
        assert "webhook_config" in got.json()["error"]["message"]
    assert rest(junction, "GET", "/interactions?page_size=1").json() == before
