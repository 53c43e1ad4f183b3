"""Creating a missing PostgreSQL database at start-up, or saying in one line what to run.

``junction serve --database-url postgresql://…/name`` on a server where ``name`` does
not exist connects to the server's maintenance database (``postgres``, else
``template1``) as the same role and runs ``CREATE DATABASE``; a role without the
``CREATEDB`` privilege gets a one-line message naming the command to run instead.
"""

from __future__ import annotations

import logging
from urllib.parse import unquote, urlsplit, urlunsplit

import asyncpg

from junction.store.db import DatabaseUnavailable

log = logging.getLogger("junction.store")


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def describe(url: str) -> tuple[str, str, str]:
    """``(database, role, host:port)`` of a PostgreSQL URL (no password)."""
    parts = urlsplit(url)
    name = unquote(parts.path.lstrip("/")) or (parts.username or "postgres")
    role = unquote(parts.username or "") or "the current user"
    where = f"{parts.hostname or 'localhost'}:{parts.port or 5432}"
    return name, role, where


async def create_database(url: str) -> None:
    """Create the database ``url`` names; :class:`DatabaseUnavailable` when we may not."""
    name, role, where = describe(url)
    parts = urlsplit(url)
    last: Exception | None = None
    for maintenance in ("postgres", "template1"):
        admin_url = urlunsplit(parts._replace(path="/" + maintenance))
        try:
            conn = await asyncpg.connect(admin_url, timeout=10)
        except (OSError, asyncpg.PostgresError) as exc:
            last = exc
            continue
        try:
            await conn.execute(f"CREATE DATABASE {_quote(name)}")
            log.info("created PostgreSQL database %s on %s", name, where)
            return
        except asyncpg.DuplicateDatabaseError:
            return  # another process created it first
        except asyncpg.InsufficientPrivilegeError:
            raise DatabaseUnavailable(
                f'PostgreSQL database "{name}" does not exist on {where} and role {role} may '
                f"not create it: run  createdb -h {where.split(':')[0]} -p "
                f"{where.split(':')[1]} -O {role} {name}  as a role that may (or ask your DBA)"
            ) from None
        finally:
            await conn.close()
    raise DatabaseUnavailable(
        f'PostgreSQL database "{name}" does not exist on {where}, and creating it failed '
        f"({type(last).__name__}: {last}): run  createdb -h {where.split(':')[0]} -p "
        f"{where.split(':')[1]} {name}"
    )
