"""A PostgreSQL server with no room for another connection: the store raises DatabaseBusy
(translated at the seam), which the API answers 503 in the SDK's error shape, not 500."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Iterator

import pytest

from junction.api.errors import error_response
from junction.store.db import DatabaseBusy
from junction.store.postgres import PostgresDatabase
from tests.conftest import PG_ADMIN_URL, _pg_admin


@pytest.fixture
def limited_url(pg_url: str) -> Iterator[str]:
    """A database owned by a role allowed two connections (superusers have no limit)."""
    role, name = f"junction_busy_{secrets.token_hex(3)}", f"junction_busy_{secrets.token_hex(3)}"
    _pg_admin(f"CREATE ROLE {role} LOGIN CONNECTION LIMIT 2")
    _pg_admin(f"CREATE DATABASE {name} OWNER {role}")
    host = PG_ADMIN_URL.split("@", 1)[1].rsplit("/", 1)[0]
    try:
        yield f"postgresql://{role}@{host}/{name}"
    finally:
        _pg_admin(
            f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"
        )
        _pg_admin(f"DROP DATABASE IF EXISTS {name}")
        _pg_admin(f"DROP ROLE IF EXISTS {role}")


async def test_a_refused_connection_is_database_busy(limited_url: str) -> None:
    db = await PostgresDatabase.open(limited_url, min_size=1, max_size=3)
    try:
        held: list[object] = []
        hold, both = asyncio.Event(), asyncio.Event()

        async def occupy() -> None:
            async with db.transaction() as tx:
                await tx.fetchone("SELECT 1")
                held.append(tx)
                if len(held) == 2:
                    both.set()
                await hold.wait()

        tasks = [asyncio.create_task(occupy()) for _ in range(2)]
        await asyncio.wait_for(both.wait(), 10)
        with pytest.raises(DatabaseBusy, match="TooManyConnectionsError"):
            await db.fetchone("SELECT 1")  # a third connection: over the role's limit
        with pytest.raises(DatabaseBusy):
            async with db.transaction():
                pass
        hold.set()
        await asyncio.gather(*tasks)
        assert (await db.fetchone("SELECT 2 AS n"))["n"] == 2  # type: ignore[index]
    finally:
        await db.close()


def test_database_busy_is_a_503_in_the_sdks_error_shape() -> None:
    response = error_response(DatabaseBusy("the database refused a connection; retry shortly"))
    assert response.status_code == 503
    assert b'"status":"UNAVAILABLE"' in response.body
