"""Webhook delivery benchmarks (docs/performance.md):

1. interaction end → delivery received, p50/p99 (targets 20 / 100 ms): background
   interactions on ``junction serve`` (SQLite, in-process workers; PostgreSQL, ``serve
   --no-worker`` + 2 ``junction worker``); the end is the interaction's ``updated`` time,
   the arrival is taken by the receiver (same host clock);
2. deliveries per second on PostgreSQL with 2 ``junction worker`` processes (target
   ≥ 1,000/s): N messages are put in the outbox (``junction.notify.outbox.enqueue``), then
   the workers start; rate = N / (last arrival - first arrival).

The receiver is a separate process (aiohttp on uvloop) answering 200 at once.

    .venv/bin/python bench/webhooks.py [--database-url postgresql://…/postgres]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import aiohttp
import asyncpg
from cryptography.fernet import Fernet

from _common import Stack
from overhead import KEY, Processes, pct

RECEIVER_CODE = """import asyncio, json, sys, time, uvloop
asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
from aiohttp import web
arrivals = []
async def hook(request):
    body = await request.read()
    arrivals.append((json.loads(body)["data"]["id"], request.headers["webhook-id"], time.time()))
    return web.Response(text="ok")
async def take(request):
    out = list(arrivals); arrivals.clear()
    return web.json_response(out)
async def main():
    app = web.Application(); app.router.add_post("/hook", hook); app.router.add_get("/_a", take)
    runner = web.AppRunner(app, access_log=None); await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, backlog=4096); await site.start()
    print(site._server.sockets[0].getsockname()[1], flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
asyncio.run(main())"""


def start_receiver(procs: Processes) -> str:
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    cmd = [sys.executable, "-c", RECEIVER_CODE]
    proc = procs.spawn("receiver", cmd, env, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    line = proc.stdout.readline().strip()
    if not line:
        raise RuntimeError(f"receiver did not start:\n{procs.log_tail('receiver')}")
    return f"http://127.0.0.1:{int(line)}"


def epoch(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


async def arrivals(s: aiohttp.ClientSession, receiver: str) -> list[list[object]]:
    async with s.get(f"{receiver}/_a") as r:
        got: list[list[object]] = await r.json()
        return got


async def latency(stack: Stack, receiver: str, count: int) -> dict[str, float]:
    api = stack.apis[0][0]
    hdr = {"x-goog-api-key": KEY}
    async with aiohttp.ClientSession(headers=hdr) as s:
        async with s.post(
            f"{api}/v1beta/webhooks",
            json={"uri": f"{receiver}/hook", "subscribed_events": ["interaction.completed"]},
        ) as r:
            assert r.status == 200, await r.text()
        await arrivals(s, receiver)
        ids = []
        for _ in range(count):
            body = {"model": "offline/echo", "input": "hi", "background": True}
            async with s.post(f"{api}/v1beta/interactions", json=body) as r:
                ids.append((await r.json())["id"])
            await asyncio.sleep(0.02)
        got: dict[str, float] = {}
        deadline = time.monotonic() + 60
        while len(got) < count and time.monotonic() < deadline:
            got |= {str(i): float(t) for i, _, t in await arrivals(s, receiver)}  # type: ignore[arg-type]
            await asyncio.sleep(0.1)
        lat = []
        for interaction_id in ids:
            async with s.get(f"{api}/v1beta/interactions/{interaction_id}") as r:
                ended = epoch((await r.json())["updated"])
            if interaction_id in got:
                lat.append((got[interaction_id] - ended) * 1000)
    return {"n": len(lat), "p50_ms": pct(lat, 0.5), "p99_ms": pct(lat, 0.99)}


async def throughput(stack: Stack, receiver: str, count: int) -> dict[str, float]:
    from junction.notify import outbox
    from junction.store.db import connect

    api = stack.apis[0][0]
    async with (
        aiohttp.ClientSession(headers={"x-goog-api-key": KEY}) as s,
        s.post(
            f"{api}/v1beta/webhooks",
            json={"uri": f"{receiver}/hook", "subscribed_events": ["bench.event"]},
        ) as r,
    ):
        assert r.status == 200, await r.text()
    db = await connect(stack.db_url)
    try:
        project = await db.fetchone("SELECT project_id FROM webhooks LIMIT 1")
        assert project is not None
        for start in range(0, count, 500):
            async with db.transaction() as tx:
                for n in range(start, min(count, start + 500)):
                    await outbox.enqueue(
                        tx,
                        project_id=project["project_id"],
                        event_type="bench.event",
                        data={"id": f"ev{n}"},
                    )
    finally:
        await db.close()
    await asyncio.gather(stack.worker(8), stack.worker(8))
    times: list[float] = []
    async with aiohttp.ClientSession() as s:
        deadline = time.monotonic() + 120
        while len(times) < count and time.monotonic() < deadline:
            times += [float(t) for _, _, t in await arrivals(s, receiver)]  # type: ignore[arg-type]
            await asyncio.sleep(0.2)
    span = max(times) - min(times) if len(times) > 1 else float("nan")
    return {"delivered": len(times), "seconds": span, "per_second": len(times) / span}


async def phase(args: argparse.Namespace, postgres: bool, what: str) -> dict[str, float]:
    tmp = Path(tempfile.mkdtemp(prefix="junction-bench-wh-"))
    procs = Processes(tmp)
    dbs: list[str] = []
    stack = Stack(procs, args, dbs)
    stack.env = dict(
        os.environ,
        JUNCTION_API_KEY=KEY,
        JUNCTION_ACCESS_LOG="0",
        JUNCTION_WEBHOOK_ALLOW_PRIVATE="1",
        JUNCTION_WEBHOOK_ALLOW_HTTP="1",
        JUNCTION_SECRET_KEY=Fernet.generate_key().decode(),
    )
    try:
        receiver = start_receiver(procs)
        if postgres:
            await stack.use_postgres()
        if what == "latency":
            if postgres:
                await stack.serve("--no-worker")
                await asyncio.gather(stack.worker(8), stack.worker(8))
            else:
                await stack.serve()
            return await latency(stack, receiver, args.count)
        await stack.serve("--no-worker")
        return await throughput(stack, receiver, args.deliveries)
    finally:
        procs.stop_all()
        for db in dbs:
            with contextlib.suppress(Exception):
                conn = await asyncpg.connect(args.database_url)
                await conn.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
                await conn.close()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--database-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--count", type=int, default=300, help="interactions per latency run")
    parser.add_argument("--deliveries", type=int, default=10_000, help="throughput messages")
    args = parser.parse_args()
    results = {
        "latency_sqlite": await phase(args, False, "latency"),
        "latency_postgres_2_workers": await phase(args, True, "latency"),
        "throughput_postgres_2_workers": await phase(args, True, "throughput"),
    }
    for name, figures in results.items():
        shown = ", ".join(f"{k} {v:,.1f}" for k, v in figures.items())
        print(f"{name:32} {shown}")
    print(json.dumps(results))


if __name__ == "__main__":
    asyncio.run(main())
