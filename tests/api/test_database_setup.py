"""`junction serve --database-url` on a PostgreSQL database that does not exist: created
when the role may, else one line saying what to run (no traceback)."""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
import time

import httpx2 as httpx
import pytest

from tests.conftest import PG_ADMIN_URL, _pg_admin


def _base(pg_url: str) -> str:
    return pg_url.rsplit("/", 1)[0].split("://", 1)[1].split("@", 1)[-1]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _database_exists(name: str) -> bool:
    import asyncio

    import asyncpg

    async def check() -> bool:
        conn = await asyncpg.connect(PG_ADMIN_URL, timeout=5)
        try:
            return bool(await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name))
        finally:
            await conn.close()

    return asyncio.run(check())


def test_serve_creates_a_missing_database(pg_url: str, tmp_path: object) -> None:
    name = "junction_new_" + secrets.token_hex(4)
    url = f"postgresql://postgres@{_base(pg_url)}/{name}"
    port = _free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "junction.cli",
            "serve",
            "--database-url",
            url,
            "--port",
            str(port),
            "--data-dir",
            str(tmp_path),
            "--no-worker",
        ],
        env={
            **os.environ,
            "JUNCTION_API_KEY": "k-" + secrets.token_hex(4),
            "JUNCTION_SECRET_KEY": "",
        },
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        healthy = False
        while time.monotonic() < deadline and server.poll() is None and not healthy:
            try:
                healthy = httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200
            except httpx.TransportError:
                time.sleep(0.2)
        assert healthy, server.stderr.read() if server.poll() is not None else "no answer"
        assert _database_exists(name)
    finally:
        server.terminate()
        server.communicate(timeout=30)
        _pg_admin(
            f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"
        )
        _pg_admin(f"DROP DATABASE IF EXISTS {name}")


@pytest.mark.parametrize("command", ["serve", "migrate", "worker"])
def test_missing_database_without_privilege_is_one_line(pg_url: str, command: str) -> None:
    role = "junction_nocreate_" + secrets.token_hex(3)
    name = "junction_absent_" + secrets.token_hex(4)
    _pg_admin(f"CREATE ROLE {role} LOGIN NOCREATEDB")
    try:
        args = ["--workers", "1"] if command == "worker" else []
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "junction.cli",
                command,
                *args,
                "--database-url",
                f"postgresql://{role}@{_base(pg_url)}/{name}",
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    finally:
        _pg_admin(f"DROP ROLE IF EXISTS {role}")
    assert result.returncode == 1
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert f'"{name}" does not exist' in lines[0] and "createdb" in lines[0] and name in lines[0]
    assert not _database_exists(name)


def test_unreachable_server_is_one_line() -> None:
    port = _free_port()
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "junction.cli",
            "migrate",
            "--database-url",
            f"postgresql://postgres@127.0.0.1:{port}/junction",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1 and "cannot open PostgreSQL database" in result.stderr
