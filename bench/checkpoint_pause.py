"""What SQLite's WAL checkpointer costs the writers of a busy process: sixteen writers
commit like the create path does (a row, its indexes, a little Python work between
commits, so the event loop is busy the way a loaded server's is), while the store's own
checkpointer keeps the WAL bounded. Prints commits per second, how long a commit waited
for the write lock (the checkpointer's pause holds it) and the event loop's longest lag,
for this build and, with ``--baseline-src DIR``, another one (``git archive <commit> src
| tar -x -C DIR/..``), in alternating rounds of separate processes.

    .venv/bin/python bench/checkpoint_pause.py [--seconds 10] [--rounds 2] [--baseline-src DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

CHILD = r"""
import asyncio, json, os, sys, time
import uvloop
from junction.store.sqlite import SqliteDatabase

async def main(path, seconds):
    db = await SqliteDatabase.open(f"sqlite:///{path}")
    await db.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, k TEXT, s TEXT, body TEXT)")
    await db.execute("CREATE INDEX t_k ON t (k)")
    await db.execute("CREATE INDEX t_s ON t (s, id)")
    waits, lags, n = [], [0.0], 0
    stop = time.monotonic() + seconds

    async def writer(w):
        nonlocal n
        while time.monotonic() < stop:
            sum(range(3000))  # a request's own work between its writes
            asked = time.perf_counter()
            async with db.transaction() as tx:
                waits.append(time.perf_counter() - asked)
                await tx.execute("INSERT INTO t (k, s, body) VALUES ($1, 'a', $2)",
                                 f"{w}-{n}", "x" * 1500)
                await tx.execute("UPDATE t SET s = 'b' WHERE k = $1", f"{w}-{n}")
            n += 1
            await asyncio.sleep(0)

    async def monitor():
        while time.monotonic() < stop:
            t = time.perf_counter()
            await asyncio.sleep(0.001)
            lags.append(time.perf_counter() - t - 0.001)

    await asyncio.gather(monitor(), *(writer(w) for w in range(16)))
    wal = os.path.getsize(f"{path}-wal")
    await db.close()
    waits.sort()
    q = lambda f: waits[int(f * (len(waits) - 1))] * 1000
    print(json.dumps({"commits_s": n / seconds, "wait_p50": q(0.5), "wait_p99": q(0.99),
                      "wait_p999": q(0.999), "wait_max": waits[-1] * 1000,
                      "lag_max": max(lags) * 1000, "wal_mb": wal / 2**20}))

uvloop.run(main(sys.argv[1], float(sys.argv[2])))
"""


def run_one(src: str | None, seconds: float) -> dict[str, float]:
    env = dict(os.environ)
    if src:
        env["PYTHONPATH"] = src
    with tempfile.TemporaryDirectory() as tmp:
        out = subprocess.run(
            [sys.executable, "-c", CHILD, str(Path(tmp) / "c.db"), str(seconds)],
            env=env, capture_output=True, text=True, check=True,
        )  # fmt: skip
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seconds", type=float, default=10)
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--baseline-src", help="another checkout's src")
    args = p.parse_args()
    builds = [("this build", None)] + ([("baseline", args.baseline_src)] * bool(args.baseline_src))
    print(f"16 writers, {args.seconds:.0f}s per run, {args.rounds} rounds (ms)")
    print(f"{'build':12} {'commits/s':>9} {'wait p50':>9} {'p99':>7} {'p99.9':>7} "
          f"{'max':>7} {'loop lag max':>13} {'WAL MB':>7}")  # fmt: skip
    for _ in range(args.rounds):
        for name, src in builds:
            r = run_one(src, args.seconds)
            print(f"{name:12} {r['commits_s']:9.0f} {r['wait_p50']:9.3f} {r['wait_p99']:7.2f} "
                  f"{r['wait_p999']:7.2f} {r['wait_max']:7.2f} {r['lag_max']:13.2f} "
                  f"{r['wal_mb']:7.1f}")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
