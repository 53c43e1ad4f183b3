"""Fair scheduling between projects: project A floods the queue with N background runs
(each 0.5 s of offline "/sleep"), then project B creates one background run; prints how
long B's run took from create to completed, and how much of A's flood was still waiting.

    .venv/bin/python bench/fairness.py [--flood 1000] [--workers 4] [--repeat 3]
                                       [--database-url postgresql://…/db]

The server runs in this process (uvicorn on loopback, as in the tests); the default
database is a fresh SQLite file. With a PostgreSQL URL, the database must exist and be
empty (a scratch database).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx2 as httpx

from junction.config import load_settings
from junction.testing.server import JunctionThread


def new_key(thread: JunctionThread, project: str) -> str:
    def on_loop(coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, thread.state.loop).result(30)

    projects = thread.state.system.projects
    project_id = on_loop(projects.ensure_project(project))
    return str(on_loop(projects.create_key(project_id, "bench"))[1])


def one_round(thread: JunctionThread, flood: int, n: int) -> tuple[float, float, int]:
    flooder = new_key(thread, f"flooder-{n}")
    body = {"model": "offline/echo", "input": "/sleep 0.5", "background": True}
    started = time.monotonic()
    with httpx.Client(base_url=thread.url, headers={"x-goog-api-key": flooder}) as http:
        ids = [http.post("/v1beta/interactions", json=body).json()["id"] for _ in range(flood)]
    flooded = time.monotonic() - started
    newcomer = new_key(thread, f"newcomer-{n}")
    with httpx.Client(base_url=thread.url, headers={"x-goog-api-key": newcomer}) as http:
        started = time.monotonic()
        run = http.post(
            "/v1beta/interactions",
            json={"model": "offline/echo", "input": "first", "background": True},
        ).json()
        while http.get(f"/v1beta/interactions/{run['id']}").json()["status"] != "completed":
            time.sleep(0.01)
        delay = time.monotonic() - started
    with httpx.Client(base_url=thread.url, headers={"x-goog-api-key": flooder}) as http:
        waiting = sum(
            1
            for i in ids[-100:]
            if http.get(f"/v1beta/interactions/{i}").json()["status"] == "queued"
        )
        for i in ids:  # clear the flood for the next round
            http.post(f"/v1beta/interactions/{i}/cancel")
    return flooded, delay, waiting


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--flood", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--database-url")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="junction-fairness-"))
    settings = load_settings(
        env={},
        overrides={
            "database_url": args.database_url or f"sqlite:///{tmp / 'bench.db'}",
            "data_dir": tmp,
            "access_log": False,
            "workers": args.workers,
            "key_requests_per_second": 0,
            "project_max_queued_runs": args.flood,
        },
    )
    thread = JunctionThread(settings).start()
    backend = "postgresql" if args.database_url else "sqlite"
    print(f"fairness on {backend}: flood {args.flood} × 0.5 s runs, {args.workers} workers")
    delays = []
    try:
        for n in range(args.repeat):
            flooded, delay, waiting = one_round(thread, args.flood, n)
            delays.append(delay)
            print(
                f"  round {n + 1}: flood created in {flooded:.1f} s; newcomer's first run "
                f"completed {delay * 1000:.0f} ms after its create; "
                f"{waiting} of the flood's last 100 still queued"
            )
    finally:
        thread.stop()
    print(f"newcomer delay: median {statistics.median(delays) * 1000:.0f} ms, max "
          f"{max(delays) * 1000:.0f} ms (bound: 5,000 ms)")  # fmt: skip


if __name__ == "__main__":
    main()
