"""Store tests: a fresh, migrated database per test, on SQLite and on PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from junction.store.db import Database, connect
from junction.store.migrate import migrate
from tests.api.quota_servers import database


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "postgres":
        request.getfixturevalue("pg_url")
    with database(request.param, tmp_path) as url:
        yield url


@pytest.fixture
async def db(db_url: str) -> AsyncIterator[Database]:
    database_ = await connect(db_url)
    await migrate(database_)
    yield database_
    await database_.close()
