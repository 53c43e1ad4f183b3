"""The console's listings with 100,000 stored interactions: fills a fresh database
(SQLite, and PostgreSQL when ``--database-url`` names a server), runs a real Junction
server on it, and times the interaction listing with each filter, deep pages, and the
console's usage-per-day route over HTTP. Prints p50/p95 milliseconds and the query plans.

    .venv/bin/python bench/console_listing.py [--rows 100000] [--requests 40]
        [--database-url postgresql://postgres@127.0.0.1:5432/postgres]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import os
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx2 as httpx

from junction import ids, jsonutil
from junction.store.db import Database, connect
from junction.store.projects import ProjectStore

KEY = "bench-" + secrets.token_hex(8)
DAY_MS = 86_400_000
MODELS = [f"openai/model-{n}" for n in range(8)]


def status_of(n: int) -> str:
    r = n % 100
    return (
        "completed"
        if r < 90
        else "failed"
        if r < 95
        else "requires_action"
        if r < 98
        else "cancelled"
    )


async def fill(db: Database, project_id: str, rows: int) -> float:
    """``rows`` interactions spread over the last 30 days; seconds taken."""
    started = time.perf_counter()
    now = int(time.time() * 1000)
    columns = (
        "id, project_id, status, model, agent, chain_id, first_seq, last_seq, config, usage, "
        "created, updated"
    )
    sql = f"INSERT INTO interactions ({columns}) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12)"
    batch: list[tuple[Any, ...]] = []
    for n in range(rows):
        ms = now - 30 * DAY_MS + n * (30 * DAY_MS // rows)
        raw = ms.to_bytes(6, "big") + secrets.token_bytes(10)
        iid = "v1_" + base64.b32hexencode(raw).decode().rstrip("=").lower()
        created = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms / 1000)) + ".000000Z"
        agent = "researcher" if n % 10 == 0 else None
        usage = {
            "total_input_tokens": 800 + n % 400,
            "total_output_tokens": 120,
            "total_tokens": 920 + n % 400,
        }
        batch.append(
            (
                iid, project_id, status_of(n), None if agent else MODELS[n % 8], agent,
                "ch_" + iid[3:], 1, 3, jsonutil.dumps({"input": f"question {n}"}),
                jsonutil.dumps(usage), created, created,
            )
        )  # fmt: skip
        if len(batch) == 5000:
            async with db.transaction() as tx:
                await tx.executemany(sql, batch)
            batch = []
    if batch:
        async with db.transaction() as tx:
            await tx.executemany(sql, batch)
    if db.dialect == "postgresql":
        await db.execute("ANALYZE interactions")
    return time.perf_counter() - started


async def plans(db: Database, project_id: str) -> list[tuple[str, str]]:
    day_ago = ids.id_floor("v1_", int(time.time() * 1000) - DAY_MS)
    queries = {
        "status=failed": ("status = $2", "failed"),
        "model=openai/model-3": ("model = $2", "openai/model-3"),
        "agent=researcher": ("agent = $2", "researcher"),
        "after=1 day ago": ("id >= $2", day_ago),
    }
    out = []
    for name, (cond, value) in queries.items():
        sql = (
            f"SELECT id FROM interactions WHERE project_id = $1 AND {cond} "
            "ORDER BY id DESC LIMIT 26"
        )
        prefix = "EXPLAIN QUERY PLAN " if db.dialect == "sqlite" else "EXPLAIN "
        rows = await db.fetchall(prefix + sql, project_id, value)
        key = "detail" if db.dialect == "sqlite" else "QUERY PLAN"
        lines = [str(r[key]) for r in rows]
        out.append((name, " | ".join(line.strip() for line in lines)))
    return out


def timed(client: httpx.Client, path: str, params: dict[str, str], n: int) -> tuple[float, float]:
    samples = []
    for _ in range(n):
        started = time.perf_counter()
        response = client.get(path, params=params)
        samples.append((time.perf_counter() - started) * 1000)
        response.raise_for_status()
    samples.sort()
    return statistics.median(samples), samples[int(len(samples) * 0.95) - 1]


def deep_token(client: httpx.Client, pages: int) -> str:
    token = ""
    for _ in range(pages):
        body = client.get(
            "/v1beta/interactions", params={"page_size": "100", "page_token": token}
        ).json()
        token = body["next_page_token"]
    return token


def serve(url: str, data_dir: Path) -> tuple[subprocess.Popen[bytes], str]:
    """``junction serve`` in its own process (as deployed), on a free port."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {**os.environ, "JUNCTION_API_KEY": KEY, "JUNCTION_ACCESS_LOG": "0"}
    proc = subprocess.Popen(
        [str(Path(sys.executable).parent / "junction"), "serve", "--port", str(port),
         "--database-url", url, "--data-dir", str(data_dir), "--no-worker"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    for _ in range(300):
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{base}/healthz").status_code == 200:
                return proc, base
        time.sleep(0.1)
    proc.kill()
    raise RuntimeError("junction serve did not start")


async def run(label: str, url: str, data_dir: Path, rows: int, requests: int) -> None:
    proc, base = serve(url, data_dir)
    db = await connect(url)
    try:
        project_id = await ProjectStore(db).project_for_key(KEY)
        assert project_id
        seconds = await fill(db, project_id, rows)
        print(f"\n{label}: {rows} interactions inserted in {seconds:.1f} s")
        for name, plan in await plans(db, project_id):
            print(f"  plan {name:22} {plan}")
        client = httpx.Client(base_url=base, headers={"x-goog-api-key": KEY}, timeout=60)
        day = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 86400))
        cases = [
            ("first page (25)", {"page_size": "25"}),
            ("status=failed", {"page_size": "25", "status": "failed"}),
            ("status=cancelled", {"page_size": "25", "status": "cancelled"}),
            ("model=openai/model-3", {"page_size": "25", "model": "openai/model-3"}),
            ("agent=researcher", {"page_size": "25", "agent": "researcher"}),
            ("after=1 day ago", {"page_size": "25", "after": day}),
            ("failed + model", {"page_size": "25", "status": "failed", "model": "openai/model-3"}),
            ("page 500 (token)", {"page_size": "25", "page_token": deep_token(client, 200)}),
        ]
        print(f"  {'GET /v1beta/interactions':34} {'p50 ms':>8} {'p95 ms':>8}")
        for name, params in cases:
            p50, p95 = timed(client, "/v1beta/interactions", params, requests)
            print(f"  {name:34} {p50:8.1f} {p95:8.1f}")
        client.close()
    finally:
        await db.close()
        proc.terminate()
        proc.wait(15)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=40)
    parser.add_argument("--database-url", help="a PostgreSQL server's admin URL (optional)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        await run("SQLite", f"sqlite:///{tmp}/bench.db", Path(tmp), args.rows, args.requests)
        if args.database_url:
            import asyncpg

            name = "junction_bench_" + secrets.token_hex(4)
            admin = await asyncpg.connect(args.database_url)
            await admin.execute(f"CREATE DATABASE {name}")
            try:
                base = args.database_url.rsplit("/", 1)[0]
                await run("PostgreSQL", f"{base}/{name}", Path(tmp), args.rows, args.requests)
            finally:
                await admin.execute(f"DROP DATABASE {name} WITH (FORCE)")
                await admin.close()


if __name__ == "__main__":
    asyncio.run(main())
