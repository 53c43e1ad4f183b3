"""Helpers for the hardening tests: a fresh project per test, and row counts read
straight from the database (SQLite or PostgreSQL) to prove a refusal wrote nothing."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from typing import Any

import httpx2 as httpx

from junction.store.projects import hash_key
from junction.store.sqlite import _path_from_url
from tests.conftest import Junction

#: tables holding a project's rows, counted per project
PROJECT_TABLES = ("interactions", "steps", "chains", "credentials", "agents", "environments")


def query(database_url: str, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    """Run one statement ($n placeholders) on the test server's database; its rows."""
    if database_url.startswith("sqlite:"):
        conn = sqlite3.connect(_path_from_url(database_url), timeout=30)
        try:
            with conn:
                cursor = conn.execute(sql.replace("$", "?"), args)
                return [tuple(r) for r in cursor.fetchall()]
        finally:
            conn.close()

    import asyncpg

    async def run() -> list[tuple[Any, ...]]:
        conn = await asyncpg.connect(database_url, timeout=10)
        try:
            if sql.lstrip().upper().startswith(("SELECT", "WITH")):
                return [tuple(r) for r in await conn.fetch(sql, *args)]
            await conn.execute(sql, *args)
            return []
        finally:
            await conn.close()

    return asyncio.run(run())


def new_project(junction: Junction, name: str) -> tuple[str, str]:
    """A new project with one key: ``(key, project_id)``."""
    result = junction.cli("keys", "create", "--project", name)
    assert result.returncode == 0, result.stderr
    key = result.stdout.split()[1]
    rows = query(
        junction.database_url, "SELECT project_id FROM api_keys WHERE key_hash = $1", hash_key(key)
    )
    return key, str(rows[0][0])


def project_rows(junction: Junction, project_id: str) -> dict[str, int]:
    """Rows of the project in every table (one statement: one connection)."""
    counts = [f"(SELECT COUNT(*) FROM {table} WHERE project_id = $1)" for table in PROJECT_TABLES]
    counts.append(
        "(SELECT COUNT(*) FROM events WHERE interaction_id IN "
        "(SELECT id FROM interactions WHERE project_id = $1))"
    )
    row = query(junction.database_url, "SELECT " + ", ".join(counts), project_id)[0]
    return dict(zip((*PROJECT_TABLES, "events"), (int(n) for n in row), strict=True))


def wait_idle(junction: Junction, project_id: str, timeout: float = 60) -> None:
    """Wait until no interaction of the project is queued or running."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        busy = query(
            junction.database_url,
            "SELECT COUNT(*) FROM interactions WHERE project_id = $1 "
            "AND status IN ('queued', 'in_progress')",
            project_id,
        )[0][0]
        if not busy:
            return
        time.sleep(0.05)
    raise AssertionError(f"interactions of {project_id} still running after {timeout} s")


def send(
    junction: Junction, key: str, method: str, path: str, body: Any = None, **kwargs: Any
) -> httpx.Response:
    headers = {"x-goog-api-key": key, **kwargs.pop("headers", {})}
    if isinstance(body, bytes):
        headers["content-type"] = "application/json"
        return httpx.request(
            method, junction.url + path, content=body, headers=headers, timeout=60, **kwargs
        )
    if body is None:
        return httpx.request(method, junction.url + path, headers=headers, timeout=60, **kwargs)
    return httpx.request(
        method, junction.url + path, json=body, headers=headers, timeout=60, **kwargs
    )
