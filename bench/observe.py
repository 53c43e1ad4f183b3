"""Observability overhead: what metrics and tracing add per request, and that switched off
they add nothing measurable.

Processes: this load generator, the fake OpenAI provider, a local OTLP/HTTP collector and
four ``junction serve`` processes — observability off (twice: the second shows the noise
floor between two identical servers), metrics on (JUNCTION_METRICS_TOKEN), and metrics
plus tracing (every request traced, spans exported over OTLP/HTTP to the collector).
Requests are interleaved in one run with the order rotated, so every target sees the same
machine conditions; latency differences are paired per round. Prints a table, writes
bench/results/observe.json.

``--baseline-src DIR`` adds a fifth server, metrics plus tracing run from another
checkout's ``src`` (e.g. ``git archive <commit> src | tar -x -C /tmp/base``, then
``--baseline-src /tmp/base/src``): before and after a change, measured in one run.

    .venv/bin/python bench/observe.py [--requests 1500] [--baseline-src DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import uvloop

from overhead import (
    BIN,
    FAKE_CODE,
    KEY,
    RESULTS,
    SERVE,
    Processes,
    Target,
    _healthy,
    cpu_seconds,
    latency_phase,
)

COLLECTOR_CODE = """import asyncio, sys, uvloop
asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
from junction.testing.otlp import FakeCollector
c = FakeCollector(); c.record = False; c.start(0)
print(c.port, flush=True); sys.stdin.read()"""

CONFIGS: dict[str, dict[str, str]] = {
    "off": {},
    "off_again": {},
    "metrics": {"JUNCTION_METRICS_TOKEN": "bench-metrics"},
    "metrics_tracing": {"JUNCTION_METRICS_TOKEN": "bench-metrics"},  # + OTLP endpoint
}


def _port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _child(procs: Processes, name: str, code: str, env: dict[str, str]) -> tuple[Any, int]:
    proc = procs.spawn(
        name, [sys.executable, "-c", code], env, stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    line = proc.stdout.readline().strip()
    if not line:
        raise RuntimeError(f"{name} did not start:\n{procs.log_tail(name)}")
    return proc, int(line)


def start(procs: Processes, baseline_src: str | None = None) -> list[Target]:
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    _, fake_port = _child(procs, "fake", FAKE_CODE, env)
    _, collector_port = _child(procs, "collector", COLLECTOR_CODE, env)
    fake_url = f"http://127.0.0.1:{fake_port}/v1"
    body = orjson.dumps({"model": "openai/fake-model", "input": "hello"})
    targets = []
    configs = dict(CONFIGS)
    if baseline_src:
        configs["tracing_baseline"] = CONFIGS["metrics_tracing"]
    for name, extra in configs.items():
        port = _port()
        cmd = [str(BIN / "junction"), "serve", "--port", str(port)]
        if name == "tracing_baseline":
            cmd = [sys.executable, "-c", SERVE, "serve", "--port", str(port)]
        cmd += ["--data-dir", str(procs.tmp / name)]
        jenv = dict(env, JUNCTION_API_KEY=KEY, OPENAI_API_KEY="x", OPENAI_BASE_URL=fake_url)
        jenv.update(extra)
        if name == "tracing_baseline":
            jenv["PYTHONPATH"] = str(baseline_src)
        if name in ("metrics_tracing", "tracing_baseline"):
            jenv["OTEL_EXPORTER_OTLP_ENDPOINT"] = f"http://127.0.0.1:{collector_port}"
        proc = procs.spawn(name, cmd, jenv, stdout=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while not _healthy(f"http://127.0.0.1:{port}/healthz"):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{name} did not start:\n{procs.log_tail(name)}")
            time.sleep(0.05)
        url = f"http://127.0.0.1:{port}/v1beta/interactions"
        headers = {"Content-Type": "application/json", "x-goog-api-key": KEY}
        targets.append(Target(name, url, body, headers, proc.pid))
    return targets


async def run(targets: list[Target], n: int, warm: int) -> dict[str, Any]:
    """Interleaved latency, and each server's CPU time per request over the same phase
    (less sensitive than latency to the other processes of a busy machine)."""
    connector = aiohttp.TCPConnector(limit=16, keepalive_timeout=60)
    before = {t.name: cpu_seconds(t.pid) for t in targets}
    async with aiohttp.ClientSession(connector=connector) as session:
        result = await latency_phase(session, targets, n, warm)
    base = None
    for t in targets:
        cpu_us = (cpu_seconds(t.pid) - before[t.name]) / (n + warm) * 1e6
        base = cpu_us if base is None else base
        result[t.name]["cpu_us_per_request"] = round(cpu_us, 1)
        result[t.name]["added_cpu_us"] = round(cpu_us - base, 1)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=1500, help="requests per target")
    parser.add_argument("--warmup", type=int, default=100)
    parser.add_argument("--baseline-src", help="a checkout's src, traced as a fifth target")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="junction-observe-bench-") as tmp:
        procs = Processes(Path(tmp))
        try:
            targets = start(procs, args.baseline_src)
            result = uvloop.run(run(targets, args.requests, args.warmup))
        finally:
            procs.stop_all()
    print(
        f"{'target':<18}{'p50 ms':>9}{'p99 ms':>9}{'added p50':>11}{'paired p50':>12}"
        f"{'cpu us/req':>12}{'added cpu':>11}"
    )
    for name, row in result.items():
        print(
            f"{name:<18}{row['p50_ms']:>9.3f}{row['p99_ms']:>9.3f}"
            f"{row.get('added_p50_ms', 0.0):>11.3f}{row.get('paired_diff_p50_ms', 0.0):>12.3f}"
            f"{row['cpu_us_per_request']:>12.1f}{row['added_cpu_us']:>11.1f}"
        )
    RESULTS.mkdir(exist_ok=True)
    out = {"requests_per_target": args.requests, "latency": result}
    (RESULTS / "observe.json").write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
