"""Junction's interaction listing with filters (status, model, agent, time range) and the
console's routes over HTTP, on SQLite and PostgreSQL: right rows, clear 400s, project
scoping, and the console's static files served with a strict CSP."""

from __future__ import annotations

import secrets
import time
from datetime import UTC, datetime
from typing import Any

import httpx2 as httpx
import pytest

from tests.conftest import Junction


def get(junction: Junction, path: str, key: str | None = None, **params: str) -> httpx.Response:
    return httpx.get(
        f"{junction.url}/v1beta/{path}",
        params=params,
        headers={"x-goog-api-key": key or junction.api_key},
        timeout=30,
    )


def create(junction: Junction, model: str, text: str) -> dict[str, Any]:
    response = httpx.post(
        f"{junction.url}/v1beta/interactions",
        json={"model": model, "input": text},
        headers={"x-goog-api-key": junction.api_key},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def walk(junction: Junction, **params: str) -> list[str]:
    seen: list[str] = []
    token = ""
    while True:
        body = get(junction, "interactions", page_size="2", page_token=token, **params).json()
        seen += [i["id"] for i in body["interactions"]]
        assert all("steps" not in i for i in body["interactions"])
        token = body.get("next_page_token", "")
        if not token:
            return seen


def test_filters_and_time_range_over_http(junction: Junction) -> None:
    model = f"offline/filter-{secrets.token_hex(3)}"
    done = [create(junction, model, f"hello {n}") for n in range(3)]
    time.sleep(0.01)
    middle = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    time.sleep(0.01)
    asked = [create(junction, model, f'/call ask {{"n": {n}}}') for n in range(2)]
    newest_first = [i["id"] for i in reversed(done + asked)]
    assert walk(junction, model=model) == newest_first
    assert walk(junction, model=model, status="requires_action") == newest_first[:2]
    assert walk(junction, model=model, status="completed") == newest_first[2:]
    assert walk(junction, model=model, after=middle) == newest_first[:2]
    assert walk(junction, model=model, before=middle) == newest_first[2:]
    assert walk(junction, model=model, agent="nobody") == []
    listed = get(junction, "interactions", model=model, page_size="1").json()["interactions"][0]
    assert listed["status"] == "requires_action" and listed["usage"]["total_tokens"] > 0


@pytest.mark.parametrize(
    ("params", "says"),
    [
        ({"status": "done"}, "status must be one of"),
        ({"after": "yesterday"}, "after must be a time like"),
        ({"before": "2026-13-40"}, "before must be a time like"),
        ({"after": "2026-11-02", "before": "2026-11-01"}, "after must be earlier than before"),
        ({"model": "m" * 300}, "longer than 256"),
        ({"page_token": "bogus"}, "page_token"),
        ({"page_size": "0"}, "page_size"),
    ],
)
def test_bad_listing_parameters_are_400s(
    junction: Junction, params: dict[str, str], says: str
) -> None:
    response = get(junction, "interactions", **params)
    assert response.status_code == 400, response.text
    assert says in response.json()["error"]["message"]


def test_listing_is_scoped_to_the_callers_project(junction: Junction) -> None:
    model = f"offline/scope-{secrets.token_hex(3)}"
    create(junction, model, "mine")
    made = junction.cli("keys", "create", "--project", f"other-{secrets.token_hex(3)}")
    assert made.returncode == 0, made.stderr
    other_key = made.stdout.strip().split()[-1]
    body = get(junction, "interactions", key=other_key, model=model).json()
    assert body["interactions"] == []


def test_console_files_carry_a_strict_csp(junction: Junction) -> None:
    root = httpx.get(f"{junction.url}/console", follow_redirects=False)
    assert root.status_code == 308 and root.headers["location"] == "/console/"
    page = httpx.get(f"{junction.url}/console/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    csp = page.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "script-src 'self'" in csp
    assert "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp
    script = httpx.get(f"{junction.url}/console/static/js/main.js")
    assert script.status_code == 200
    assert script.headers["content-type"].startswith("text/javascript")
    assert script.headers["x-content-type-options"] == "nosniff"
    again = httpx.get(
        f"{junction.url}/console/static/js/main.js",
        headers={"if-none-match": script.headers["etag"]},
    )
    assert again.status_code == 304
    missing = httpx.get(f"{junction.url}/console/static/../../pyproject.toml")
    assert missing.status_code == 404
    assert httpx.get(f"{junction.url}/console/static/js/nope.js").status_code == 404
