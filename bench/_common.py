"""Helpers of bench/background.py: the processes of one benchmark phase (fake provider,
``junction serve``, ``junction worker``, a scratch PostgreSQL database), SSE timing and
/proc readings."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import socket
import subprocess
import sys
import time
import urllib.parse
import uuid
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import orjson

from overhead import BIN, CLK, KEY, NO_LIMITS, SERVE, Processes, cpu_seconds, pct

FAKE_CODE = """import asyncio, json, sys, time, uvloop
asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
from aiohttp import web
from junction.testing.fake_openai import FakeOpenAI
from junction.testing.fakeserver import Reply
class Fake(FakeOpenAI):
    arrivals = []
    def routes(self, app):
        super().routes(app)
        app.router.add_get("/_arrivals", self.take)
    async def chat_completions(self, request):
        self.arrivals.append(time.monotonic())
        return await super().chat_completions(request)
    async def take(self, request):
        out = list(self.arrivals); self.arrivals.clear()
        return web.json_response(out)
fake = Fake(); fake.record = False; fake.default = Reply(**json.loads(sys.argv[1]))
fake.start(0); print(fake.port, flush=True); sys.stdin.read()  # EOF: the benchmark went away"""
HDR = {"Content-Type": "application/json", "x-goog-api-key": KEY}
BG = orjson.dumps({"model": "openai/m", "input": "hi", "background": True})
STREAM = orjson.dumps({"model": "openai/m", "input": "hi", "stream": True})
TEXT = "Hello there, this is the fake model speaking."


class Stack:
    """The processes of one phase: fake provider, API processes, worker processes."""

    def __init__(self, procs: Processes, args: argparse.Namespace, dbs: list[str]) -> None:
        self.procs, self.args, self.dbs = procs, args, dbs
        self.env: dict[str, str] = {}
        self.fake_url, self.fake_pid, self.db_url = "", 0, ""
        self.apis: list[tuple[str, int]] = []  # (base url, pid)
        self.workers: list[int] = []

    def start_fake(self, **reply: Any) -> None:
        cmd = [sys.executable, "-c", FAKE_CODE, json.dumps(reply)]
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        fake = self.procs.spawn("fake", cmd, env, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        line = fake.stdout.readline().strip()
        if not line:
            raise RuntimeError(f"fake provider did not start:\n{self.procs.log_tail('fake')}")
        self.fake_url, self.fake_pid = f"http://127.0.0.1:{int(line)}", fake.pid
        self.env = dict(
            env, JUNCTION_API_KEY=KEY, OPENAI_API_KEY="x", OPENAI_BASE_URL=f"{self.fake_url}/v1",
            JUNCTION_ACCESS_LOG="0", **NO_LIMITS,
        )  # fmt: skip

    async def use_postgres(self) -> None:
        db = f"junction_bg_{uuid.uuid4().hex[:10]}"
        conn = await asyncpg.connect(self.args.database_url)
        try:
            await conn.execute(f'CREATE DATABASE "{db}"')
        finally:
            await conn.close()
        self.dbs.append(db)
        self.db_url = urllib.parse.urlsplit(self.args.database_url)._replace(path=f"/{db}").geturl()

    def _db_args(self, data: str = "data") -> list[str]:
        if self.db_url:
            return ["--database-url", self.db_url]
        return ["--data-dir", str(self.procs.tmp / data)]

    async def serve(self, *extra: str, src: str | None = None) -> str:
        """Start ``junction serve``; with ``src``, the same command run from another
        checkout's ``src`` (its own SQLite data directory)."""
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        name = f"api{len(self.apis)}"
        args = ["serve", "--port", str(port), *self._db_args(f"data-{name}" if src else "data")]
        cmd = [str(BIN / "junction"), *args, *extra]
        env = self.env
        if src:
            cmd[:1] = [sys.executable, "-c", SERVE]
            env = dict(env, PYTHONPATH=src)
        proc = self.procs.spawn(name, cmd, env, stdout=subprocess.DEVNULL)
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        async with aiohttp.ClientSession() as s:
            while True:
                with contextlib.suppress(aiohttp.ClientError):
                    async with s.get(f"{url}/healthz") as r:
                        if r.status == 200:
                            break
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"{name} did not start:\n{self.procs.log_tail(name)}")
                await asyncio.sleep(0.05)
        self.apis.append((url, proc.pid))
        return url

    async def worker(self, slots: int) -> None:
        name = f"worker{len(self.workers)}"
        cmd = [str(BIN / "junction"), "worker", "--workers", str(slots), *self._db_args()]
        proc = self.procs.spawn(name, cmd, self.env, stdout=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while "running up to" not in self.procs.log_tail(name):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{name} did not start:\n{self.procs.log_tail(name)}")
            await asyncio.sleep(0.05)
        self.workers.append(proc.pid)

    def pids(self) -> dict[str, int]:
        out = {"gen": os.getpid(), "fake": self.fake_pid}
        out |= {f"api{i}": pid for i, (_, pid) in enumerate(self.apis)}
        return out | {f"worker{i}": pid for i, pid in enumerate(self.workers)}


def summary(values: list[float]) -> dict[str, float]:
    return {
        "p50_ms": pct(values, 0.5), "p99_ms": pct(values, 0.99), "max_ms": max(values),
        "n_over_100ms": sum(v > 100 for v in values),
    }  # fmt: skip


async def sse_times(
    resp: aiohttp.ClientResponse, until: str, *, drain: bool = False
) -> dict[str, float]:
    """Arrival time (monotonic) of the first event of each type, read until ``until``
    (``drain``: then on to the end of the body, as an SDK reads a stream; a response
    left before its end closes its connection, and the next request opens a new one)."""
    if resp.status != 200:
        raise RuntimeError(f"HTTP {resp.status}: {(await resp.read())[:300]!r}")
    seen: dict[str, float] = {}
    async for line in resp.content:
        if line.startswith(b"event: "):
            name = line[7:].strip().decode()
            seen.setdefault(name, time.monotonic())
            if name == until:
                break
        elif line.startswith(b"data:"):
            seen.setdefault("data", time.monotonic())
    if drain:
        await resp.read()
    return seen


async def arrivals(s: aiohttp.ClientSession, stack: Stack) -> list[float]:
    async with s.get(f"{stack.fake_url}/_arrivals") as r:
        return list(await r.json())


def postgres_cpu() -> dict[int, float]:
    out = {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            with contextlib.suppress(OSError, IndexError):
                if (d / "comm").read_text().strip() == "postgres":
                    out[int(d.name)] = cpu_seconds(int(d.name))
    return out


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def system_busy() -> float:
    """Busy CPU-seconds of the whole machine (all cores, kernel included)."""
    v = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    return (sum(v) - v[3] - v[4]) / CLK
