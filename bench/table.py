"""``make bench``: one table, Junction side by side with a direct provider call and, when
installed, other proxies, all in front of the same fake provider and driven by the same
load generator, interleaved in rounds so every row sees the same machine.

HTTP rows (non-streaming chat, stored by Junction, SQLite): the direct call to the fake
OpenAI-compatible provider; ``junction serve``; LiteLLM's proxy (``litellm``, the
optional ``bench`` extra, installed in .venv-bench by ``make bench-deps``) when present;
``--baseline-junction PATH`` adds a second Junction (another checkout's ``junction``
command) to compare two builds. Each row: p50, p99 and throughput at concurrency 1 and
16, and the latency added over the direct call in the same run.

Sandbox rows (``code_execution``'s argv, ``python3 -c 'print(1)'``, start to first
output): bare ``python3`` (an asyncio subprocess), a warm sandbox (the pre-started
interpreter is ready) and a cold one (warm execution off); at concurrency 16, sixteen
environments run one command each at once, round after round.

Nothing here needs the internet. ``BENCH_QUICK=1`` (or ``--quick``) takes about a minute;
the default run about three on a quiet machine (seven at load average 20). Writes
bench/results/table.json.

    .venv/bin/python bench/table.py [--quick] [--baseline-junction PATH] [--no-sandbox]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import signal
import sys
import tempfile
import time
from collections import defaultdict
from importlib import metadata
from pathlib import Path
from typing import Any

import aiohttp
import uvloop

from overhead import RESULTS, Processes, Target, call, pct, teardown
from table_sandbox import sandbox_rows
from table_services import start_targets

COLUMNS = ("c1_p50", "c1_p99", "c1_rps", "c16_p50", "c16_p99", "c16_rps")


async def c1_phase(s: aiohttp.ClientSession, targets: list[Target], n: int) -> dict[str, Any]:
    """``n`` sequential requests per target, the order rotated each round."""
    for _ in range(max(5, n // 10)):
        for t in targets:
            await call(s, t)
    lat: dict[str, list[float]] = defaultdict(list)
    busy: dict[str, float] = defaultdict(float)
    for i in range(n):
        k = i % len(targets)
        for t in targets[k:] + targets[:k]:
            ms = (await call(s, t))[0]
            lat[t.name].append(ms)
            busy[t.name] += ms / 1000
    return {
        name: {"c1_p50": pct(v, 0.5), "c1_p99": pct(v, 0.99), "c1_rps": len(v) / busy[name]}
        for name, v in lat.items()
    }


async def c16_phase(
    s: aiohttp.ClientSession, targets: list[Target], seconds: float, rounds: int
) -> dict[str, Any]:
    """16 clients back to back on one target at a time, ``rounds`` slices per target."""

    async def slice_(t: Target, until: float, lat: list[float]) -> None:
        while time.perf_counter() < until:
            lat.append((await call(s, t))[0])

    for t in targets:  # warm-up
        await asyncio.gather(*(slice_(t, time.perf_counter() + 0.3, []) for _ in range(16)))
    lat: dict[str, list[float]] = defaultdict(list)
    took: dict[str, float] = defaultdict(float)
    for r in range(rounds):
        k = r % len(targets)
        for t in targets[k:] + targets[:k]:
            start = time.perf_counter()
            until = start + seconds / rounds
            await asyncio.gather(*(slice_(t, until, lat[t.name]) for _ in range(16)))
            took[t.name] += time.perf_counter() - start
    return {
        name: {"c16_p50": pct(v, 0.5), "c16_p99": pct(v, 0.99), "c16_rps": len(v) / took[name]}
        for name, v in lat.items()
    }


async def http_rows(targets: list[Target], args: argparse.Namespace) -> dict[str, Any]:
    connector = aiohttp.TCPConnector(limit=64, keepalive_timeout=60)
    timeout = aiohttp.ClientTimeout(total=120)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as s:
        print(f"[http] concurrency 1: {args.requests} requests per row...", flush=True)
        rows = await c1_phase(s, targets, args.requests)
        print(f"[http] concurrency 16: {args.seconds:g}s per row...", flush=True)
        for name, row in (await c16_phase(s, targets, args.seconds, args.rounds)).items():
            rows[name] |= row
    base = rows[targets[0].name]
    for name, row in rows.items():
        if name != targets[0].name:
            for c in ("c1", "c16"):
                row[f"{c}_added_p50"] = row[f"{c}_p50"] - base[f"{c}_p50"]
                row[f"{c}_added_p99"] = row[f"{c}_p99"] - base[f"{c}_p99"]
    return rows


def _versions(litellm: str | None) -> dict[str, str]:
    out = {"python": platform.python_version()}
    if litellm:
        out["litellm"] = litellm
    for dist in ("junction", "uvicorn", "aiohttp"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            pass
    return out


def _cell(row: dict[str, Any], key: str, width: int, places: int) -> str:
    return format(row[key], f"{width}.{places}f") if key in row else "—".rjust(width)


def _print_rows(rows: dict[str, Any]) -> None:
    head = f"{'row':<22}{'c1 p50':>8}{'p99':>8}{'req/s':>8}{'c16 p50':>9}{'p99':>8}{'req/s':>8}"
    print(head + f"{'+c1 p50':>9}{'+p99':>9}{'+c16 p50':>10}{'+p99':>9}")
    for name, row in rows.items():
        cells = "".join(_cell(row, k, w, p) for k, w, p in _LAYOUT)
        added = "".join(_cell(row, k, w, 2) for k, w in _ADDED)
        print(f"{name:<22}{cells}{added}")


def print_table(res: dict[str, Any]) -> None:
    print(f"\n== Junction benchmark, {res['date']}, {res['cpus']} cores ==")
    print(" ".join(f"{k} {v}" for k, v in res["versions"].items()))
    print("\nHTTP, non-streaming chat through each row to the same fake provider (ms)")
    _print_rows(res["http"])
    if res.get("sandbox"):
        print("\nSandbox, start to first output of python3 -c 'print(1)' (ms; c16: 16 at once)")
        _print_rows(res["sandbox"])
    print(f"\nload average {res['loadavg_before']} -> {res['loadavg_after']}")


_LAYOUT = [("c1_p50", 8, 3), ("c1_p99", 8, 3), ("c1_rps", 8, 0)]
_LAYOUT += [("c16_p50", 9, 2), ("c16_p99", 8, 2), ("c16_rps", 8, 0)]
_ADDED = [("c1_added_p50", 9), ("c1_added_p99", 9), ("c16_added_p50", 10), ("c16_added_p99", 9)]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--quick", action="store_true", default=bool(os.environ.get("BENCH_QUICK")))
    p.add_argument("--requests", type=int, default=1000, help="concurrency-1 requests per row")
    p.add_argument("--seconds", type=float, default=10.0, help="concurrency-16 time per row")
    p.add_argument("--rounds", type=int, default=5, help="interleaved c16 slices per row")
    p.add_argument("--sandbox-runs", type=int, default=150, help="c1 commands per sandbox row")
    p.add_argument("--baseline-junction", help="another build's `junction` command, as a row")
    p.add_argument("--no-sandbox", action="store_true")
    p.add_argument("--no-litellm", action="store_true")
    args = p.parse_args()
    if args.quick:
        args.requests, args.seconds, args.rounds, args.sandbox_runs = 300, 4.0, 4, 40
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    tmp = Path(tempfile.mkdtemp(prefix="junction-bench-"))
    procs = Processes(tmp)
    res: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "cpus": os.cpu_count(),
        "loadavg_before": [round(x, 1) for x in os.getloadavg()],
    }
    try:
        targets, litellm = start_targets(procs, args)
        res["versions"] = _versions(litellm)
        res["http"] = uvloop.run(http_rows(targets, args))
        procs.stop_all()  # the sandbox rows run on a machine without the servers
        if not args.no_sandbox:
            try:
                res["sandbox"] = asyncio.run(sandbox_rows(args.sandbox_runs, tmp))
            except Exception as exc:  # no usable sandbox here: the HTTP rows still print
                print(f"[sandbox] failed ({type(exc).__name__}: {exc}): rows left out")
        res["loadavg_after"] = [round(x, 1) for x in os.getloadavg()]
        print_table(res)
        RESULTS.mkdir(exist_ok=True)
        (RESULTS / "table.json").write_text(json.dumps(res | {"config": vars(args)}, indent=2))
        return 0
    finally:
        teardown([procs], "", [], tmp)


if __name__ == "__main__":
    sys.exit(main())
