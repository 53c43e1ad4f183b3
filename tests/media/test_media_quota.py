"""project_max_media_bytes: a project whose generated media reached its cap is refused
further media output (429, nothing written) until it deletes some; text still works."""

from __future__ import annotations

from collections.abc import Iterator

import httpx2 as httpx
import pytest

from junction.testing.fake_openai import FakeOpenAI
from tests.api.quota_servers import database
from tests.conftest import Junction, _start


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def capped(
    request: pytest.FixtureRequest,
    fake_openai: FakeOpenAI,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Junction]:
    if request.param == "postgres":
        request.getfixturevalue("pg_url")
    tmp = tmp_path_factory.mktemp(f"media-cap-{request.param}")
    with database(request.param, tmp) as url:
        server = _start(url, fake_openai, request.param, tmp, project_max_media_bytes=100)
        try:
            yield server
        finally:
            server.thread.stop()


def _count(junction: Junction) -> int:
    listed = httpx.get(
        f"{junction.url}/v1beta/interactions?page_size=1000",
        headers={"x-goog-api-key": junction.api_key},
    ).json()
    return len(listed.get("interactions") or [])


def test_media_output_stops_at_the_projects_cap(capped: Junction) -> None:
    client = capped.client()
    first = client.interactions.create(
        model="offline/image", input="a red fox", response_modalities=["image"]
    )
    assert first.status == "completed" and first.output_image is not None  # under the cap
    before = _count(capped)
    # (raw HTTP: the SDK would wait out Retry-After and try again before raising)
    refused = httpx.post(
        f"{capped.url}/v1beta/interactions",
        headers={"x-goog-api-key": capped.api_key},
        json={"model": "offline/image", "input": "a whale", "response_modalities": ["image"]},
    )
    assert refused.status_code == 429, refused.text
    error = refused.json()["error"]
    assert error["status"] == "RESOURCE_EXHAUSTED"
    assert "project_max_media_bytes" in error["message"]
    assert _count(capped) == before  # nothing written
    text = client.interactions.create(model="offline/echo", input="words still work")
    assert text.status == "completed"
    client.interactions.delete(first.id)  # its media goes with it: under the cap again
    again = client.interactions.create(
        model="offline/image", input="a blue whale", response_modalities=["image"]
    )
    assert again.status == "completed" and again.output_image is not None
