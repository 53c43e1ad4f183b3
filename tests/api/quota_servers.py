"""Junction servers with their own settings (quotas, rate limits) for the quota and
fair-scheduling tests, each on a fresh database (SQLite file, or a new PostgreSQL
database), with keys for as many projects as a test needs."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from google import genai
from google.genai import types

from junction.config import load_settings
from junction.testing.server import JunctionThread
from tests.conftest import PG_ADMIN_URL, _pg_admin, traversable


@contextmanager
def database(backend: str, tmp: Path) -> Iterator[str]:
    if backend == "sqlite":
        yield f"sqlite:///{tmp / 'quota.db'}"
        return
    name = "junction_quota_" + secrets.token_hex(4)
    _pg_admin(f"CREATE DATABASE {name}")
    try:
        yield f"{PG_ADMIN_URL.rsplit('/', 1)[0]}/{name}"
    finally:
        _pg_admin(
            f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"
        )
        _pg_admin(f"DROP DATABASE IF EXISTS {name}")


class QuotaServer:
    def __init__(self, thread: JunctionThread) -> None:
        self.thread = thread
        self.clients: list[genai.Client] = []

    @property
    def url(self) -> str:
        return self.thread.url

    def _on_loop(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.thread.state.loop).result(30)

    def new_key(self, project: str) -> str:
        """A key of ``project`` (created if needed)."""
        projects = self.thread.state.system.projects
        project_id = self._on_loop(projects.ensure_project(project))
        _, key = self._on_loop(projects.create_key(project_id, "test"))
        return str(key)

    def client(self, key: str, **retry: Any) -> genai.Client:
        client = genai.Client(
            api_key=key,
            http_options=types.HttpOptions(
                base_url=self.url,
                api_version="v1beta",
                retry_options=types.HttpRetryOptions(**(retry or {"attempts": 1})),
            ),
        )
        self.clients.append(client)
        return client


@contextmanager
def quota_server(backend: str, tmp: Path, **overrides: Any) -> Iterator[QuotaServer]:
    traversable(tmp)
    with database(backend, tmp) as url:
        settings = load_settings(
            env={"JUNCTION_API_KEY": "quota-" + secrets.token_hex(4)},
            overrides={"database_url": url, "data_dir": tmp, "access_log": False, **overrides},
        )
        thread = JunctionThread(settings).start()
        try:
            yield QuotaServer(thread)
        finally:
            thread.stop()
