"""The latency tail over a longer run: what grows with a server's age (its database, its
WAL, its caches) and stalls it now and then does not show in a few seconds of load.

Concurrency-16 synchronous creates through the fake provider, in slices alternating
between this build and, with ``--baseline-src DIR``, another one (``git archive <commit>
src | tar -x -C DIR/..``), so both see the same machine. Prints p50 / p99 / max per
slice and overall, each server's WAL file and resident memory at the end.

    .venv/bin/python bench/soak.py [--seconds 60] [--slice 5] [--baseline-src DIR]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path
from typing import Any

import aiohttp
import uvloop

from overhead import Processes, Target, load_slice, pct, start_services


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


async def soak(args: argparse.Namespace, targets: list[Target]) -> dict[str, list[list[float]]]:
    slices: dict[str, list[list[float]]] = {t.name: [] for t in targets}
    connector = aiohttp.TCPConnector(limit=args.concurrency * 2 + 8, keepalive_timeout=60)
    async with aiohttp.ClientSession(connector=connector) as session:
        for t in targets:  # warm: connections, caches, the first checkpoint
            await load_slice(session, t, args.concurrency, 1.0)
        rounds = max(1, round(args.seconds / args.slice))
        for n in range(rounds):
            order = targets if n % 2 == 0 else targets[::-1]
            for t in order:
                _, lat = await load_slice(session, t, args.concurrency, args.slice)
                slices[t.name].append(lat)
            print(f"  round {n + 1}/{rounds}", flush=True)
    return slices


def report(slices: dict[str, list[list[float]]], targets: list[Target], args: Any) -> None:
    print(f"\nConcurrency {args.concurrency}, {args.slice:.0f}s slices (ms)")
    names = [t.name for t in targets]
    print(f"{'slice':<7}" + "".join(f"{n + ' p50/p99/max':>30}" for n in names))
    for i in range(len(slices[names[0]])):
        cells = []
        for n in names:
            lat = slices[n][i]
            cells.append(f"{pct(lat, 0.5):8.1f} {pct(lat, 0.99):8.1f} {max(lat):8.1f}")
        print(f"{i + 1:<7}" + "".join(f"{c:>30}" for c in cells))
    print("\noverall")
    for t in targets:
        lat = [x for s in slices[t.name] for x in s]
        rps = len(lat) / (args.slice * len(slices[t.name]))
        wal = t.wal.stat().st_size / 1e6 if t.wal and t.wal.exists() else 0.0
        print(
            f"  {t.name:<14} {rps:7.0f} req/s  p50 {pct(lat, 0.5):6.1f}  p99 {pct(lat, 0.99):6.1f}"
            f"  p99.9 {pct(lat, 0.999):6.1f}  max {max(lat):6.1f} ms   WAL {wal:6.1f} MB"
            f"   RSS {_rss_mb(t.pid):6.0f} MB"
        )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--seconds", type=float, default=60.0, help="load per target")
    p.add_argument("--slice", type=float, default=5.0, help="seconds per slice")
    p.add_argument("--concurrency", type=int, default=16)
    p.add_argument("--baseline-src", help="another checkout's src, served as junction_base")
    args = p.parse_args()
    args.database_url = None
    with tempfile.TemporaryDirectory() as tmp:
        procs = Processes(Path(tmp))
        try:
            every = start_services(args, procs, [])
            targets = [t for t in every if t.name in ("junction", "junction_base")]
            print(f"soak: {args.seconds:.0f}s of c{args.concurrency} per target", flush=True)
            slices = uvloop.run(soak(args, targets))
            report(slices, targets, args)
        finally:
            procs.stop_all()


if __name__ == "__main__":
    main()
