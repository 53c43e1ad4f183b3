"""Trigger fire delay: how late after its scheduled time an execution starts, on the real
clock. N triggers fire every minute (``* * * * *``) for M minutes; the figures are the
execution's ``start_time`` (the moment it was claimed and recorded) and its interaction's
``created`` time, each minus ``scheduled_time``.

    .venv/bin/python bench/triggers.py [--triggers 100] [--minutes 2]
                                       [--database-url postgresql://…/postgres]

Two setups: SQLite with one ``junction serve``; PostgreSQL with one API process and two
workers, all three running the scheduler (claims with SKIP LOCKED). Target: p99 ≤ 1 s.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import uvloop

sys.path.insert(0, str(Path(__file__).parent))
from _common import HDR, Stack, summary
from overhead import RESULTS, Processes, teardown

TEMPLATE = {"agent": "junction-general", "input": "/reply tick"}


def ts(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


async def get(s: aiohttp.ClientSession, url: str) -> Any:
    async with s.get(url, headers=HDR) as r:
        assert r.status == 200, await r.text()
        return await r.json()


async def phase(
    args: argparse.Namespace, procs: Processes, dbs: list[str], pg: bool
) -> dict[str, Any]:
    stack = Stack(procs, args, dbs)
    stack.start_fake(text="unused")
    stack.env["JUNCTION_TRIGGER_MAX_PER_PROJECT"] = str(args.triggers)
    if pg:
        await stack.use_postgres()
        url = await stack.serve("--no-worker")
        await stack.worker(32)
        await stack.worker(32)
    else:
        url = await stack.serve()
    ids: list[str] = []
    async with aiohttp.ClientSession() as s:
        for _ in range(args.triggers):
            body = {"schedule": "* * * * *", "time_zone": "UTC", "interaction": TEMPLATE}
            body["concurrency"] = "allow"
            async with s.post(f"{url}/v1beta/triggers", data=orjson.dumps(body), headers=HDR) as r:
                assert r.status == 200, await r.text()
                ids.append((await r.json())["id"])
        # wait for M minute boundaries, then a few seconds for the runs to end
        first = (int(time.time()) // 60 + 1) * 60
        print(f"  {args.triggers} triggers; waiting for {args.minutes} minute boundaries…")
        await asyncio.sleep(first + 60 * (args.minutes - 1) - time.time() + 5)
        start_delay: list[float] = []
        created_delay: list[float] = []
        statuses: dict[str, int] = {}
        for trigger_id in ids:
            page = await get(s, f"{url}/v1beta/triggers/{trigger_id}/executions?page_size=100")
            for ex in page.get("trigger_executions", []):
                statuses[ex["status"]] = statuses.get(ex["status"], 0) + 1
                scheduled = ts(ex["scheduled_time"])
                start_delay.append((ts(ex["start_time"]) - scheduled) * 1000)
                if ex.get("interaction_id"):
                    inter = await get(s, f"{url}/v1beta/interactions/{ex['interaction_id']}")
                    created_delay.append((ts(inter["created"]) - scheduled) * 1000)
    return {
        "executions": len(start_delay),
        "statuses": statuses,
        "start_ms": summary(start_delay),
        "interaction_created_ms": summary(created_delay),
    }


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--triggers", type=int, default=100)
    p.add_argument("--minutes", type=int, default=2)
    p.add_argument("--only", choices=["sqlite", "postgres"], help="measure one setup")
    p.add_argument("--database-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    args = p.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="junction-triggers-"))
    dbs: list[str] = []
    groups: list[Processes] = []
    res: dict[str, Any] = {}
    try:
        for name, pg in (("sqlite", False), ("postgres", True)):
            if args.only and args.only != name:
                continue
            (tmp / name).mkdir()
            groups.append(Processes(tmp / name))
            print(f"== {name} ==")
            try:
                res[name] = uvloop.run(phase(args, groups[-1], dbs, pg))
            finally:
                groups[-1].stop_all()
        print(f"\n== Trigger fire delay after the scheduled time ({args.triggers} triggers), ms ==")
        print(f"{'setup':10} {'measure':22} {'p50':>8} {'p99':>8} {'max':>8}  executions")
        ok = {}
        for name, r in res.items():
            for key in ("start_ms", "interaction_created_ms"):
                c = r[key]
                row = f"{c['p50_ms']:8.1f} {c['p99_ms']:8.1f} {c['max_ms']:8.1f}"
                print(f"{name:10} {key:22} {row}  {r['statuses']}")
            ok[name] = r["interaction_created_ms"]["p99_ms"] <= 1000
            print(
                f"  {name}: p99 (interaction created) <= 1000 ms: {'PASS' if ok[name] else 'MISS'}"
            )
        RESULTS.mkdir(exist_ok=True)
        (RESULTS / "triggers.json").write_text(
            json.dumps({"results": res, "targets": ok}, indent=2)
        )
        return 0
    finally:
        teardown(groups, args.database_url, dbs, tmp)


if __name__ == "__main__":
    sys.exit(main())
