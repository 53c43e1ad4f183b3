"""Shared fixtures: real Junction servers (SQLite and PostgreSQL) on loopback, fake
model providers speaking each vendor's wire format, and official-SDK clients.

PostgreSQL runs at 127.0.0.1:5432 (user postgres, trust auth). Each test session creates
its own database and drops it afterwards. Where PostgreSQL is absent those tests skip
with the reason shown; with JUNCTION_REQUIRE_POSTGRES=1 (as .ci/run sets) they fail.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx2 as httpx
import pytest
from cryptography.fernet import Fernet
from google import genai
from google.genai import types

from junction.config import ProviderConfig, load_settings
from junction.testing.fake_openai import FakeOpenAI
from junction.testing.server import JunctionThread

PG_ADMIN_URL = os.environ.get("JUNCTION_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
REQUIRE_PG = os.environ.get("JUNCTION_REQUIRE_POSTGRES") == "1"
API_KEY = "test-key-" + secrets.token_hex(4)
SECRET_KEY = Fernet.generate_key().decode()


def _pg_admin(sql: str) -> None:
    import asyncpg

    async def run() -> None:
        conn = await asyncpg.connect(PG_ADMIN_URL, timeout=5)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(run())


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    name = "junction_test_" + secrets.token_hex(4)
    try:
        _pg_admin(f"CREATE DATABASE {name}")
    except Exception as exc:  # any failure means "no PostgreSQL here"
        if REQUIRE_PG:
            pytest.fail(f"PostgreSQL is required (JUNCTION_REQUIRE_POSTGRES=1) but: {exc!r}")
        pytest.skip(f"PostgreSQL not reachable at {PG_ADMIN_URL}: {exc!r}")
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    yield f"{base}/{name}"
    _pg_admin(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'")
    _pg_admin(f"DROP DATABASE IF EXISTS {name}")


@pytest.fixture(scope="session")
def fake_openai() -> Iterator[FakeOpenAI]:
    server = FakeOpenAI().start()
    yield server
    server.stop()


@pytest.fixture
def openai_fake(fake_openai: FakeOpenAI) -> FakeOpenAI:
    """The session's fake OpenAI server, reset for this test."""
    fake_openai.reset()
    return fake_openai


@dataclass
class Junction:
    thread: JunctionThread
    backend: str
    database_url: str
    api_key: str
    clients: dict[tuple[str, str, int], genai.Client] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return self.thread.url

    def client(
        self, api_key: str | None = None, *, api_version: str = "v1beta", attempts: int = 1
    ) -> genai.Client:
        # Clients are kept: a collected genai.Client closes its HTTP client under its
        # sub-clients.
        key = (api_key or self.api_key, api_version, attempts)
        if key not in self.clients:
            self.clients[key] = self._client(*key)
        return self.clients[key]

    def _client(self, api_key: str, api_version: str, attempts: int) -> genai.Client:
        return genai.Client(
            api_key=api_key,
            http_options=types.HttpOptions(
                base_url=self.url,
                api_version=api_version,
                retry_options=types.HttpRetryOptions(attempts=attempts),
            ),
        )

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "junction.cli", *args, "--database-url", self.database_url],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )


def traversable(path: Path) -> None:
    """Let the unprivileged sandbox user walk down to ``path`` (o+x, never o+r)."""
    for folder in (path, *path.parents):
        if folder in (Path("/"), Path("/tmp")):
            break
        folder.chmod(folder.stat().st_mode | 0o001)


def _start(
    database_url: str, fake: FakeOpenAI, backend: str, tmp: Path, **overrides: object
) -> Junction:
    traversable(tmp)
    env = {
        "JUNCTION_API_KEY": API_KEY,
        "OPENAI_BASE_URL": fake.url + "/v1",
        "OPENAI_API_KEY": "sk-fake",
        "JUNCTION_SECRET_KEY": SECRET_KEY,
    }
    config = tmp / "junction.toml"
    config.write_text(
        f"""
[server]
provider_backoff_base = 0.05
sse_keepalive_seconds = 0.3
credentials_allow_private = true

[providers.myvllm]
type = "openai"
base_url = "{fake.url}/v1"
# a vLLM-like server that streams its reasoning (reasoning_content) as thought summaries
reasoning_summaries = true

[models."openai/small-window"]
context_window = 3000

[aliases]
"gemini-3.5-flash" = "offline/echo"
"house-model" = "myvllm/qwen3"
"""
    )
    settings = load_settings(
        env=env,
        config_file=config,
        overrides={
            "database_url": database_url,
            "data_dir": tmp,
            "access_log": False,
            **overrides,
        },
    )
    assert isinstance(settings.providers["myvllm"], ProviderConfig)
    thread = JunctionThread(settings).start()
    return Junction(thread, backend, database_url, API_KEY)


@pytest.fixture(scope="session", params=["sqlite", "postgres"])
def junction(
    request: pytest.FixtureRequest,
    fake_openai: FakeOpenAI,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Junction]:
    """A running Junction server per database backend (the API tests run on both)."""
    tmp = tmp_path_factory.mktemp(request.param)
    if request.param == "sqlite":
        url = f"sqlite:///{tmp / 'junction.db'}"
    else:
        url = request.getfixturevalue("pg_url")
    server = _start(url, fake_openai, request.param, tmp)
    yield server
    server.thread.stop()


@pytest.fixture
def client(junction: Junction) -> genai.Client:
    return junction.client()


REQUIRE_SANDBOX = os.environ.get("JUNCTION_REQUIRE_SANDBOX") == "1"


@pytest.fixture
def envs(junction: Junction) -> genai.Client:
    client = junction.client()
    probe = httpx.post(
        f"{junction.url}/v1beta/environments",
        json={"network": "disabled"},
        headers={"x-goog-api-key": junction.api_key},
    )
    if probe.status_code == 503:
        reason = probe.json()["error"]["message"]
        if REQUIRE_SANDBOX:
            pytest.fail(f"the sandbox is required (JUNCTION_REQUIRE_SANDBOX=1): {reason}")
        pytest.skip(reason)
    assert probe.status_code == 200, probe.text
    client.environments.delete(probe.json()["id"])
    return client
