"""Every webhooks and triggers method of the newest @google/genai release in the release
matrix, against Junction (the Python SDK's are covered by the other tests here): the
script calls them all; the ping it sends arrives signed."""

from __future__ import annotations

import json
import shutil
import subprocess

from standardwebhooks import Webhook

from junction.testing.webhook_receiver import WebhookReceiver
from tests.compat.test_release_matrix import HERE, _js_dir, _releases, _unavailable, installed
from tests.conftest import Junction

__all__ = ["installed"]  # the fixture that makes sure the SDK releases are installed


def test_javascript_sdk_webhooks_and_triggers(
    hooks: Junction, receiver: WebhookReceiver, installed: None
) -> None:
    if not shutil.which("node"):
        _unavailable("node is needed for the @google/genai release")
    newest = _releases("JS_RELEASES")[-1]
    uri, path = receiver.fresh("js")
    done = subprocess.run(
        [
            "node",
            str(HERE / "webhooks_triggers.mjs"),
            str(_js_dir(newest)),
            hooks.url,
            hooks.api_key,
            uri,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    seen = json.loads(done.stdout)
    hook_id, name, secret, state = seen["created"]
    assert hook_id and name == "from-js" and secret.startswith("whsec_") and state == "enabled"
    assert seen["got"] == [hook_id, None, 1]
    assert seen["listed"] is True
    assert seen["updated"] == "renamed-from-js"
    assert seen["ping"] == {}
    assert seen["rotated"].startswith("whsec_") and seen["rotated"] != secret
    assert seen["deleted"] == {}
    (ping,) = receiver.wait(1, path)
    # signed with the secret of its time (the rotation came after the ping was queued, or
    # before it was sent: one of the two secrets verifies it)
    payloads = []
    for key in (secret, seen["rotated"]):
        try:
            payloads.append(Webhook(key).verify(ping.body, ping.headers))
        except Exception:
            continue
    assert payloads and payloads[0]["type"] == "webhook.ping"
    trigger_id, status, zone, has_next = seen["trigger"]
    assert trigger_id and status == "active" and zone == "Europe/Berlin" and has_next
    assert seen["trigger_got"] == "nightly from js"
    assert seen["trigger_listed"] is True
    assert [seen["paused"], seen["resumed"]] == ["paused", "active"]
    assert seen["run"] == [trigger_id, True]
    assert seen["executions"] is True
    assert seen["trigger_deleted"] == {}
