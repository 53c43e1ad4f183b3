"""Upload sessions are bounded (issue 8): by the environment's free quota, by count,
by idle time; they go with their environment; only their owner can end them."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import httpx2 as httpx
from google import genai

from junction.config import load_settings
from junction.runtime.uploads import MAX_SESSIONS_PER_ENV, MAX_UPLOAD, UploadSession, UploadStore
from tests.conftest import Junction

MiB = 2**20


def _start(
    junction: Junction, env_id: str, path: str, size: int | None, key: str = ""
) -> httpx.Response:
    headers = {
        "x-goog-api-key": key or junction.api_key,
        "X-Goog-Upload-Protocol": "resumable",
        "X-Goog-Upload-Command": "start",
    }
    if size is not None:
        headers["X-Goog-Upload-Header-Content-Length"] = str(size)
    return httpx.put(
        f"{junction.url}/upload/v1beta/environments/{env_id}/files/{path}", headers=headers
    )


def _send(
    junction: Junction, url: str, data: bytes, command: str, offset: int = 0, key: str = ""
) -> httpx.Response:
    headers = {
        "X-Goog-Upload-Offset": str(offset),
        "X-Goog-Upload-Command": command,
    }
    if key != "none":
        headers["x-goog-api-key"] = key or junction.api_key
    return httpx.post(url, content=data, headers=headers)


def _upload_dir(junction: Junction) -> Path:
    return Path(junction.thread.state.services.uploads.root)


def _session_dir(junction: Junction, url: str) -> Path:
    upload_id = httpx.URL(url).params["upload_id"]
    return _upload_dir(junction) / upload_id


def test_sessions_are_limited_to_the_free_quota(envs: genai.Client, junction: Junction) -> None:
    env = envs.environments.create()
    envs.environments.files.upload(environment=env.id, path="have.bin", file=b"h" * (100 * MiB))
    first = _start(junction, env.id, "a.bin", 600 * MiB)
    assert first.status_code == 200, first.text
    # 1 GiB quota - 100 MiB used - 600 MiB held by the open session < 600 MiB
    second = _start(junction, env.id, "b.bin", 600 * MiB)
    assert second.status_code == 413 and "free quota" in second.json()["error"]["message"]
    assert not (_upload_dir(junction) / "b.bin").exists()
    fits = _start(junction, env.id, "c.bin", 200 * MiB)
    assert fits.status_code == 200
    # an undeclared upload may hold only what is left, and is ended when it passes that
    open_ended = _start(junction, env.id, "d.bin", None)
    assert open_ended.status_code == 200
    url = open_ended.headers["X-Goog-Upload-URL"]
    too_much = _send(junction, url, b"z" * (140 * MiB), "upload")
    assert too_much.status_code == 413 and too_much.headers["X-Goog-Upload-Status"] == "final"
    assert not _session_dir(junction, url).exists()


def test_sessions_per_environment_are_capped(envs: genai.Client, junction: Junction) -> None:
    env = envs.environments.create()
    for index in range(MAX_SESSIONS_PER_ENV):
        assert _start(junction, env.id, f"f{index}", 10).status_code == 200
    over = _start(junction, env.id, "one-more", 10)
    assert over.status_code == 400 and "uploads in progress" in over.json()["error"]["message"]
    envs.environments.delete(env.id)


def test_sessions_are_removed_with_their_environment(
    envs: genai.Client, junction: Junction
) -> None:
    env = envs.environments.create()
    started = _start(junction, env.id, "x.bin", 8)
    url = started.headers["X-Goog-Upload-URL"]
    assert _send(junction, url, b"1234", "upload").status_code == 200
    assert (_session_dir(junction, url) / "data").read_bytes() == b"1234"
    envs.environments.delete(env.id)
    assert not _session_dir(junction, url).exists()
    assert _send(junction, url, b"5678", "upload, finalize", offset=4).status_code == 404


def test_only_the_owner_can_end_a_session(envs: genai.Client, junction: Junction) -> None:
    env = envs.environments.create()
    started = _start(junction, env.id, "mine.txt", 8)
    url = started.headers["X-Goog-Upload-URL"]
    assert _send(junction, url, b"1234", "upload").status_code == 200
    other_key = junction.cli(
        "keys", "create", "--project", f"uploads-{junction.backend}"
    ).stdout.split()[1]
    for key in ("none", other_key, "wrong-key"):
        attack = _send(junction, url, b"evil", "upload, finalize", offset=0, key=key)
        assert attack.status_code in (401, 403, 404), attack.text
        assert _session_dir(junction, url).exists(), key  # still there for its owner
    done = _send(junction, url, b"5678", "upload, finalize", offset=4)
    assert done.status_code == 200, done.text
    assert envs.environments.files.download(environment=env.id, path="mine.txt") == b"12345678"


def test_idle_sessions_expire(tmp_path: Path) -> None:
    store = UploadStore(tmp_path / "uploads", idle_seconds=600)
    old = store.start(UploadSession("", "p1", "env-1", "a.txt", 4, None, False, False, limit=10))
    fresh = store.start(UploadSession("", "p1", "env-1", "b.txt", 4, None, False, False))
    long_ago = time.time() - 601
    folder = tmp_path / "uploads" / old.id
    for path in (folder, *folder.iterdir()):
        os.utime(path, (long_ago, long_ago))
    assert store.sweep() == 1
    assert not folder.exists() and (tmp_path / "uploads" / fresh.id).exists()
    meta = json.loads((tmp_path / "uploads" / fresh.id / "meta.json").read_text())
    assert meta["limit"] == 4  # a declared size is the session's limit
    settings = load_settings(env={"JUNCTION_UPLOAD_IDLE_SECONDS": "90"}, config_file=None)
    assert settings.upload_idle_seconds == 90 and load_settings(env={}).upload_idle_seconds == 3600


def test_an_upload_announcing_more_than_the_cap_is_refused(
    envs: genai.Client, junction: Junction
) -> None:
    assert MAX_UPLOAD == 8 * 2**30  # the documented limit
    env = envs.environments.create()
    before = set(os.listdir(_upload_dir(junction))) if _upload_dir(junction).exists() else set()
    refused = _start(junction, env.id, "huge.bin", MAX_UPLOAD + 1)
    assert refused.status_code == 413, refused.text
    assert f"uploads are limited to {MAX_UPLOAD} bytes" in refused.json()["error"]["message"]
    after = set(os.listdir(_upload_dir(junction))) if _upload_dir(junction).exists() else set()
    assert after == before  # no session was opened
    listing = envs.environments.files.list(environment=env.id, path="")
    assert "huge.bin" not in [f.name for f in listing.files or []]
    # within the cap the request is judged against the workspace's free quota instead
    fits = _start(junction, env.id, "small.bin", MiB)
    assert fits.status_code == 200, fits.text
    envs.environments.delete(env.id)
