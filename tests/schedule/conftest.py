"""Triggers against real `junction serve` / `junction worker` processes whose scheduler
reads its time from a file (JUNCTION_TRIGGER_CLOCK_FILE): a test moves time forward by
rewriting the file, so no test waits a real minute."""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import pytest
from google import genai

from junction.testing.fake_openai import FakeOpenAI
from tests.cluster.conftest import Cluster, Proc
from tests.conftest import _pg_admin

T = TypeVar("T")
AGENT = "junction-general"


class ClockFile:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.now = datetime(2026, 1, 5, 12, 0, tzinfo=ZoneInfo("UTC"))
        self.set(self.now)

    def set(self, moment: datetime) -> None:
        assert moment.tzinfo is not None
        self.now = moment
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(repr(moment.timestamp()))
        os.replace(tmp, self.path)


class ClockCluster(Cluster):
    clock: ClockFile
    extra: dict[str, str]

    def env(self) -> dict[str, str]:
        env = super().env()
        env.update(
            JUNCTION_TRIGGER_CLOCK_FILE=str(self.clock.path),
            JUNCTION_TRIGGER_POLL_SECONDS="0.1",
            JUNCTION_LEASE_SECONDS="3",
            **self.extra,
        )
        return env


@dataclass
class Sched:
    cluster: ClockCluster
    api: Proc
    client: genai.Client

    @property
    def clock(self) -> ClockFile:
        return self.cluster.clock

    def at(self, text: str, zone: str = "UTC") -> None:
        """Set the scheduler's time to the local time ``text`` in ``zone``."""
        self.clock.set(datetime.fromisoformat(text).replace(tzinfo=ZoneInfo(zone)))

    def executions(self, trigger_id: str) -> list[Any]:
        found: list[Any] = []
        token = None
        while True:
            page = self.client.triggers.list_executions(trigger_id, page_token=token)
            found += page.trigger_executions or []
            token = page.next_page_token
            if not token:
                return sorted(found, key=lambda e: (e.scheduled_time, e.id))

    def until(self, check: Callable[[], T | None], timeout: float = 30, what: str = "") -> T:
        deadline = time.monotonic() + timeout
        while True:
            value = check()
            if value:
                return value
            assert time.monotonic() < deadline, f"timed out waiting for {what or check}"
            time.sleep(0.05)

    def settled(self, trigger_id: str, count: int, timeout: float = 30) -> list[Any]:
        """Wait until the trigger has ``count`` executions, none still running."""

        def check() -> list[Any] | None:
            found = self.executions(trigger_id)
            done = len(found) == count and all(e.status != "in_progress" for e in found)
            return found if done else None

        return self.until(check, timeout, f"{count} settled executions of {trigger_id}")


def agent_template(text: str = "hello") -> dict[str, Any]:
    return {"agent": AGENT, "input": text}


def make_cluster(
    request: pytest.FixtureRequest, fake: FakeOpenAI, tmp: Path, backend: str, **extra: str
) -> tuple[ClockCluster, str | None]:
    if backend == "sqlite":
        url, name = f"sqlite:///{tmp / 'triggers.db'}", None
    else:
        base = request.getfixturevalue("pg_url").rsplit("/", 1)[0]
        name = "junction_triggers_" + secrets.token_hex(4)
        _pg_admin(f"CREATE DATABASE {name}")
        url = f"{base}/{name}"
    cluster = ClockCluster(backend, url, fake, tmp)
    cluster.clock = ClockFile(tmp / "clock")
    cluster.extra = dict(extra)
    return cluster, name


def drop(cluster: Cluster, name: str | None) -> None:
    cluster.close()
    if name:
        _pg_admin(
            f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"
        )
        _pg_admin(f"DROP DATABASE IF EXISTS {name}")


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def sched_server(
    request: pytest.FixtureRequest,
    fake_openai: FakeOpenAI,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Sched]:
    tmp = tmp_path_factory.mktemp("triggers-" + request.param)
    cluster, name = make_cluster(
        request,
        fake_openai,
        tmp,
        request.param,
        JUNCTION_TRIGGER_MAX_PER_PROJECT="12",
        JUNCTION_TRIGGER_MIN_INTERVAL_SECONDS="120",
    )
    try:
        api = cluster.api(workers=8)
        yield Sched(cluster, api, cluster.client(api))
    finally:
        drop(cluster, name)


@pytest.fixture
def sched(sched_server: Sched) -> Iterator[Sched]:
    """The module's server; every trigger a test made is deleted after it."""
    yield sched_server
    client = sched_server.client
    for trigger in client.triggers.list(page_size=100).triggers or []:
        client.triggers.delete(trigger.id)
