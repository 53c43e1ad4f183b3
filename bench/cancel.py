"""Cancel latency across processes: a background run streaming in one API process is
cancelled through another; the figure is the time until that other process answers
``cancelled`` (the run has stopped, partial steps and usage written).

    .venv/bin/python bench/cancel.py [--n 100] [--database-url postgresql://…/postgres]

Both the embedded SQLite setup (two processes on one file: the cancel flag is polled every
200 ms) and PostgreSQL (NOTIFY) are measured. Target: p99 ≤ 1 s.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import uvloop

sys.path.insert(0, str(Path(__file__).parent))
from _common import HDR, Stack, summary
from overhead import RESULTS, Processes, teardown

SLOW = {"text": " ".join(["word"] * 400), "chunk_delay": 0.05}


async def phase(
    args: argparse.Namespace, procs: Processes, dbs: list[str], pg: bool
) -> dict[str, Any]:
    stack = Stack(procs, args, dbs)
    stack.start_fake(**SLOW)
    if pg:
        await stack.use_postgres()
    runner = await stack.serve("--workers", "64")
    other = await stack.serve("--no-worker")
    latencies: list[float] = []
    statuses: dict[str, int] = {}
    async with aiohttp.ClientSession() as s:
        for _ in range(args.n):
            body = orjson.dumps({"model": "openai/m", "input": "go", "background": True})
            async with s.post(f"{runner}/v1beta/interactions", data=body, headers=HDR) as r:
                created = await r.json()
            await asyncio.sleep(0.3)  # the run is streaming in the runner process
            started = time.perf_counter()
            async with s.post(
                f"{other}/v1beta/interactions/{created['id']}/cancel", headers=HDR
            ) as r:
                result = await r.json()
            latencies.append((time.perf_counter() - started) * 1000)
            statuses[result.get("status", "?")] = statuses.get(result.get("status", "?"), 0) + 1
    return {"cancel_ms": summary(latencies), "statuses": statuses}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--n", type=int, default=100)
    p.add_argument("--database-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    args = p.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="junction-cancel-"))
    dbs: list[str] = []
    groups: list[Processes] = []
    res: dict[str, Any] = {}
    try:
        for name, pg in (("sqlite", False), ("postgres", True)):
            (tmp / name).mkdir()
            groups.append(Processes(tmp / name))
            try:
                res[name] = uvloop.run(phase(args, groups[-1], dbs, pg))
            finally:
                groups[-1].stop_all()
        print(f"\n== Cancel from a second API process ({args.n} runs each), ms ==")
        print(f"{'setup':10} {'p50':>8} {'p99':>8} {'max':>8}  statuses")
        ok = {}
        for name, r in res.items():
            c = r["cancel_ms"]
            row = f"{c['p50_ms']:8.1f} {c['p99_ms']:8.1f} {c['max_ms']:8.1f}"
            print(f"{name:10} {row}  {r['statuses']}")
            ok[name] = c["p99_ms"] <= 1000 and r["statuses"] == {"cancelled": args.n}
            print(
                f"  {name}: p99 {c['p99_ms']:.1f} ms <= 1000 ms, all cancelled: "
                f"{'PASS' if ok[name] else 'MISS'}"
            )
        RESULTS.mkdir(exist_ok=True)
        (RESULTS / "cancel.json").write_text(json.dumps({"results": res, "targets": ok}, indent=2))
        return 0
    finally:
        teardown(groups, args.database_url, dbs, tmp)


if __name__ == "__main__":
    sys.exit(main())
