"""Containment through the HTTP API: paths, links and sizes that try to leave the
workspace or exhaust the server are refused, and the server stays healthy."""

from __future__ import annotations

import socket
from pathlib import Path

import httpx2 as httpx
import pytest
from google import genai
from google.genai import errors as genai_errors

from junction.testing.fake_openai import FakeOpenAI
from junction.testing.fakeserver import Reply
from tests.conftest import Junction


def _headers(junction: Junction) -> dict[str, str]:
    return {"x-goog-api-key": junction.api_key}


def raw_request(
    junction: Junction,
    method: str,
    target: str,
    headers: dict[str, str] | None = None,
    body: bytes = b"",
) -> tuple[int, str]:
    """Send ``target`` byte for byte (HTTP clients remove ``..`` segments before sending)."""
    host, port = junction.url.removeprefix("http://").split(":")
    lines = [
        f"{method} {target} HTTP/1.1",
        f"Host: {host}",
        "Connection: close",
        f"Content-Length: {len(body)}",
        *(f"{k}: {v}" for k, v in {**_headers(junction), **(headers or {})}.items()),
    ]
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, payload = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), payload.decode("utf-8", "replace")


@pytest.mark.parametrize(
    "path", ["../../etc/cron.d/x", "a/../../x", "%2e%2e/%2e%2e/x", "..%2f..%2fx"]
)
def test_upload_paths_cannot_leave_the_workspace(
    envs: genai.Client, junction: Junction, path: str
) -> None:
    env = envs.environments.create()
    status, body = raw_request(
        junction,
        "PUT",
        f"/upload/v1beta/environments/{env.id}/files/{path}",
        {
            "X-Goog-Upload-Protocol": "resumable",
            "X-Goog-Upload-Command": "start",
            "X-Goog-Upload-Header-Content-Length": "2",
        },
    )
    assert status in (400, 404), body
    assert httpx.get(f"{junction.url}/healthz").status_code == 200


def test_a_leading_slash_stays_inside_the_workspace(envs: genai.Client, junction: Junction) -> None:
    env = envs.environments.create()
    envs.environments.files.upload(environment=env.id, path="/etc/junction-probe", file=b"1")
    assert envs.environments.files.download(environment=env.id, path="etc/junction-probe") == b"1"
    assert not Path("/etc/junction-probe").exists()


@pytest.mark.parametrize("path", ["..", "../..", "a/../..", "%2e%2e", "x/%2e%2e/%2e%2e"])
@pytest.mark.parametrize("query", ["recursive=true", "alt=media"])
def test_listing_and_download_cannot_leave_the_workspace(
    envs: genai.Client, junction: Junction, path: str, query: str
) -> None:
    env = envs.environments.create()
    status, body = raw_request(
        junction, "GET", f"/v1beta/environments/{env.id}/files/{path}?{query}"
    )
    assert status in (400, 404), body
    assert "root:" not in body and "sandboxes" not in body and "/tmp" not in body


def test_links_made_inside_cannot_be_followed_from_outside(
    envs: genai.Client, junction: Junction, openai_fake: FakeOpenAI
) -> None:
    code = "ln -s /etc/passwd passwd && ln -s .. up && ln -s /proc/self/environ env && ls -la"
    openai_fake.enqueue(
        Reply(text="", tool_calls=[("code_execution", {"code": code, "language": "bash"})]),
        Reply(text="made links"),
    )
    done = junction.client().interactions.create(
        model="openai/x", input="x", tools=[{"type": "code_execution"}]
    )
    assert done.status == "completed"
    env_id = done.environment_id
    for name in ("passwd", "env", "up/etc/passwd"):
        response = httpx.get(
            f"{junction.url}/v1beta/environments/{env_id}/files/{name}",
            params={"alt": "media"},
            headers=_headers(junction),
        )
        assert response.status_code in (400, 404), (name, response.text)
        assert "root:" not in response.text
    listed = httpx.get(
        f"{junction.url}/v1beta/environments/{env_id}/files/up",
        params={"recursive": "true"},
        headers=_headers(junction),
    )
    assert listed.status_code in (200, 400, 404)
    assert "sandboxes" not in listed.text and "passwd" not in listed.text.replace('"passwd"', "")


def test_huge_and_lying_uploads_are_refused(envs: genai.Client, junction: Junction) -> None:
    env = envs.environments.create()
    base = f"{junction.url}/upload/v1beta/environments/{env.id}/files/big.bin"
    huge = httpx.put(
        base,
        headers={
            **_headers(junction),
            "X-Goog-Upload-Protocol": "resumable",
            "X-Goog-Upload-Command": "start",
            "X-Goog-Upload-Header-Content-Length": str(1 << 40),
        },
    )
    assert huge.status_code == 413
    start = httpx.put(
        base,
        headers={
            **_headers(junction),
            "X-Goog-Upload-Protocol": "resumable",
            "X-Goog-Upload-Command": "start",
            "X-Goog-Upload-Header-Content-Length": "10",
        },
    )
    assert start.status_code == 200
    lying = httpx.post(
        start.headers["X-Goog-Upload-URL"],
        content=b"x" * 4096,
        headers={
            **_headers(junction),
            "X-Goog-Upload-Offset": "0",
            "X-Goog-Upload-Command": "upload, finalize",
        },
    )
    assert lying.status_code == 413 and lying.headers["X-Goog-Upload-Status"] == "final"
    with pytest.raises(genai_errors.ClientError):
        envs.environments.files.download(environment=env.id, path="big.bin")
