"""Small leaks closed (issue 8): control characters in logged paths, the SQLite files'
modes, symlinks listed as what they are."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import stat
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest
from google import genai

from junction.config import load_settings
from junction.testing.server import JunctionThread
from tests.conftest import API_KEY, Junction, traversable


def test_logged_paths_cannot_forge_lines_and_the_database_is_private(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    traversable(tmp_path)
    old_umask = os.umask(0o022)
    try:
        settings = load_settings(
            env={"JUNCTION_API_KEY": API_KEY},
            config_file=None,
            overrides={"data_dir": tmp_path, "access_log": True},
        )
        thread = JunctionThread(settings).start()
    finally:
        os.umask(old_umask)
    caplog.set_level(logging.INFO, logger="junction.access")
    try:
        with socket.create_connection(("127.0.0.1", thread.port), timeout=10) as sock:
            forged = "/v1beta/x%0d%0a2026-01-01%20GET%20/admin%20200%1b%5b2J%5c"
            sock.sendall(f"GET {forged} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
            while sock.recv(65536):
                pass
        ok = httpx.get(
            f"{thread.url}/v1beta/interactions/none", headers={"x-goog-api-key": API_KEY}
        )
        assert ok.status_code == 404
        lines = [r.getMessage() for r in caplog.records if r.name == "junction.access"]
        forged_line = next(line for line in lines if "/v1beta/x" in line)
        assert "\r" not in forged_line and "\n" not in forged_line and "\x1b" not in forged_line
        assert "/v1beta/x\\x0d\\x0a2026-01-01 GET /admin 200\\x1b[2J\\\\" in forged_line
        files = sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("junction.db"))
        assert files[0] == "junction.db" and "junction.db-wal" in files
        for name in files:
            mode = stat.S_IMODE((tmp_path / name).stat().st_mode)
            assert mode == 0o600, (name, oct(mode))
    finally:
        thread.stop()


def _run(junction: Junction, coro: Any) -> Any:
    return asyncio.run_coroutine_threadsafe(coro, junction.thread.state.loop).result(30)


def test_symlinks_are_listed_as_symlinks(envs: genai.Client, junction: Junction) -> None:
    env = envs.environments.create()
    services = junction.thread.state.services
    project = _run(junction, services.auth.projects.project_for_key(junction.api_key))
    box = _run(junction, services.environments.sandbox(project, env.id))
    done = _run(
        junction,
        box.run("mkdir sub && echo hi > sub/f.txt && ln -s /etc/passwd host && ln -s sub dir"),
    )
    assert done.result.exit_code == 0, done.stderr
    raw = httpx.get(
        f"{junction.url}/v1beta/environments/{env.id}/files",
        headers={"x-goog-api-key": junction.api_key},
    ).json()["files"]
    kinds = {f["path"]: f["type"] for f in raw}
    assert kinds == {"dir": "symlink", "host": "symlink", "sub": "directory"}
    link = next(f for f in raw if f["path"] == "host")
    assert link["size_bytes"] == "0" and "mime_type" not in link
    listed = envs.environments.files.list(environment=env.id, path="", recursive=True)
    by_path = {f.path: f.type for f in listed.files or []}
    assert by_path["host"] == "symlink" and by_path["sub/f.txt"] == "file"
    single = httpx.get(
        f"{junction.url}/v1beta/environments/{env.id}/files/dir",
        headers={"x-goog-api-key": junction.api_key},
    ).json()["files"]
    assert [f["type"] for f in single] == ["symlink"]  # not the directory it points to
    download = httpx.get(
        f"{junction.url}/v1beta/environments/{env.id}/files/host?alt=media",
        headers={"x-goog-api-key": junction.api_key},
    )
    assert download.status_code == 400 and "root:" not in download.text
