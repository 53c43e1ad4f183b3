"""A Junction server per database backend configured for observability tests: prices,
a daily money budget, a metrics token, and tracing into the SDK's in-memory exporter."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from junction.config import load_settings
from junction.testing.fake_openai import FakeOpenAI
from junction.testing.server import JunctionThread
from tests.conftest import API_KEY, Junction, _pg_admin

METRICS_TOKEN = "metrics-" + secrets.token_hex(8)
#: the money budget per project and day (USD); tests that spend use a fresh project
DAILY_COST = 0.003
CONFIG = """
[server]
provider_backoff_base = 0.01
project_daily_cost = {daily_cost}

[prices."openai/priced"]
input = 2.0
output = 10.0
cached_input = 0.5
"""


@dataclass
class Observed(Junction):
    spans: InMemorySpanExporter | None = None

    def new_key(self, project: str | None = None) -> tuple[str, str]:
        """A key of a fresh (or the named) project: ``(key_id, key)``."""
        out = self.cli("keys", "create", "--project", project or "p-" + secrets.token_hex(4))
        key_id, key = out.stdout.split()[:2]
        return key_id, key


def _database(backend: str, tmp: Path) -> Iterator[str]:
    if backend == "sqlite":
        yield f"sqlite:///{tmp / 'junction.db'}"
        return
    name = "junction_obs_" + secrets.token_hex(4)
    try:
        _pg_admin(f"CREATE DATABASE {name}")
    except Exception as exc:
        pytest.skip(f"PostgreSQL not reachable: {exc!r}")
    yield f"postgresql://postgres@127.0.0.1:5432/{name}"
    _pg_admin(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'")
    _pg_admin(f"DROP DATABASE IF EXISTS {name}")


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def observed(
    request: pytest.FixtureRequest,
    fake_openai: FakeOpenAI,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Observed]:
    if request.param == "postgres":
        request.getfixturevalue("pg_url")  # skips (or fails under CI) without PostgreSQL
    tmp = tmp_path_factory.mktemp("observe-" + request.param)
    for url in _database(request.param, tmp):
        config = tmp / "junction.toml"
        config.write_text(CONFIG.format(daily_cost=DAILY_COST))
        settings = load_settings(
            env={
                "JUNCTION_API_KEY": API_KEY,
                "OPENAI_BASE_URL": fake_openai.url + "/v1",
                "OPENAI_API_KEY": "sk-fake-provider-secret",
                "JUNCTION_PRICES": '{"openai/json-priced": {"input": 1, "output": 1}}',
                "JUNCTION_METRICS_TOKEN": METRICS_TOKEN,
                "JUNCTION_TRACING": "1",
            },
            config_file=config,
            overrides={"database_url": url, "data_dir": tmp, "access_log": False},
        )
        spans = InMemorySpanExporter()
        thread = JunctionThread(settings, span_exporter=spans).start()
        yield Observed(thread, request.param, url, API_KEY, spans=spans)
        thread.stop()
