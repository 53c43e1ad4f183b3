"""The console's pages for APIs that a build may not have (webhooks, triggers): shown in
the navigation only when the server answers their list route, and then usable. Where the
route is absent the navigation must not offer the page (checked) and the page tests skip,
saying so."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import httpx2 as httpx
import pytest
from selenium.webdriver.common.by import By

from junction.config import load_settings
from junction.testing.server import JunctionThread
from tests.conftest import SECRET_KEY, Junction
from tests.console.conftest import Console
from tests.console.test_console import api, signed_in

pytestmark = pytest.mark.filterwarnings("ignore:.*usage is experimental")


def has_route(junction: Junction, name: str) -> bool:
    response = httpx.get(
        f"{junction.url}/v1beta/{name}",
        params={"page_size": "1"},
        headers={"x-goog-api-key": junction.api_key},
        timeout=30,
    )
    return response.status_code != 404


@pytest.mark.parametrize("name", ["webhooks", "triggers"])
def test_navigation_offers_a_page_only_when_the_server_has_its_api(
    console: Console, junction: Junction, name: str
) -> None:
    signed_in(console)
    console.wait_for("#nav-interactions")
    assert bool(console.all(f"#nav-{name}")) == has_route(junction, name)


@pytest.fixture
def hooks_server(junction: Junction, tmp_path: Path) -> Iterator[Junction]:
    """A server of its own whose webhook policy accepts a loopback endpoint (the shared
    test server's strict default refuses every address this offline machine has)."""
    settings = load_settings(
        env={
            "JUNCTION_API_KEY": junction.api_key,
            "JUNCTION_SECRET_KEY": SECRET_KEY,
            "JUNCTION_WEBHOOK_ALLOW_PRIVATE": "1",
            "JUNCTION_WEBHOOK_ALLOW_HTTP": "1",
        },
        overrides={
            "database_url": f"sqlite:///{tmp_path / 'hooks.db'}",
            "data_dir": tmp_path,
            "access_log": False,
        },
    )
    thread = JunctionThread(settings).start()
    yield Junction(thread, "sqlite", settings.resolved_database_url, junction.api_key)
    thread.stop()


def test_webhooks_page_lists_a_webhook_and_its_ping_delivery(
    console: Console, hooks_server: Junction
) -> None:
    if not has_route(hooks_server, "webhooks"):
        pytest.skip("this build has no webhooks API (GET /v1beta/webhooks is 404)")
    console.junction = hooks_server
    name = f"console-{secrets.token_hex(3)}"
    hook = api(
        hooks_server,
        "POST",
        "webhooks",
        json={
            "name": name,
            "uri": "http://127.0.0.1:9/in",  # nothing listens: the ping's attempt fails
            "subscribed_events": ["interaction.completed"],
        },
    ).json()
    signed_in(console)
    console.wait_for("#nav-webhooks").click()
    console.wait_for(f"tr[data-id='{hook['id']}'] a").click()
    console.wait(lambda d: "http://127.0.0.1:9/in" in console.text_of("main"))
    assert hook["new_signing_secret"] not in console.driver.page_source
    console.driver.find_element(By.ID, "ping").click()
    console.wait(lambda d: "Ping queued" in console.text_of("#webhook-status"))
    console.go(f"#/webhooks/{hook['id']}?again=1")
    console.wait(lambda d: "webhook.ping" in console.text_of("main"))
    console.screenshot("webhook")
    assert console.csp_violations() == []


def test_triggers_page_lists_a_trigger_and_runs_it_now(
    console: Console, junction: Junction
) -> None:
    if not has_route(junction, "triggers"):
        pytest.skip("this build has no triggers API (GET /v1beta/triggers is 404)")
    name = f"console-{secrets.token_hex(3)}"
    trigger = api(
        junction,
        "POST",
        "triggers",
        json={
            "schedule": "0 9 * * MON-FRI",
            "time_zone": "UTC",
            "display_name": name,
            "interaction": {"agent": "junction-general", "input": "morning report"},
        },
    ).json()
    try:
        signed_in(console)
        console.wait_for("#nav-triggers").click()
        console.wait_for(f"tr[data-id='{trigger['id']}'] a").click()
        console.wait(lambda d: "0 9 * * MON-FRI" in console.text_of("main"))
        assert console.all("main tbody tr") == []
        console.driver.find_element(By.ID, "run-now").click()
        console.wait(lambda d: len(console.all("main tbody tr")) == 1)
        execution = api(junction, "GET", f"triggers/{trigger['id']}/executions").json()
        assert console.all(f"tr[data-id='{execution['trigger_executions'][0]['id']}']")
        console.screenshot("trigger")
        assert console.csp_violations() == []
    finally:
        api(junction, "DELETE", f"triggers/{trigger['id']}")
