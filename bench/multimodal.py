"""Multimodal overhead benchmark: what Junction adds to an image request (a 1 MB image
from the OpenAI Images API) and to a speech request (a 5 s WAV from text-to-speech),
over the provider's own time; and Junction's peak memory growth while a 50 MB speech
body streams through it to an SSE client (no whole-body copy: it grows by a bounded
amount, not by the body).

Three processes: this load generator (aiohttp on uvloop), ``junction serve`` (SQLite,
stored, media in the filesystem blob store) and a fake OpenAI server whose media
endpoints answer with a 1 MB PNG and a 5 s WAV. Direct-to-fake and through-Junction
requests are interleaved, so both see the same machine; the added latency is the
difference of their percentiles. Junction's work per image: parse the provider's JSON,
decode the base64, hash and write the blob, record the reference, read it back and send
it inline (base64) in the interaction.

    .venv/bin/python bench/multimodal.py [--requests 200]
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
import pybase64
import uvloop

sys.path.insert(0, str(Path(__file__).resolve().parent))
from overhead import BIN, KEY, Processes, _healthy, cpu_seconds, pct

RESULTS = Path(__file__).resolve().parent / "results"
FAKE_CODE = """import os, sys, uvloop, asyncio
asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
from base64 import b64encode
from aiohttp import web
from junction.media import encode
from junction.testing.fake_openai import FakeOpenAI
from junction.testing.fake_openai_media import FakeOpenAIMedia
IMAGE = b64encode(encode.png_rgb(512, 683, [os.urandom(3 * 512) for _ in range(683)])).decode()
WAV = encode.pcm_to_wav(encode.tone_pcm("bench", 5.0, 24000), 24000)
BIG = int(sys.argv[1])
class Media(FakeOpenAIMedia):
    def images_response(self, body, seed):
        return {"created": 0, "data": [{"b64_json": IMAGE}], "output_format": "png"}
    async def speech(self, request):
        body = await request.json()
        if body.get("input") != "big":
            return web.Response(body=WAV, content_type="audio/wav")
        response = web.StreamResponse(headers={"Content-Type": "audio/wav"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        piece = os.urandom(64 * 1024)
        for _ in range(BIG // len(piece)):
            await response.write(piece)
        await response.write_eof()
        return response
class Fake(FakeOpenAI):
    def routes(self, app):
        media = Media(self)
        app.router.add_post("/v1/images/generations", media.generations)
        app.router.add_post("/v1/audio/speech", media.speech)
fake = Fake(); fake.record = False; fake.start(0)
print(fake.port, len(IMAGE) * 3 // 4, len(WAV), flush=True); sys.stdin.read()"""
JSON = {"Content-Type": "application/json"}


def memory_kb(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM (the peak resident size) of a process, in kB."""
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            out[name] = int(value.split()[0])
    return out


async def big_stream(session: aiohttp.ClientSession, junction: str, pid: int) -> dict[str, Any]:
    """One streamed speech request whose provider body is large: the bytes the client
    received, the time, and how far the Junction process's peak RSS rose."""
    before = memory_kb(pid)
    body = {"model": "openai/tts-1", "input": "big", "response_modalities": ["audio"]}
    auth = {**JSON, "x-goog-api-key": KEY}
    received = deltas = 0
    start = time.perf_counter()
    async with session.post(
        f"{junction}/v1beta/interactions", data=orjson.dumps({**body, "stream": True}),
        headers=auth,
    ) as response:  # fmt: skip
        stream = await response.read()  # (the client's memory is not what is measured)
    for line in stream.split(b"\n"):
        if line.startswith(b'data: {"event_type":"step.delta"') and b'"audio"' in line:
            event = orjson.loads(line[6:])
            received += len(pybase64.b64decode(event["delta"]["data"]))
            deltas += 1
    seconds = time.perf_counter() - start
    after = memory_kb(pid)
    return {
        "bytes_received": received,
        "audio_deltas": deltas,
        "seconds": seconds,
        "rss_before_kb": before["VmRSS"],
        "peak_before_kb": before["VmHWM"],
        "peak_after_kb": after["VmHWM"],
        "peak_growth_kb": after["VmHWM"] - before["VmHWM"],
    }


async def timed(
    session: aiohttp.ClientSession, url: str, body: bytes, headers: dict[str, str]
) -> float:
    start = time.perf_counter()
    async with session.post(url, data=body, headers=headers) as response:
        data = await response.read()
    if response.status != 200:
        raise RuntimeError(f"{url}: HTTP {response.status}: {data[:300]!r}")
    return (time.perf_counter() - start) * 1000


async def phase(
    session: aiohttp.ClientSession, pairs: list[tuple[str, bytes, dict[str, str]]], n: int
) -> list[list[float]]:
    out: list[list[float]] = [[] for _ in pairs]
    for i in range(n + 10):
        for index, (url, body, headers) in enumerate(pairs):
            ms = await timed(session, url, body, headers)
            if i >= 10:  # warm-up
                out[index].append(ms)
    return out


async def run(args: argparse.Namespace, fake: str, junction: str, pid: int) -> dict[str, Any]:
    auth = {**JSON, "x-goog-api-key": KEY}
    cases = {
        "image": (
            (f"{fake}/v1/images/generations", {"model": "gpt-image-1", "prompt": "p", "n": 1}),
            {"model": "openai/gpt-image-1", "input": "p", "response_modalities": ["image"]},
        ),
        "speech": (
            (
                f"{fake}/v1/audio/speech",
                {"model": "tts-1", "input": "p", "voice": "alloy", "response_format": "wav"},
            ),
            {"model": "openai/tts-1", "input": "p", "response_modalities": ["audio"]},
        ),
    }
    results: dict[str, Any] = {}
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as session:
        for name, ((direct_url, direct), through) in cases.items():
            cpu_before = cpu_seconds(pid)
            direct_ms, junction_ms = await phase(
                session,
                [
                    (direct_url, orjson.dumps(direct), JSON),
                    (f"{junction}/v1beta/interactions", orjson.dumps(through), auth),
                ],
                args.requests,
            )
            cpu_ms = (cpu_seconds(pid) - cpu_before) * 1000 / (args.requests + 10)
            results[name] = {
                "junction_cpu_ms_per_request": cpu_ms,
                "direct_p50_ms": pct(direct_ms, 0.5),
                "direct_p99_ms": pct(direct_ms, 0.99),
                "junction_p50_ms": pct(junction_ms, 0.5),
                "junction_p99_ms": pct(junction_ms, 0.99),
                "added_p50_ms": pct(junction_ms, 0.5) - pct(direct_ms, 0.5),
                "added_p99_ms": pct(junction_ms, 0.99) - pct(direct_ms, 0.99),
            }
        results["stream"] = await big_stream(session, junction, pid)
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=200, help="requests per case")
    parser.add_argument("--big-mb", type=int, default=50, help="size of the streamed body")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="junction-bench-mm-"))
    procs = Processes(tmp)
    try:
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        proc = procs.spawn(
            "fake", [sys.executable, "-c", FAKE_CODE, str(args.big_mb << 20)], env,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        )  # fmt: skip
        line = proc.stdout.readline().split()
        if not line:
            raise RuntimeError(f"fake provider did not start:\n{procs.log_tail('fake')}")
        port, image_bytes, wav_bytes = (int(x) for x in line)
        fake = f"http://127.0.0.1:{port}"
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            jport = sock.getsockname()[1]
        cmd = [str(BIN / "junction"), "serve", "--port", str(jport), "--data-dir", str(tmp / "j")]
        jenv = dict(
            env, JUNCTION_API_KEY=KEY, OPENAI_API_KEY="x", OPENAI_BASE_URL=f"{fake}/v1",
            JUNCTION_ACCESS_LOG="0",
        )  # fmt: skip
        server = procs.spawn("junction", cmd, jenv, stdout=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while not _healthy(f"http://127.0.0.1:{jport}/healthz"):
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"junction did not start:\n{procs.log_tail('junction')}")
            time.sleep(0.05)
        results = uvloop.run(run(args, fake, f"http://127.0.0.1:{jport}", server.pid))
    finally:
        procs.stop_all()
    results["image"]["bytes"] = image_bytes
    results["speech"]["bytes"] = wav_bytes
    print(f"{'case':<8} {'bytes':>9} {'direct p50':>11} {'junction p50':>13} {'added p50':>10} "
          f"{'added p99':>10} {'junction CPU/req':>17}")  # fmt: skip
    for name, r in results.items():
        if name == "stream":
            continue
        direct, through = r["direct_p50_ms"], r["junction_p50_ms"]
        print(
            f"{name:<8} {r['bytes']:>9} {direct:>9.2f}ms {through:>11.2f}ms "
            f"{r['added_p50_ms']:>+8.2f}ms {r['added_p99_ms']:>+8.2f}ms "
            f"{r['junction_cpu_ms_per_request']:>15.2f}ms"
        )
    ok = results["image"]["added_p50_ms"] <= 5.0
    print(f"  1 MB image: added p50 {results['image']['added_p50_ms']:.2f} ms <= 5 ms: {ok}")
    big = results["stream"]
    print(
        f"  streamed {big['bytes_received'] / 1e6:.1f} MB of speech in {big['audio_deltas']} "
        f"audio deltas, {big['seconds']:.2f} s; Junction peak RSS grew "
        f"{big['peak_growth_kb'] / 1024:.1f} MB (from {big['peak_before_kb'] / 1024:.1f} MB)"
    )
    print(f"  (load average while measuring: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs)")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "multimodal.json").write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
