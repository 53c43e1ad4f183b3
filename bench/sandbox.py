"""Sandbox benchmark: what the bubblewrap sandbox costs over running the same thing bare.

Four phases, sandboxed and unsandboxed interleaved so both see the same machine:

1. start-to-first-output of ``python3 -c 'print(1)'`` (the argv ``code_execution`` runs)
   in a fresh exec (p50/p95): cold (a new sandbox and interpreter, warm execution off),
   warm (the sandbox's pre-started interpreter is ready, as between an agent's steps),
   back to back (timed: a command sent right as the previous one ended — warm, it waits
   for the interpreter being started; cold, the same for today's path), with and
   without per-command cgroups, against the
   same command as a plain asyncio subprocess (bare ``python3 -c``);
1b. memory of an idle warm environment (PSS and RSS of its bwrap and interpreter);
2. 50 sandboxes at once, each running a small computation (total time, per-exec p50/p95);
3. a 100 MB file written and read back through the streaming file API, against a plain
   local file copy.

Prints a table and writes bench/results/sandbox.json.

    .venv/bin/python bench/sandbox.py [--runs 200] [--concurrency 50] [--megabytes 100]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import statistics
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from junction.sandbox import (
    ExecResult,
    Limits,
    OutputChunk,
    Sandbox,
    SandboxBackend,
    SandboxSettings,
    create_backend,
)
from junction.sandbox.bubblewrap import BubblewrapBackend

RESULTS = Path(__file__).resolve().parent / "results"
COMMAND = ["/usr/bin/python3", "-c", "print(1)"]
COMPUTE = ["/usr/bin/python3", "-c", "print(sum(i * i for i in range(200_000)))"]
ENV = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def summary(values: list[float]) -> dict[str, float]:
    return {
        "p50_ms": round(pct(values, 50) * 1000, 2),
        "p95_ms": round(pct(values, 95) * 1000, 2),
        "mean_ms": round(statistics.fmean(values) * 1000, 2),
        "n": len(values),
    }


async def first_output_sandboxed(box: Sandbox, argv: list[str]) -> float:
    start = time.perf_counter()
    first = 0.0
    async with box.exec(argv) as run:
        async for item in run:
            if isinstance(item, OutputChunk) and not first:
                first = time.perf_counter() - start
            if isinstance(item, ExecResult):
                assert item.exit_code == 0, item
    return first


async def first_output_bare(argv: list[str], cwd: str) -> float:
    start = time.perf_counter()
    proc = await asyncio.create_subprocess_exec(
        *argv, stdout=asyncio.subprocess.PIPE, cwd=cwd, env=ENV
    )
    assert proc.stdout is not None
    await proc.stdout.read(1)
    first = time.perf_counter() - start
    await proc.stdout.read()
    assert await proc.wait() == 0
    return first


async def phase_start(
    backends: dict[str, SandboxBackend], runs: int, scratch: str
) -> dict[str, Any]:
    """Interleaved: each round runs every variant once, so all see the same machine."""
    boxes = {name: await b.create(f"bench-start-{name}") for name, b in backends.items()}
    times: dict[str, list[float]] = {name: [] for name in [*boxes, "unsandboxed"]}
    try:
        for round_ in range(runs + 5):  # 5 warm-up rounds (page cache, ld.so, .pyc)
            for name, box in boxes.items():
                pool = getattr(backends[name], "warm", None)
                if "back_to_back" in name:
                    await first_output_sandboxed(box, COMMAND)  # untimed; the next follows
                elif pool is not None:
                    await pool.wait_ready(box.id)  # not timed: the think time between steps
                took = await first_output_sandboxed(box, COMMAND)
                if round_ >= 5:
                    times[name].append(took)
            took = await first_output_bare(COMMAND, scratch)
            if round_ >= 5:
                times["unsandboxed"].append(took)
    finally:
        for box in boxes.values():
            await box.destroy()
    return {name: summary(values) for name, values in times.items()}


def _memory_kb(pid: int) -> tuple[int, int]:
    pss = rss = 0
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            if line.startswith("Pss:"):
                pss = int(line.split()[1])
            elif line.startswith("Rss:"):
                rss = int(line.split()[1])
    return pss, rss


async def phase_warm_memory(backend: SandboxBackend, n: int = 10) -> dict[str, Any]:
    """PSS/RSS of the idle warm interpreters of ``n`` environments (bwrap + python)."""
    assert isinstance(backend, BubblewrapBackend) and backend.warm is not None
    pool = backend.warm
    boxes = [await backend.create(f"bench-mem-{i}") for i in range(n)]
    try:
        for box in boxes:
            await pool.wait_ready(box.id)
        pss = rss = 0
        for pid in pool.warm_pids():
            p, r = _memory_kb(pid)
            pss, rss = pss + p, rss + r
    finally:
        for box in boxes:
            await box.destroy()
    return {
        "environments": n,
        "pss_mb_each": round(pss / n / 1024, 1),
        "rss_mb_each": round(rss / n / 1024, 1),
    }


async def phase_concurrent(backend: SandboxBackend, n: int, scratch: str) -> dict[str, Any]:
    boxes = [await backend.create(f"bench-conc-{i}") for i in range(n)]

    async def one_sandboxed(box: Sandbox) -> float:
        start = time.perf_counter()
        done = await box.run(COMPUTE)
        assert done.exit_code == 0, done
        return time.perf_counter() - start

    async def one_bare() -> float:
        start = time.perf_counter()
        proc = await asyncio.create_subprocess_exec(
            *COMPUTE, stdout=asyncio.subprocess.PIPE, cwd=scratch, env=ENV
        )
        await proc.communicate()
        return time.perf_counter() - start

    try:
        start = time.perf_counter()
        sandboxed = await asyncio.gather(*(one_sandboxed(box) for box in boxes))
        sandboxed_total = time.perf_counter() - start
        start = time.perf_counter()
        bare = await asyncio.gather(*(one_bare() for _ in range(n)))
        bare_total = time.perf_counter() - start
    finally:
        for box in boxes:
            await box.destroy()
    return {
        "sandboxes": n,
        "sandboxed": {"total_s": round(sandboxed_total, 3), **summary(list(sandboxed))},
        "unsandboxed": {"total_s": round(bare_total, 3), **summary(list(bare))},
    }


async def _blocks(data: bytes, count: int) -> AsyncIterator[bytes]:
    for _ in range(count):
        yield data


async def phase_files(backend: SandboxBackend, megabytes: int, scratch: str) -> dict[str, Any]:
    block = os.urandom(1024 * 1024)
    size = megabytes * len(block)
    box = await backend.create("bench-files", Limits(disk_bytes=4 * size))
    try:
        start = time.perf_counter()
        await box.write_file("big.bin", _blocks(block, megabytes))
        write_s = time.perf_counter() - start
        start = time.perf_counter()
        total = 0
        async for chunk in box.read_file("big.bin"):
            total += len(chunk)
        read_s = time.perf_counter() - start
        assert total == size
    finally:
        await box.destroy()
    source, target = Path(scratch, "src.bin"), Path(scratch, "dst.bin")
    with open(source, "wb") as f:
        for _ in range(megabytes):
            f.write(block)
    start = time.perf_counter()
    shutil.copyfile(source, target)
    copy_s = time.perf_counter() - start
    return {
        "megabytes": megabytes,
        "sandbox_write_mb_s": round(megabytes / write_s, 1),
        "sandbox_read_mb_s": round(megabytes / read_s, 1),
        "plain_copy_mb_s": round(megabytes / copy_s, 1),
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--megabytes", type=int, default=100)
    parser.add_argument("--backend", default="bubblewrap")
    args = parser.parse_args()
    load_before = os.getloadavg()
    root = Path(tempfile.mkdtemp(prefix="junction-bench-"))
    root.chmod(0o711)  # bwrap runs as the sandbox user when this runs as root
    scratch = tempfile.mkdtemp(prefix="junction-bench-bare-")

    def make(name: str, **settings: Any) -> SandboxBackend:
        return create_backend(args.backend, SandboxSettings(root_dir=root / name, **settings))

    # The server's default: rlimits only (JUNCTION_SANDBOX_CGROUPS=0), warm execution on.
    backend = make("cold", cgroups=False, warm=False)
    variants = {"cold": backend}
    if args.backend == "bubblewrap":
        variants["warm"] = make("warm", cgroups=False)
        variants["warm_back_to_back"] = make("b2b", cgroups=False)
        variants["cold_back_to_back"] = make("cold-b2b", cgroups=False, warm=False)
    with_cgroups = make("cgroups", warm=False)
    cgroups: Any = getattr(with_cgroups, "cgroups", None)
    if cgroups is not None:  # also measure with per-command cgroups
        variants["cold_cgroups"] = with_cgroups
        variants["warm_cgroups"] = make("warm-cgroups")
    try:
        start = await phase_start(variants, args.runs, scratch)
        memory = await phase_warm_memory(variants["warm"]) if "warm" in variants else None
        concurrent = await phase_concurrent(backend, args.concurrency, scratch)
        files = await phase_files(backend, args.megabytes, scratch)
    finally:
        for each in {*variants.values(), with_cgroups}:
            await each.aclose()
        shutil.rmtree(root, ignore_errors=True)
        shutil.rmtree(scratch, ignore_errors=True)
    result = {
        "backend": args.backend,
        "limits": "rlimits; *_cgroups: " + (cgroups.kind if cgroups else "unavailable"),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "date": time.strftime("%Y-%m-%d"),
        "loadavg_before": load_before,
        "loadavg_after": os.getloadavg(),
        "start_to_first_output": start,
        "warm_memory": memory,
        "concurrent": concurrent,
        "files": files,
    }
    s, c = start, concurrent
    print(f"start-to-first-output ({args.runs} runs, python3 -c 'print(1)')")
    for name in s:
        print(f"  {name:22s} p50 {s[name]['p50_ms']:7.2f} ms   p95 {s[name]['p95_ms']:7.2f} ms")
    if memory is not None:
        print(
            f"idle warm environment ({memory['environments']} measured): "
            f"PSS {memory['pss_mb_each']} MB, RSS {memory['rss_mb_each']} MB each"
        )
    print(f"{args.concurrency} concurrent execs (small computation)")
    for name in ("sandboxed", "unsandboxed"):
        r = c[name]
        print(
            f"  {name:12s} total {r['total_s']:6.2f} s   per exec p50 {r['p50_ms']:7.1f} ms"
            f"   p95 {r['p95_ms']:7.1f} ms"
        )
    print(f"files ({args.megabytes} MB)")
    print(
        f"  sandbox write {files['sandbox_write_mb_s']} MB/s, read {files['sandbox_read_mb_s']}"
        f" MB/s; plain copy {files['plain_copy_mb_s']} MB/s"
    )
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "sandbox.json").write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    asyncio.run(main())
