"""Junction background-run benchmark: job pickup, background throughput, idle SSE streams
and time to first event. Four phases, each with its own processes (the fake provider,
``junction serve`` and ``junction worker``) and, on PostgreSQL, its own scratch database:

  pickup      POST background create → step.start seen by a client following the
              interaction (GET ?stream=true right after the 200), and → the model call
              reaching the fake provider (a server-side measure, CLOCK_MONOTONIC shared
              by all processes); SQLite (serve with workers) and PostgreSQL (serve
              --no-worker + 2 workers, pickup through NOTIFY); baseline: a stream=true
              create (POST → step.start), interleaved.
  throughput  PostgreSQL, 2 × ``junction worker --workers 32`` + API processes --no-worker:
              K background creates from 32 concurrent clients, completions/s until all are
              completed (counted in the scratch database every 50 ms), CPU per process,
              PostgreSQL transactions per interaction; ``--baseline-src DIR`` runs another
              checkout's src (PYTHONPATH) first, per configuration, in the same run;
              ``--rounds N`` repeats the configurations in turn (paired figures).
  streams     One ``junction serve`` (SQLite) holding N idle ``GET ?stream=true`` followers
              of slow interactions: RSS per stream, /healthz latency, idle CPU (the
              open-file limit is raised for this process and the servers it starts).
  ttfe        Concurrency 1, interleaved: direct streaming call to the fake (first data:
              chunk) vs a Junction stream=true create (first event, first step.delta), and
              with --baseline-src DIR the same create against another checkout's src
              (``git archive main src``), order rotated; server CPU per stream.

    .venv/bin/python bench/background.py [--quick] [--only pickup …] [--streams 5000]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import resource
import signal
import sys
import tempfile
import time
import urllib.parse
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import orjson
import uvloop

from _common import (
    BG,
    HDR,
    STREAM,
    TEXT,
    Stack,
    arrivals,
    postgres_cpu,
    rss_kb,
    sse_times,
    summary,
    system_busy,
)
from overhead import RESULTS, Processes, cpu_seconds, pct, teardown


# -- 1. pickup --------------------------------------------------------------------------
async def pickup_sample(s: aiohttp.ClientSession, stack: Stack, background: bool) -> list[float]:
    url = f"{stack.apis[0][0]}/v1beta/interactions"
    t0 = time.monotonic()
    if background:
        async with s.post(url, data=BG, headers=HDR) as r:
            rec = await r.json()
        if r.status != 200 or rec.get("status") not in ("queued", "in_progress", "completed"):
            raise RuntimeError(f"background create: HTTP {r.status} {rec}")
        t_ok = time.monotonic()
        async with s.get(f"{url}/{rec['id']}?stream=true", headers=HDR) as r:
            seen = await sse_times(r, "interaction.completed")
    else:
        async with s.post(url, data=STREAM, headers=HDR) as r:
            seen = await sse_times(r, "interaction.completed")
        t_ok = seen["interaction.created"]
    calls = await arrivals(s, stack)
    if len(calls) != 1 or "step.start" not in seen:
        raise RuntimeError(f"expected one model call and a step.start: {calls} {seen}")
    return [(seen["step.start"] - t0) * 1e3, (calls[0] - t0) * 1e3, (t_ok - t0) * 1e3]


async def pickup_config(stack: Stack, n: int, warm: int) -> dict[str, Any]:
    rows: dict[str, list[list[float]]] = defaultdict(list)
    async with aiohttp.ClientSession() as s:
        for i in range(warm + n):
            for bg in (True, False) if i % 2 else (False, True):
                sample = await pickup_sample(s, stack, bg)
                if i >= warm:
                    rows["background" if bg else "stream"].append(sample)
    measures = ("to_step_start", "to_model_call", "to_create_reply")
    return {
        kind: {m: summary([x[j] for x in xs]) for j, m in enumerate(measures)}
        for kind, xs in rows.items()
    }


async def phase_pickup(args: argparse.Namespace, group: Any, dbs: list[str]) -> Any:
    out: dict[str, Any] = {}
    lite = Stack(group("sqlite"), args, dbs)
    lite.start_fake(text=TEXT)
    await lite.serve()
    print(f"  sqlite: serve with workers, {args.pickup_n} × 2 interleaved...", flush=True)
    out["sqlite_serve_workers"] = await pickup_config(lite, args.pickup_n, args.warm)
    lite.procs.stop_all()
    pg = Stack(group("postgres"), args, dbs)
    pg.start_fake(text=TEXT)
    await pg.use_postgres()
    await pg.serve("--no-worker")
    for _ in range(2):
        await pg.worker(32)
    print(f"  postgresql: serve --no-worker + 2 workers, {args.pickup_n} × 2...", flush=True)
    out["postgres_api_2workers"] = await pickup_config(pg, args.pickup_n, args.warm)
    return out


# -- 2. throughput ----------------------------------------------------------------------


WAITS_SQL = (  # what the Junction database's busy backends are doing (sampled)
    "SELECT state || ' ' || coalesce(wait_event_type || ':' || wait_event, 'on CPU') AS w "
    "FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() "
    "AND state IN ('active', 'idle in transaction')"
)


async def throughput_run(stack: Stack, k: int, conc: int) -> dict[str, Any]:
    urls = [f"{u}/v1beta/interactions" for u, _ in stack.apis]
    db = await asyncpg.connect(stack.db_url)
    count_sql = (
        "SELECT count(*) FILTER (WHERE status = 'completed') AS done, count(*) FILTER "
        "(WHERE status IN ('queued', 'in_progress')) AS open, count(*) AS total FROM interactions"
    )
    base = (await db.fetchrow(count_sql))["total"]
    mine = 1  # this connection's own transactions (not Junction's)
    timeout = aiohttp.ClientTimeout(total=120)
    async with aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=conc + 8), timeout=timeout
    ) as s:
        todo = iter(range(k))
        lat: list[float] = []

        async def client(c: int) -> None:
            # Each client alternates between the API processes on its own count: a
            # choice by the shared index phase-locks when replies come back together.
            for n, _ in enumerate(todo):
                t = time.perf_counter()
                async with s.post(urls[(c + n) % len(urls)], data=BG, headers=HDR) as r:
                    body = await r.read()
                if r.status != 200:
                    raise RuntimeError(f"create: HTTP {r.status} {body[:300]!r}")
                lat.append((time.perf_counter() - t) * 1e3)

        pids = stack.pids()
        cpu0 = {n: cpu_seconds(p) for n, p in pids.items()}
        pg0, sys0 = postgres_cpu(), system_busy()
        t0 = time.monotonic()
        clients = asyncio.gather(*(client(c) for c in range(conc)))
        submitted, backlog, polls, waits = 0.0, 0, 0, Counter[str]()
        while True:
            await asyncio.sleep(0.05)
            row = await db.fetchrow(count_sql)
            backlog, polls = max(backlog, row["open"]), polls + 1
            mine += 2
            for w in await db.fetch(WAITS_SQL):
                waits[w["w"]] += 1
            if clients.done() and not submitted:
                clients.result()
                submitted = time.monotonic() - t0
            if row["total"] - base >= k and row["open"] == 0:
                break
            if time.monotonic() - t0 > 300:
                raise RuntimeError(f"background runs did not finish: {dict(row)}")
        elapsed = time.monotonic() - t0
        await clients
        submitted = submitted or elapsed
        cpu = {n: cpu_seconds(p) - cpu0[n] for n, p in pids.items()}
        cpu["postgres"] = sum(v - pg0.get(p, 0.0) for p, v in postgres_cpu().items())
        cpu["machine"] = system_busy() - sys0
    not_completed = await db.fetchval(
        "SELECT count(*) FROM interactions WHERE status <> 'completed'"
    )
    await db.close()
    mine += 1
    own = sum(v for n, v in cpu.items() if n != "machine")
    cpu["other"] = cpu["machine"] - own  # kernel threads, interrupts, other tenants
    return {
        "cpu_bound_ceiling_per_s": (os.cpu_count() or 1) * k / own,
        "k": k, "seconds": elapsed, "completions_per_s": k / elapsed,
        "submit_per_s": k / submitted, "submit_seconds": submitted, "max_backlog": backlog,
        "not_completed": not_completed, "create": summary(lat),
        "cpu_pct": {n: round(100 * v / elapsed) for n, v in cpu.items()},
        "cpu_ms_per_job": {n: round(1000 * v / k, 2) for n, v in cpu.items()},
        "pg_backends_by_wait": {w: round(c / polls, 2) for w, c in waits.most_common(6)},
        "bench_transactions": mine, "load_average": os.getloadavg(),
    }  # fmt: skip


async def transactions(admin_url: str, db_url: str) -> int:
    """Transactions committed in the database (read-only ones too), once its backends
    have exited and so flushed their statistics."""
    name = urllib.parse.urlsplit(db_url).path.lstrip("/")
    conn = await asyncpg.connect(admin_url)
    try:
        for _ in range(50):
            live = await conn.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = $1", name
            )
            if not live:
                break
            await asyncio.sleep(0.1)
        await conn.execute("SELECT pg_stat_clear_snapshot()")
        return int(
            await conn.fetchval("SELECT xact_commit FROM pg_stat_database WHERE datname = $1", name)
        )
    finally:
        await conn.close()


async def phase_throughput(args: argparse.Namespace, group: Any, dbs: list[str]) -> Any:
    out = {}
    builds = [("base", args.baseline_src), ("", None)] if args.baseline_src else [("", None)]
    rounds = [(r, n_api) for r in range(args.rounds) for n_api in args.api_procs]
    for r, n_api in rounds:
        for build, src in builds:  # the baseline first, then this build, per configuration
            name = f"{build}{'_' if build else ''}{n_api}api"
            name += f"_round{r + 1}" if args.rounds > 1 else ""
            stack = Stack(group(name), args, dbs)
            stack.start_fake(text=TEXT)
            if src:
                stack.env["PYTHONPATH"] = src
            await stack.use_postgres()
            for _ in range(n_api):
                await stack.serve("--no-worker")
            for _ in range(2):
                await stack.worker(32)
            label = f" ({build})" if build else ""
            print(f"  {n_api} API + 2 workers{label}: warm-up, then {args.k} creates...",
                  flush=True)  # fmt: skip
            warm_k = max(100, args.k // 10)
            warm = await throughput_run(stack, warm_k, 32)
            res = await throughput_run(stack, args.k, 32)
            stack.procs.stop_all()
            total = await transactions(args.database_url, stack.db_url)
            own = warm["bench_transactions"] + res["bench_transactions"]
            res["transactions_per_job"] = round((total - own) / (warm_k + args.k), 2)
            out[f"{name}_2workers"] = res
    return out


# -- 3. idle streams ----------------------------------------------------------------------


async def healthz_ms(base: str, n: int) -> dict[str, float]:
    lat = []
    async with aiohttp.ClientSession() as s:
        for _ in range(n):
            t = time.perf_counter()
            async with s.get(f"{base}/healthz") as r:
                await r.read()
            lat.append((time.perf_counter() - t) * 1e3)
    return summary(lat)


async def phase_streams(args: argparse.Namespace, group: Any, dbs: list[str]) -> Any:
    stack = Stack(group("streams"), args, dbs)
    stack.start_fake(delay=600.0)
    n_int = 50
    base = await stack.serve("--workers", str(n_int + 14))
    pid, url = stack.apis[0][1], f"{base}/v1beta/interactions"
    unlimited = aiohttp.ClientTimeout(total=None, sock_read=None, sock_connect=30)
    conn = aiohttp.TCPConnector(limit=0, force_close=True)
    async with aiohttp.ClientSession(connector=conn, timeout=unlimited) as s:
        ids = []
        for _ in range(n_int):
            async with s.post(url, data=BG, headers=HDR) as r:
                rec = await r.json()
            if rec.get("status") != "in_progress":
                raise RuntimeError(f"expected in_progress: {rec}")
            ids.append(rec["id"])
        await asyncio.sleep(1)
        async with s.get(f"{url}/{ids[0]}?stream=true", headers=HDR) as r:
            replay = 0  # events a follower gets now (replayed), learnt from one probe
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(1.0):
                    async for line in r.content:
                        replay += line.startswith(b"event: ")
        health0 = await healthz_ms(base, 200)
        await asyncio.sleep(1)
        rss0 = rss_kb(pid)
        opening, ready, all_ready = asyncio.Semaphore(200), [0], asyncio.Event()
        ends: dict[str, int] = defaultdict(int)

        async def hold(i: int) -> None:
            got, released = 0, False
            await opening.acquire()
            try:
                async with s.get(f"{url}/{ids[i % n_int]}?stream=true", headers=HDR) as r:
                    async for line in r.content:
                        if line.startswith(b"event: "):
                            got += 1
                            if got == replay:
                                opening.release()
                                released = True
                                ready[0] += 1
                                if ready[0] == args.streams:
                                    all_ready.set()
                ends["ended_by_server" if got > replay else "ended_early"] += 1
            except Exception as exc:
                ends[type(exc).__name__] += 1
            finally:
                if not released:
                    opening.release()

        print(f"  opening {args.streams} streams over {n_int} interactions...", flush=True)
        t0 = time.monotonic()
        tasks = [asyncio.ensure_future(hold(i)) for i in range(args.streams)]
        done_all = asyncio.ensure_future(all_ready.wait())
        await asyncio.wait([done_all, asyncio.gather(*tasks)], timeout=300,
                           return_when=asyncio.FIRST_COMPLETED)  # fmt: skip
        open_s = time.monotonic() - t0
        if not all_ready.is_set():
            raise RuntimeError(f"only {ready[0]} of {args.streams} streams ready: {dict(ends)}")
        await asyncio.sleep(2)
        rss1 = rss_kb(pid)
        health1 = await healthz_ms(base, 200)
        c0 = cpu_seconds(pid)
        await asyncio.sleep(5)
        idle_cpu = 100 * (cpu_seconds(pid) - c0) / 5
        print("  cancelling the interactions...", flush=True)
        t1 = time.monotonic()
        for i in ids:
            async with s.post(f"{url}/{i}/cancel", headers=HDR) as r:
                await r.read()
        await asyncio.wait(tasks, timeout=60)
        close_s = time.monotonic() - t1
        for t in tasks:
            t.cancel()
        await asyncio.sleep(2)
        rss2 = rss_kb(pid)
    return {
        "streams": args.streams, "interactions": n_int, "replayed_events": replay,
        "open_seconds": open_s, "rss_before_kb": rss0, "rss_open_kb": rss1,
        "rss_after_close_kb": rss2, "per_stream_kb": (rss1 - rss0) / args.streams,
        "healthz_idle": health0, "healthz_with_streams": health1,
        "idle_cpu_pct_with_streams": idle_cpu, "close_seconds": close_s, "stream_ends": dict(ends),
    }  # fmt: skip


# -- 4. time to first event -----------------------------------------------------------------
async def phase_ttfe(args: argparse.Namespace, group: Any, dbs: list[str]) -> Any:
    stack = Stack(group("ttfe"), args, dbs)
    stack.start_fake(text=TEXT)
    servers = {"junction": await stack.serve()}
    if args.baseline_src:
        servers["base"] = await stack.serve(src=args.baseline_src)
    pids = {name: pid for name, (_, pid) in zip(servers, stack.apis, strict=True)}
    chat = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "stream": True}
    direct_body = orjson.dumps(chat)
    rows: dict[str, list[float]] = defaultdict(list)
    cpu = {name: cpu_seconds(pid) for name, pid in pids.items()}
    async with aiohttp.ClientSession() as s:

        async def direct() -> None:
            t0 = time.monotonic()
            async with s.post(f"{stack.fake_url}/v1/chat/completions", data=direct_body,
                              headers={"Content-Type": "application/json"}) as r:  # fmt: skip
                seen = await sse_times(r, "-")
            rows["direct_first_chunk"].append((seen["data"] - t0) * 1e3)

        def junction(name: str) -> Any:
            async def sample() -> None:
                t0 = time.monotonic()
                url = f"{servers[name]}/v1beta/interactions"
                async with s.post(url, data=STREAM, headers=HDR) as r:
                    seen = await sse_times(r, "interaction.completed", drain=True)
                rows[f"{name}_first_event"].append((seen["interaction.created"] - t0) * 1e3)
                rows[f"{name}_first_delta"].append((seen["step.delta"] - t0) * 1e3)

            return sample

        order = [direct, *(junction(name) for name in servers)]
        for i in range(args.warm + args.ttfe_n):
            k = i % len(order)  # rotated: each goes first, second, ... equally often
            for fn in order[k:] + order[:k]:
                await fn()
            if i == args.warm - 1:
                rows.clear()
                cpu = {name: cpu_seconds(pid) for name, pid in pids.items()}
            await arrivals(s, stack)
    out: dict[str, Any] = {k: summary(v) for k, v in rows.items()}
    d = rows["direct_first_chunk"]
    for name, pid in pids.items():
        out[f"{name}_cpu_ms_per_stream"] = (cpu_seconds(pid) - cpu[name]) * 1e3 / args.ttfe_n
        for what in ("event", "delta"):
            j = rows[f"{name}_first_{what}"]
            out[f"{name}_{what}_added_p50_ms"] = pct(j, 0.5) - pct(d, 0.5)
            diffs = [b - a for a, b in zip(d, j, strict=True)]
            out[f"{name}_{what}_paired_p50_ms"] = pct(diffs, 0.5)
            if name != "base" and "base" in servers:
                base = rows[f"base_first_{what}"]
                diffs = [b - a for a, b in zip(base, j, strict=True)]
                out[f"vs_base_{what}_paired_p50_ms"] = pct(diffs, 0.5)
    out["added_p50_ms"] = out["junction_delta_added_p50_ms"]
    return out


# -- report -------------------------------------------------------------------------------
def mark(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def report(res: dict[str, Any], args: argparse.Namespace) -> dict[str, str]:
    checks: dict[str, bool] = {}
    row = "{:<24}{:<38}{:>8.2f}{:>8.2f}{:>8.2f}{:>7}"
    load = " ".join(f"{k}={v}%" for k, v in res["machine_busy_pct_before_phase"].items())
    print(f"\nmachine CPU busy (all {os.cpu_count()} cores = {100 * (os.cpu_count() or 1)}%) "
          f"in the second before each phase: {load}")  # fmt: skip
    if p := res.get("pickup"):
        print(f"\n== 1. Job pickup (N={args.pickup_n} sequential each, zero-latency fake), ms ==")
        print(f"{'configuration':<24}{'measure':<38}{'p50':>8}{'p99':>8}{'max':>8}{'>100ms':>7}")
        names = {"to_step_start": "POST → step.start", "to_model_call": "POST → model call",
                 "to_create_reply": "POST → 200 / created event"}  # fmt: skip
        for cfg, kinds in p.items():
            for kind, ms in kinds.items():
                for m, v in ms.items():
                    label = f"{kind}: {names[m]}"
                    cells = (v["p50_ms"], v["p99_ms"], v["max_ms"], v["n_over_100ms"])
                    print(row.format(cfg, label, *cells))
                    cfg = ""
        for cfg, kinds in p.items():
            v = kinds["background"]["to_step_start"]
            checks[f"pickup_{cfg}_p50_le_10ms"] = v["p50_ms"] <= 10
            checks[f"pickup_{cfg}_p99_le_50ms"] = v["p99_ms"] <= 50
            print(f"  {cfg}: background POST → step.start p50 {v['p50_ms']:.2f} ms <= 10: "
                  f"{mark(v['p50_ms'] <= 10)}, p99 {v['p99_ms']:.2f} ms <= 50: "
                  f"{mark(v['p99_ms'] <= 50)}")  # fmt: skip
    if t := res.get("throughput"):
        print(f"\n== 2. Background throughput, PostgreSQL, {args.k} creates, 32 clients ==")
        print(f"{'configuration':<26}{'done/s':>8}{'submit/s':>9}{'secs':>7}{'backlog':>8}"
              f"{'create p50':>11}{'p99':>7}")  # fmt: skip
        for cfg, r in t.items():
            print(f"{cfg:<26}{r['completions_per_s']:>8.0f}{r['submit_per_s']:>9.0f}"
                  f"{r['seconds']:>7.2f}{r['max_backlog']:>8}{r['create']['p50_ms']:>11.1f}"
                  f"{r['create']['p99_ms']:>7.1f}")  # fmt: skip
        for cfg, r in t.items():
            print(f"  {cfg} CPU, % of one core (ms per interaction):")
            cpu = [f"{n}={v}% ({r['cpu_ms_per_job'][n]:.2f})" for n, v in r["cpu_pct"].items()]
            print("    " + " ".join(cpu))
            print(f"    CPU-bound ceiling of these processes alone on {os.cpu_count()} cores: "
                  f"{r['cpu_bound_ceiling_per_s']:.0f}/s")  # fmt: skip
            waits = ", ".join(f"{w} {n}" for w, n in r["pg_backends_by_wait"].items())
            print(f"    PostgreSQL backends, mean count by state: {waits}")
            print(f"    PostgreSQL transactions per interaction (read-only ones too): "
                  f"{r['transactions_per_job']}; load average after: "
                  f"{' '.join(f'{x:.1f}' for x in r['load_average'])}")  # fmt: skip
            ok = r["completions_per_s"] >= 500
            checks[f"throughput_{cfg}_ge_500"] = ok
            print(f"  {cfg}: {r['completions_per_s']:.0f} completions/s >= 500: {mark(ok)}; "
                  f"not completed: {r['not_completed']}")  # fmt: skip
    if s := res.get("streams"):
        print(f"\n== 3. {s['streams']} idle SSE streams in one junction serve (SQLite) ==")
        print(
            f"  opened (and replayed {s['replayed_events']} events each) in "
            f"{s['open_seconds']:.1f}s over {s['interactions']} interactions"
        )
        print(f"  RSS before {s['rss_before_kb'] / 1024:.1f} MB, open {s['rss_open_kb'] / 1024:.1f}"
              f" MB, after close {s['rss_after_close_kb'] / 1024:.1f} MB")  # fmt: skip
        h0, h1 = s["healthz_idle"], s["healthz_with_streams"]
        print(f"  /healthz p50/p99 ms: idle {h0['p50_ms']:.2f}/{h0['p99_ms']:.2f}, with streams "
              f"{h1['p50_ms']:.2f}/{h1['p99_ms']:.2f}; idle CPU with streams "
              f"{s['idle_cpu_pct_with_streams']:.1f}%")  # fmt: skip
        print(f"  closed by cancel in {s['close_seconds']:.1f}s: {s['stream_ends']}")
        checks["stream_memory_le_50kb"] = s["per_stream_kb"] <= 50
        print(f"  memory per stream {s['per_stream_kb']:.1f} KB <= 50 KB: "
              f"{mark(s['per_stream_kb'] <= 50)}")  # fmt: skip
    if f := res.get("ttfe"):
        print(f"\n== 4. Time to first event, concurrency 1, {args.ttfe_n} interleaved, ms ==")
        names = ["junction", "base"] if "base_first_event" in f else ["junction"]
        print(f"{'measure':<26}{'p50':>8}{'p99':>8}{'max':>8}{'added p50':>11}{'paired':>8}")
        d = f["direct_first_chunk"]
        print(
            f"{'direct_first_chunk':<26}{d['p50_ms']:>8.2f}{d['p99_ms']:>8.2f}{d['max_ms']:>8.2f}"
        )
        for name in names:
            for what in ("event", "delta"):
                v, k = f[f"{name}_first_{what}"], f"{name}_{what}"
                print(f"{name + '_first_' + what:<26}{v['p50_ms']:>8.2f}{v['p99_ms']:>8.2f}"
                      f"{v['max_ms']:>8.2f}{f[k + '_added_p50_ms']:>+11.2f}"
                      f"{f[k + '_paired_p50_ms']:>+8.2f}")  # fmt: skip
        for name in names:
            print(f"  {name}: server CPU {f[name + '_cpu_ms_per_stream']:.2f} ms per stream")
        if "base" in names:
            print(f"  this build − baseline, paired p50: first event "
                  f"{f['vs_base_event_paired_p50_ms']:+.2f} ms, first delta "
                  f"{f['vs_base_delta_paired_p50_ms']:+.2f} ms")  # fmt: skip
        for what in ("event", "delta"):
            added = f[f"junction_{what}_added_p50_ms"]
            checks[f"ttfe_first_{what}_added_p50_le_1ms"] = added <= 1
            print(f"  first {what} vs direct first chunk: added p50 {added:.2f} ms <= 1 ms: "
                  f"{mark(added <= 1)}")  # fmt: skip
    return {k: mark(v) for k, v in checks.items()}


PHASES = {"pickup": phase_pickup, "throughput": phase_throughput,
          "streams": phase_streams, "ttfe": phase_ttfe}  # fmt: skip


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--quick", action="store_true", help="fast smoke run")
    p.add_argument("--only", action="append", choices=list(PHASES), help="repeatable")
    p.add_argument("--streams", type=int, default=5000, help="idle SSE streams")
    p.add_argument("--pickup-n", type=int, default=300)
    p.add_argument("--ttfe-n", type=int, default=500)
    p.add_argument("--warm", type=int, default=30, help="warm-up samples (pickup, ttfe)")
    p.add_argument("-k", type=int, default=3000, help="background creates (throughput)")
    p.add_argument("--api-procs", type=int, nargs="+", default=[1, 2])
    p.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="throughput: run the configurations this many times, in turn",
    )
    p.add_argument("--baseline-src", help="another checkout's src: throughput runs it before "
                   "this build per configuration; ttfe serves it side by side")  # fmt: skip
    p.add_argument("--database-url", default="postgresql://postgres@127.0.0.1:5432/postgres",
                   help="admin URL: scratch databases are created (and dropped) there")  # fmt: skip
    args = p.parse_args()
    if args.quick:
        args.pickup_n, args.ttfe_n, args.warm, args.k = 50, 80, 10, 600
        args.streams = min(args.streams, 1000)
    phases = args.only or list(PHASES)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = args.streams + 1024
    if soft < need:  # children (junction serve) inherit it
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(need, soft)), hard))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    tmp = Path(tempfile.mkdtemp(prefix="junction-bgbench-"))
    dbs: list[str] = []
    groups: list[Processes] = []
    res: dict[str, Any] = {}
    load = res["machine_busy_pct_before_phase"] = {}

    def group(name: str) -> Processes:
        (tmp / name).mkdir()
        groups.append(Processes(tmp / name))
        return groups[-1]

    try:
        for i, phase in enumerate(phases, 1):
            busy = system_busy()
            time.sleep(1)
            load[phase] = round(100 * (system_busy() - busy))
            print(f"[{i}/{len(phases)}] {phase} (machine {load[phase]}% busy)...", flush=True)
            try:
                res[phase] = uvloop.run(PHASES[phase](args, group, dbs))
            finally:
                for g in groups:
                    g.stop_all()
        ok = report(res, args)
        RESULTS.mkdir(exist_ok=True)
        path = RESULTS / "background.json"
        out = {"config": vars(args), "cpus": os.cpu_count(), "results": res, "targets": ok}
        path.write_text(json.dumps(out, indent=2))
        print(f"\nwrote {path}")
        return 0
    finally:
        teardown(groups, args.database_url, dbs, tmp)


if __name__ == "__main__":
    sys.exit(main())
