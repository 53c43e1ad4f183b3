"""Junction overhead benchmark: what Junction adds on top of the model provider.

Three processes: this load generator (aiohttp on uvloop), ``junction serve`` (two of them,
the default configuration and ``JUNCTION_ACCESS_LOG=0``) and the fake OpenAI-compatible
provider. Every phase interleaves direct-to-fake and through-Junction requests, so all see
the same machine conditions. Prints a table, writes bench/results/overhead.json.

    .venv/bin/python bench/overhead.py [--quick] [--profile 10] [--database-url postgresql://…]

``--baseline-src DIR`` adds a third server, the default configuration run from another
checkout's ``src`` (``git archive <commit> src | tar -x -C /tmp/base``, then
``--baseline-src /tmp/base/src``): before and after a change in one run. The concurrency-1
table also gives each process's CPU time per request over that phase; the chain-depth
phase runs for the baseline build too, after this one's.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import uvloop

RESULTS = Path(__file__).resolve().parent / "results"
BIN = Path(sys.executable).parent
KEY = "bench-" + uuid.uuid4().hex
CLK = os.sysconf("SC_CLK_TCK")
#: benchmarks measure capacity with one key and one project from one address: the
#: per-key rate, per-project quotas and connection caps (docs/configuration.md) are off
NO_LIMITS = {
    f"JUNCTION_{name}": "0"
    for name in (
        "KEY_REQUESTS_PER_SECOND",
        "PROJECT_MAX_RUNNING_RUNS",
        "PROJECT_MAX_FOREGROUND_RUNS",
        "PROJECT_MAX_QUEUED_RUNS",
        "PROJECT_MAX_ENVIRONMENTS",
        "PROJECT_MAX_STORED_BYTES",
        "HTTP_MAX_CONNECTIONS",
        "HTTP_MAX_CONNECTIONS_PER_CLIENT",
    )
}
SERVE = "import sys; from junction.cli import main; sys.exit(main())"
FAKE_CODE = """import asyncio, sys, uvloop
asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
from junction.testing.fake_openai import FakeOpenAI
fake = FakeOpenAI(); fake.record = False; fake.start(0)
print(fake.port, flush=True); sys.stdin.read()  # EOF: the benchmark went away"""


def _die_with_parent() -> None:
    ctypes.CDLL("libc.so.6").prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class Processes:
    """Children in their own session (Ctrl-C reaches only us) that die with us."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.procs: list[subprocess.Popen[bytes]] = []

    def spawn(self, name: str, cmd: list[str], env: dict[str, str], **kw: Any) -> Any:
        log = (self.tmp / f"{name}.log").open("wb")
        proc = subprocess.Popen(
            cmd, env=env, stderr=log, start_new_session=True, preexec_fn=_die_with_parent, **kw
        )
        self.procs.append(proc)
        return proc

    def log_tail(self, name: str) -> str:
        return (self.tmp / f"{name}.log").read_text(errors="replace")[-2000:]

    def stop_all(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@dataclass
class Target:
    name: str
    url: str
    body: bytes
    headers: dict[str, str]
    pid: int
    wal: Path | None = None  # SQLite write-ahead log of a Junction target


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, max(0, round(q * (len(s) - 1))))] if s else float("nan")


def stats(values: list[float], prefix: str = "") -> dict[str, float]:
    return {f"{prefix}p50_ms": pct(values, 0.5), f"{prefix}p99_ms": pct(values, 0.99)}


def pg_exec(url: str, sql: str) -> None:
    import asyncpg

    async def run() -> None:
        conn = await asyncpg.connect(url)
        await conn.execute(sql)
        await conn.close()

    asyncio.run(run())


def teardown(groups: list[Any], database_url: str, dbs: list[str], tmp: Path) -> None:
    """Stop every process group, drop the benchmark's databases, remove its files."""
    for group in groups:
        group.stop_all()
    for db in dbs:
        with contextlib.suppress(Exception):
            pg_exec(database_url, f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
    shutil.rmtree(tmp, ignore_errors=True)


async def call(session: aiohttp.ClientSession, t: Target, body: bytes | None = None) -> Any:
    """One request: (latency ms, Server-Timing durations, body bytes)."""
    start = time.perf_counter()
    async with session.post(t.url, data=body or t.body, headers=t.headers) as r:
        data = await r.read()
    ms = (time.perf_counter() - start) * 1000
    if r.status != 200:
        raise RuntimeError(f"{t.name}: HTTP {r.status}: {data[:400]!r}")
    parts = [p.strip().partition(";dur=") for p in r.headers.get("Server-Timing", "").split(",")]
    return ms, {name: float(dur) for name, _, dur in parts if dur}, data


async def latency_phase(session: Any, targets: list[Target], n: int, warm: int) -> dict[str, Any]:
    for _ in range(warm):
        for t in targets:
            await call(session, t)
    lat: dict[str, list[float]] = defaultdict(list)
    jdur: dict[str, list[float]] = defaultdict(list)
    for i in range(n):
        k = i % len(targets)
        for t in targets[k:] + targets[:k]:  # rotate the order: no position bias
            ms, timing, _ = await call(session, t)
            lat[t.name].append(ms)
            if "junction" in timing:
                jdur[t.name].append(timing["junction"])
    base = lat[targets[0].name]
    out: dict[str, Any] = {}
    for t in targets:
        out[t.name] = row = stats(lat[t.name])
        if t is not targets[0]:
            diffs = [b - a for a, b in zip(base, lat[t.name], strict=True)]
            row["added_p50_ms"] = row["p50_ms"] - pct(base, 0.5)
            row["added_p99_ms"] = row["p99_ms"] - pct(base, 0.99)
            row |= {"paired_diff_p50_ms": pct(diffs, 0.5), **stats(jdur[t.name], "st_junction_")}
    return out


async def load_slice(session: Any, t: Target, conc: int, seconds: float) -> tuple[float, Any]:
    """``conc`` workers sending back-to-back requests for ``seconds``: (elapsed, latencies)."""
    deadline = time.perf_counter() + seconds
    lat: list[float] = []

    async def worker() -> None:
        while time.perf_counter() < deadline:
            lat.append((await call(session, t))[0])

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(conc)))
    return time.perf_counter() - start, lat


async def throughput_phase(
    session: Any, targets: list[Target], conc: int, seconds: float, rounds: int, warm: float
) -> dict[str, Any]:
    for t in targets:
        await load_slice(session, t, conc, warm)
    pids = {"gen": os.getpid(), **{t.name: t.pid for t in targets}}
    elapsed: Counter[str] = Counter()
    cpu: dict[str, Counter[str]] = defaultdict(Counter)
    lat: dict[str, list[float]] = defaultdict(list)
    for r in range(rounds):
        k = r % len(targets)
        for t in targets[k:] + targets[:k]:
            before = {name: cpu_seconds(pid) for name, pid in pids.items()}
            took, latencies = await load_slice(session, t, conc, seconds / rounds)
            elapsed[t.name] += took
            lat[t.name] += latencies
            for name, pid in pids.items():
                cpu[t.name][name] += cpu_seconds(pid) - before[name]
    out = {}
    for t in targets:
        s = elapsed[t.name]
        usage = {name: round(100 * v / s) for name, v in cpu[t.name].items() if v / s >= 0.03}
        out[t.name] = {"rps": len(lat[t.name]) / s, "requests": len(lat[t.name])}
        out[t.name] |= {**stats(lat[t.name]), "cpu_pct": usage}
    return out


async def chain_phase(session: Any, jt: Target, depth: int, samples: int) -> dict[str, Any]:
    """Server-side cost of extending a chain at its tip: depth 0 (new conversation), 1, and
    ``depth`` (a long chain; each sample extends it further), interleaved."""

    async def create(prev: str | None) -> tuple[str, float, float]:
        body: dict[str, Any] = {"model": "openai/fake-model", "input": "hello"}
        if prev:
            body["previous_interaction_id"] = prev
        ms, timing, data = await call(session, jt, orjson.dumps(body))
        record = orjson.loads(data)
        if record.get("status") != "completed":
            raise RuntimeError(f"interaction not completed: {data[:400]!r}")
        return record["id"], ms, timing.get("junction", float("nan"))

    start, tip = time.perf_counter(), None
    for _ in range(depth):
        tip, _, _ = await create(tip)
    out: dict[str, Any] = {"depth": depth, "build_seconds": time.perf_counter() - start}
    rows: dict[str, list[tuple[float, float]]] = defaultdict(list)

    async def sample(key: str, prev: str | None) -> str:
        new_id, ms, jms = await create(prev)
        rows[key].append((ms, jms))
        return new_id

    for i in range(samples):
        if i % 2:
            tip = await sample(str(depth), tip)
        await sample("1", await sample("0", None))
        if not i % 2:
            tip = await sample(str(depth), tip)
    for d, vals in rows.items():
        out[f"depth_{d}"] = stats([j for _, j in vals], "junction_")
        out[f"depth_{d}"] |= stats([m for m, _ in vals], "total_")
    deep, one = out[f"depth_{depth}"], out["depth_1"]
    out["ratio_junction_p50"] = deep["junction_p50_ms"] / one["junction_p50_ms"]
    return out


async def profile_phase(session: Any, jt: Target, seconds: int, out: Path) -> dict[str, Any]:
    """py-spy record (collapsed stacks with line numbers) of Junction under c=16 load."""
    rate = 100
    spy = await asyncio.create_subprocess_exec(
        str(BIN / "py-spy"), "record", "--pid", str(jt.pid), "--duration", str(seconds),
        "--rate", str(rate), "--format", "raw", "-o", str(out),
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    await asyncio.sleep(1)
    elapsed, lat = await load_slice(session, jt, 16, seconds + 1)
    _, err = await spy.communicate()
    if spy.returncode != 0:
        return {"error": err.decode(errors="replace")[-500:]}
    return {"rps_while_profiling": len(lat) / elapsed, "raw": str(out)}


def summarize_profile(prof: dict[str, Any]) -> dict[str, Any]:
    """Inclusive share of Junction's functions; self share of the top lines overall."""
    if "raw" not in prof:
        return prof
    total, own, incl = 0, Counter[str](), Counter[str]()
    for line in Path(prof["raw"]).read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = [f.rstrip(")").rsplit(" (", 1) for f in stack.split(";")]
        frames = [(f[1].rsplit(":", 1), f[0]) for f in frames if len(f) == 2]
        if not frames:
            continue
        total += int(count)
        (path, lineno), func = frames[-1]
        own[f"{path}:{lineno} {func}"] += int(count)
        for name in {f"{path}:{func}" for (path, _), func in frames}:
            incl[name] += int(count)
    share = lambda c: round(100 * c / max(total, 1), 1)  # noqa: E731
    return prof | {
        "samples": total,
        "junction_inclusive_pct": {k: share(v) for k, v in incl.most_common() if "junction/" in k},
        "self_pct_top_lines": {k: share(v) for k, v in own.most_common(25)},
    }


def start_fake(procs: Processes) -> tuple[str, int]:
    """The fake provider in a process of its own: its base URL and pid."""
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    fake = procs.spawn(
        "fake", [sys.executable, "-c", FAKE_CODE], env, stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )  # fmt: skip
    line = fake.stdout.readline().strip()
    if not line:
        raise RuntimeError(f"fake provider did not start:\n{procs.log_tail('fake')}")
    return f"http://127.0.0.1:{int(line)}/v1", fake.pid


def start_services(args: argparse.Namespace, procs: Processes, dbs: list[str]) -> list[Target]:
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    fake_url, fake_pid = start_fake(procs)
    chat = {"model": "fake-model", "messages": [{"role": "user", "content": "hello"}]}
    json_ct = {"Content-Type": "application/json"}
    targets = [
        Target("direct", f"{fake_url}/chat/completions", orjson.dumps(chat), json_ct, fake_pid)
    ]
    servers = [("junction", "1"), ("junction_nolog", "0")]
    if args.baseline_src:
        servers.append(("junction_base", "1"))
    for name, access_log in servers:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        data_dir = procs.tmp / name
        cmd = [str(BIN / "junction"), "serve", "--port", str(port), "--data-dir", str(data_dir)]
        if name == "junction_base":  # the same command, run from another checkout's src
            cmd[:1] = [sys.executable, "-c", SERVE]
        if args.database_url:
            db = f"junction_bench_{uuid.uuid4().hex[:10]}"
            pg_exec(args.database_url, f'CREATE DATABASE "{db}"')
            dbs.append(db)
            url = urllib.parse.urlsplit(args.database_url)._replace(path=f"/{db}").geturl()
            cmd += ["--database-url", url]
        jenv = dict(
            env, JUNCTION_API_KEY=KEY, OPENAI_API_KEY="x", OPENAI_BASE_URL=fake_url,
            JUNCTION_ACCESS_LOG=access_log, **NO_LIMITS,
        )  # fmt: skip
        if name == "junction_base":
            jenv["PYTHONPATH"] = args.baseline_src
        proc = procs.spawn(name, cmd, jenv, stdout=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while not _healthy(f"http://127.0.0.1:{port}/healthz"):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{name} did not start:\n{procs.log_tail(name)}")
            time.sleep(0.05)
        body = orjson.dumps({"model": "openai/fake-model", "input": "hello"})
        url = f"http://127.0.0.1:{port}/v1beta/interactions"
        wal = None if args.database_url else data_dir / "junction.db-wal"
        targets.append(Target(name, url, body, {**json_ct, "x-goog-api-key": KEY}, proc.pid, wal))
    return targets


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as r:
            return bool(r.status == 200)
    except OSError:
        return False


async def run(args: argparse.Namespace, targets: list[Target]) -> dict[str, Any]:
    limit = max(args.concurrency) * len(targets) + 8
    connector = aiohttp.TCPConnector(limit=limit, keepalive_timeout=60)
    timeout = aiohttp.ClientTimeout(total=120)
    res: dict[str, Any] = {"wal_mb": {}}

    def wal(phase: str) -> None:
        sizes = {t.name: t.wal.stat().st_size / 1e6 for t in targets if t.wal and t.wal.exists()}
        if sizes:
            res["wal_mb"][phase] = sizes

    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        print(f"[1/3] concurrency 1: {args.requests} requests per target...", flush=True)
        before = {t.name: cpu_seconds(t.pid) for t in targets}
        res["latency_c1"] = await latency_phase(session, targets, args.requests, args.warmup)
        for t in targets:  # CPU per request: steadier than latency on a busy machine
            cpu = (cpu_seconds(t.pid) - before[t.name]) / (args.requests + args.warmup)
            res["latency_c1"][t.name]["cpu_us_per_request"] = round(cpu * 1e6, 1)
        wal("c1")
        res["throughput"] = {}
        for c in args.concurrency:
            print(f"[2/3] concurrency {c}: {args.duration}s per target...", flush=True)
            res["throughput"][str(c)] = await throughput_phase(
                session, targets, c, args.duration, args.rounds, args.warmup_seconds
            )
            wal(f"c{c}")
        print(f"[3/3] chain depth {args.chain_depth}, {args.chain_samples} samples...", flush=True)
        res["chain"] = await chain_phase(session, targets[1], args.chain_depth, args.chain_samples)
        for t in targets[3:]:  # the baseline build: the same phase, after
            chain = await chain_phase(session, t, args.chain_depth, args.chain_samples)
            res[f"chain_{t.name}"] = chain
        wal("chain")
        if args.profile:
            print(f"[+] py-spy profile of Junction at c=16 for {args.profile}s...", flush=True)
            RESULTS.mkdir(exist_ok=True)
            out = RESULTS / "junction-profile.txt"
            res["profile"] = await profile_phase(session, targets[1], args.profile, out)
    return res


def report(res: dict[str, Any], args: argparse.Namespace) -> dict[str, str]:
    lat, tp, ch = res["latency_c1"], res["throughput"], res["chain"]
    j, d = lat["junction"], ch["depth"]
    c16 = tp.get("16", {}).get("junction", {}).get("rps", 0.0)
    checks = {
        "added_p50_c1_le_2ms": j["added_p50_ms"] <= 2,
        "added_p99_c1_le_5ms": j["added_p99_ms"] <= 5,
        "junction_c16_ge_1000rps": c16 >= 1000,
        "chain_ratio_le_1.2": ch["ratio_junction_p50"] <= 1.2,
    }
    ok = {k: "PASS" if v else "MISS" for k, v in checks.items()}
    db = "postgresql" if args.database_url else "sqlite"
    print(f"\n== Junction overhead ({db}, {os.cpu_count()} cores) ==")
    print(f"\nConcurrency 1, {args.requests} interleaved requests per target (ms)")
    print(
        f"{'target':<16}{'p50':>8}{'p99':>8}{'+p50':>8}{'+p99':>8}{'pairΔ50':>9}{'ST j50':>8}"
        f"{'cpu µs':>8}"
    )
    for name, r in lat.items():
        keys = ("added_p50_ms", "added_p99_ms", "paired_diff_p50_ms", "st_junction_p50_ms")
        cells = "".join(f"{r[k]:>8.3f}" if k in r else f"{'':>8}" for k in keys)
        print(f"{name:<16}{r['p50_ms']:>8.3f}{r['p99_ms']:>8.3f}{cells}", end="")
        print(f"{r.get('cpu_us_per_request', 0.0):>8.0f}")
    print(f"  added p50 {j['added_p50_ms']:.3f} ms <= 2 ms: {ok['added_p50_c1_le_2ms']}")
    print(f"  added p99 {j['added_p99_ms']:.3f} ms <= 5 ms: {ok['added_p99_c1_le_5ms']}")
    print(f"\nThroughput, {args.duration}s per target per concurrency")
    print(f"{'conc':<6}{'target':<16}{'req/s':>9}{'ratio':>7}{'p50 ms':>8}{'p99 ms':>8}  cpu%")
    for c, rows in tp.items():
        for name, r in rows.items():
            ratio = r["rps"] / rows["direct"]["rps"]
            cpu = " ".join(f"{k}={v}" for k, v in r["cpu_pct"].items())
            print(f"{c:<6}{name:<16}{r['rps']:>9.0f}{ratio:>7.2f}", end="")
            print(f"{r['p50_ms']:>8.2f}{r['p99_ms']:>8.2f}  {cpu}")
    print(f"  junction c=16 {c16:.0f}/s >= 1000/s: {ok['junction_c16_ge_1000rps']}")
    print(f"\nChain depth (chain of {d} built in {ch['build_seconds']:.1f}s), ms")
    print(f"{'depth':<8}{'junction p50':>13}{'junction p99':>13}{'total p50':>11}{'total p99':>11}")
    for key in ("depth_0", "depth_1", f"depth_{d}"):
        r = ch[key]
        print(f"{key[6:]:<8}{r['junction_p50_ms']:>13.3f}{r['junction_p99_ms']:>13.3f}", end="")
        print(f"{r['total_p50_ms']:>11.3f}{r['total_p99_ms']:>11.3f}")
    ratio = ch["ratio_junction_p50"]
    print(f"  depth {d}/depth 1 server-side p50 {ratio:.2f}x <= 1.2x: {ok['chain_ratio_le_1.2']}")
    for key in (k for k in res if k.startswith("chain_junction")):
        other = res[key]
        one, deep = other["depth_1"]["junction_p50_ms"], other[f"depth_{d}"]["junction_p50_ms"]
        print(f"  {key[6:]}: depth 1 {one:.3f}, depth {d} {deep:.3f} ms server-side p50, ", end="")
        print(f"{other['ratio_junction_p50']:.2f}x")
    if res["wal_mb"]:
        print("\nSQLite WAL file size after each phase (MB):")
        for phase, sizes in res["wal_mb"].items():
            print(f"  {phase:<6}" + "  ".join(f"{k}={v:.0f}" for k, v in sizes.items()))
    if prof := res.get("profile"):
        print("\npy-spy profile of Junction at c=16 (% of non-idle samples)")
        if "error" in prof:
            print("  failed:", prof["error"])
            return ok
        rps = prof["rps_while_profiling"]
        print(f"  {prof['samples']} samples, {rps:.0f} req/s while sampled; inclusive:")
        for k, v in list(prof["junction_inclusive_pct"].items())[:20]:
            print(f"  {v:>5.1f}%  {k}")
        print("  self time, top lines:")
        for k, v in list(prof["self_pct_top_lines"].items())[:15]:
            print(f"  {v:>5.1f}%  {k}")
    return ok


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--quick", action="store_true", help="fast smoke run")
    p.add_argument("--requests", type=int, default=2000, help="concurrency-1 requests per target")
    p.add_argument("--warmup", type=int, default=200, help="concurrency-1 warm-up requests")
    p.add_argument("--concurrency", type=int, nargs="+", default=[16, 64])
    p.add_argument("--duration", type=float, default=5.0, help="seconds per target and level")
    p.add_argument("--rounds", type=int, default=5, help="interleaved slices per duration")
    p.add_argument("--warmup-seconds", type=float, default=1.0)
    p.add_argument("--chain-depth", type=int, default=1000)
    p.add_argument("--chain-samples", type=int, default=200)
    p.add_argument("--database-url", help="postgresql://user@host:port/db: scratch DBs there")
    p.add_argument("--profile", type=int, default=0, metavar="SECONDS", help="py-spy at c=16")
    p.add_argument("--baseline-src", help="another checkout's src, served as junction_base")
    args = p.parse_args()
    if args.quick:
        args.requests, args.warmup, args.duration, args.rounds = 200, 30, 1.0, 2
        args.warmup_seconds, args.chain_depth, args.chain_samples = 0.3, 100, 30
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    tmp = Path(tempfile.mkdtemp(prefix="junction-bench-"))
    procs, dbs = Processes(tmp), []
    try:
        targets = start_services(args, procs, dbs)
        res = uvloop.run(run(args, targets))
        if "profile" in res:
            res["profile"] = summarize_profile(res["profile"])
        ok = report(res, args)
        RESULTS.mkdir(exist_ok=True)
        out = {"config": vars(args), "cpus": os.cpu_count(), "results": res, "targets": ok}
        path = RESULTS / ("overhead-postgresql.json" if args.database_url else "overhead.json")
        path.write_text(json.dumps(out, indent=2))
        print(f"\nwrote {path}")
        return 0
    finally:
        procs.stop_all()
        for db in dbs:
            with contextlib.suppress(Exception):
                pg_exec(args.database_url, f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
