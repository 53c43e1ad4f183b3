"""Fixtures for webhook tests: a Junction server per backend whose webhook settings allow
loopback http destinations and retry fast, and a webhook receiver on loopback."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx2 as httpx
import pytest
from google import genai

from junction.config import load_settings
from junction.testing.fake_openai import FakeOpenAI
from junction.testing.server import JunctionThread
from junction.testing.webhook_receiver import WebhookReceiver
from tests.api.quota_servers import database
from tests.conftest import API_KEY, SECRET_KEY, Junction, traversable

METRICS_TOKEN = "webhook-metrics-token"

#: fast retries: 0.2 s, doubling, at most 1 s apart, given up 12 s after the event (room
#: for a loaded machine: an attempt may take a while to start)
FAST = {
    "JUNCTION_WEBHOOK_ALLOW_PRIVATE": "1",
    "JUNCTION_WEBHOOK_ALLOW_HTTP": "1",
    "JUNCTION_WEBHOOK_RETRY_BASE_SECONDS": "0.2",
    "JUNCTION_WEBHOOK_RETRY_MAX_DELAY_SECONDS": "1",
    "JUNCTION_WEBHOOK_RETRY_WINDOW_SECONDS": "12",
    "JUNCTION_WEBHOOK_DISABLE_AFTER_FAILURES": "2",
    "JUNCTION_WEBHOOK_TIMEOUT_SECONDS": "8",
    "JUNCTION_METRICS_TOKEN": METRICS_TOKEN,
}


def webhook_server(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    fake_openai: FakeOpenAI,
    settings_env: dict[str, str],
) -> Iterator[Junction]:
    """A Junction server for webhook tests on ``request.param`` (sqlite or postgres) with
    ``settings_env``, on its own database: the other test servers of the session have the
    default webhook policy (loopback refused, slow retries); sharing an outbox with them,
    their dispatchers would claim these deliveries too."""
    if request.param == "postgres":
        request.getfixturevalue("pg_url")  # skips (or fails, if required) without PostgreSQL
    tmp = tmp_path_factory.mktemp("hooks-" + request.param)
    traversable(tmp)
    env = {
        "JUNCTION_API_KEY": API_KEY,
        "JUNCTION_SECRET_KEY": SECRET_KEY,
        "OPENAI_BASE_URL": fake_openai.url + "/v1",
        "OPENAI_API_KEY": "sk-fake",
        **settings_env,
    }
    with database(request.param, tmp) as url:
        settings = load_settings(
            env=env, overrides={"database_url": url, "data_dir": tmp, "access_log": False}
        )
        thread = JunctionThread(settings).start()
        try:
            yield Junction(thread, request.param, url, API_KEY)
        finally:
            thread.stop()


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def hooks(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    fake_openai: FakeOpenAI,
) -> Iterator[Junction]:
    yield from webhook_server(request, tmp_path_factory, fake_openai, FAST)


@pytest.fixture(scope="session")
def receiver_server() -> Iterator[WebhookReceiver]:
    server = WebhookReceiver().start()
    yield server
    server.stop()


@pytest.fixture
def receiver(receiver_server: WebhookReceiver) -> WebhookReceiver:
    receiver_server.reset()
    return receiver_server


@pytest.fixture
def hclient(hooks: Junction) -> genai.Client:
    return hooks.client()


def rest(junction: Junction, method: str, path: str, **kwargs: Any) -> httpx.Response:
    """A raw call (Junction's additions, which the SDK does not know)."""
    return httpx.request(
        method,
        f"{junction.url}/v1beta{path}",
        headers={"x-goog-api-key": junction.api_key},
        timeout=30,
        **kwargs,
    )


def wait_for(check: Any, timeout: float = 30, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)
