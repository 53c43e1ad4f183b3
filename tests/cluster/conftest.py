"""Real processes: `junction serve` and `junction worker` subprocesses sharing one
database (a SQLite file, or a fresh PostgreSQL database), driven by the official SDK."""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx2 as httpx
import pytest
from google import genai
from google.genai import types

from junction.testing.fake_openai import FakeOpenAI
from tests.conftest import _pg_admin


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Proc:
    popen: subprocess.Popen[bytes]
    port: int | None
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def kill9(self) -> None:
        self.popen.send_signal(signal.SIGKILL)
        self.popen.wait(10)

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(15)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(5)


@dataclass
class Cluster:
    backend: str
    database_url: str
    fake: FakeOpenAI
    tmp: Path
    api_key: str = field(default_factory=lambda: "ck-" + secrets.token_hex(6))
    procs: list[Proc] = field(default_factory=list)
    clients: list[genai.Client] = field(default_factory=list)

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            JUNCTION_API_KEY=self.api_key,
            OPENAI_BASE_URL=self.fake.url + "/v1",
            OPENAI_API_KEY="sk-fake",
            JUNCTION_LEASE_SECONDS="1.5",
            JUNCTION_ACCESS_LOG="0",
            JUNCTION_PROVIDER_BACKOFF="0.05",
        )
        return env

    def _spawn(self, args: list[str], port: int | None) -> Proc:
        log = self.tmp / f"proc-{len(self.procs)}.log"
        popen = subprocess.Popen(
            [sys.executable, "-m", "junction.cli", *args, "--database-url", self.database_url],
            env=self.env(),
            stdout=log.open("wb"),
            stderr=subprocess.STDOUT,
        )
        proc = Proc(popen, port, log)
        self.procs.append(proc)
        return proc

    def api(self, *, workers: int | None = None) -> Proc:
        port = free_port()
        args = ["serve", "--port", str(port)]
        args += ["--no-worker"] if workers is None else ["--workers", str(workers)]
        proc = self._spawn(args, port)
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(proc.url + "/healthz", timeout=1).status_code == 200:
                    return proc
            except httpx.HTTPError:
                pass
            if proc.popen.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"junction serve did not start:\n{proc.log.read_text()}")
            time.sleep(0.05)

    def worker(self, workers: int = 8) -> Proc:
        proc = self._spawn(["worker", "--workers", str(workers)], None)
        deadline = time.monotonic() + 30
        while "running up to" not in proc.log.read_text():
            if proc.popen.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"junction worker did not start:\n{proc.log.read_text()}")
            time.sleep(0.05)
        return proc

    def client(self, proc: Proc) -> genai.Client:
        client = genai.Client(
            api_key=self.api_key,
            http_options=types.HttpOptions(
                base_url=proc.url,
                api_version="v1beta",
                retry_options=types.HttpRetryOptions(attempts=1),
            ),
        )
        self.clients.append(client)
        return client

    def wait_status(
        self, client: genai.Client, interaction_id: str, statuses: set[str], timeout: float = 30
    ) -> object:
        deadline = time.monotonic() + timeout
        while True:
            got = client.interactions.get(interaction_id)
            if got.status in statuses:
                return got
            assert time.monotonic() < deadline, f"{interaction_id} still {got.status}"
            time.sleep(0.1)

    def close(self) -> None:
        for proc in self.procs:
            proc.stop()


@pytest.fixture(params=["sqlite", "postgres"])
def cluster(
    request: pytest.FixtureRequest, fake_openai: FakeOpenAI, tmp_path: Path
) -> Iterator[Cluster]:
    fake_openai.reset()
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'cluster.db'}"
        name = None
    else:
        base = request.getfixturevalue("pg_url").rsplit("/", 1)[0]
        name = "junction_cluster_" + secrets.token_hex(4)
        _pg_admin(f"CREATE DATABASE {name}")
        url = f"{base}/{name}"
    cluster = Cluster(request.param, url, fake_openai, tmp_path)
    try:
        yield cluster
    finally:
        cluster.close()
        if name:
            _pg_admin(
                f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"
            )
            _pg_admin(f"DROP DATABASE IF EXISTS {name}")
