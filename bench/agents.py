"""Agent-run benchmark: what Junction adds per agent step, and many agent runs at once.

Processes per phase: this load generator (aiohttp on uvloop), ``junction serve`` (SQLite
data dir under /tmp, traversable by the sandbox user) and the fake OpenAI provider, whose
responder scripts every run: ``--steps``-1 tool calls, then a final answer. The tool is
``code_execution`` (real bubblewrap sandbox, ``print(1)``) or ``url_context`` (a small page
served by the fake process; ``JUNCTION_URL_FETCH_ALLOW_PRIVATE=1``).

  overhead    sequential synchronous agent runs; per run, per step: Server-Timing
              ``junction;dur`` / steps, and the honest variant: (total server time - tools
              time - the run's own model requests replayed directly to the fake, with the
              run's idle gaps between them) / steps; p50/p99 over runs.
  concurrent  ``junction serve --workers C``: C background agent runs submitted at once,
              polled (one list call every 100 ms) until all are terminal: total time,
              completions, steps/s, CPU, peak RSS of Junction (every 100 ms) and of its
              process tree, sandboxes included (``--tree-interval``, a /proc scan).

    .venv/bin/python bench/agents.py [--quick] [--only overhead] [--runs 20] [--profile 10]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import uvloop

from _common import HDR, Stack, system_busy
from overhead import BIN, NO_LIMITS, RESULTS, Processes, cpu_seconds, pct, summarize_profile

BENCH = str(Path(__file__).resolve().parent)
FAKE_CODE = """import asyncio, json, sys, uvloop
asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
sys.path.insert(0, sys.argv[2]); import agents
agents.serve_fake(json.loads(sys.argv[1]))"""
PAGE = "<html><head><title>Bench page</title></head><body><h1>Bench</h1><p>Hello.</p></body>"
TERMINAL = {"completed", "failed", "cancelled", "incomplete", "requires_action", "budget_exceeded"}
TOOLS = ("code_execution", "url_context")
SCRIPT: dict[str, Any] = {"tool": "code_execution", "steps": 20, "keep": False, "args": {}}
BODIES: list[Any] = []
PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024
CALLS = [0]


# -- the fake provider's side (runs in the fake's process) -------------------------------
def responder(body: Any) -> Any:
    """Tool calls until ``steps`` - 1 tool results are in the conversation, then an answer."""
    from junction.testing.fakeserver import Reply

    CALLS[0] += 1
    if SCRIPT["keep"]:
        BODIES.append(body)
    done = sum(m.get("role") == "tool" for m in body.get("messages") or [])
    if done < SCRIPT["steps"] - 1:
        return Reply(text="", tool_calls=[(SCRIPT["tool"], SCRIPT["args"])])
    return Reply(text="done")


def serve_fake(script: dict[str, Any]) -> None:
    from aiohttp import web

    from junction.testing.fake_openai import FakeOpenAI

    class Fake(FakeOpenAI):
        def routes(self, app: web.Application) -> None:
            super().routes(app)
            app.router.add_get("/_take", self.take)
            app.router.add_get("/page", self.page)

        async def take(self, request: web.Request) -> web.Response:
            out = orjson.dumps({"calls": CALLS[0], "bodies": BODIES})
            BODIES.clear()
            return web.Response(body=out, content_type="application/json")

        async def page(self, request: web.Request) -> web.Response:
            return web.Response(text=PAGE, content_type="text/html")

    SCRIPT.update(script)
    fake = Fake()
    fake.record, fake.responder = False, responder
    fake.start(0)
    code = {"code": "print(1)", "language": "python"}
    SCRIPT["args"] = {"urls": [f"{fake.url}/page"]} if SCRIPT["tool"] == "url_context" else code
    print(fake.port, flush=True)
    sys.stdin.read()  # EOF: the benchmark went away


# -- the benchmark's side ----------------------------------------------------------------
class AgentStack(Stack):
    def start_fake(self, **script: Any) -> None:  # type: ignore[override]
        cmd = [sys.executable, "-c", FAKE_CODE, json.dumps(script), BENCH]
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        fake = self.procs.spawn("fake", cmd, env, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        line = fake.stdout.readline().strip()
        if not line:
            raise RuntimeError(f"fake provider did not start:\n{self.procs.log_tail('fake')}")
        self.fake_url, self.fake_pid = f"http://127.0.0.1:{int(line)}", fake.pid
        self.env = dict(
            env, JUNCTION_API_KEY=HDR["x-goog-api-key"], OPENAI_API_KEY="x",
            OPENAI_BASE_URL=f"{self.fake_url}/v1", JUNCTION_ACCESS_LOG="0",
            JUNCTION_URL_FETCH_ALLOW_PRIVATE="1" if script["tool"] == "url_context" else "0",
            JUNCTION_MAX_MODEL_CALLS=str(max(100, script["steps"] + 5)), **NO_LIMITS,
        )  # fmt: skip


def session() -> aiohttp.ClientSession:
    # Idle connections dropped before uvicorn's 5 s keep-alive closes them (no reuse race).
    conn = aiohttp.TCPConnector(limit=0, keepalive_timeout=4)
    return aiohttp.ClientSession(connector=conn, timeout=aiohttp.ClientTimeout(total=900))


def body(steps: int, background: bool) -> bytes:
    config = {"type": "antigravity", "model": "openai/agent", "max_steps": steps + 5}
    req = {"agent": "junction-general", "agent_config": config, "input": "Run the checks."}
    return orjson.dumps(req | {"background": background})


def server_timing(header: str) -> dict[str, float]:
    parts = [p.strip().partition(";") for p in header.split(",")]
    return {k: float(v.partition("=")[2]) for k, _, v in parts if v.startswith(("dur=", "desc="))}


async def take(s: aiohttp.ClientSession, stack: Stack) -> dict[str, Any]:
    async with s.get(f"{stack.fake_url}/_take") as r:
        return dict(await r.json())


async def agent_run(s: aiohttp.ClientSession, stack: Stack, steps: int) -> dict[str, float]:
    """One synchronous agent run, then its model requests replayed directly to the fake."""
    t0 = time.perf_counter()
    async with s.post(f"{stack.apis[0][0]}/v1beta/interactions", data=body(steps, False),
                      headers=HDR) as r:  # fmt: skip
        data = await r.read()
    wall = (time.perf_counter() - t0) * 1e3
    rec = orjson.loads(data)
    st = server_timing(r.headers.get("Server-Timing", ""))
    if r.status != 200 or rec.get("status") != "completed" or st.get("steps") != steps:
        raise RuntimeError(f"agent run: HTTP {r.status} steps={st.get('steps')} {data[:400]!r}")
    bodies = (await take(s, stack))["bodies"]
    n, tools = st["steps"], st["tools"]
    # The same requests straight to the fake: back to back ("hot"), and with the run's idle
    # gaps (the tool time between model calls): after an idle wait a loopback round trip
    # costs more on this machine (wake-ups, cold caches), inside Junction's runs as well.
    hot, gapped = await replay(s, stack, bodies, 0), await replay(s, stack, bodies, tools / (n - 1))
    total = st["junction"] + st["provider"] + tools
    return {
        "wall_ms": wall, "server_ms": total, "steps": n, "junction_per_step": st["junction"] / n,
        "honest_per_step": (total - tools - gapped) / n, "honest_hot_per_step":
        (total - tools - hot) / n, "provider_per_step": st["provider"] / n,
        "direct_per_step": gapped / n, "direct_hot_per_step": hot / n, "tools_per_step": tools / n,
        "request_kb_last": len(orjson.dumps(bodies[-1])) / 1024,
    }  # fmt: skip


async def replay(s: aiohttp.ClientSession, stack: Stack, bodies: list[Any], gap_ms: float) -> float:
    """Milliseconds of direct round trips to the fake, idle ``gap_ms`` before each but the first."""
    spent = 0.0
    for i, b in enumerate(bodies):
        if i and gap_ms:
            await asyncio.sleep(gap_ms / 1e3)
        t = time.perf_counter()
        async with s.post(f"{stack.fake_url}/v1/chat/completions", data=orjson.dumps(b),
                          headers={"Content-Type": "application/json"}) as r:  # fmt: skip
            await r.read()
        spent += time.perf_counter() - t
    await take(s, stack)  # drop the replayed bodies
    return spent * 1e3


async def phase_overhead(args: argparse.Namespace, group: Any) -> dict[str, Any]:
    out = {}
    for tool in TOOLS:
        stack = AgentStack(group(f"overhead-{tool}"), args, [])
        stack.start_fake(tool=tool, steps=args.steps, keep=True)
        await stack.serve()
        async with session() as s:
            for _ in range(args.warm):
                await agent_run(s, stack, args.steps)
            print(f"  {tool}: {args.runs} sequential runs of {args.steps} steps...", flush=True)
            runs = [await agent_run(s, stack, args.steps) for _ in range(args.runs)]
        stack.procs.stop_all()
        out[tool] = {k: {"p50": pct([r[k] for r in runs], 0.5),
                         "p99": pct([r[k] for r in runs], 0.99)} for k in runs[0]}  # fmt: skip
        out[tool]["runs"] = runs
    return out


def _status_kb(pid: int) -> dict[str, int]:
    with contextlib.suppress(OSError):
        lines = Path(f"/proc/{pid}/status").read_text().splitlines()
        return {x[:5]: int(x.split()[1]) for x in lines if x.startswith(("VmRSS:", "VmHWM:"))}
    return {}


class TreeSampler:
    """Peak RSS of one process (every 100 ms) and of its process tree (a /proc scan every
    ``tree_interval`` s; parents cached per pid, so a scan reads only new pids' stat)."""

    def __init__(self, pid: int, tree_interval: float) -> None:
        self.pid, self.tree_interval = pid, tree_interval
        self.parent: dict[int, int] = {}
        self.peak_rss = self.peak_tree = self.peak_procs = self.scans = 0
        self.scan_seconds = 0.0

    def tree_kb(self) -> tuple[int, int]:
        t = time.perf_counter()
        pids = {int(p) for p in os.listdir("/proc") if p.isdigit()}
        self.parent = {p: pp for p, pp in self.parent.items() if p in pids}  # pids that ended
        for p in pids - self.parent.keys():
            with contextlib.suppress(OSError, IndexError, ValueError):
                stat = Path(f"/proc/{p}/stat").read_text()
                self.parent[p] = int(stat.rsplit(")", 1)[1].split()[1])
        members, size = {self.pid}, 0
        while size != len(members):  # add children of members until none is new
            size = len(members)
            members |= {p for p, pp in self.parent.items() if pp in members}
        total = 0
        for p in members:
            with contextlib.suppress(OSError, IndexError, ValueError):
                total += int(Path(f"/proc/{p}/statm").read_text().split()[1]) * PAGE_KB
        self.scans, self.scan_seconds = self.scans + 1, self.scan_seconds + time.perf_counter() - t
        return total, len(members)

    async def run(self) -> None:
        next_tree = 0.0
        while True:
            self.peak_rss = max(self.peak_rss, _status_kb(self.pid).get("VmRSS", 0))
            if time.monotonic() >= next_tree:
                next_tree = time.monotonic() + self.tree_interval
                kb, n = self.tree_kb()
                self.peak_tree, self.peak_procs = max(self.peak_tree, kb), max(self.peak_procs, n)
            await asyncio.sleep(0.1)


def cpu_now(pid: int, fake: int) -> dict[str, float]:
    """CPU seconds so far; junction_tree adds the children Junction waited for (sandboxes)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    tree = sum(int(f) for f in fields[11:15]) / os.sysconf("SC_CLK_TCK")
    return {"junction_tree": tree, "junction": cpu_seconds(pid), "fake": cpu_seconds(fake),
            "gen": cpu_seconds(os.getpid()), "machine": system_busy()}  # fmt: skip


async def concurrent_run(args: argparse.Namespace, stack: Stack, tool: str) -> dict[str, Any]:
    base, pid, n = f"{stack.apis[0][0]}/v1beta/interactions", stack.apis[0][1], args.concurrency
    async with session() as s:
        async with s.post(base, data=body(args.steps, False), headers=HDR) as r:  # warm-up
            if (await r.json()).get("status") != "completed":
                raise RuntimeError(f"warm-up run failed: {await r.text()}")
        calls0 = (await take(s, stack))["calls"]
        sampler = TreeSampler(pid, args.tree_interval)
        cpu0 = cpu_now(pid, stack.fake_pid)
        sampling = asyncio.ensure_future(sampler.run())
        spy = None
        if args.profile:
            spy = await asyncio.create_subprocess_exec(
                str(BIN / "py-spy"), "record", "--pid", str(pid), "--duration",
                str(args.profile), "--rate", "100", "--gil", "--format", "raw", "-o",
                str(RESULTS / f"agents-profile-{tool}.txt"),
                stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
            )  # fmt: skip
        try:
            elapsed, submitted, ended = await _submit_and_wait(args, s, base, n)
        except BaseException:
            if spy is not None and spy.returncode is None:
                spy.kill()
                await spy.wait()
            raise
        finally:
            sampling.cancel()
        cpu = {k: v - cpu0[k] for k, v in cpu_now(pid, stack.fake_pid).items()}
        cpu["sandboxes"] = cpu["junction_tree"] - cpu["junction"]
        cpu["other"] = cpu["machine"] - cpu["junction_tree"] - cpu["fake"] - cpu["gen"]
        calls = (await take(s, stack))["calls"] - calls0
        statuses: dict[str, int] = {}
        bad = 0
        for i in ended:  # every run: completed, with all its tool results
            async with s.get(f"{base}/{i}", headers=HDR) as r:
                rec = await r.json()
            statuses[rec["status"]] = statuses.get(rec["status"], 0) + 1
            results = sum(st["type"] == f"{tool}_result" for st in rec.get("steps", []))
            bad += rec["status"] != "completed" or results != args.steps - 1
        prof: dict[str, Any] = {}
        if spy is not None:
            _, err = await spy.communicate()
            raw = {"raw": str(RESULTS / f"agents-profile-{tool}.txt")}
            prof = summarize_profile(raw) if spy.returncode == 0 else {"error": err.decode()[-500:]}
    done = sorted(ended.values())
    return {
        "runs": n, "seconds": elapsed, "submit_seconds": submitted, "model_calls": calls,
        "steps_per_s": calls / elapsed, "completed": statuses.get("completed", 0),
        "failures": bad, "statuses": statuses, "run_end_p50_s": pct(done, 0.5),
        "first_end_s": done[0], "junction_peak_rss_kb": sampler.peak_rss,
        "junction_vmhwm_kb": _status_kb(pid).get("VmHWM", 0), "tree_peak_rss_kb":
        sampler.peak_tree, "tree_peak_procs": sampler.peak_procs, "tree_scans": sampler.scans,
        "tree_scan_ms": 1e3 * sampler.scan_seconds / max(1, sampler.scans),
        "cpu_pct": {k: round(100 * v / elapsed) for k, v in cpu.items()},
        "cpu_ms_per_step": {k: round(1e3 * v / max(1, calls), 2) for k, v in cpu.items()},
        "profile": prof,
    }  # fmt: skip


async def _submit_and_wait(
    args: argparse.Namespace, s: aiohttp.ClientSession, base: str, n: int
) -> tuple[float, float, dict[str, float]]:
    """``n`` background creates at once, then one list call every 100 ms until all have
    ended: (seconds, seconds to submit, seconds to each run's end by id)."""
    t0 = time.monotonic()

    async def submit() -> str:
        async with s.post(base, data=body(args.steps, True), headers=HDR) as r:
            rec = await r.json()
        if r.status != 200:
            raise RuntimeError(f"background create: HTTP {r.status} {rec}")
        return str(rec["id"])

    ids = set(await asyncio.gather(*(submit() for _ in range(n))))
    submitted, ended = time.monotonic() - t0, dict[str, float]()
    while len(ended) < n:
        await asyncio.sleep(0.1)
        async with s.get(f"{base}?page_size=1000", headers=HDR) as r:
            page = (await r.json())["interactions"]
        now = time.monotonic() - t0
        for rec in page:
            if rec["id"] in ids and rec["status"] in TERMINAL and rec["id"] not in ended:
                ended[rec["id"]] = now
        if now > args.timeout:
            raise RuntimeError(f"only {len(ended)} of {n} runs ended in {args.timeout}s")
    return time.monotonic() - t0, submitted, ended


async def phase_concurrent(args: argparse.Namespace, group: Any) -> dict[str, Any]:
    out = {}
    for tool in args.tools:
        stack = AgentStack(group(f"concurrent-{tool}"), args, [])
        stack.start_fake(tool=tool, steps=args.steps)
        await stack.serve("--workers", str(args.concurrency))
        print(f"  {tool}: {args.concurrency} background runs of {args.steps} steps...", flush=True)
        out[tool] = await concurrent_run(args, stack, tool)
        stack.procs.stop_all()
    return out


# -- report -------------------------------------------------------------------------------
def report(res: dict[str, Any], args: argparse.Namespace) -> dict[str, str]:
    checks: dict[str, bool] = {}
    load = " ".join(f"{k}={v}%" for k, v in res["machine_busy_pct_before_phase"].items())
    print(f"\nmachine CPU busy (100% = one core) in the second before each phase: {load}")
    if o := res.get("overhead"):
        print(f"\n== 1. Server overhead per agent step ({args.runs} sequential runs of "
              f"{args.steps} steps each; p50 / p99 over runs), ms ==")  # fmt: skip
        labels = {"junction_per_step": "Server-Timing junction / steps",
                  "honest_per_step": "honest: server-tools-direct(gapped)",
                  "honest_hot_per_step": "honest, direct replayed back to back",
                  "provider_per_step": "Server-Timing provider / steps",
                  "direct_per_step": "direct to fake, run's idle gaps",
                  "direct_hot_per_step": "direct to fake, back to back",
                  "tools_per_step": "Server-Timing tools / steps", "wall_ms": "run wall (per run)",
                  "request_kb_last": "last model request (KB)"}  # fmt: skip
        print(f"{'per step, ms: p50 / p99':<40}" + "".join(f"{t:>22}" for t in o))
        for k, label in labels.items():
            print(
                f"{label:<40}"
                + "".join(f"{r[k]['p50']:>13.2f} /{r[k]['p99']:>7.2f}" for r in o.values())
            )
        for tool, row in o.items():
            for k in ("junction_per_step", "honest_per_step"):
                v = row[k]["p50"]
                checks[f"{tool}_{k}_p50_le_5ms"] = v <= 5
                print(f"  {tool}: {k} p50 {v:.2f} ms <= 5 ms: {mark(v <= 5)}")
    if c := res.get("concurrent"):
        print(f"\n== 2. {args.concurrency} concurrent background agent runs of {args.steps} "
              f"steps, zero-latency fake, {os.cpu_count()} cores ==")  # fmt: skip
        print(f"{'tool':<16}{'secs':>7}{'done':>6}{'fail':>6}{'steps/s':>9}{'run end p50':>13}"
              f"{'RSS peak MB':>13}{'HWM MB':>8}{'tree MB':>9}{'procs':>7}")  # fmt: skip
        for tool, r in c.items():
            print(f"{tool:<16}{r['seconds']:>7.1f}{r['completed']:>6}{r['failures']:>6}"
                  f"{r['steps_per_s']:>9.0f}{r['run_end_p50_s']:>12.1f}s"
                  f"{r['junction_peak_rss_kb'] / 1024:>13.0f}{r['junction_vmhwm_kb'] / 1024:>8.0f}"
                  f"{r['tree_peak_rss_kb'] / 1024:>9.0f}{r['tree_peak_procs']:>7}")  # fmt: skip
        for tool, r in c.items():
            cpu = " ".join(
                f"{k}={v}% ({r['cpu_ms_per_step'][k]} ms)" for k, v in r["cpu_pct"].items()
            )
            print(f"  {tool} CPU, % of one core (ms per step; other = not ours): {cpu}")
            print(f"    submit {r['submit_seconds']:.2f}s, statuses {r['statuses']}, "
                  f"{r['model_calls']} model calls, tree scan {r['tree_scan_ms']:.1f} ms × "
                  f"{r['tree_scans']}")  # fmt: skip
            ok = r["completed"] == r["runs"] and r["failures"] == 0
            checks[f"concurrent_{tool}_all_completed"] = ok
            print(f"  {tool}: {r['completed']}/{r['runs']} completed, all steps: {mark(ok)}")
            if "error" in (prof := r["profile"]):
                print("  py-spy failed:", prof["error"])
            for key, top in (("junction_inclusive_pct", 25), ("self_pct_top_lines", 15)):
                if key in prof:  # % of samples holding the GIL
                    print(f"  py-spy --gil, {prof['samples']} samples, {key}:")
                    for k, v in list(prof[key].items())[:top]:
                        print(f"    {v:>5.1f}%  {k}")
    return {k: mark(v) for k, v in checks.items()}


def mark(ok: bool) -> str:
    return "PASS" if ok else "MISS"


PHASES = {"overhead": phase_overhead, "concurrent": phase_concurrent}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--quick", action="store_true", help="fast smoke run")
    p.add_argument("--only", action="append", choices=list(PHASES), help="repeatable")
    p.add_argument("--runs", type=int, help="sequential runs per tool (overhead): 20, quick 3")
    p.add_argument("--warm", type=int, default=2, help="warm-up runs (overhead)")
    p.add_argument("--steps", type=int, default=20, help="model calls per run")
    p.add_argument("--concurrency", type=int, default=100, help="background runs at once")
    p.add_argument("--tools", nargs="+", choices=TOOLS, default=list(TOOLS), help="concurrent")
    p.add_argument("--tree-interval", type=float, default=0.5, help="seconds between scans")
    p.add_argument("--timeout", type=float, default=900, help="concurrent phase limit, s")
    p.add_argument("--profile", type=int, default=0, metavar="SECONDS",
                   help="py-spy record Junction during the concurrent phase")  # fmt: skip
    args = p.parse_args()
    args.runs = args.runs or (3 if args.quick else 20)
    if args.quick:
        args.warm, args.concurrency = 1, min(args.concurrency, 20)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    tmp = Path(tempfile.mkdtemp(prefix="junction-agentbench-"))
    tmp.chmod(0o711)  # the sandbox user must traverse down to DATA_DIR/sandboxes
    groups: list[Processes] = []
    res: dict[str, Any] = {}

    def group(name: str) -> Processes:
        (tmp / name / "data").mkdir(parents=True)
        for d in (tmp / name, tmp / name / "data"):
            d.chmod(0o711)
        groups.append(Processes(tmp / name))
        return groups[-1]

    try:
        RESULTS.mkdir(exist_ok=True)
        for i, phase in enumerate(args.only or list(PHASES), 1):
            busy = system_busy()
            time.sleep(1)
            load = res.setdefault("machine_busy_pct_before_phase", {})
            load[phase] = round(100 * (system_busy() - busy))
            print(f"[{i}] {phase} (machine {load[phase]}% busy before)...", flush=True)
            try:
                res[phase] = uvloop.run(PHASES[phase](args, group))
            finally:
                for g in groups:
                    g.stop_all()
        ok = report(res, args)
        path = RESULTS / "agents.json"
        out = {"config": vars(args), "cpus": os.cpu_count(), "results": res, "targets": ok}
        path.write_text(json.dumps(out, indent=2))
        print(f"\nwrote {path}")
        return 0
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a second TERM must not skip cleanup
        for g in groups:
            g.stop_all()
        for _ in range(3):  # a process that exits only now may still be writing there
            shutil.rmtree(tmp, ignore_errors=True)
            if not tmp.exists():
                break
            time.sleep(1)


if __name__ == "__main__":
    sys.exit(main())
