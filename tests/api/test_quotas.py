"""Per-key request rates and per-project quotas, through the official SDK, on SQLite and
PostgreSQL: 429 in the SDK's error shape with ``Retry-After``, which the SDK honours when
it retries; queued and running background runs per project; environments and the
workspace bytes they may hold."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx2 as httpx
import pytest
from google.genai import _interactions_errors as gerr

from tests.api.quota_servers import QuotaServer, quota_server

GiB = 1024**3


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest) -> str:
    if request.param == "postgres":
        request.getfixturevalue("pg_url")  # skips (or fails, if required) without PostgreSQL
    return str(request.param)


@pytest.fixture
def rated(backend: str, tmp_path: Path) -> Iterator[QuotaServer]:
    with quota_server(
        backend, tmp_path, key_requests_per_second=0.25, key_request_burst=2
    ) as server:
        # The SDK's first call in a process is slow (imports): not inside the tests' timing.
        server.client(server.new_key("warm-up")).interactions.create(
            model="offline/echo", input="hi"
        )
        yield server


@pytest.fixture
def queues(backend: str, tmp_path: Path) -> Iterator[QuotaServer]:
    with quota_server(
        backend,
        tmp_path,
        workers=4,
        project_max_running_runs=1,
        project_max_queued_runs=3,
        project_max_foreground_runs=2,
        key_requests_per_second=0,
    ) as server:
        yield server


def wait_status(server: QuotaServer, key: str, interaction_id: str, statuses: set[str]) -> str:
    client = server.client(key)
    deadline = time.monotonic() + 60
    while True:
        status = client.interactions.get(interaction_id).status
        if status in statuses:
            return str(status)
        assert time.monotonic() < deadline, f"{interaction_id} still {status}"
        time.sleep(0.05)


def test_requests_over_a_keys_rate_get_429_with_retry_after(rated: QuotaServer) -> None:
    key = rated.new_key("rated")
    url = f"{rated.url}/v1beta/interactions?page_size=1"
    replies = [httpx.get(url, headers={"x-goog-api-key": key}) for _ in range(3)]
    assert [r.status_code for r in replies[:2]] == [200, 200]  # the burst
    refused = replies[2]
    assert refused.status_code == 429
    assert int(refused.headers["retry-after"]) >= 1
    error = refused.json()["error"]
    assert error["status"] == "RESOURCE_EXHAUSTED"
    assert "per second" in error["message"]
    # Another key has its own bucket.
    other = rated.new_key("rated")
    assert httpx.get(url, headers={"x-goog-api-key": other}).status_code == 200
    # The SDK without retries reports the 429.
    client = rated.client(key)
    while httpx.get(url, headers={"x-goog-api-key": key}).status_code != 429:
        pass
    with pytest.raises(gerr.RateLimitError):
        client.interactions.create(model="offline/echo", input="hi")


def test_the_sdk_retries_429_honouring_retry_after(rated: QuotaServer) -> None:
    key = rated.new_key("patient")
    url = f"{rated.url}/v1beta/interactions?page_size=1"
    client = rated.client(key, attempts=3, initial_delay=0.01, max_delay=0.02)
    while httpx.get(url, headers={"x-goog-api-key": key}).status_code != 429:
        pass  # spend the burst
    # Its own backoff would retry after 10, 20 ms — far too soon for a token that comes
    # back after 4 s. Only by waiting Retry-After does the retry succeed.
    started = time.monotonic()
    done = client.interactions.create(model="offline/echo", input="hello")
    assert done.status == "completed"
    assert time.monotonic() - started >= 1.0


def test_a_projects_queue_is_capped_with_429(queues: QuotaServer) -> None:
    key = queues.new_key("flood")
    client = queues.client(key)
    first = client.interactions.create(model="offline/echo", input="/sleep 20", background=True)
    waiting = [
        client.interactions.create(model="offline/echo", input="/sleep 20", background=True)
        for _ in range(3)
    ]
    assert [w.status for w in waiting] == ["queued"] * 3  # the project's one slot is taken
    with pytest.raises(gerr.RateLimitError) as refused:
        client.interactions.create(model="offline/echo", input="x", background=True)
    assert refused.value.response.headers["retry-after"]
    assert "project_max_queued_runs" in str(refused.value)
    listed = httpx.get(f"{queues.url}/v1beta/interactions", headers={"x-goog-api-key": key})
    assert len(listed.json()["interactions"]) == 4  # nothing was written for it
    # Another project is not affected.
    other = queues.client(queues.new_key("calm"))
    run = other.interactions.create(model="offline/echo", input="hi", background=True)
    assert wait_status(queues, queues.new_key("calm"), run.id, {"completed"}) == "completed"
    for interaction in (first, *waiting):
        client.interactions.cancel(interaction.id)


def test_a_project_runs_at_most_its_cap_at_once(queues: QuotaServer) -> None:
    key = queues.new_key("capped")
    client = queues.client(key)
    slow = client.interactions.create(model="offline/echo", input="/sleep 3", background=True)
    wait_status(queues, key, slow.id, {"in_progress"})
    # Free workers remain (4), but the project is at its cap of 1: the next run waits.
    second = client.interactions.create(model="offline/echo", input="next", background=True)
    assert second.status == "queued"
    assert client.interactions.get(second.id).status == "queued"
    # ... while another project's run starts at once.
    other_key = queues.new_key("uncapped")
    other = queues.client(other_key).interactions.create(
        model="offline/echo", input="hi", background=True
    )
    assert wait_status(queues, other_key, other.id, {"completed"}) == "completed"
    assert client.interactions.get(second.id).status == "queued"
    # When the first ends, the second runs.
    assert wait_status(queues, key, second.id, {"completed"}) == "completed"
    assert client.interactions.get(slow.id).status == "completed"


def test_a_projects_foreground_runs_at_once_are_capped(queues: QuotaServer) -> None:
    key = queues.new_key("streamer")
    headers = {"x-goog-api-key": key}
    slow = {"model": "offline/echo", "input": "/sleep 4", "stream": True}
    with httpx.Client(base_url=queues.url, headers=headers, timeout=30) as http:
        with (
            http.stream("POST", "/v1beta/interactions", json=slow) as one,
            http.stream("POST", "/v1beta/interactions", json=slow) as two,
        ):
            assert one.status_code == two.status_code == 200  # both are running now
            with pytest.raises(gerr.RateLimitError) as refused:
                queues.client(key).interactions.create(model="offline/echo", input="hi")
            assert "project_max_foreground_runs" in str(refused.value)
            # Background runs and other projects are not refused.
            queued = http.post(
                "/v1beta/interactions",
                json={"model": "offline/echo", "input": "later", "background": True},
            )
            assert queued.status_code == 200
            other = queues.client(queues.new_key("neighbour"))
            assert other.interactions.create(model="offline/echo", input="hi").status == (
                "completed"
            )
            one.read()
            two.read()
    # Both streams have ended: the project may run in the foreground again (the SDK's
    # retry covers the moment between a stream's last event and its run's end).
    done = queues.client(key, attempts=3).interactions.create(model="offline/echo", input="hi")
    assert done.status == "completed"


def environments_or_skip(server: QuotaServer, key: str) -> None:
    probe = httpx.get(f"{server.url}/v1beta/environments", headers={"x-goog-api-key": key})
    assert probe.status_code == 200
    made = httpx.post(f"{server.url}/v1beta/environments", json={}, headers={"x-goog-api-key": key})
    if made.status_code == 503:
        pytest.skip(made.json()["error"]["message"])
    assert made.status_code == 200, made.text
    httpx.delete(
        f"{server.url}/v1beta/environments/{made.json()['id']}", headers={"x-goog-api-key": key}
    )


@pytest.mark.parametrize(
    ("limits", "setting"),
    [
        ({"project_max_environments": 2, "project_max_stored_bytes": 0}, "environments"),
        ({"project_max_environments": 0, "project_max_stored_bytes": 2 * GiB}, "stored_bytes"),
    ],
)
def test_environments_and_their_bytes_are_capped_per_project(
    backend: str, tmp_path: Path, limits: dict[str, int], setting: str
) -> None:
    with quota_server(backend, tmp_path, key_requests_per_second=0, **limits) as server:
        key = server.new_key("builder")
        environments_or_skip(server, key)
        client = server.client(key)
        made = [client.environments.create() for _ in range(2)]  # 2 × 1 GiB workspaces
        with pytest.raises(gerr.RateLimitError) as refused:
            client.environments.create()
        assert refused.value.response.headers["retry-after"]
        assert f"project_max_{setting}" in str(refused.value)
        listed = httpx.get(
            f"{server.url}/v1beta/environments", headers={"x-goog-api-key": key}
        ).json()["environments"]
        assert len(listed) == 2  # nothing was created for the refused request
        # Another project has its own quota.
        server.client(server.new_key("neighbour")).environments.create()
        # Deleting one makes room again.
        client.environments.delete(made[0].id)
        client.environments.create()
