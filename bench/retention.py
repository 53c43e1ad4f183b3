"""Retention purge: how fast it deletes, and what it costs the requests running beside it.

For each database (SQLite in a scratch directory; PostgreSQL when --pg names a server),
it starts a real Junction server, creates N interactions, backdates them, then purges
them in batches while another thread keeps creating interactions, and prints the purge
rate and the create latency before and during the purge.

    .venv/bin/python bench/retention.py [-n 2000] [--pg postgresql://postgres@127.0.0.1:5432/postgres]
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import tempfile
import threading
import time
from pathlib import Path

import asyncpg
import httpx2 as httpx

from junction.config import load_settings
from junction.testing.server import JunctionThread

KEY = "bench-" + secrets.token_hex(4)
OLD = "2020-01-01T00:00:00.000000Z"


def creates(url: str, count: int | None, stop: threading.Event | None = None) -> list[float]:
    took = []
    with httpx.Client(headers={"x-goog-api-key": KEY}, timeout=60) as client:
        while (count is None or len(took) < count) and not (stop and stop.is_set()):
            started = time.perf_counter()
            r = client.post(
                url + "/v1beta/interactions", json={"model": "offline/echo", "input": "hello"}
            )
            took.append((time.perf_counter() - started) * 1000)
            assert r.status_code == 200, r.text
    return took


def pct(values: list[float], q: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


def run(name: str, database_url: str, data_dir: Path, n: int, batch: int) -> None:
    settings = load_settings(
        env={"JUNCTION_API_KEY": KEY},
        overrides={
            "database_url": database_url,
            "data_dir": data_dir,
            "access_log": False,
            "retention_batch_size": batch,
            "retention_interactions_days": 1,
            "retention_interval_seconds": 0,
        },
    )
    server = JunctionThread(settings).start()
    try:
        creates(server.url, n)
        system = server.state.system
        loop = server.state.loop
        asyncio.run_coroutine_threadsafe(
            system.db.execute("UPDATE interactions SET created = $1", OLD), loop
        ).result()
        baseline = creates(server.url, 200)
        stop = threading.Event()
        during: list[float] = []
        worker = threading.Thread(
            target=lambda: during.extend(creates(server.url, None, stop)), daemon=True
        )
        worker.start()
        started = time.perf_counter()
        purged = asyncio.run_coroutine_threadsafe(system.retention.purge_all(), loop).result()
        seconds = time.perf_counter() - started
        stop.set()
        worker.join()
        print(
            f"{name:10s} purged {purged['interactions']:6d} interactions in {seconds:6.2f} s "
            f"({purged['interactions'] / seconds:7.0f}/s, batches of {batch}); "
            f"create latency p50/p99/max before {pct(baseline, 50):.1f}/{pct(baseline, 99):.1f}/"
            f"{max(baseline):.1f} ms, during {pct(during, 50):.1f}/{pct(during, 99):.1f}/"
            f"{max(during):.1f} ms ({len(during)} creates)"
        )
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("-n", type=int, default=2000, help="interactions to purge")
    parser.add_argument("--batch", type=int, default=200)
    parser.add_argument("--pg", help="a PostgreSQL admin URL (a scratch database is made)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        run("sqlite", f"sqlite:///{Path(tmp) / 'j.db'}", Path(tmp), args.n, args.batch)
    if args.pg:
        name = "junction_bench_" + secrets.token_hex(4)
        admin = args.pg

        async def admin_sql(sql: str) -> None:
            conn = await asyncpg.connect(admin)
            try:
                await conn.execute(sql)
            finally:
                await conn.close()

        asyncio.run(admin_sql(f"CREATE DATABASE {name}"))
        try:
            with tempfile.TemporaryDirectory() as tmp:
                run(
                    "postgresql",
                    admin.rsplit("/", 1)[0] + "/" + name,
                    Path(tmp),
                    args.n,
                    args.batch,
                )
        finally:
            asyncio.run(admin_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))


if __name__ == "__main__":
    main()
